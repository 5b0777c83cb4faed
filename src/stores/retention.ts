import type { StoredToken } from '../core/types.js';

/**
 * How long a token entry outlives its expiry in every store. Past that nothing reads it (the
 * broker never hands out an expired token) and its version no longer needs to fence late
 * writers (no lease lasts a day), so the entry is dropped: idle tenants' tokens do not pile up.
 */
export const TOKEN_RETENTION_MS = 24 * 3600_000;

/** How often the stores of one process (memory, file) sweep entries past their retention. */
export const DEFAULT_SWEEP_INTERVAL_MS = 10 * 60_000;

/** Whether a token entry is past its expiry plus the retention at `now`. */
export function pastRetention(token: Pick<StoredToken, 'expiresAt'>, now: number): boolean {
  return token.expiresAt + TOKEN_RETENTION_MS <= now;
}
