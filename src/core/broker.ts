import { TokenHubError, UpstreamError, badRequest, toCallerError, type FailureClass } from './errors.js';
import { exponentialBackoff, type BackoffStrategy } from './backoff.js';
import { slotKey, stateKey } from './keys.js';
import { LRUCache } from 'lru-cache';
import pLimit, { type LimitFunction } from 'p-limit';
import { UpstreamBudget, type UpstreamLimit } from './budget.js';
import { refreshAt } from './schedule.js';
import {
  silentLogger,
  type FetchContext,
  type FetchReason,
  type Logger,
  type Provider,
  type StateAccess,
  type StoredToken,
  type Token,
  type TokenStore,
} from './types.js';

/** One configured app, as the broker sees it. */
export interface AppDefinition {
  /** The id callers use (`feishu-main`). */
  readonly id: string;
  readonly provider: Provider;
  /** Platform + app id + a hash of the secret: the store namespace of this app. Never holds a secret. */
  readonly fingerprint: string;
  /** Start a background refresh when less than this is left (defaults to the provider's). */
  readonly refreshAheadMs?: number;
  /** Never hand out a token with less than this left (capped at a quarter of the lifetime the platform issues). */
  readonly minTtlMs?: number;
  /** Tenant tokens kept per app; beyond it the least recently read tenant is dropped from memory. */
  readonly maxTenants?: number;
  /** Upstream token calls in flight at once for one kind of this app. */
  readonly maxConcurrentFetches?: number;
  /** Reports of a token fetch it anew at most once per this interval. */
  readonly reportIntervalMs?: number;
}

/** What the broker reports to whoever watches it (metrics, logs). */
export interface BrokerObserver {
  upstream?(event: { app: string; platform: string; kind: string; reason: FetchReason; outcome: 'ok' | FailureClass; durationMs: number }): void;
}

export interface BrokerOptions {
  store: TokenStore;
  logger?: Logger;
  observer?: BrokerObserver;
  now?: () => number;
  random?: () => number;
  backoff?: BackoffStrategy;
  /** Timeout of one upstream call. */
  upstreamTimeoutMs?: number;
  /** Upstream attempts within one fetch for transient failures (network, 5xx, busy). */
  attempts?: number;
  /** How long one holder may fetch before another may take over (the store lease). */
  leaseMs?: number;
  /** Default `minTtlMs` for apps that set none. */
  minTtlMs?: number;
  /** Upper bound of the random delay subtracted from each refresh time, as a fraction of the window. */
  refreshJitter?: number;
  /** No two background refreshes of one token closer than this. */
  minRefreshIntervalMs?: number;
  /** Default `maxTenants` for apps that set none. */
  maxTenants?: number;
  /** Default `maxConcurrentFetches` for apps that set none. */
  maxConcurrentFetches?: number;
  /** Default `reportIntervalMs` for apps that set none. */
  reportIntervalMs?: number;
  /** Tenant keys the platform refused, remembered (without a slot) so that asking again costs no call. */
  maxRefusedTenants?: number;
}

export const DEFAULT_BROKER_OPTIONS = {
  upstreamTimeoutMs: 5_000,
  attempts: 3,
  leaseMs: 15_000,
  minTtlMs: 60_000,
  refreshJitter: 0.1,
  minRefreshIntervalMs: 1_000,
  maxTenants: 10_000,
  maxConcurrentFetches: 8,
  // However many reports come, a token is fetched anew on their word at most every 10 s.
  reportIntervalMs: 10_000,
  maxRefusedTenants: 10_000,
} as const;

/** The part of each platform budget that fetches on callers' reports may use. */
const REPORT_SHARE_OF_BUDGET = 0.5;

/** The longest lifetime platforms issue unless the provider says otherwise: 2 hours. */
const DEFAULT_MAX_LIFETIME_MS = 7_200_000;

export interface GetTokenOptions {
  tenantKey?: string | undefined;
  /** The least lifetime the caller needs, in milliseconds (raises the app's `minTtlMs`). */
  minTtlMs?: number | undefined;
}

/** A token handed to a caller. */
export interface IssuedToken extends Token {
  readonly app: string;
  readonly platform: string;
  readonly kind: string;
  /**
   * A caller reported it as rejected and no replacement could be had yet (the platform is down,
   * or asking again is not allowed so soon): it is served on to its end, marked so.
   */
  readonly reported?: true;
}

export interface SlotStatus {
  kind: string;
  expiresAt?: string;
  lastRefreshAt?: string;
  nextRefreshAt?: string;
  refreshing: boolean;
  /** A caller reported the token as rejected and it is served on until a replacement is had. */
  reported?: boolean;
  lastError?: { code: string; message: string; platformCode?: number | string; at: string; retryAt?: string };
}

