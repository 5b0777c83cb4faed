/**
 * The interfaces the broker core is built against. Providers (one per platform),
 * stores (memory, file, redis) and the HTTP server plug in through these; the core
 * imports none of them.
 */

import type { UpstreamLimit } from './budget.js';

/** A token as the broker keeps it. Times are epoch milliseconds. */
export interface Token {
  readonly value: string;
  /** Absolute expiry, computed at receipt from the platform's remaining lifetime. */
  readonly expiresAt: number;
  /** When tokenhub received it. */
  readonly obtainedAt: number;
}

/** Why the broker asks a provider for a token. */
export type FetchReason =
  /** Nothing usable is cached (or it has less than the caller's minimum left). */
  | 'cold'
  /** A background refresh ahead of expiry. */
  | 'refresh'
  /** A caller reported the current token as rejected by the platform. */
  | 'invalidate';

export interface FetchRequest {
  readonly kind: string;
  readonly tenantKey: string | undefined;
  readonly reason: FetchReason;
  /** On `invalidate`: the value a caller reported as rejected by the platform. */
  readonly rejected?: string;
}

/** What a provider may use while it fetches: other tokens of the same app, and durable state. */
export interface FetchContext {
  /** A token of another kind of the same app (a store app's tenant token needs its app token). */
  token(kind: string, options?: { tenantKey?: string; minTtlMs?: number }): Promise<Token>;
  /** Report a dependency token as rejected, so the next `token()` call fetches a new one. */
  invalidate(kind: string, rejected: string, options?: { tenantKey?: string }): Promise<Token>;
  /** Durable per-app state: refresh tokens, pushed tickets, rate-limit timestamps. Encrypted at rest by stores that support it. */
  readonly state: StateAccess;
  /** The app's grants: values the platform hands out once (a third-party app's authorizations), kept without a TTL. */
  readonly grants: GrantAccess;
  readonly signal: AbortSignal;
  now(): number;
}

export interface StateAccess {
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string, ttlMs?: number): Promise<void>;
  /**
   * Sets `name` only if it holds nothing (or only something expired), atomically across every
   * holder of the store; true when this call set it. For markers such as "this event was seen".
   */
  add(name: string, value: string, ttlMs: number): Promise<boolean>;
  delete(name: string): Promise<void>;
}

/**
 * A value tokenhub cannot get again by itself once lost: an authorizer's refresh token, a corp's
 * permanent code. Kept without a TTL, encrypted at rest, written by compare-and-set on `version`.
 */
export interface StoredGrant {
  readonly value: string;
  /** 1 when first written, one more at each write since: what the next write must expect. */
  readonly version: number;
}

/**
 * An app's grants, by name (a provider's own names, such as `authorizer:<appid>`). Every write is a
 * compare-and-set, so that of two instances that refreshed one grant at the same time one wins
 * and the other learns it lost, instead of writing an older value over a newer one.
 *
 * @example
 * ```ts
 * // A refresh token that the platform replaces at each use: the loser of a race re-reads first.
 * const grant = await context.grants.update('authorizer:wx123', async (current) => {
 *   if (current === undefined) return undefined; // nothing to refresh: not authorized
 *   const answer = await refresh(JSON.parse(current.value).refreshToken);
 *   return JSON.stringify({ refreshToken: answer.refreshToken });
 * });
 * ```
 */
export interface GrantAccess {
  get(name: string): Promise<StoredGrant | undefined>;
  /**
   * Writes `value` only if the stored version is `expectedVersion` (0: none stored); answers the
   * new record (version + 1), or undefined when another write came first (nothing written). A
   * store that fails may or may not have written: read again to know.
   */
  put(name: string, value: string, expectedVersion: number): Promise<StoredGrant | undefined>;
  /** Deletes the grant, only if its version is `expectedVersion` when given; true when one was deleted. */
  delete(name: string, expectedVersion?: number): Promise<boolean>;
  /** Every grant whose name starts with `prefix` (all of the app's without one), by name. */
  list(prefix?: string): Promise<{ name: string; grant: StoredGrant }[]>;
  /**
   * Reads the grant, asks `change` for its new value (undefined: leave it as it is) and writes it
   * by compare-and-set; on a lost race it reads again and asks `change` again with the winner's
   * grant, so that a call to the platform is always made with the newest value. Answers the grant
   * as stored afterwards. Throws `TOKENHUB_GRANT_CONFLICT` after `attempts` (default 5) lost races.
   */
  update(name: string, change: (current: StoredGrant | undefined) => Promise<string | undefined> | string | undefined, options?: { attempts?: number }): Promise<StoredGrant | undefined>;
}

