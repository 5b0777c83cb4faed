import { TokenHubError, UpstreamError } from './errors.js';
import type { UpstreamLimit } from './budget.js';
import type { Slot } from './slot.js';

/** `error` with its `Retry-After` set to what is left of the wait. */
export function withRetryAfter(error: TokenHubError, retryAfterMs: number): TokenHubError {
  if (error.retryAfterSeconds === undefined) return error;
  return new TokenHubError(error.code, error.message, {
    status: error.statusCode,
    cause: error.cause,
    ...(error.platform === undefined ? {} : { platform: error.platform }),
    ...(error.platformCode === undefined ? {} : { platformCode: error.platformCode }),
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)),
  });
}

/** A fresh token had less left than the caller's `min_ttl`. */
export function unmeetable(slot: Slot, minTtlMs: number, leftMs: number, retryAfterMs: number): TokenHubError {
  return new TokenHubError(
    'TOKENHUB_BAD_REQUEST',
    `min_ttl of ${Math.round(minTtlMs / 1000)} s cannot be met: ${slot.app.provider.platform} issued a token with ${Math.floor(leftMs / 1000)} s left`,
    { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) },
  );
}

/** tokenhub's own budget of a platform limit is spent. */
export function overBudget(platform: string, limit: UpstreamLimit, retryAfterMs: number): UpstreamError {
  return new UpstreamError('rate-limited', `tokenhub's budget of ${limit.limit} token calls per ${limit.name} for this app is spent (the platform's own limit)`, {
    platform,
    retryAfterMs: Math.max(1000, retryAfterMs),
  });
}

/** An error's text for a log line. */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.name === 'Error' ? err.message : `${err.name}: ${err.message}`;
  return String(err);
}