/** The tokens of one tenant-scoped kind, counted: tenant keys are not shown to other clients. */
export interface TenantKindStatus {
  kind: string;
  tenantScoped: true;
  /** Tenants with a slot in memory. */
  tenants: number;
  /** Of those, how many hold a token with time left, are being fetched, and failed last. */
  valid: number;
  refreshing: number;
  failing: number;
  /** The first of their tokens to expire. */
  nextExpiresAt?: string;
}

/** The cached state of one token (app + kind + tenant). */
interface Slot {
  readonly key: string;
  readonly app: AppDefinition;
  readonly kind: string;
  readonly tenantKey: string | undefined;
  current: StoredToken | undefined;
  inflight: Promise<StoredToken> | undefined;
  timer: NodeJS.Timeout | undefined;
  nextRefreshAt: number | undefined;
  /** Read by a caller since the last fetch: only tokens in use are kept fresh. */
  used: boolean;
  failures: number;
  backoffUntil: number;
  lastError: { error: TokenHubError; at: number } | undefined;
  /** Values callers reported as rejected: never adopted again from the store (made on the first report). */
  rejected: Set<string> | undefined;
  /** `current` was reported as rejected and not replaced yet. */
  reported: boolean;
  /** When a report last led to a fetch: reports within the app's interval wait for the next one. */
  reportFetchAt: number;
  /** The longest lifetime a fetch of this token returned. */
  seenLifetimeMs: number;
  /** A `min_ttl` that a fresh token could not meet: more than `leftMs` is refused without a call until `until`. */
  shortfall: { leftMs: number; until: number; failures: number } | undefined;
}

/**
 * The token broker: cache, single-flight, refresh ahead of expiry, compare-and-refresh
 * invalidation and backoff. It knows no platform, store or HTTP framework.
 *
 * @example
 * const broker = new Broker({ store: new MemoryStore() });
 * broker.register({ id: 'feishu-main', provider, fingerprint });
 * const { value } = await broker.getToken('feishu-main', 'tenant_access_token');
 */
export class Broker {
  readonly #apps = new Map<string, AppDefinition>();
  readonly #slots = new Map<string, Slot>();
  readonly #plainSlots = new Map<string, Map<string, Slot>>();
  /** Tenant slots per app, least recently read first: the cap drops from the front. */
  readonly #tenantSlots = new Map<string, LRUCache<string, Slot>>();
  /** Tenant keys the platform refused, with the error and until when it is assumed to hold. */
  readonly #refused: LRUCache<string, { error: TokenHubError; until: number }>;
  /** Upstream calls in flight per app and kind. */
  readonly #limits = new Map<string, LimitFunction>();
  readonly #budget = new UpstreamBudget();
  readonly #store: TokenStore;
  readonly #log: Logger;
  readonly #observer: BrokerObserver;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #backoff: BackoffStrategy;
  readonly #opts: { -readonly [K in keyof typeof DEFAULT_BROKER_OPTIONS]: number };
  readonly #unsubscribe: () => void;
  readonly #closing = new AbortController();