/** A token as a platform handed it out. */
export interface FetchedToken {
  readonly value: string;
  /** Remaining lifetime as the platform reported it, in milliseconds. */
  readonly expiresInMs: number;
}

/** One token kind of a platform, as data. */
export interface KindSpec {
  /** The name callers use (`tenant_access_token`). */
  readonly name: string;
  /** Whether it takes a tenant key (a store app's tenant token: the tenant that installed the app). */
  readonly tenantScoped: boolean;
  /** The kind it is fetched with, if any (a store app's `tenant_access_token` from its `app_access_token`). */
  readonly derivedFrom?: string;
}

/**
 * A platform's rules for its token calls, as data: the broker derives its refresh schedule and
 * jitter from them and refuses configurations that contradict them.
 */
export interface TokenSourceRules {
  /** Default refresh-ahead window in milliseconds, from the platform's rules. */
  readonly refreshAheadMs: number;
  /**
   * The platform's rule, as data: it hands back the same token while at least this much is left
   * (Feishu: 30 minutes; WeChat stable_token: 5 minutes). The broker refreshes strictly inside it,
   * and a configured window wider than it is refused.
   */
  readonly sameTokenWhileMs?: number;
  /** The longest lifetime the platform issues (default 2 h): a caller's `min_ttl` above it is refused without a call. */
  readonly maxLifetimeMs?: number;
  /** The platform's documented limits on token calls, which the broker never exceeds. */
  readonly limits?: readonly UpstreamLimit[];
}

/** What the broker needs of a platform: its kinds, its rules, and one call that fetches a token. */
export interface TokenSource extends TokenSourceRules {
  readonly platform: string;
  /** The token kinds this app offers (`tenant_access_token`, `access_token`, …): the names of `kindSpecs`. */
  readonly kinds: readonly string[];
  /** The same kinds as data (the platform descriptor's); sources built by hand (tests) may leave it out. */
  readonly kindSpecs?: readonly KindSpec[];
  /** Whether `kind` takes a tenant key (store apps' tenant tokens do): read from `kindSpecs`. */
  tenantScoped(kind: string): boolean;
  /**
   * Fetches one token; every failure of the platform is a classified `UpstreamError`. A verdict of
   * tokenhub's own (`TOKENHUB_GRANT_NOT_FOUND`: the tenant's grant is not kept) is a `TokenHubError`,
   * answered to the caller as it is and not retried.
   */
  fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken>;
  /** Risks in the app's configuration, logged once at start (never a secret in them). */
  readonly warnings?: readonly string[];
}

/** What the proxy needs of a platform: where a business call goes and where its token goes. */
export interface BusinessApi {
  /** The token kind a business call uses unless the caller names one (Feishu: `tenant_access_token`). */
  readonly businessKind: string;
  /**
   * The URL of a business API call at `path` (as the caller wrote it: starts with `/`, still
   * percent-encoded, no query string), on this app's base URL or `baseUrl`. A platform with
   * several hosts picks one by path (DingTalk: `/v1.0/…` on api, the rest on oapi).
   */
  businessUrl(path: string): URL;
  /** Puts `token` where the platform expects it on a business call (a header, or the query). */
  attachToken(call: BusinessCall, token: string): void;
  /**
   * Whether a business API answer means "this token is invalid or expired". Only then was the
   * call not executed, so it is safe to refresh the token and send the call again.
   */
  isTokenRejected(answer: BusinessAnswer): boolean;
}

/** A pushed event as it reached the app's events URL: the raw body (signatures cover the exact bytes). */
export interface IncomingEvent {
  readonly method: string;
  readonly raw: Buffer;
  /** Lower-case names (Node's `IncomingHttpHeaders`). */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly query: Readonly<Record<string, string | undefined>>;
}

