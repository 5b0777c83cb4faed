import { TokenHubError, UpstreamError, badRequest, toCallerError, type FailureClass } from './errors.js';
import { exponentialBackoff, type BackoffStrategy } from './backoff.js';
import { slotKey, stateKey } from './keys.js';
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
  /** Never hand out a token with less than this left. */
  readonly minTtlMs?: number;
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
}

export const DEFAULT_BROKER_OPTIONS = {
  upstreamTimeoutMs: 5_000,
  attempts: 3,
  leaseMs: 15_000,
  minTtlMs: 60_000,
  refreshJitter: 0.1,
  minRefreshIntervalMs: 1_000,
} as const;

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
}

export interface SlotStatus {
  kind: string;
  tenantKey?: string;
  expiresAt?: string;
  lastRefreshAt?: string;
  nextRefreshAt?: string;
  refreshing: boolean;
  lastError?: { code: string; message: string; platformCode?: number | string; at: string; retryAt?: string };
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
  /** Values callers reported as rejected: never adopted again from the store. */
  rejected: Set<string>;
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
    this.#opts = {
      upstreamTimeoutMs: options.upstreamTimeoutMs ?? DEFAULT_BROKER_OPTIONS.upstreamTimeoutMs,
      attempts: options.attempts ?? DEFAULT_BROKER_OPTIONS.attempts,
      leaseMs: options.leaseMs ?? DEFAULT_BROKER_OPTIONS.leaseMs,
      minTtlMs: options.minTtlMs ?? DEFAULT_BROKER_OPTIONS.minTtlMs,
      refreshJitter: options.refreshJitter ?? DEFAULT_BROKER_OPTIONS.refreshJitter,
      minRefreshIntervalMs: options.minRefreshIntervalMs ?? DEFAULT_BROKER_OPTIONS.minRefreshIntervalMs,
    };
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
    slot.used = true;
    const token = await this.#refresh(slot, 'cold', minTtlMs);
    return issue(slot, token);
  }

  /**
   * Compare-and-refresh: if `rejected` is still the current token, fetch a new one (once,
   * however many callers report it); otherwise answer with the current token and call nobody.
   */
  async invalidate(appId: string, kind: string, rejected: string, options: GetTokenOptions = {}): Promise<IssuedToken> {
    const slot = this.#slot(appId, kind, options.tenantKey);
    const minTtlMs = this.#minTtl(slot, options);
    reject(slot, rejected);
    if (slot.current?.value === rejected) {
      this.#log.info({ app: appId, kind }, 'token reported as rejected: fetching a new one');
      slot.current = undefined;
      slot.used = true;
      const token = await this.#refresh(slot, 'invalidate', minTtlMs, rejected);
      return issue(slot, token);
    }
    return this.getToken(appId, kind, options);
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
    }
  }

  /** Each token's state, for `/v1/apps` and metrics. Never a token value. */
  status(appId: string): SlotStatus[] {
    const out: SlotStatus[] = [];
    for (const slot of this.#slots.values()) {
      if (slot.app.id !== appId) continue;
      const s: SlotStatus = { kind: slot.kind, refreshing: slot.inflight !== undefined };
      if (slot.tenantKey !== undefined) s.tenantKey = slot.tenantKey;
      if (slot.current) {
        s.expiresAt = new Date(slot.current.expiresAt).toISOString();
        s.lastRefreshAt = new Date(slot.current.obtainedAt).toISOString();
      }
      if (slot.nextRefreshAt !== undefined) s.nextRefreshAt = new Date(slot.nextRefreshAt).toISOString();
      if (slot.lastError) {
        const { error, at } = slot.lastError;
        s.lastError = { code: error.code, message: error.message, at: new Date(at).toISOString() };
        if (error.platformCode !== undefined) s.lastError.platformCode = error.platformCode;
        if (slot.backoffUntil > this.#now()) s.lastError.retryAt = new Date(slot.backoffUntil).toISOString();
      }
      out.push(s);
    }
    return out;
  }

  /** Seconds left on each cached token, by app and kind (for the metrics gauge). */
  *remaining(): Generator<{ app: string; platform: string; kind: string; seconds: number }> {
    const now = this.#now();
    for (const slot of this.#slots.values()) {
      if (!slot.current || slot.tenantKey !== undefined) continue;
      yield { app: slot.app.id, platform: slot.app.provider.platform, kind: slot.kind, seconds: Math.max(0, (slot.current.expiresAt - now) / 1000) };
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
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = {
        key, app, kind, tenantKey,
        current: undefined, inflight: undefined, timer: undefined, nextRefreshAt: undefined,
        used: false, failures: 0, backoffUntil: 0, lastError: undefined, rejected: new Set(),
      };
      this.#slots.set(key, slot);
      if (tenantKey === undefined) {
        let kinds = this.#plainSlots.get(appId);
        if (!kinds) this.#plainSlots.set(appId, (kinds = new Map()));
        kinds.set(kind, slot);
      }
    }
    return slot;
  }

  #markUsed(slot: Slot): void {
    slot.used = true;
    // A token nobody read for a whole window was left to lapse; a reader inside the window wakes its refresh.
    if (slot.timer === undefined && slot.inflight === undefined && slot.nextRefreshAt !== undefined && this.#now() >= slot.nextRefreshAt) {
      this.#refresh(slot, 'refresh', 0).catch(() => {});
    }
  }

  /** The least lifetime a caller may be handed: the app's minimum, raised by the caller's. */
  #minTtl(slot: Slot, options: GetTokenOptions): number {
    return Math.max(options.minTtlMs ?? 0, slot.app.minTtlMs ?? this.#opts.minTtlMs);
  }

  /** Single-flight: every caller of one slot shares the fetch in flight. */
  async #refresh(slot: Slot, reason: FetchReason, minTtlMs: number, rejected?: string): Promise<StoredToken> {
    const joined = slot.inflight !== undefined;
    let token = await this.#shared(slot, reason, minTtlMs, rejected);
    // A fetch started for another reason (a background refresh) may hand back the very token
    // this caller reported; then it takes a fetch of its own.
    if (joined && rejected !== undefined && token.value === rejected) token = await this.#shared(slot, reason, minTtlMs, rejected);
    if (token.expiresAt - this.#now() < minTtlMs) {
      throw badRequest(`min_ttl of ${Math.round(minTtlMs / 1000)} s cannot be met: ${slot.app.provider.platform} issued a token with ${Math.floor((token.expiresAt - this.#now()) / 1000)} s left`);
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
      if (slot.rejected.has(t.value)) return false;
      if (reason === 'refresh') return previous === undefined || t.expiresAt > previous.expiresAt;
      return t.expiresAt - this.#now() >= minTtlMs;
    };
    try {
      const token = await this.#fetchCoordinated(slot, reason, accept, rejected);
      this.#adopt(slot, token);
      // Asked after the report, the platform handed this token out again: it is good after all.
      if (reason === 'invalidate') slot.rejected.delete(token.value);
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
      const lease = await this.#acquire(slot.key);
      if (lease === undefined) {
        if (this.#now() > deadline) {
          throw new UpstreamError('transient', 'another instance holds the fetch lease and wrote no token in time', { platform: slot.app.provider.platform });
        }
        await this.#store.waitForChange(slot.key, this.#opts.leaseMs).catch(() => {});
        continue;
      }
      try {
        // The previous holder may have written while we waited for the lease.
        const again = lease === null ? undefined : await this.#storeGet(slot.key);
        if (again && accept(again)) return again;
        const token = await this.#callProvider(slot, reason, rejected, lease === null ? 0 : lease.fence);
        return await this.#storePut(slot.key, token);
      } finally {
        if (lease !== null) await lease.release().catch(() => {});
      }
    }
  }

  async #callProvider(slot: Slot, reason: FetchReason, rejected: string | undefined, fence: number): Promise<StoredToken> {
    const { app, kind, tenantKey } = slot;
    const previous = slot.current ?? (rejected === undefined ? undefined : { value: rejected, expiresAt: 0, obtainedAt: 0 });
    let attempt = 0;
    for (;;) {
      attempt++;
      const startedAt = this.#now();
      const signal = AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#opts.upstreamTimeoutMs)]);
      try {
        const fetched = await app.provider.fetch({ kind, tenantKey, reason, previous }, this.#context(app, tenantKey, signal));
        this.#observer.upstream?.({ app: app.id, platform: app.provider.platform, kind, reason, outcome: 'ok', durationMs: this.#now() - startedAt });
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
    slot.failures = 0;
    slot.backoffUntil = 0;
    slot.lastError = undefined;
    slot.used = false;
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
    // While a valid token is at hand, keep trying in the background; callers see nothing.
    if (slot.current && slot.current.expiresAt > this.#now()) this.#setTimer(slot, this.#now() + delay);
    return callerError;
  }

  #schedule(slot: Slot): void {
    const token = slot.current;
    if (!token) return;
    const now = this.#now();
    const remaining = token.expiresAt - now;
    const lifetime = token.expiresAt - token.obtainedAt;
    const ahead = slot.app.refreshAheadMs ?? slot.app.provider.refreshAheadMs;
    let at: number;
    if (lifetime <= ahead || remaining <= ahead) {
      // A token shorter than the window (or already inside it): refresh at half its remaining life.
      at = now + remaining / 2;
    } else {
      at = token.expiresAt - ahead - ahead * this.#opts.refreshJitter * this.#random();
    }
    this.#setTimer(slot, Math.max(at, now + this.#opts.minRefreshIntervalMs));
  }

  #setTimer(slot: Slot, at: number): void {
    clearTimeout(slot.timer);
    slot.nextRefreshAt = at;
    if (this.#closing.signal.aborted) return;
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (!slot.used && slot.lastError === undefined) return; // nobody read it: let it lapse, a reader will wake it
      this.#refresh(slot, 'refresh', 0).catch(() => {});
    }, Math.max(0, at - this.#now()));
    slot.timer.unref();
  }

  async #onStoreChange(key: string): Promise<void> {
    const slot = this.#slots.get(key);
    if (!slot) return;
    const stored = await this.#storeGet(key);
    if (!stored || slot.rejected.has(stored.value)) return;
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

/** Remembers a replaced or rejected value so that it is never adopted again; the last few are enough. */
function reject(slot: Slot, value: string): void {
  slot.rejected.delete(value);
  slot.rejected.add(value);
  if (slot.rejected.size > 16) slot.rejected.delete(slot.rejected.values().next().value!);
}

/** The caller's view of a token, made once per token (cached reads allocate nothing). */
const issued = new WeakMap<Token, IssuedToken>();

function issue(slot: Slot, token: Token): IssuedToken {
  let out = issued.get(token);
  if (!out) {
    out = { app: slot.app.id, platform: slot.app.provider.platform, kind: slot.kind, value: token.value, expiresAt: token.expiresAt, obtainedAt: token.obtainedAt };
    issued.set(token, out);
  }
  return out;
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
