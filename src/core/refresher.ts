import { refreshAt } from './schedule.js';
import { nextFetch, type Slot } from './slot.js';
import type { FetchReason, StoredToken } from './types.js';

export interface RefresherOptions {
  now: () => number;
  random: () => number;
  refreshJitter: number;
  minRefreshIntervalMs: number;
  closing: AbortSignal;
  /** Starts the slot's background fetch (joined by callers; its failure is the slot's). */
  refresh: (slot: Slot, reason: FetchReason, rejected: string | undefined) => Promise<StoredToken>;
  /** Drops an idle tenant slot. */
  drop: (slot: Slot) => void;
}

/**
 * Refresh-ahead timers, and the rule that only tokens read since their last fetch are kept fresh:
 * an unread one lapses and its next reader wakes its refresh. Whether a slot was read lives here
 * alone.
 */
export class Refresher {
  readonly #o: RefresherOptions;
  /** Slots read by a caller since their last fetch. */
  readonly #read = new WeakSet<Slot>();

  constructor(options: RefresherOptions) {
    this.#o = options;
  }

  /** A caller read the slot's token: a token nobody read for a whole window was left to lapse, and this wakes its refresh. */
  read(slot: Slot): void {
    this.#read.add(slot);
    if (slot.timer === undefined && slot.inflight === undefined && slot.nextRefreshAt !== undefined && this.#o.now() >= slot.nextRefreshAt) {
      const { reason, rejected } = nextFetch(slot, 'refresh');
      this.#o.refresh(slot, reason, rejected).catch(() => {});
    }
  }

  /** A caller asks for the slot's token (a fetch follows). */
  wanted(slot: Slot): void {
    this.#read.add(slot);
  }

  /** A new token is in; `read` when a caller asked for it, since a background refresh must earn its next one. */
  fetched(slot: Slot, read: boolean): void {
    if (read) this.#read.add(slot);
    else this.#read.delete(slot);
    this.schedule(slot);
  }

  /** Sets the slot's timer from `refreshAt` (schedule.ts). */
  schedule(slot: Slot): void {
    const token = slot.current;
    if (!token) return;
    const ahead = slot.app.refreshAheadMs ?? slot.app.provider.refreshAheadMs;
    const plan = { aheadMs: ahead, jitter: this.#o.refreshJitter, minIntervalMs: this.#o.minRefreshIntervalMs };
    this.at(slot, refreshAt(token, this.#o.now(), plan, this.#o.random()));
  }

  /** Sets the slot's timer for `at`: then it is refreshed if read (or failing, or reported), else left to lapse. */
  at(slot: Slot, at: number): void {
    const { now } = this.#o;
    clearTimeout(slot.timer);
    slot.nextRefreshAt = at;
    if (this.#o.closing.aborted || slot.retired) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!this.#read.has(slot) && slot.lastError === undefined && !slot.reported) {
        // Nobody read it: let it lapse, a reader will wake it. An idle tenant goes once its token ends.
        if (slot.tenantKey !== undefined && slot.current) this.#dropWhenUnread(slot, slot.current.expiresAt);
        return;
      }
      const { reason, rejected } = nextFetch(slot, 'refresh');
      if (reason === 'invalidate') slot.reportFetchAt = now();
      this.#o.refresh(slot, reason, rejected).catch(() => {});
    }, Math.max(0, at - now()));
    slot.timer.unref();
  }

  /** Drops an idle tenant slot at `at` unless a reader came meanwhile. */
  #dropWhenUnread(slot: Slot, at: number): void {
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!this.#read.has(slot) && slot.inflight === undefined) this.#o.drop(slot);
    }, Math.max(0, at - this.#o.now()));
    slot.timer.unref();
  }
}