/** What the events URL may use: the app's durable state, the clock, and the broker's wake-up. */
export interface EventContext {
  readonly state: StateAccess;
  /** The app's grants (an authorization event's exchanged code is kept here). */
  readonly grants: GrantAccess;
  /**
   * A context for calls to the platform an event leads to (a pushed authorization code exchanged
   * for its grant): the app's tokens, state and grants, and a signal that ends with the hub or a
   * timeout, not with the request, so that the work may go on after the push is answered.
   */
  fetchContext(): FetchContext;
  now(): number;
  /** Something a pending fetch waited for has arrived (a pushed ticket): retry at once. */
  wake(): void;
  /** Forgets a tenant's cached tokens (its authorization was cancelled), in memory and in the store. */
  forgetTenant(tenantKey: string): Promise<void>;
  /** A tenant's authorization was kept anew (installed, authorized again, its grant reset): its waits end (as `wake`). */
  authorized(tenantKey: string): Promise<void>;
  readonly log: Logger;
}

/** The answer of the events URL: a JSON body (or text), status 200 unless said. */
export interface EventAnswer {
  readonly status?: number;
  readonly body: unknown;
  /** The answer's content type; by default JSON for an object and `text/plain; charset=utf-8` for a string (`success`, a decrypted echostr). */
  readonly contentType?: string;
}

/**
 * What answers an app's events URL (`/v1/apps/{app}/events`), for the platforms that push
 * (a Feishu store app's app_ticket). Throws `EventRejected` for a forged, broken or replayed event.
 */
export interface EventReceiver {
  /** The HTTP methods the platform uses on the URL (`GET` for a URL check such as WeCom's `echostr`). */
  readonly methods: readonly ('GET' | 'POST')[];
  receive(event: IncomingEvent, context: EventContext): Promise<EventAnswer>;
}

/** A page's URL and the nonce and time to sign it with. */
export interface PageToSign {
  /** The page's URL as the browser has it, without its `#…` part. */
  readonly url: string;
  readonly nonceStr: string;
  /** Epoch milliseconds. */
  readonly now: number;
  /** The tenant whose ticket signs it (`tenant_key`), for platforms whose page names the tenant (a WeChat authorizer's appid). */
  readonly tenantKey?: string;
  /** The ids of the tenant the page is signed for, from {@link PageSigning.tenantIds}, where the platform has them. */
  readonly ids?: Readonly<Record<string, string>>;
}

/** A page signed for the platform's JS-SDK. */
export interface SignedPage {
  /** In the platform's unit (Feishu: milliseconds; the others: seconds). */
  readonly timestamp: number;
  /** Lower-case hex. */
  readonly signature: string;
  /** The ids the page's config names, under the contract's names (`appId`; `agentId`, `corpId`). */
  readonly ids: Readonly<Record<string, string>>;
  /** The JS-SDK call the page makes (`wx.config`) and its argument, in the platform's field names. */
  readonly call: string;
  readonly config: Readonly<Record<string, string | number>>;
}

/** The fields of a WeChat card (`wx.addCard`, `wx.chooseCard`) to sign, as a caller sent them. */
export type CardFields = Readonly<Record<string, string>>;

/**
 * What the signature routes need of a platform whose pages call a JS-SDK: which ticket kinds sign
 * pages and how a signature is laid out. Signing is pure: the ticket comes from the broker's cache.
 */
export interface PageSigning {
  /** The ticket kinds pages are signed with; the first is the default. */
  readonly kinds: readonly string[];
  /** Signs `page` with `ticket`, a ticket of `kind`. Throws a `TokenHubError` when the app lacks an id the page needs. */
  sign(kind: string, ticket: string, page: PageToSign): SignedPage;
  /**
   * Where a tenant's pages name ids of the tenant's own (a WeCom suite: the corp id, and the agent
   * id its grant holds): read before signing for `tenantKey`, and given to `sign` as `page.ids`.
   */
  tenantIds?(tenantKey: string, grants: GrantAccess): Promise<Readonly<Record<string, string>>>;
  /** Where the platform has card signatures (WeChat `cardSign`): the card ticket's kind and the signer. */
  readonly cards?: {
    readonly kind: string;
    sign(ticket: string, fields: CardFields, page: Omit<PageToSign, 'url'>): Readonly<Record<string, string | number>>;
  };
}

