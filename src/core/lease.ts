import { UpstreamError } from './errors.js';
import { describe } from './failures.js';
import type { Slot } from './slot.js';
import type { Lease, Logger, StoredToken, TokenStore } from './types.js';

export interface CoordinatorOptions {
  store: TokenStore;
  log: Logger;
  now: () => number;
  leaseMs: number;
  /** How long past the lease a waiter waits for the holder's token before it gives up. */
  graceMs: number;
}

/**
 * The cross-instance fetch: read the store, take the lease, read again, fetch, write with the
 * fence as version (so a slow holder whose lease expired cannot overwrite a newer token). An
 * unreachable store never stops a fetch: the local copy goes on alone.
 */
export class Coordinator {
  readonly #o: CoordinatorOptions;

  constructor(options: CoordinatorOptions) {
    this.#o = options;
  }

  /**
   * A token `accept` takes: one in the store, or one `fetch(fence)` makes while holding the lease.
   * `limit` queues the lease and the fetch behind the app's concurrency limit.
   */
  async fetch(
    slot: Slot,
    accept: (t: StoredToken) => boolean,
    limit: <T>(work: () => Promise<T>) => Promise<T>,
    fetch: (fence: number) => Promise<StoredToken>,
  ): Promise<StoredToken> {
    const { store, now, leaseMs } = this.#o;
    const deadline = now() + leaseMs + this.#o.graceMs;
    for (;;) {
      const stored = await this.get(slot.key);
      if (stored && accept(stored)) return stored;
      // The lease is taken only once this app may call: a fetch queued behind others holds none.
      const fetched = await limit(async () => {
        const lease = await this.#acquire(slot.key);
        if (lease === undefined) return undefined;
        try {
          // The previous holder may have written while we waited for the lease.
          const again = lease === null ? undefined : await this.get(slot.key);
          if (again && accept(again)) return again;
          const token = await fetch(lease === null ? 0 : lease.fence);
          // A slot forgotten meanwhile (its tenant's authorization cancelled or replaced) keeps its token out of the store.
          return slot.retired ? token : await this.#put(slot.key, token);
        } finally {
          if (lease !== null) await lease.release().catch(() => {});
        }
      });
      if (fetched) return fetched;
      if (now() > deadline) {
        throw new UpstreamError('transient', 'another instance holds the fetch lease and wrote no token in time', { platform: slot.app.provider.platform });
      }
      await store.waitForChange(slot.key, leaseMs).catch(() => {});
    }
  }

  /** The stored token, or `undefined` when there is none or the store is unreachable. */
  async get(key: string): Promise<StoredToken | undefined> {
    try {
      return await this.#o.store.getToken(key);
    } catch (err) {
      this.#o.log.warn({ store: this.#o.store.name, err: describe(err) }, 'store unreachable: going on with the local copy');
      return undefined;
    }
  }

  async #put(key: string, token: StoredToken): Promise<StoredToken> {
    try {
      return await this.#o.store.putToken(key, token);
    } catch (err) {
      this.#o.log.warn({ store: this.#o.store.name, err: describe(err) }, 'store unreachable: token kept locally only');
      return token;
    }
  }

  /** The lease, `undefined` when another holds it, or `null` when the store is unreachable (fetch alone then). */
  async #acquire(key: string): Promise<Lease | undefined | null> {
    try {
      return await this.#o.store.acquire(key, this.#o.leaseMs);
    } catch (err) {
      this.#o.log.warn({ store: this.#o.store.name, err: describe(err) }, 'store unreachable: fetching without the lease');
      return null;
    }
  }
}
