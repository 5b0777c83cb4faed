import { badRequest } from './errors.js';
import { unmeetable } from './failures.js';
import type { Slot } from './slot.js';

/** The longest lifetime platforms issue unless the provider says otherwise: 2 hours. */
const DEFAULT_MAX_LIFETIME_MS = 7_200_000;

/**
 * The least lifetime a caller may be handed: the app's minimum, raised by the caller's. The app's
 * own is capped at a quarter of the lifetime the platform issues, so that short-lived tokens
 * (tested platforms, sandboxes) are served rather than refused on every plain request. Pure.
 */
export function minTtl(slot: Slot, appDefaultMs: number, callerMs: number | undefined): number {
  let own = slot.app.minTtlMs ?? appDefaultMs;
  if (slot.seenLifetimeMs > 0) own = Math.min(own, slot.seenLifetimeMs / 4);
  return Math.max(callerMs ?? 0, own);
}

/** Refuses, without a call, a `min_ttl` the platform never meets, or one a fresh token just failed to meet. */
export function checkMeetable(slot: Slot, minTtlMs: number, now: number): void {
  const ceiling = Math.max(slot.app.provider.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS, slot.seenLifetimeMs);
  if (minTtlMs > ceiling) {
    throw badRequest(`min_ttl of ${Math.round(minTtlMs / 1000)} s cannot be met: ${slot.app.provider.platform} issues tokens of at most ${Math.floor(ceiling / 1000)} s`);
  }
  const short = slot.shortfall;
  if (short && minTtlMs > short.leftMs && now < short.until) throw unmeetable(slot, minTtlMs, short.leftMs, short.until - now);
}
