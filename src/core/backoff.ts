import type { FailureClass } from './errors.js';

/** How long to wait before asking the platform again after `attempt` consecutive failures of one class. */
export type BackoffStrategy = (failure: FailureClass, attempt: number, platformHintMs: number | undefined) => number;

export interface BackoffOptions {
  /** First delay and cap for failures that retrying can fix (network, 5xx, garbage). */
  transient: { baseMs: number; capMs: number };
  /** First delay and cap for refusals (bad secret, app disabled): a misconfigured app costs a handful of calls a minute. */
  credentials: { baseMs: number; capMs: number };
  /** Used for rate limits when the platform gives no reset hint. */
  rateLimited: { baseMs: number; capMs: number };
  /** Spread of each delay, as a fraction (0.2 = up to 20% shorter), so that many apps do not retry in step. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  // Capped at 8 s so that a platform coming back is noticed within 10 s.
  transient: { baseMs: 250, capMs: 8_000 },
  credentials: { baseMs: 5_000, capMs: 60_000 },
  rateLimited: { baseMs: 1_000, capMs: 60_000 },
  jitter: 0.2,
};

/** Capped exponential backoff with jitter; a platform's own hint (rate-limit reset) wins when it is longer. */
export function exponentialBackoff(options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): BackoffStrategy {
  return (failure, attempt, hintMs) => {
    const { baseMs, capMs } =
      failure === 'credentials' ? options.credentials : failure === 'rate-limited' ? options.rateLimited : options.transient;
    const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
    const delay = exp * (1 - options.jitter * random());
    return Math.max(delay, hintMs ?? 0);
  };
}
