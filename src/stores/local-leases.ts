import type { Lease } from '../core/types.js';
import type { ChangeWaiters } from './waiters.js';

/**
 * The leases of a store that lives in one process (memory, file): one holder per key until it
 * releases the lease or its time runs out, each new lease fenced above every earlier one.
 *
 * @example
 * ```ts
 * const leases = new LocalLeases(Date.now, waiters);
 * const lease = leases.acquire('app:token', 10_000, storedVersion); // undefined while another holds it
 * await lease?.release();
 * ```
 */
export class LocalLeases {
  readonly #held = new Map<string, { fence: number; expiresAt: number }>();
  readonly #fences = new Map<string, number>();
  readonly #now: () => number;
  readonly #waiters: ChangeWaiters;

  /** `waiters` are woken on the key when a lease is released. */
  constructor(now: () => number, waiters: ChangeWaiters) {
    this.#now = now;
    this.#waiters = waiters;
  }

  /**
   * A lease on `key` for `ttlMs`, or `undefined` while another is held. Its fence is above
   * `storedVersion` too: fences restart with the process, and the stored version carries them
   * over a restart.
   */
  acquire(key: string, ttlMs: number, storedVersion: number): Lease | undefined {
    const held = this.#held.get(key);
    if (held && held.expiresAt > this.#now()) return undefined;
    const fence = Math.max(this.#fences.get(key) ?? 0, storedVersion) + 1;
    this.#fences.set(key, fence);
    const lease = { fence, expiresAt: this.#now() + ttlMs };
    this.#held.set(key, lease);
    return {
      fence,
      release: async () => {
        if (this.#held.get(key) === lease) this.#held.delete(key);
        this.#waiters.wake(key);
      },
    };
  }
}
