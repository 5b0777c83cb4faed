import type { Lease, StoreChange, StoredGrant, StoredToken, TokenStore } from '../core/types.js';
import { deleteGrantRecord, grantRecordExpired, liveGrant, putGrantRecord, type GrantRecord } from './grant-records.js';
import { LocalLeases } from './local-leases.js';
import { DEFAULT_SWEEP_INTERVAL_MS, pastRetention } from './retention.js';
import { ChangeWaiters } from './waiters.js';

export interface MemoryStoreOptions {
  now?: () => number;
  /** How often entries past their retention are dropped (see `TOKEN_RETENTION_MS`). Default 10 min. */
  sweepIntervalMs?: number;
}

/**
 * The store of one process: nothing survives a restart and nothing is shared. The broker's
 * local copy is the fast path; this store only backs the lease, the provider state and the quota
 * counts. Tokens past their expiry and retention, expired state and expired counts are dropped
 * on read and by a periodic sweep.
 */
export class MemoryStore implements TokenStore {
  readonly name = 'memory';
  readonly #tokens = new Map<string, StoredToken>();
  readonly #state = new Map<string, { value: string; expiresAt: number }>();
  readonly #quotas = new Map<string, { used: number; expiresAt: number }>();
  /** Grants and the marks of deleted ones (see `GRANT_TOMBSTONE_MS`). */
  readonly #grants = new Map<string, GrantRecord>();
  readonly #waiters = new ChangeWaiters();
  readonly #leases: LocalLeases;
  readonly #now: () => number;
  readonly #sweep: NodeJS.Timeout;

  constructor(options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#leases = new LocalLeases(this.#now, this.#waiters);
    // Unref'd: a store alone does not keep the process alive.
    this.#sweep = setInterval(() => this.sweep(), options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS).unref();
  }

  async getToken(key: string): Promise<StoredToken | undefined> {
    return this.#live(key);
  }

  async putToken(key: string, token: StoredToken): Promise<StoredToken> {
    const stored = this.#live(key);
    if (stored && stored.version >= token.version) return stored;
    this.#tokens.set(key, token);
    this.#waiters.wake(key);
    return token;
  }

  /** The stored token unless past its retention (then dropped). Synchronous, so a compare-and-set stays atomic. */
  #live(key: string): StoredToken | undefined {
    const token = this.#tokens.get(key);
    if (token && pastRetention(token, this.#now())) {
      this.#tokens.delete(key);
      return undefined;
    }
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

  async addState(key: string, value: string, ttlMs: number): Promise<boolean> {
    // No await between the look and the write: atomic in one process.
    const entry = this.#state.get(key);
    if (entry && entry.expiresAt > this.#now()) return false;
    this.#state.set(key, { value, expiresAt: this.#now() + ttlMs });
    return true;
  }

  async deleteState(key: string): Promise<void> {
    this.#state.delete(key);
  }

  async takeQuota(key: string, limit: number, ttlMs: number): Promise<number | undefined> {
    // No await between the look and the count: atomic in one process.
    let entry = this.#liveQuota(key);
    if ((entry?.used ?? 0) >= limit) return undefined;
    if (!entry) this.#quotas.set(key, (entry = { used: 0, expiresAt: this.#now() + ttlMs }));
    return ++entry.used;
  }

  async quotaUsed(key: string): Promise<number> {
    return this.#liveQuota(key)?.used ?? 0;
  }

  /** The count under `key` unless expired (then dropped). */
  #liveQuota(key: string): { used: number; expiresAt: number } | undefined {
    const entry = this.#quotas.get(key);
    if (entry && entry.expiresAt <= this.#now()) {
      this.#quotas.delete(key);
      return undefined;
    }
    return entry;
  }

  async getGrant(key: string): Promise<StoredGrant | undefined> {
    return liveGrant(this.#grants.get(key));
  }

  async putGrant(key: string, value: string, expectedVersion: number): Promise<StoredGrant | undefined> {
    // No await between the look and the write: atomic in one process.
    const next = putGrantRecord(this.#grants.get(key), value, expectedVersion, this.#now());
    if (next === undefined) return undefined;
    this.#grants.set(key, next);
    return liveGrant(next);
  }

  async deleteGrant(key: string, expectedVersion?: number): Promise<boolean> {
    const mark = deleteGrantRecord(this.#grants.get(key), expectedVersion, this.#now());
    if (mark === undefined) return false;
    this.#grants.set(key, mark);
    return true;
  }

  async listGrants(prefix: string): Promise<{ key: string; grant: StoredGrant }[]> {
    const found: { key: string; grant: StoredGrant }[] = [];
    for (const [key, record] of this.#grants) {
      const grant = key.startsWith(prefix) ? liveGrant(record) : undefined;
      if (grant) found.push({ key, grant });
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
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

  /** How many entries it holds (what the sweep bounds). */
  get size(): { tokens: number; state: number; quotas: number } {
    return { tokens: this.#tokens.size, state: this.#state.size, quotas: this.#quotas.size };
  }

  /**
   * Drops tokens past their expiry and retention, expired state and expired quota counts (and the
   * marks of grants deleted a week ago; a grant itself never). Runs by itself every `sweepIntervalMs`.
   */
  sweep(): void {
    const now = this.#now();
    for (const [key, token] of this.#tokens) if (pastRetention(token, now)) this.#tokens.delete(key);
    for (const [key, entry] of this.#state) if (entry.expiresAt <= now) this.#state.delete(key);
    for (const [key, entry] of this.#quotas) if (entry.expiresAt <= now) this.#quotas.delete(key);
    for (const [key, record] of this.#grants) if (grantRecordExpired(record, now)) this.#grants.delete(key);
  }

  async close(): Promise<void> {
    clearInterval(this.#sweep);
    this.#waiters.wakeAll();
  }
}
