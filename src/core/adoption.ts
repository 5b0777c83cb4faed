import type { Refresher } from './refresher.js';
import { reject, type Slot } from './slot.js';
import type { StoredToken } from './types.js';

/**
 * Makes `token` the slot's current one: failures, backoff and the report are over, a shortfall
 * it meets is forgotten, and its refresh is scheduled. `read` when a caller is waiting for it.
 */
export function adopt(slot: Slot, token: StoredToken, now: number, refresher: Refresher, read: boolean): void {
  slot.current = token;
  slot.reported = false;
  slot.failures = 0;
  slot.backoffUntil = 0;
  slot.lastError = undefined;
  if (slot.shortfall && token.expiresAt - now > slot.shortfall.leftMs) slot.shortfall = undefined;
  refresher.fetched(slot, read);
}

/**
 * Another instance wrote `stored` for the slot: a newer version replaces ours (and ours is never
 * adopted back), unless it is a value a caller reported.
 */
export function adoptFromStore(slot: Slot, stored: StoredToken | undefined, now: number, refresher: Refresher): void {
  if (!stored || slot.rejected?.has(stored.value)) return;
  if (!slot.current || stored.version > slot.current.version) {
    if (slot.current && slot.current.value !== stored.value) reject(slot, slot.current.value);
    adopt(slot, stored, now, refresher, true);
  }
}
