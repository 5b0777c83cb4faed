import type { Lease, StoreChange, StoredToken, TokenStore } from '../core/types.js';
import { LocalLeases } from './local-leases.js';
import { ChangeWaiters } from './waiters.js';

/**
 * The store of one process: nothing survives a restart and nothing is shared. The broker's
 * local copy is the fast path; this store only backs the lease and the provider state.
 */
export class MemoryStore implements TokenStore {
  readonly name = 'memory';
  readonly #tokens = new Map<string, StoredToken>();
  readonly #state = new Map<string, { value: string; expiresAt: number }>();
  readonly #waiters = new ChangeWaiters();
  readonly #leases: LocalLeases;
  readonly #now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.#now = options.now ?? Date.now;
    this.#leases = new LocalLeases(this.#now, this.#waiters);
  }

  async getToken(key: string): Promise<StoredToken | undefined> {
    return this.#tokens.get(key);
  }

  async putToken(key: string, token: StoredToken): Promise<StoredToken> {
    const stored = this.#tokens.get(key);
    if (stored && stored.version >= token.version) return stored;
    this.#tokens.set(key, token);
    this.#waiters.wake(key);
    return token;
  }

  async deleteToken(key: string): Promise<void> {
    this.#tokens.delete(key);
  }

  async getState(key: string): Promise<string | undefined> {
    const entry = this.#state.get(key);
    if (entry && entry.expiresAt <= this.#now()) {
      this.#state.delete(key);
      return undefined;
    }
    return entry?.value;
  }

  async setState(key: string, value: string, ttlMs?: number): Promise<void> {
    this.#state.set(key, { value, expiresAt: ttlMs === undefined ? Infinity : this.#now() + ttlMs });
  }

  async deleteState(key: string): Promise<void> {
    this.#state.delete(key);
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    return this.#leases.acquire(key, ttlMs, this.#tokens.get(key)?.version ?? 0);
  }

  waitForChange(key: string, timeoutMs: number): Promise<void> {
    return this.#waiters.wait(key, timeoutMs);
  }

  /** One process, one holder: there are no other holders to hear from. */
  subscribe(_listener: (change: StoreChange) => void): () => void {
    return () => {};
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    this.#waiters.wakeAll();
  }
}
