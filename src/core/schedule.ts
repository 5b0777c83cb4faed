import type { Token } from './types.js';

/** How one token's background refresh is timed. */
export interface RefreshPlan {
  /** Refresh when less than this is left (the app's `refreshAheadSeconds`, or the provider's default). */
  readonly aheadMs: number;
  /** Spread of refresh times, as a fraction of the window; it falls inside the window, never before it. */
  readonly jitter: number;
  /** No two background refreshes of one token closer than this. */
  readonly minIntervalMs: number;
}

/**
 * Our expiry is counted from when we asked, the platform's from when it answered, and platforms
 * round lifetimes down to whole seconds: the platform may see up to about a second more left than
 * we do. Refreshes start this much inside the window (a quarter of it for tiny windows), so a
 * platform rule "the same token while N or more seconds are left" is never hit.
 */
export const REFRESH_MARGIN_MS = 1_500;

/**
 * When to refresh `token` in the background: with less than `aheadMs` left, spread by the jitter
 * inside the window; a token shorter than the window (or already inside it) at half of what is left.
 * Pure: the broker sets a timer for the answer.
 *
 * @example
 * refreshAt({ value: 't', obtainedAt: 0, expiresAt: 7_200_000 }, 0, { aheadMs: 1_500_000, jitter: 0.1, minIntervalMs: 1000 }, 0.5);
 * // 5_700_000 + 1_500 + 75_000: between 25 and 22.5 minutes before expiry
 */
export function refreshAt(token: Token, now: number, plan: RefreshPlan, random: number): number {
  const remaining = token.expiresAt - now;
  const lifetime = token.expiresAt - token.obtainedAt;
  const ahead = plan.aheadMs;
  let at: number;
  if (lifetime <= ahead || remaining <= ahead) {
    at = now + remaining / 2;
  } else {
    const margin = Math.min(REFRESH_MARGIN_MS, ahead / 4);
    at = token.expiresAt - ahead + margin + ahead * plan.jitter * random;
  }
  return Math.max(at, now + plan.minIntervalMs);
}