/**
 * One configured app of a platform, as the hub wires it: a token source for the broker, a
 * business API for the proxy and, where the platform pushes events, their receiver.
 */
export interface Provider extends TokenSource, BusinessApi {
  readonly events?: EventReceiver;
  /** Present where pages call the platform's JS-SDK with a ticket-based signature. */
  readonly pages?: PageSigning;
  /** Present for third-party apps, which tenants authorize: the authorizations routes. */
  readonly authorizations?: AuthorizationApi;
  /**
   * What the app's tokens depend on beyond its credentials (a pushed ticket, tenants' grants), for
   * the operators' status. Reads only: no upstream call, never a ticket or grant value.
   */
  health?(context: HealthContext): Promise<ProviderHealth>;
}

/** What {@link Provider.health} may read. */
export interface HealthContext {
  readonly state: StateAccess;
  /** The app's grants, to count them (never to read a value out). */
  readonly grants?: GrantAccess;
  now(): number;
}

/** An app's dependencies as its provider sees them; every part optional. */
export interface ProviderHealth {
  /** The ticket the platform pushes to the app's events URL, which its tokens are fetched with. */
  readonly ticket?: {
    /** The platform's name for it. */
    readonly name: string;
    readonly present: boolean;
    /** Seconds since the platform made it, where that is known. */
    readonly ageSeconds?: number;
    /** The platform refused it: tokenhub waits for the next one. */
    readonly refused?: boolean;
    /** Older than the platform's pushes should ever let it become: pushes no longer arrive. */
    readonly stale?: boolean;
  };
  /** Tenants' authorizations (grants) kept for the app: how many, and how many the platform rejected. */
  readonly grants?: { readonly count: number; readonly rejected: number };
}

/** What may be told about an authorization besides its tenant and time: public facts only. */
export type AuthorizationDetail = string | number | boolean | readonly (string | number)[];

/**
 * One tenant's authorization of a third-party app, as the authorizations routes answer it: never
 * a grant or a token. Details are the provider's (a corp's name, the scopes granted); names that
 * look like secrets (`…token…`, `…secret…`, `…ticket…`, `…code…`, `…password…`) are dropped by
 * the routes all the same.
 */
export interface Authorization {
  /** The tenant, as `?tenant_key=` takes it: the authorizer's appid, the authorizing corp's id. */
  readonly tenantKey: string;
  /** When it was authorized (or last changed), epoch milliseconds. */
  readonly authorizedAt: number;
  /** Where it stands, in the provider's words (`active`, `rejected` once the platform refused the grant). */
  readonly state?: string;
  readonly [detail: string]: AuthorizationDetail | undefined;
}

/**
 * What a third-party app's tenants authorize, for the authorizations routes. Each call gets a
 * context with the app's tokens, state and grants; a grant is kept through `context.grants`.
 *
 * @example
 * ```ts
 * const authorizations: AuthorizationApi = {
 *   async authorize(code, context) {
 *     const token = await context.token('component_access_token');
 *     const info = await exchange(token.value, code, context.signal); // the platform's answer
 *     await context.grants.update(`authorizer:${info.appid}`, () => JSON.stringify({ refreshToken: info.refreshToken }));
 *     return { tenantKey: info.appid, authorizedAt: context.now() };
 *   },
 *   list: async (context) => (await context.grants.list('authorizer:')).map(({ name }) => ({ tenantKey: name.slice(11), authorizedAt: 0 })),
 *   revoke: (tenantKey, context) => context.grants.delete(`authorizer:${tenantKey}`),
 * };
 * ```
 */
export interface AuthorizationApi {
  /** Exchanges the code of an install redirect for the tenant's grant, kept durably before it answers. */
  authorize(code: string, context: FetchContext): Promise<Authorization>;
  /** Every authorization kept. */
  list(context: FetchContext): Promise<readonly Authorization[]>;
  /** Forgets a tenant's authorization and its grant (an operator's delete); false when none was kept. */
  revoke(tenantKey: string, context: FetchContext): Promise<boolean>;
  /** A pre-authorization code for the install link, where the platform has them. */
  preAuthCode?(context: FetchContext): Promise<{ readonly preAuthCode: string; readonly expiresInMs: number }>;
}