  constructor(options: BrokerOptions) {
    this.#store = options.store;
    this.#log = options.logger ?? silentLogger;
    this.#observer = options.observer ?? {};
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#backoff = options.backoff ?? exponentialBackoff(undefined, this.#random);
    const opts = { ...DEFAULT_BROKER_OPTIONS } as { -readonly [K in keyof typeof DEFAULT_BROKER_OPTIONS]: number };
    for (const name of Object.keys(DEFAULT_BROKER_OPTIONS) as (keyof typeof DEFAULT_BROKER_OPTIONS)[]) {
      const value = options[name];
      if (value === undefined) continue;
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (name === 'refreshJitter' && value > 1)) {
        throw new TypeError(`BrokerOptions.${name} must be a ${name === 'refreshJitter' ? 'fraction between 0 and 1' : 'non-negative number'}, not ${String(value)}`);
      }
      opts[name] = value;
    }
    this.#opts = opts;
    this.#refused = new LRUCache({ max: Math.max(1, opts.maxRefusedTenants) });
    this.#unsubscribe = this.#store.subscribe(({ key }) => void this.#onStoreChange(key));
  }

  register(app: AppDefinition): void {
    if (this.#apps.has(app.id)) throw new Error(`app ${app.id} is registered twice`);
    this.#apps.set(app.id, app);
  }

  apps(): AppDefinition[] {
    return [...this.#apps.values()];
  }

  has(id: string): boolean {
    return this.#apps.has(id);
  }

  app(id: string): AppDefinition {
    const app = this.#apps.get(id);
    if (!app) throw new TokenHubError('TOKENHUB_APP_NOT_FOUND', 404, `no app named ${JSON.stringify(id)}`);
    return app;
  }

  /**
   * The cached token if it has at least the minimum lifetime left, without I/O; `undefined` when
   * it must be fetched (then call `getToken`). Throws for an unknown app or kind.
   */
  peek(appId: string, kind: string, options: GetTokenOptions = {}): IssuedToken | undefined {
    const slot = this.#slot(appId, kind, options.tenantKey);
    const current = slot.current;
    if (current && current.expiresAt - this.#now() >= this.#minTtl(slot, options)) {
      // A reported token waits for the replacement in flight; without one it is served on, marked.
      if (slot.reported && slot.inflight !== undefined) return undefined;
      this.#markUsed(slot);
      return issue(slot, current);
    }
    return undefined;
  }

  /** A token with at least the app's (or the caller's) minimum lifetime left; fetched once however many ask. */
  async getToken(appId: string, kind: string, options: GetTokenOptions = {}): Promise<IssuedToken> {
    const cached = this.peek(appId, kind, options);
    if (cached) return cached;
    const slot = this.#slot(appId, kind, options.tenantKey);
    const minTtlMs = this.#minTtl(slot, options);
    this.#checkMeetable(slot, minTtlMs);
    slot.used = true;
    try {
      return issue(slot, await this.#refresh(slot, slot.reported ? 'invalidate' : 'cold', minTtlMs, slot.reported ? slot.current?.value : undefined, options.minTtlMs));
    } catch (err) {
      const fallback = this.#reportedFallback(slot, minTtlMs);
      if (fallback) return fallback;
      throw err;
    }
  }

  /**
   * Compare-and-refresh: if `rejected` is still the current token, fetch a new one (once,
   * however many callers report it); otherwise answer with the current token and call nobody.
   * A report is a hint: a token is fetched anew on reports at most once per the app's report
   * interval, and when no replacement can be had the reported token is served on, marked `reported`.
   */
  async invalidate(appId: string, kind: string, rejected: string, options: GetTokenOptions = {}): Promise<IssuedToken> {
    const slot = this.#slot(appId, kind, options.tenantKey);
    if (slot.current?.value !== rejected) return this.getToken(appId, kind, options);
    const minTtlMs = this.#minTtl(slot, options);
    slot.used = true;
    if (!slot.reported) {
      slot.reported = true;
      reject(slot, rejected);
    }
    const nextAt = slot.reportFetchAt + this.#reportInterval(slot);
    if (slot.inflight === undefined && this.#now() < nextAt) {
      // Reported again so soon: the platform is not asked again before the interval is over.
      this.#setTimer(slot, nextAt);
      const fallback = this.#reportedFallback(slot, minTtlMs);
      if (fallback) return fallback;
    }
    if (slot.inflight === undefined) {
      slot.reportFetchAt = this.#now();
      this.#log.info({ app: appId, kind }, 'token reported as rejected: fetching a new one');
    }
    try {
      return issue(slot, await this.#refresh(slot, 'invalidate', minTtlMs, rejected, options.minTtlMs));
    } catch (err) {
      const fallback = this.#reportedFallback(slot, minTtlMs);
      if (fallback) return fallback;
      throw err;
    }
  }

  /**
   * Ends the backoff of every token of an app: what they waited for (a pushed ticket) has come,
   * so the next caller fetches at once instead of hearing the last failure again.
   */
  wake(appId: string): void {
    this.app(appId);
    for (const slot of this.#slots.values()) {
      if (slot.app.id !== appId) continue;
      slot.backoffUntil = 0;
      slot.failures = 0;
      // A token served on while its replacement failed is replaced now, not when the backoff would have ended.
      if (slot.lastError && slot.current && slot.inflight === undefined) this.#setTimer(slot, this.#now());
    }
  }

  /** The state of each token of an app that takes no tenant key, for `/v1/apps` and metrics. Never a token value. */
  status(appId: string): SlotStatus[] {
    const out: SlotStatus[] = [];
    const now = this.#now();
    for (const slot of this.#plainSlots.get(appId)?.values() ?? []) {
      const s: SlotStatus = { kind: slot.kind, refreshing: slot.inflight !== undefined };
      if (slot.current) {
        s.expiresAt = new Date(slot.current.expiresAt).toISOString();
        s.lastRefreshAt = new Date(slot.current.obtainedAt).toISOString();
      }
      if (slot.reported) s.reported = true;
      if (slot.nextRefreshAt !== undefined) s.nextRefreshAt = new Date(slot.nextRefreshAt).toISOString();
      if (slot.lastError) {
        const { error, at } = slot.lastError;
        s.lastError = { code: error.code, message: error.message, at: new Date(at).toISOString() };
        if (error.platformCode !== undefined) s.lastError.platformCode = error.platformCode;
        if (slot.backoffUntil > now) s.lastError.retryAt = new Date(slot.backoffUntil).toISOString();
      }
      out.push(s);
    }
    return out;
  }

  /** The tenant tokens of an app, counted by kind: which tenants exist is not told. */
  tenantStatus(appId: string): TenantKindStatus[] {
    const now = this.#now();
    const byKind = new Map<string, TenantKindStatus & { next: number }>();
    for (const slot of this.#tenantSlots.get(appId)?.values() ?? []) {
      let s = byKind.get(slot.kind);
      if (!s) byKind.set(slot.kind, (s = { kind: slot.kind, tenantScoped: true, tenants: 0, valid: 0, refreshing: 0, failing: 0, next: Infinity }));
      s.tenants++;
      if (slot.current && slot.current.expiresAt > now) {
        s.valid++;
        s.next = Math.min(s.next, slot.current.expiresAt);
      }
      if (slot.inflight !== undefined) s.refreshing++;
      if (slot.lastError) s.failing++;
    }
    return [...byKind.values()].map(({ next, ...s }) => (Number.isFinite(next) ? { ...s, nextExpiresAt: new Date(next).toISOString() } : s));
  }

  /** Seconds left on each cached token, by app and kind (for the metrics gauge). */
  *remaining(): Generator<{ app: string; platform: string; kind: string; seconds: number }> {
    const now = this.#now();
    for (const kinds of this.#plainSlots.values()) {
      for (const slot of kinds.values()) {
        if (!slot.current) continue;
        yield { app: slot.app.id, platform: slot.app.provider.platform, kind: slot.kind, seconds: Math.max(0, (slot.current.expiresAt - now) / 1000) };
      }
    }
  }

  /** Upstream calls counted against each platform limit in its current window (for metrics). */
  *budgets(): Generator<{ app: string; window: string; used: number; limit: number }> {
    const now = this.#now();
    for (const app of this.#apps.values()) {
      for (const { limit, used } of this.#budget.usage(app.id, app.provider.limits ?? [], now)) yield { app: app.id, window: limit.name, used, limit: limit.limit };
    }
  }

  /** Stops every timer; in-flight fetches are aborted. */
  close(): void {
    this.#closing.abort();
    this.#unsubscribe();
    for (const slot of this.#slots.values()) clearTimeout(slot.timer);
  }

  #slot(appId: string, kind: string, tenantKey: string | undefined): Slot {
    // Tenant-less slots, by app then kind: a cached read builds no key string.
    if (tenantKey === undefined) {
      const slot = this.#plainSlots.get(appId)?.get(kind);
      if (slot) return slot;
    }
    const app = this.app(appId);
    const { provider } = app;
    if (!provider.kinds.includes(kind)) {
      throw new TokenHubError('TOKENHUB_UNKNOWN_KIND', 400, `${provider.platform} apps have no token kind ${JSON.stringify(kind)}; kinds: ${provider.kinds.join(', ')}`);
    }
    if (provider.tenantScoped(kind) && tenantKey === undefined) throw badRequest(`${kind} of app ${appId} needs a tenant_key`);
    if (!provider.tenantScoped(kind) && tenantKey !== undefined) throw badRequest(`${kind} of app ${appId} takes no tenant_key`);
    const key = slotKey(app.fingerprint, kind, tenantKey);
    if (tenantKey !== undefined) return this.#tenantSlot(app, kind, tenantKey, key);
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = newSlot(key, app, kind, undefined);
      this.#slots.set(key, slot);
      let kinds = this.#plainSlots.get(appId);
      if (!kinds) this.#plainSlots.set(appId, (kinds = new Map()));
      kinds.set(kind, slot);
    }
    return slot;
  }

  /** A tenant's slot, most recently read last; past the app's cap the least recently read one goes. */
  #tenantSlot(app: AppDefinition, kind: string, tenantKey: string, key: string): Slot {
    let lru = this.#tenantSlots.get(app.id);
    if (!lru) {
      lru = new LRUCache<string, Slot>({
        max: Math.max(1, app.maxTenants ?? this.#opts.maxTenants),
        dispose: (slot, k, reason) => {
          if (reason === 'set') return;
          clearTimeout(slot.timer);
          if (this.#slots.get(k) === slot) this.#slots.delete(k);
        },
      });
      this.#tenantSlots.set(app.id, lru);
    }
    const slot = lru.get(key);
    if (slot) return slot;
    const refused = this.#refused.get(key);
    if (refused && refused.until > this.#now()) throw withRetryAfter(refused.error, refused.until - this.#now());
    const created = newSlot(key, app, kind, tenantKey);
    lru.set(key, created);
    this.#slots.set(key, created);
    return created;
  }

  /** Drops a tenant's slot (the platform refused the tenant key, or nobody read its token to its end). */
  #dropTenant(slot: Slot): void {
    if (slot.tenantKey === undefined) return;
    clearTimeout(slot.timer);
    this.#tenantSlots.get(slot.app.id)?.delete(slot.key);
    if (this.#slots.get(slot.key) === slot) this.#slots.delete(slot.key);
  }

  #markUsed(slot: Slot): void {
    slot.used = true;
    // A token nobody read for a whole window was left to lapse; a reader inside the window wakes its refresh.
    if (slot.timer === undefined && slot.inflight === undefined && slot.nextRefreshAt !== undefined && this.#now() >= slot.nextRefreshAt) {
      this.#refresh(slot, slot.reported ? 'invalidate' : 'refresh', 0, slot.reported ? slot.current?.value : undefined).catch(() => {});
    }
  }

  /**
   * The least lifetime a caller may be handed: the app's minimum, raised by the caller's. The app's
   * own is capped at a quarter of the lifetime the platform issues, so that short-lived tokens
   * (tested platforms, sandboxes) are served rather than refused on every plain request.
   */
  #minTtl(slot: Slot, options: GetTokenOptions): number {
    let own = slot.app.minTtlMs ?? this.#opts.minTtlMs;
    if (slot.seenLifetimeMs > 0) own = Math.min(own, slot.seenLifetimeMs / 4);
    return Math.max(options.minTtlMs ?? 0, own);
  }

  /** Refuses, without a call, a `min_ttl` the platform never meets, or one a fresh token just failed to meet. */
  #checkMeetable(slot: Slot, minTtlMs: number): void {
    const ceiling = Math.max(slot.app.provider.maxLifetimeMs ?? DEFAULT_MAX_LIFETIME_MS, slot.seenLifetimeMs);
    if (minTtlMs > ceiling) {
      throw badRequest(`min_ttl of ${Math.round(minTtlMs / 1000)} s cannot be met: ${slot.app.provider.platform} issues tokens of at most ${Math.floor(ceiling / 1000)} s`);
    }
    const short = slot.shortfall;
    if (short && minTtlMs > short.leftMs && this.#now() < short.until) throw unmeetable(slot, minTtlMs, short.leftMs, short.until - this.#now());
  }

  /** The reported token, served on while it has the lifetime the caller needs and nothing replaced it. */
  #reportedFallback(slot: Slot, minTtlMs: number): IssuedToken | undefined {
    const current = slot.current;
    if (!slot.reported || !current || current.expiresAt - this.#now() < minTtlMs) return undefined;
    return issue(slot, current);
  }

  #reportInterval(slot: Slot): number {
    return slot.app.reportIntervalMs ?? this.#opts.reportIntervalMs;
  }

  /**
   * Single-flight: every caller of one slot shares the fetch in flight. `minTtlMs` 0 asks for no
   * least lifetime (background refreshes); otherwise the lifetime needed is worked out again once the
   * token is in, since the app's own minimum follows the lifetime the platform issues.
   */
  async #refresh(slot: Slot, reason: FetchReason, minTtlMs: number, rejected?: string, callerMinTtlMs?: number): Promise<StoredToken> {
    const joined = slot.inflight !== undefined;
    let token = await this.#shared(slot, reason, minTtlMs, rejected);
    // A fetch started for another reason (a background refresh) may hand back the very token
    // this caller reported; then it takes a fetch of its own.
    if (joined && rejected !== undefined && token.value === rejected && reason === 'invalidate') {
      slot.reported = true;
      slot.reportFetchAt = this.#now();
      token = await this.#shared(slot, reason, minTtlMs, rejected);
    }
    const left = token.expiresAt - this.#now();
    if (minTtlMs > 0) minTtlMs = this.#minTtl(slot, { minTtlMs: callerMinTtlMs });
    if (left < minTtlMs) {
      // A fresh token that cannot meet the caller's min_ttl: a failure like any other, backed off.
      const failures = (slot.shortfall?.failures ?? 0) + 1;
      const delay = this.#backoff('credentials', failures, undefined);
      slot.shortfall = { leftMs: left, until: this.#now() + delay, failures };
      this.#log.warn({ app: slot.app.id, kind: slot.kind, minTtlS: Math.round(minTtlMs / 1000), leftS: Math.floor(left / 1000) }, 'a fresh token cannot meet the min_ttl asked for');
      throw unmeetable(slot, minTtlMs, left, delay);
    }
    return token;
  }

  /** The fetch in flight for `slot`, started if there is none. */
  #shared(slot: Slot, reason: FetchReason, minTtlMs: number, rejected: string | undefined): Promise<StoredToken> {
    slot.inflight ??= this.#fetchAndCache(slot, reason, minTtlMs, rejected).finally(() => {
      slot.inflight = undefined;
    });
    return slot.inflight;
  }

  async #fetchAndCache(slot: Slot, reason: FetchReason, minTtlMs: number, rejected: string | undefined): Promise<StoredToken> {
    const now = this.#now();
    if (slot.backoffUntil > now && slot.lastError) {
      // Backing off: callers learn the last failure at once and the platform is spared.
      throw withRetryAfter(slot.lastError.error, slot.backoffUntil - now);
    }
    const previous = slot.current;
    const accept = (t: StoredToken): boolean => {
      if (slot.rejected?.has(t.value)) return false;
      if (reason === 'refresh') return previous === undefined || t.expiresAt > previous.expiresAt;
      return t.expiresAt - this.#now() >= minTtlMs;
    };
    try {
      const token = await this.#fetchCoordinated(slot, reason, accept, rejected);
      this.#adopt(slot, token);
      // Asked after the report, the platform handed this token out again: it is good after all.
      if (reason === 'invalidate') slot.rejected?.delete(token.value);
      // A fetch made for a caller counts as a read; a background refresh must earn its next one.
      slot.used = reason !== 'refresh';
      if (reason === 'refresh' && previous && token.value === previous.value && token.expiresAt <= previous.expiresAt + 2_000) {
        this.#log.warn({ app: slot.app.id, kind: slot.kind }, 'refresh returned the same token: the refresh-ahead window is wider than the platform allows');
      }
      return token;
    } catch (err) {
      throw this.#recordFailure(slot, err);
    }
  }

  /** Across instances: take the store's lease, or wait for the holder and take what it wrote. */
  async #fetchCoordinated(slot: Slot, reason: FetchReason, accept: (t: StoredToken) => boolean, rejected: string | undefined): Promise<StoredToken> {
    const deadline = this.#now() + this.#opts.leaseMs + this.#opts.upstreamTimeoutMs * this.#opts.attempts;
    for (;;) {
      const stored = await this.#storeGet(slot.key);
      if (stored && accept(stored)) return stored;
      // The lease is taken only once this app may call: a fetch queued behind others holds none.
      const fetched = await this.#limit(slot, async () => {
        const lease = await this.#acquire(slot.key);
        if (lease === undefined) return undefined;
        try {
          // The previous holder may have written while we waited for the lease.
          const again = lease === null ? undefined : await this.#storeGet(slot.key);
          if (again && accept(again)) return again;
          const token = await this.#callProvider(slot, reason, rejected, lease === null ? 0 : lease.fence);
          return await this.#storePut(slot.key, token);
        } finally {
          if (lease !== null) await lease.release().catch(() => {});
        }
      });
      if (fetched) return fetched;
      if (this.#now() > deadline) {
        throw new UpstreamError('transient', 'another instance holds the fetch lease and wrote no token in time', { platform: slot.app.provider.platform });
      }
      await this.#store.waitForChange(slot.key, this.#opts.leaseMs).catch(() => {});
    }
  }

  /** Runs `work` when fewer than the app's `maxConcurrentFetches` of this kind are in flight. */
  #limit<T>(slot: Slot, work: () => Promise<T>): Promise<T> {
    // Per kind, not per app: a tenant token's fetch waits for the app token, which must not queue behind it.
    const name = `${slot.app.id}\0${slot.kind}`;
    let limit = this.#limits.get(name);
    if (!limit) this.#limits.set(name, (limit = pLimit(Math.max(1, slot.app.maxConcurrentFetches ?? this.#opts.maxConcurrentFetches))));
    return limit(work);
  }

  async #callProvider(slot: Slot, reason: FetchReason, rejected: string | undefined, fence: number): Promise<StoredToken> {
    const { app, kind, tenantKey } = slot;
    let attempt = 0;
    for (;;) {
      attempt++;
      // Reports may spend only part of a budget: whatever callers report, the scheduled refreshes still have calls.
      const refused = this.#budget.take(app.id, kind, app.provider.limits ?? [], this.#now(), reason === 'invalidate' ? REPORT_SHARE_OF_BUDGET : 1);
      if (refused) throw overBudget(app, refused.limit, refused.retryAfterMs);
      const startedAt = this.#now();
      const signal = AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#opts.upstreamTimeoutMs)]);
      try {
        const fetched = await app.provider.fetch({ kind, tenantKey, reason, ...(rejected === undefined ? {} : { rejected }) }, this.#context(app, tenantKey, signal));
        this.#observer.upstream?.({ app: app.id, platform: app.provider.platform, kind, reason, outcome: 'ok', durationMs: this.#now() - startedAt });
        slot.seenLifetimeMs = Math.max(slot.seenLifetimeMs, fetched.expiresInMs);
        // Expiry counted from when we asked: the platform's clock started no earlier.
        const version = Math.max(fence, (slot.current?.version ?? 0) + 1);
        return { value: fetched.value, expiresAt: startedAt + fetched.expiresInMs, obtainedAt: this.#now(), version };
      } catch (err) {
        const failure = err instanceof UpstreamError ? err : new UpstreamError('transient', describe(err), { platform: app.provider.platform, cause: err });
        this.#observer.upstream?.({ app: app.id, platform: app.provider.platform, kind, reason, outcome: failure.failure, durationMs: this.#now() - startedAt });
        if (failure.failure !== 'transient' || attempt >= this.#opts.attempts || this.#closing.signal.aborted) throw failure;
        const delay = this.#backoff('transient', attempt, failure.retryAfterMs);
        this.#log.warn({ app: app.id, kind, attempt, err: failure.message, platformCode: failure.platformCode }, 'token request failed: retrying');
        await sleep(delay, this.#closing.signal);
      }
    }
  }

  #context(app: AppDefinition, tenantKey: string | undefined, signal: AbortSignal): FetchContext {
    return {
      signal,
      now: this.#now,
      token: (kind, options = {}) => this.getToken(app.id, kind, { tenantKey: options.tenantKey, minTtlMs: options.minTtlMs }),
      invalidate: (kind, rejected, options = {}) => this.invalidate(app.id, kind, rejected, { tenantKey: options.tenantKey }),
      state: this.state(app.id),
    };
  }

  /** An app's durable state (pushed tickets, refresh tokens), kept in the store under the app's namespace. */
  state(appId: string): StateAccess {
    const { fingerprint } = this.app(appId);
    const store = this.#store;
    return {
      get: (name) => store.getState(stateKey(fingerprint, name)),
      set: (name, value, ttlMs) => store.setState(stateKey(fingerprint, name), value, ttlMs),
      add: (name, value, ttlMs) => store.addState(stateKey(fingerprint, name), value, ttlMs),
      delete: (name) => store.deleteState(stateKey(fingerprint, name)),
    };
  }

  #adopt(slot: Slot, token: StoredToken): void {
    slot.current = token;
    slot.reported = false;
    slot.failures = 0;
    slot.backoffUntil = 0;
    slot.lastError = undefined;
    slot.used = false;
    if (slot.shortfall && token.expiresAt - this.#now() > slot.shortfall.leftMs) slot.shortfall = undefined;
    this.#schedule(slot);
  }

  #recordFailure(slot: Slot, err: unknown): TokenHubError {
    const failure = err instanceof UpstreamError ? err : undefined;
    const failureClass: FailureClass = failure?.failure ?? 'transient';
    slot.failures++;
    const delay = this.#backoff(failureClass, slot.failures, failure?.retryAfterMs);
    slot.backoffUntil = this.#now() + delay;
    const callerError = toCallerError(err, delay);
    slot.lastError = { error: callerError, at: this.#now() };
    this.#log.warn(
      { app: slot.app.id, kind: slot.kind, failure: failureClass, platformCode: failure?.platformCode, err: failure?.message ?? describe(err), retryInMs: Math.round(delay) },
      'token fetch failed',
    );
    if (slot.current && slot.current.expiresAt > this.#now()) {
      // While a valid token is at hand, keep trying in the background; callers see nothing.
      this.#setTimer(slot, this.#now() + delay);
    } else if (slot.tenantKey !== undefined && failureClass === 'credentials') {
      // A tenant key the platform refuses leaves no slot, only a bounded note that spares the next call.
      this.#dropTenant(slot);
      this.#refused.set(slot.key, { error: callerError, until: slot.backoffUntil });
    }
    return callerError;
  }

  #schedule(slot: Slot): void {
    const token = slot.current;
    if (!token) return;
    const ahead = slot.app.refreshAheadMs ?? slot.app.provider.refreshAheadMs;
    const plan = { aheadMs: ahead, jitter: this.#opts.refreshJitter, minIntervalMs: this.#opts.minRefreshIntervalMs };
    this.#setTimer(slot, refreshAt(token, this.#now(), plan, this.#random()));
  }

  #setTimer(slot: Slot, at: number): void {
    clearTimeout(slot.timer);
    slot.nextRefreshAt = at;
    if (this.#closing.signal.aborted) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!slot.used && slot.lastError === undefined && !slot.reported) {
        // Nobody read it: let it lapse, a reader will wake it. An idle tenant goes once its token ends.
        if (slot.tenantKey !== undefined && slot.current) this.#dropWhenUnread(slot, slot.current.expiresAt);
        return;
      }
      const reported = slot.reported ? slot.current?.value : undefined;
      if (reported !== undefined) slot.reportFetchAt = this.#now();
      this.#refresh(slot, reported === undefined ? 'refresh' : 'invalidate', 0, reported).catch(() => {});
    }, Math.max(0, at - this.#now()));
    slot.timer.unref();
  }

  /** Drops an idle tenant slot at `at` unless a reader came meanwhile. */
  #dropWhenUnread(slot: Slot, at: number): void {
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!slot.used && slot.inflight === undefined) this.#dropTenant(slot);
    }, Math.max(0, at - this.#now()));
    slot.timer.unref();
  }

  async #onStoreChange(key: string): Promise<void> {
    const slot = this.#slots.get(key);
    if (!slot) return;
    const stored = await this.#storeGet(key);
    if (!stored || slot.rejected?.has(stored.value)) return;
    if (!slot.current || stored.version > slot.current.version) {
      if (slot.current && slot.current.value !== stored.value) reject(slot, slot.current.value);
      this.#adopt(slot, stored);
      slot.used = true;
    }
  }

  async #storeGet(key: string): Promise<StoredToken | undefined> {
    try {
      return await this.#store.getToken(key);
    } catch (err) {
      this.#log.warn({ store: this.#store.name, err: describe(err) }, 'store unreachable: going on with the local copy');
      return undefined;
    }
  }

  async #storePut(key: string, token: StoredToken): Promise<StoredToken> {
    try {
      return await this.#store.putToken(key, token);
    } catch (err) {
      this.#log.warn({ store: this.#store.name, err: describe(err) }, 'store unreachable: token kept locally only');
      return token;
    }
  }

  /** The lease, `undefined` when another holds it, or `null` when the store is unreachable (fetch alone then). */
  async #acquire(key: string): Promise<Awaited<ReturnType<TokenStore['acquire']>> | null> {
    try {
      return await this.#store.acquire(key, this.#opts.leaseMs);
    } catch (err) {
      this.#log.warn({ store: this.#store.name, err: describe(err) }, 'store unreachable: fetching without the lease');
      return null;
    }
  }
}

