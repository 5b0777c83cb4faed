import { adoptFromStore } from './adoption.js';
import { Attempts } from './attempts.js';
import { exponentialBackoff } from './backoff.js';
import { TokenHubError } from './errors.js';
import { Fetcher } from './fetcher.js';
import { grantAccess } from './grants.js';
import { slotKey, stateKey } from './keys.js';
import { Coordinator } from './lease.js';
import { checkMeetable, minTtl } from './min-ttl.js';
import { resolveLimits, type AppDefinition, type BrokerLimits, type BrokerObserver, type BrokerOptions, type GetTokenOptions } from './options.js';
import { Refresher } from './refresher.js';
import { SlotTable } from './slot-table.js';
import { countTenants, issue, nextFetch, reject, slotStatus, type IssuedToken, type Slot, type SlotStatus, type TenantKindStatus } from './slot.js';
import { silentLogger, type FetchContext, type GrantAccess, type Logger, type ProviderHealth, type StateAccess, type StoreChange, type StoredToken, type TokenStore } from './types.js';

export { DEFAULT_BROKER_OPTIONS, type AppDefinition, type BrokerObserver, type BrokerOptions, type FetchOutcome, type GetTokenOptions, type TenantChange, type UpstreamCall } from './options.js';
export type { IssuedToken, SlotStatus, TenantKindStatus } from './slot.js';

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
  readonly #store: TokenStore;
  readonly #log: Logger;
  readonly #observer: BrokerObserver;
  readonly #now: () => number;
  readonly #opts: BrokerLimits;
  readonly #table: SlotTable;
  readonly #attempts: Attempts;
  readonly #coordinator: Coordinator;
  readonly #refresher: Refresher;
  readonly #fetcher: Fetcher;
  readonly #unsubscribe: () => void;
  readonly #closing = new AbortController();

  constructor(options: BrokerOptions) {
    const opts = (this.#opts = resolveLimits(options));
    const store = (this.#store = options.store);
    const log = (this.#log = options.logger ?? silentLogger);
    this.#observer = options.observer ?? {};
    const now = (this.#now = options.now ?? Date.now);
    const random = options.random ?? Math.random;
    const backoff = options.backoff ?? exponentialBackoff(undefined, random);
    const closing = this.#closing.signal;
    const table = (this.#table = new SlotTable({ ...opts, now }));
    const attempts = (this.#attempts = new Attempts({ ...opts, log, observer: options.observer ?? {}, now, backoff, closing, quotas: store }));
    const coordinator = (this.#coordinator = new Coordinator({ store, log, now, leaseMs: opts.leaseMs, graceMs: opts.upstreamTimeoutMs * opts.attempts }));
    const refresher = (this.#refresher = new Refresher({
      ...opts, now, random, closing,
      refresh: (slot, reason, rejected) => this.#fetcher.refresh(slot, reason, 0, rejected),
      drop: (slot) => table.drop(slot),
    }));
    this.#fetcher = new Fetcher({
      log, now, backoff, attempts, coordinator, refresher, table,
      minTtl: (slot, callerMs) => minTtl(slot, opts.minTtlMs, callerMs),
      context: (slot, signal) => this.#context(slot, signal),
      ...(options.observer ? { observer: options.observer } : {}),
    });
    this.#unsubscribe = store.subscribe((change) => void this.#onStoreChange(change));
  }

  register(app: AppDefinition): void {
    if (this.#apps.has(app.id)) throw new Error(`app ${app.id} is registered twice`);
    this.#apps.set(app.id, app);
  }

  /**
   * Removes an app (a reload dropped or changed it): its timers stop, its slots go, and a fetch of
   * it still in flight ends with its current call. Tokens in the store stay to their end. False
   * when no app has the id. Registering the id again starts it afresh.
   */
  unregister(appId: string): boolean {
    const app = this.#apps.get(appId);
    if (!app) return false;
    this.#apps.delete(appId);
    this.#table.dropApp(app);
    this.#attempts.forget(appId);
    return true;
  }

  apps(): AppDefinition[] {
    return [...this.#apps.values()];
  }

  has(id: string): boolean {
    return this.#apps.has(id);
  }

  app(id: string): AppDefinition {
    const app = this.#apps.get(id);
    if (!app) throw new TokenHubError('TOKENHUB_APP_NOT_FOUND', `no app named ${JSON.stringify(id)}`);
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
      this.#refresher.read(slot);
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
    checkMeetable(slot, minTtlMs, this.#now());
    this.#refresher.wanted(slot);
    const { reason, rejected } = nextFetch(slot, 'cold');
    return this.#served(slot, minTtlMs, this.#fetcher.refresh(slot, reason, minTtlMs, rejected, options.minTtlMs));
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
    this.#refresher.wanted(slot);
    if (!slot.reported) {
      slot.reported = true;
      reject(slot, rejected);
    }
    const nextAt = slot.reportFetchAt + (slot.app.reportIntervalMs ?? this.#opts.reportIntervalMs);
    if (slot.inflight === undefined && this.#now() < nextAt) {
      // Reported again so soon: the platform is not asked again before the interval is over.
      this.#refresher.at(slot, nextAt);
      const fallback = this.#reportedFallback(slot, minTtlMs);
      if (fallback) return fallback;
    }
    if (slot.inflight === undefined) {
      slot.reportFetchAt = this.#now();
      this.#log.info({ app: appId, kind }, 'token reported as rejected: fetching a new one');
    }
    return this.#served(slot, minTtlMs, this.#fetcher.refresh(slot, 'invalidate', minTtlMs, rejected, options.minTtlMs));
  }

  /**
   * Ends the backoff of every token of an app: what they waited for (a pushed ticket) has come,
   * so the next caller fetches at once instead of hearing the last failure again.
   */
  wake(appId: string): void {
    // A tenant refused a moment ago (its grant revoked) may be authorized again now: ask at once.
    this.#table.forgetRefusals(this.app(appId));
    for (const slot of this.#table.all()) {
      if (slot.app.id !== appId) continue;
      slot.backoffUntil = 0;
      slot.failures = 0;
      // A token served on while its replacement failed is replaced now, not when the backoff would have ended.
      if (slot.lastError && slot.current && slot.inflight === undefined) this.#refresher.at(slot, this.#now());
    }
    this.#observer.woken?.(appId);
  }

  /**
   * A tenant's authorization was kept anew (an install, a re-authorization, a grant reset): the
   * tokens fetched with its previous grant are forgotten on every instance (see `forgetTenant`),
   * its waits end (see `wake`), and observers are told (an alert of its rejected grant recovers).
   */
  async authorized(appId: string, tenantKey: string): Promise<void> {
    const app = this.app(appId);
    await this.#forget(app, tenantKey);
    this.wake(appId);
    this.#observer.tenant?.({ app: appId, platform: app.provider.platform, tenantKey, change: 'authorized' });
  }

  /**
   * Forgets one tenant's tokens (its authorization was cancelled or deleted): dropped from memory
   * and from the store, so that the next call fetches anew and, without a grant, is refused. The
   * store tells the other instances sharing it, which drop theirs as they hear it: none serves a
   * copy from memory, and none makes a call for it.
   */
  async forgetTenant(appId: string, tenantKey: string): Promise<void> {
    const app = this.app(appId);
    await this.#forget(app, tenantKey);
    this.#observer.tenant?.({ app: appId, platform: app.provider.platform, tenantKey, change: 'forgotten' });
  }

  /** The state of each token of an app that takes no tenant key, for `/v1/apps` and metrics. Never a token value. */
  status(appId: string): SlotStatus[] {
    const now = this.#now();
    return [...this.#table.plain(appId)].map((slot) => slotStatus(slot, now));
  }

  /** The tenant tokens of an app, counted by kind: which tenants exist is not told. */
  tenantStatus(appId: string): TenantKindStatus[] {
    return countTenants(this.#table.tenants(appId), this.#now());
  }

  /** Seconds left on each cached token, by app and kind (for the metrics gauge). */
  *remaining(): Generator<{ app: string; platform: string; kind: string; seconds: number }> {
    const now = this.#now();
    for (const slot of this.#table.allPlain()) {
      if (!slot.current) continue;
      yield { app: slot.app.id, platform: slot.app.provider.platform, kind: slot.kind, seconds: Math.max(0, (slot.current.expiresAt - now) / 1000) };
    }
  }

  /** Upstream calls counted against each platform limit in its current window (for metrics). */
  *budgets(): Generator<{ app: string; window: string; used: number; limit: number }> {
    for (const app of this.#apps.values()) {
      for (const { limit, used } of this.#attempts.usage(app)) yield { app: app.id, window: limit.name, used, limit: limit.limit };
    }
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

  /** What the app's provider says of what its tokens depend on (a pushed ticket); `undefined` when it says nothing. */
  async health(appId: string): Promise<ProviderHealth | undefined> {
    const { provider } = this.app(appId);
    return provider.health?.({ state: this.state(appId), grants: this.grants(appId), now: this.#now });
  }

  /**
   * An app's grants (authorizer refresh tokens, permanent codes): kept without a TTL, written by
   * compare-and-set, under the app's grant scope, which a new secret does not change.
   */
  grants(appId: string): GrantAccess {
    const app = this.app(appId);
    return grantAccess(this.#store, app.grantScope ?? app.fingerprint);
  }

  /**
   * What a provider gets for calls outside a token fetch (an authorization's code exchanged, a
   * pre-authorization code, work an event leads to): the app's tokens, state and grants, and a
   * signal that aborts when the broker closes, after `timeoutMs` (default: the upstream timeout
   * times the attempts), or with `signal`.
   *
   * @example
   * const context = broker.context('component-main');
   * const authorization = await provider.authorizations!.authorize(code, context);
   */
  context(appId: string, options: { signal?: AbortSignal; timeoutMs?: number } = {}): FetchContext {
    const app = this.app(appId);
    const signals = [this.#closing.signal, AbortSignal.timeout(options.timeoutMs ?? this.#opts.upstreamTimeoutMs * this.#opts.attempts)];
    if (options.signal) signals.push(options.signal);
    return this.#contextOf(app, AbortSignal.any(signals));
  }

  /** Stops every timer; in-flight fetches are aborted. */
  close(): void {
    this.#closing.abort();
    this.#unsubscribe();
    for (const slot of this.#table.all()) clearTimeout(slot.timer);
  }

  #slot(appId: string, kind: string, tenantKey: string | undefined): Slot {
    // Tenant-less slots, by app then kind: a cached read builds no key string.
    if (tenantKey === undefined) {
      const slot = this.#table.plainSlot(appId, kind);
      if (slot) return slot;
    }
    return this.#table.get(this.app(appId), kind, tenantKey);
  }

  #minTtl(slot: Slot, options: GetTokenOptions): number {
    return minTtl(slot, this.#opts.minTtlMs, options.minTtlMs);
  }

  /** The fetched token; when none could be had, the reported one served on if it still has the lifetime asked for. */
  async #served(slot: Slot, minTtlMs: number, fetch: Promise<StoredToken>): Promise<IssuedToken> {
    try {
      return issue(slot, await fetch);
    } catch (err) {
      const fallback = this.#reportedFallback(slot, minTtlMs);
      if (fallback) return fallback;
      throw err;
    }
  }

  /** The reported token, served on while it has the lifetime the caller needs and nothing replaced it. */
  #reportedFallback(slot: Slot, minTtlMs: number): IssuedToken | undefined {
    const current = slot.current;
    if (!slot.reported || !current || current.expiresAt - this.#now() < minTtlMs) return undefined;
    return issue(slot, current);
  }

  #context(slot: Slot, signal: AbortSignal): FetchContext {
    return this.#contextOf(slot.app, signal);
  }

  #contextOf(app: AppDefinition, signal: AbortSignal): FetchContext {
    return {
      signal,
      now: this.#now,
      token: (kind, options = {}) => this.getToken(app.id, kind, { tenantKey: options.tenantKey, minTtlMs: options.minTtlMs }),
      invalidate: (kind, rejected, options = {}) => this.invalidate(app.id, kind, rejected, { tenantKey: options.tenantKey }),
      state: this.state(app.id),
      grants: this.grants(app.id),
    };
  }

  /** A tenant's tokens forgotten here and in the store; a fetch of them in flight ends without keeping or storing its token. */
  async #forget(app: AppDefinition, tenantKey: string): Promise<void> {
    const keys = app.provider.kinds.filter((kind) => app.provider.tenantScoped(kind)).map((kind) => slotKey(app.fingerprint, kind, tenantKey));
    for (const key of keys) this.#table.retireTenant(key);
    await Promise.all(keys.map((key) => this.#store.deleteToken(key)));
  }

  async #onStoreChange({ key, deleted }: StoreChange): Promise<void> {
    // Another instance forgot a tenant's token: so does this one, at once (see `forgetTenant`).
    if (deleted) return this.#table.retireTenant(key);
    const slot = this.#table.byKey(key);
    if (!slot) return;
    adoptFromStore(slot, await this.#coordinator.get(key), this.#now(), this.#refresher);
  }
}