/** A business API call on its way to the platform. */
export interface BusinessCall {
  readonly url: URL;
  readonly headers: Record<string, string>;
}

/** A business API answer: its status and, when it was JSON, the parsed body. */
export interface BusinessAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A token together with its version in the store, so that an older token never overwrites a newer one. */
export interface StoredToken extends Token {
  /** Monotonic per key: a write with a version not above the stored one is refused. */
  readonly version: number;
}

/** A lease that lets one holder (process or instance) fetch a given token. */
export interface Lease {
  /**
   * The fencing number: above every earlier fence of the key and above the version of the
   * token stored under it, so a token written with it as version replaces the stored one,
   * and one written under an older lease is refused.
   */
  readonly fence: number;
  release(): Promise<void>;
}

/** Change notices from other holders of the same store (other instances). */
export type StoreChange = {
  readonly key: string;
  /** The token under `key` was deleted (a tenant forgotten): a copy held in memory is dropped too. */
  readonly deleted?: true;
};

/**
 * Where tokens and provider state live. Memory for one process; file for one node
 * that restarts; redis for several instances that act as one.
 */
export interface TokenStore {
  readonly name: string;
  /**
   * Connects, locks, loads and checks the encryption key; throws on anything that must stop
   * the server from starting. Called once before use (calling it again is harmless); stores
   * that need nothing of the kind leave it out.
   */
  open?(): Promise<void>;
  getToken(key: string): Promise<StoredToken | undefined>;
  /**
   * Writes `token` unless the stored one has a version at or above `token.version`.
   * Returns what the store holds afterwards (the winner).
   */
  putToken(key: string, token: StoredToken): Promise<StoredToken>;
  /** Deletes a token; the other holders of the store are told (a `StoreChange` with `deleted`). */
  deleteToken(key: string): Promise<void>;

  getState(key: string): Promise<string | undefined>;
  setState(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Sets `key` only if no unexpired value is there, atomically across every holder; true when set. */
  addState(key: string, value: string, ttlMs: number): Promise<boolean>;
  deleteState(key: string): Promise<void>;

  /**
   * Counts one use of `key` against `limit` uses, atomically across every holder of the store:
   * when fewer than `limit` are counted, counts one and answers the new count; otherwise counts
   * nothing and answers undefined. A key's count disappears `ttlMs` after its first use (callers
   * put the window's start into the key, so fixed windows line up across instances).
   */
  takeQuota(key: string, limit: number, ttlMs: number): Promise<number | undefined>;
  /** The count under `key` (0 when none or expired), for metrics. */
  quotaUsed(key: string): Promise<number>;

  /**
   * Grants: values that cannot be had again (see {@link StoredGrant}). Never given a TTL, never
   * dropped but by `deleteGrant`, encrypted at rest like every value, durable before a write is
   * answered, shared by every holder of the store.
   */
  getGrant(key: string): Promise<StoredGrant | undefined>;
  /**
   * Compare-and-set, atomically across every holder: writes `value` only when the stored version
   * equals `expectedVersion` (0: none stored) and answers the new record (that version + 1);
   * otherwise writes nothing and answers undefined. A deleted grant's version is remembered for a
   * while, so a write that expects a version from before a delete is refused even after a new
   * grant took its place (it starts above the deleted one).
   */
  putGrant(key: string, value: string, expectedVersion: number): Promise<StoredGrant | undefined>;
  /** Deletes a grant, only if its version is `expectedVersion` when given; true when one was deleted. */
  deleteGrant(key: string, expectedVersion?: number): Promise<boolean>;
  /** Every grant whose key starts with `prefix`, ordered by key. */
  listGrants(prefix: string): Promise<{ key: string; grant: StoredGrant }[]>;

  /** Try to become the one holder allowed to fetch `key` for `ttlMs`. Undefined when another holds it. */
  acquire(key: string, ttlMs: number): Promise<Lease | undefined>;
  /** Resolves when `key` changes (written or its lease released) or after `timeoutMs`. */
  waitForChange(key: string, timeoutMs: number): Promise<void>;
  /** Calls `listener` for changes made by other holders of the store. Returns the unsubscribe function. */
  subscribe(listener: (change: StoreChange) => void): () => void;

  /** Throws when the store cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Minimal logger shape (pino satisfies it). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