function newSlot(key: string, app: AppDefinition, kind: string, tenantKey: string | undefined): Slot {
  return {
    key, app, kind, tenantKey,
    current: undefined, inflight: undefined, timer: undefined, nextRefreshAt: undefined,
    used: false, failures: 0, backoffUntil: 0, lastError: undefined, rejected: undefined,
    reported: false, reportFetchAt: -Infinity, seenLifetimeMs: 0, shortfall: undefined,
  };
}

/** Remembers a replaced or rejected value so that it is never adopted again; the last few are enough. */
function reject(slot: Slot, value: string): void {
  const rejected = (slot.rejected ??= new Set());
  rejected.delete(value);
  rejected.add(value);
  if (rejected.size > 16) rejected.delete(rejected.values().next().value!);
}

/** The caller's view of a token, made once per token (cached reads allocate nothing). */
const issued = new WeakMap<Token, IssuedToken>();
const issuedReported = new WeakMap<Token, IssuedToken>();

function issue(slot: Slot, token: Token): IssuedToken {
  const reported = slot.reported && slot.current === token;
  const cache = reported ? issuedReported : issued;
  let out = cache.get(token);
  if (!out) {
    out = { app: slot.app.id, platform: slot.app.provider.platform, kind: slot.kind, value: token.value, expiresAt: token.expiresAt, obtainedAt: token.obtainedAt, ...(reported ? { reported: true as const } : {}) };
    cache.set(token, out);
  }
  return out;
}

function unmeetable(slot: Slot, minTtlMs: number, leftMs: number, retryAfterMs: number): TokenHubError {
  return new TokenHubError(
    'TOKENHUB_BAD_REQUEST',
    400,
    `min_ttl of ${Math.round(minTtlMs / 1000)} s cannot be met: ${slot.app.provider.platform} issued a token with ${Math.floor(leftMs / 1000)} s left`,
    { retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) },
  );
}

function overBudget(app: AppDefinition, limit: UpstreamLimit, retryAfterMs: number): UpstreamError {
  return new UpstreamError('rate-limited', `tokenhub's budget of ${limit.limit} token calls per ${limit.name} for this app is spent (the platform's own limit)`, {
    platform: app.provider.platform,
    retryAfterMs: Math.max(1000, retryAfterMs),
  });
}

function withRetryAfter(error: TokenHubError, retryAfterMs: number): TokenHubError {
  if (error.retryAfterSeconds === undefined) return error;
  return new TokenHubError(error.code, error.statusCode, error.message, {
    cause: error.cause,
    ...(error.platform === undefined ? {} : { platform: error.platform }),
    ...(error.platformCode === undefined ? {} : { platformCode: error.platformCode }),
    retryAfterSeconds: Math.max(1, Math.ceil(retryAfterMs / 1000)),
  });
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.name === 'Error' ? err.message : `${err.name}: ${err.message}`;
  return String(err);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
