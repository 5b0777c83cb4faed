import { TokenHubClientError, type ErrorCode } from './errors.js';
import { SingleFlight } from './single-flight.js';

export interface TokenHubClientOptions {
  /** tokenhub's base URL (`http://tokenhub:8700`, a path prefix allowed). Default: the `TOKENHUB_URL` environment variable. */
  url?: string | undefined;
  /** This client's key. Default: the `TOKENHUB_KEY` environment variable. */
  key?: string | undefined;
  /** Timeout of each request to tokenhub's token API, in milliseconds. */
  timeoutMs?: number;
  /** Ask tokenhub again when a cached token has less than this left (milliseconds)… */
  refreshMarginMs?: number;
  /** …or less than this fraction of its lifetime, whichever is more. */
  refreshFraction?: number;
  /** The `fetch` to use (one with a proxy agent, say). Default: the global `fetch`. */
  fetch?: typeof globalThis.fetch;
}

/** Defaults of {@link TokenHubClientOptions}. */
export const DEFAULT_CLIENT_OPTIONS = {
  timeoutMs: 10_000,
  refreshMarginMs: 60_000,
  refreshFraction: 0.1,
} as const;

export interface GetTokenOptions {
  /** A store app's tenant (Feishu/Lark `tenant_key`). */
  tenantKey?: string | undefined;
  /** The least lifetime, in seconds, the token must have left. */
  minTtl?: number | undefined;
}

export interface InvalidateOptions {
  tenantKey?: string | undefined;
}

/** A token with what tokenhub said about it. */
export interface TokenInfo {
  readonly token: string;
  readonly app: string;
  readonly platform: string;
  readonly kind: string;
  readonly tenantKey?: string;
  /** Expiry in epoch milliseconds of this machine's clock (counted from tokenhub's `expiresIn`, so clock skew does not matter). */
  readonly expiresAt: number;
}

/** An app this client may use, as `GET /v1/apps` lists it. */
export interface AppInfo {
  readonly id: string;
  readonly platform: string;
  readonly kinds: readonly string[];
  /** The kind a call uses when it names none. */
  readonly defaultKind: string;
  readonly tenantScopedKinds: readonly string[];
}

/** The ticket kinds a page's JS-SDK `config` is signed with. */
export type JsapiTicketKind = 'jsapi_ticket' | 'agent_jsapi_ticket';

export interface JsapiSignatureOptions {
  /** `agent_jsapi_ticket` for WeCom's `wx.agentConfig`. Default: the app's `jsapi_ticket`. */
  kind?: JsapiTicketKind | undefined;
  /** A store app's tenant (Feishu/Lark tenant key, a WeCom suite's corp id, a WeChat component's authorizer appid). */
  tenantKey?: string | undefined;
  /** Stops waiting for the answer; the call rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
}

/**
 * What the page's `wx.config` / `wx.agentConfig` / `dd.config` / `h5sdk.config` needs, as
 * `POST /v1/apps/{app}/jsapi/signature` answers it. The ticket itself never leaves tokenhub.
 */
export interface JsapiSignature {
  readonly app: string;
  readonly platform: string;
  readonly kind: JsapiTicketKind;
  /** The app id the page configures with (WeCom: the corp id). */
  readonly appId?: string;
  /** The URL that was signed: the page's URL without its `#…` part. */
  readonly url: string;
  /** Seconds since the epoch; milliseconds on Feishu/Lark. */
  readonly timestamp: number;
  readonly nonceStr: string;
  /** SHA-1, lowercase hex. */
  readonly signature: string;
  /** WeCom (`wx.agentConfig`) and DingTalk (`dd.config`). */
  readonly agentId?: string;
  /** DingTalk (`dd.config`). */
  readonly corpId?: string;
  /** Whatever else tokenhub adds. */
  readonly [field: string]: unknown;
}

/** The fields of `wx.addCard` / `wx.chooseCard` that go into a WeChat card signature (`cardSign`). */
export interface CardSignatureFields {
  /** Which call the signature is for (default `addCard`): they sign different fields. */
  for?: 'addCard' | 'chooseCard' | undefined;
  cardId?: string | undefined;
  cardType?: string | undefined;
  code?: string | undefined;
  openid?: string | undefined;
  /** Seconds since the epoch. */
  fixedBeginTimestamp?: number | undefined;
  outerStr?: string | undefined;
  shopId?: string | undefined;
  locationId?: string | undefined;
}

/** `POST /v1/apps/{app}/jsapi/card-signature`'s answer: the fields echoed, with the signature over them. */
export interface CardSignature extends CardSignatureFields {
  readonly app: string;
  readonly platform: string;
  readonly kind: 'wx_card_ticket';
  /** Seconds since the epoch. */
  readonly timestamp: number;
  readonly nonceStr: string;
  /** SHA-1, lowercase hex, of the sorted values (the card ticket's among them). */
  readonly cardSign: string;
  readonly [field: string]: unknown;
}

/** `fetch` options plus the token to use: a store app's tenant, another kind than the app's default. */
export type ProxyRequestInit = RequestInit & { tenantKey?: string | undefined; kind?: string | undefined };

interface Entry {
  readonly info: TokenInfo;
  /** When to ask tokenhub again; until then the entry is served as is. */
  readonly refreshAt: number;
}

/** A token still this good is served when tokenhub cannot be reached, rather than failing. */
const STALE_FLOOR_MS = 5_000;

/**
 * tokenhub's client: tokens cached until near expiry, concurrent requests for one token made once,
 * compare-and-refresh invalidation, JS-SDK signatures made by tokenhub (concurrent requests for one
 * page made once), and `fetch` for platform calls through tokenhub's proxy. No
 * dependency beyond the runtime's `fetch`; knows no platform.
 *
 * @example
 * ```ts
 * import { TokenHubClient } from '@tokenhub/client';
 * const hub = new TokenHubClient({ url: 'http://127.0.0.1:8700', key: process.env.TOKENHUB_KEY });
 * const token = await hub.getToken('feishu-main', 'tenant_access_token');
 * // …the platform answered "token invalid" (Feishu 99991663):
 * const fresh = await hub.invalidate('feishu-main', 'tenant_access_token', token);
 * ```
 */
export class TokenHubClient {
  readonly #base: string;
  readonly #key: string;
  readonly #timeoutMs: number;
  readonly #refreshMarginMs: number;
  readonly #refreshFraction: number;
  readonly #fetch: typeof globalThis.fetch;
  readonly #cache = new Map<string, Entry>();
  readonly #pending = new SingleFlight<TokenInfo>();
  readonly #signing = new SingleFlight<JsapiSignature>();
  readonly #invalidating = new Map<string, { rejected: string; promise: Promise<TokenInfo> }>();
  #appList: Promise<AppInfo[]> | undefined;

  constructor(options: TokenHubClientOptions = {}) {
    const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {};
    const url = options.url ?? env.TOKENHUB_URL;
    const key = options.key ?? env.TOKENHUB_KEY;
    if (typeof url !== 'string' || !/^https?:\/\/[^/]/i.test(url)) throw new TypeError('url: expected an http(s) URL (or set TOKENHUB_URL)');
    if (typeof key !== 'string' || key.trim() === '') throw new TypeError('key: expected the client key (or set TOKENHUB_KEY)');
    this.#base = url.replace(/\/+$/, '');
    this.#key = key;
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_CLIENT_OPTIONS.timeoutMs);
    this.#refreshMarginMs = positive('refreshMarginMs', options.refreshMarginMs ?? DEFAULT_CLIENT_OPTIONS.refreshMarginMs, true);
    this.#refreshFraction = options.refreshFraction ?? DEFAULT_CLIENT_OPTIONS.refreshFraction;
    if (!(this.#refreshFraction >= 0 && this.#refreshFraction < 1)) throw new TypeError('refreshFraction: expected a number from 0 up to (not including) 1');
    if (options.fetch === undefined && typeof globalThis.fetch !== 'function') throw new TypeError('fetch: this runtime has no global fetch; pass one');
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  /**
   * A token of `app` (of `kind`, or the app's default kind): from the local cache while it has more
   * than max(`refreshMarginMs`, `refreshFraction` of its lifetime) left, otherwise from tokenhub;
   * concurrent calls for one token share one request.
   *
   * @example
   * ```ts
   * const token = await hub.getToken('feishu-main');
   * await fetch('https://open.feishu.cn/open-apis/im/v1/chats', { headers: { authorization: `Bearer ${token}` } });
   * ```
   */
  async getToken(app: string, kind?: string, options: GetTokenOptions = {}): Promise<string> {
    return (await this.getTokenInfo(app, kind, options)).token;
  }

  /** {@link getToken} with the token's kind, platform and expiry. */
  async getTokenInfo(app: string, kind?: string, options: GetTokenOptions = {}): Promise<TokenInfo> {
    const resolved = kind ?? (await this.#defaultKind(app));
    const minTtlMs = Math.max(0, options.minTtl ?? 0) * 1000;
    const key = slotKey(app, resolved, options.tenantKey);
    const cached = this.#cache.get(key);
    if (cached && usable(cached, minTtlMs)) return cached.info;
    const invalidating = this.#invalidating.get(key);
    if (invalidating) {
      const info = await invalidating.promise.catch(() => undefined);
      if (info && info.expiresAt - Date.now() >= minTtlMs) return info;
    }
    const pending = this.#pending.run(`${key}\n${minTtlMs}`, () => this.#requestToken(app, resolved, options.tenantKey, options.minTtl, undefined));
    try {
      return await pending;
    } catch (err) {
      // tokenhub is down or failing, but the token at hand is still good for a while: use it.
      if (cached && cached.info.expiresAt - Date.now() >= Math.max(minTtlMs, STALE_FLOOR_MS)) return cached.info;
      throw err;
    }
  }

  /**
   * Reports `token` as rejected by the platform and answers the token to use instead. tokenhub
   * fetches a new one only if `token` is still its current one (compare-and-refresh); concurrent
   * reports of one token make one request, and a token this client already replaced costs none.
   *
   * @example
   * ```ts
   * let token = await hub.getToken('feishu-main');
   * let res = await callFeishu(token);
   * if (res.code === 99991663) res = await callFeishu(await hub.invalidate('feishu-main', undefined, token));
   * ```
   */
  async invalidate(app: string, kind: string | undefined, token: string, options: InvalidateOptions = {}): Promise<string> {
    if (typeof token !== 'string' || token === '') throw new TypeError('token: expected the token the platform rejected');
    const resolved = kind ?? (await this.#defaultKind(app));
    const key = slotKey(app, resolved, options.tenantKey);
    const cached = this.#cache.get(key);
    if (cached && cached.info.token !== token && usable(cached, 0)) return cached.info.token;
    let flight = this.#invalidating.get(key);
    if (flight?.rejected !== token) {
      if (cached?.info.token === token) this.#cache.delete(key);
      const promise: Promise<TokenInfo> = this.#requestToken(app, resolved, options.tenantKey, undefined, token).finally(() => {
        if (this.#invalidating.get(key)?.promise === promise) this.#invalidating.delete(key);
      });
      flight = { rejected: token, promise };
      this.#invalidating.set(key, flight);
    }
    return (await flight.promise).token;
  }

  /**
   * Calls the platform API of `app` through tokenhub's proxy (`/v1/proxy/{app}/…`): tokenhub puts
   * the token where the platform wants it and, on the platform's token-invalid answer, refreshes
   * it and sends the call once more. Answers the platform's response as is; tokenhub's own errors
   * (unknown app, platform unreachable, …) throw a {@link TokenHubClientError}.
   *
   * @param input the platform path with its query (`/open-apis/im/v1/messages?receive_id_type=chat_id`),
   *   or a full platform URL, of which only the path and query are used.
   * @example
   * ```ts
   * const res = await hub.fetch('feishu-main', '/open-apis/im/v1/messages?receive_id_type=chat_id', {
   *   method: 'POST',
   *   headers: { 'content-type': 'application/json' },
   *   body: JSON.stringify({ receive_id: 'oc_…', msg_type: 'text', content: JSON.stringify({ text: 'hi' }) }),
   * });
   * const answer = await res.json();
   * ```
   */
  async fetch(app: string, input: string | URL, init: ProxyRequestInit = {}): Promise<Response> {
    const { tenantKey, kind, ...rest } = init;
    const headers = new Headers(rest.headers);
    headers.set('authorization', `Bearer ${this.#key}`);
    if (tenantKey !== undefined) headers.set('x-tokenhub-tenant-key', tenantKey);
    if (kind !== undefined) headers.set('x-tokenhub-token-kind', kind);
    const url = `${this.#base}/v1/proxy/${segment('app', app)}${platformPath(input)}`;
    let res: Response;
    try {
      res = await this.#fetch(url, { ...rest, headers });
    } catch (err) {
      if (rest.signal?.aborted) throw err;
      throw this.#unreachable(err);
    }
    if (res.headers.has('x-tokenhub-error')) throw answerError(res, await res.text().catch(() => ''));
    return res;
  }

  /**
   * The signature of the page at `url` for the JS-SDK's `config` (`POST /v1/apps/{app}/jsapi/signature`):
   * tokenhub signs with the app's ticket, which never leaves it. `url` is the page's exact URL, query
   * included; its `#…` part is dropped. Concurrent calls for one app, kind, tenant and URL share one
   * request; nothing is cached, so each later call gets a fresh timestamp and nonce.
   *
   * Call it from your server, for your page: a client key never goes to a browser.
   *
   * @example
   * ```ts
   * // GET /jsapi-config?url=… from the page (url = location.href.split('#')[0])
   * const sig = await hub.jsapiSignature('wechat-main', pageUrl);
   * reply.send({ appId: sig.appId, timestamp: sig.timestamp, nonceStr: sig.nonceStr, signature: sig.signature });
   * ```
   */
  async jsapiSignature(app: string, url: string, options: JsapiSignatureOptions = {}): Promise<JsapiSignature> {
    const path = `/v1/apps/${segment('app', app)}/jsapi/signature`;
    if (typeof url !== 'string' || url === '') throw new TypeError("url: expected the page's URL");
    const page = withoutFragment(url);
    const { kind, tenantKey, signal } = options;
    const key = JSON.stringify([app, kind ?? null, tenantKey ?? null, page]);
    return this.#signing.run(
      key,
      async (flightSignal) => {
        const body = await this.#call('POST', path, { url: page, kind, tenant_key: tenantKey }, flightSignal);
        if (!isRecord(body) || typeof body.signature !== 'string' || typeof body.nonceStr !== 'string' || typeof body.timestamp !== 'number' || typeof body.url !== 'string') {
          throw badResponse(`the JS-SDK signature of ${app}`);
        }
        return body as JsapiSignature;
      },
      signal,
    );
  }

  /**
   * A WeChat card signature (`cardSign`) for `wx.addCard`'s `cardExt` or `wx.chooseCard`
   * (`POST /v1/apps/{app}/jsapi/card-signature`), made with the app's `wx_card_ticket`. Each call
   * is its own request: a signature carries its own timestamp and nonce.
   *
   * @example
   * ```ts
   * const s = await hub.cardSignature('wechat-main', { cardId: 'pFS7Fjg8kV1I…', code: '1234', openid: 'o…' });
   * const cardExt = JSON.stringify({ code: s.code, openid: s.openid, timestamp: String(s.timestamp), nonce_str: s.nonceStr, signature: s.cardSign });
   * ```
   */
  async cardSignature(app: string, fields: CardSignatureFields = {}, options: { signal?: AbortSignal | undefined } = {}): Promise<CardSignature> {
    if (!isRecord(fields)) throw new TypeError('fields: expected an object of wx.addCard / wx.chooseCard fields');
    const path = `/v1/apps/${segment('app', app)}/jsapi/card-signature`;
    options.signal?.throwIfAborted();
    const body = await this.#call('POST', path, fields, options.signal);
    if (!isRecord(body) || typeof body.cardSign !== 'string' || typeof body.nonceStr !== 'string' || typeof body.timestamp !== 'number') {
      throw badResponse(`the card signature of ${app}`);
    }
    return body as CardSignature;
  }

  /** The apps this client may use (`GET /v1/apps`). */
  async apps(): Promise<AppInfo[]> {
    const body = await this.#call('GET', '/v1/apps');
    const apps = isRecord(body) ? body.apps : undefined;
    if (!Array.isArray(apps)) throw badResponse('GET /v1/apps');
    return apps as AppInfo[];
  }

  async #defaultKind(app: string): Promise<string> {
    segment('app', app);
    this.#appList ??= this.apps().catch((err: unknown) => {
      this.#appList = undefined;
      throw err;
    });
    const found = (await this.#appList).find((a) => a.id === app);
    if (found === undefined) {
      throw new TokenHubClientError('TOKENHUB_APP_NOT_FOUND', `no app ${JSON.stringify(app)} among those this client may use`, { status: 404 });
    }
    return found.defaultKind;
  }

  async #requestToken(app: string, kind: string, tenantKey: string | undefined, minTtl: number | undefined, rejected: string | undefined): Promise<TokenInfo> {
    const query = new URLSearchParams();
    if (tenantKey !== undefined) query.set('tenant_key', tenantKey);
    if (minTtl !== undefined && minTtl > 0) query.set('min_ttl', String(Math.ceil(minTtl)));
    const qs = query.toString() === '' ? '' : `?${query}`;
    const path = `/v1/apps/${segment('app', app)}/tokens/${segment('kind', kind)}`;
    const body = rejected === undefined ? await this.#call('GET', path + qs) : await this.#call('POST', `${path}/invalidate${qs}`, { token: rejected });
    const receivedAt = Date.now();
    if (!isRecord(body) || typeof body.token !== 'string' || body.token === '' || typeof body.expiresIn !== 'number') throw badResponse(`the token of ${app}`);
    const lifetimeMs = body.expiresIn * 1000;
    const info: TokenInfo = {
      token: body.token,
      app,
      platform: String(body.platform),
      kind,
      ...(tenantKey === undefined ? {} : { tenantKey }),
      expiresAt: receivedAt + lifetimeMs,
    };
    const margin = Math.max(this.#refreshMarginMs, this.#refreshFraction * lifetimeMs);
    // A token handed out already inside the margin is checked again at half its remaining life.
    const refreshAt = receivedAt + (lifetimeMs > 2 * margin ? lifetimeMs - margin : lifetimeMs / 2);
    const key = slotKey(app, kind, tenantKey);
    const current = this.#cache.get(key);
    // A slow answer must not replace a newer token (one an invalidation brought in meanwhile).
    if (rejected !== undefined || !current || current.info.token === info.token || info.expiresAt >= current.info.expiresAt) {
      this.#cache.set(key, { info, refreshAt });
    }
    return info;
  }

  async #call(method: 'GET' | 'POST', path: string, json?: unknown, signal?: AbortSignal): Promise<unknown> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#key}`, accept: 'application/json' };
    if (json !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(this.#base + path, {
        method,
        headers,
        body: json === undefined ? null : JSON.stringify(json),
        signal: signal === undefined ? AbortSignal.timeout(this.#timeoutMs) : AbortSignal.any([signal, AbortSignal.timeout(this.#timeoutMs)]),
      });
      text = await res.text();
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw this.#unreachable(err);
    }
    if (!res.ok) throw answerError(res, text);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw badResponse(`${method} ${path.split('?')[0]}`, res.status);
    }
  }

  #unreachable(err: unknown): TokenHubClientError {
    const origin = new URL(this.#base).origin;
    if (err instanceof Error && err.name === 'TimeoutError') {
      return new TokenHubClientError('TOKENHUB_CLIENT_TIMEOUT', `tokenhub at ${origin} did not answer within ${this.#timeoutMs} ms`, { cause: err });
    }
    const cause = err instanceof Error ? (err.cause as { code?: unknown } | undefined) : undefined;
    const why = typeof cause?.code === 'string' ? cause.code : err instanceof Error ? err.message : 'error';
    return new TokenHubClientError('TOKENHUB_CLIENT_UNREACHABLE', `tokenhub at ${origin} could not be reached (${why})`, { cause: err });
  }
}

function usable(entry: Entry, minTtlMs: number): boolean {
  const now = Date.now();
  return now < entry.refreshAt && entry.info.expiresAt - now >= minTtlMs;
}

/** Cache and single-flight key of one token. Holds no secret: app, kind and tenant are names. */
function slotKey(app: string, kind: string, tenantKey: string | undefined): string {
  return JSON.stringify([app, kind, tenantKey ?? null]);
}

function segment(name: string, value: string): string {
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name}: expected a non-empty string`);
  return encodeURIComponent(value);
}

/** The URL a page is signed for: what the platform's JS-SDK sends, which never includes the fragment. */
function withoutFragment(url: string): string {
  const hash = url.indexOf('#');
  return hash === -1 ? url : url.slice(0, hash);
}

function platformPath(input: string | URL): string {
  if (typeof input === 'string' && input.startsWith('/')) return input;
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new TypeError('input: expected a path starting with / or a full URL');
  }
  return url.pathname + url.search;
}

function positive(name: string, value: number, zeroOk = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (!zeroOk && value === 0)) {
    throw new TypeError(`${name}: expected a ${zeroOk ? 'non-negative' : 'positive'} number, got ${String(value)}`);
  }
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function badResponse(what: string, status?: number): TokenHubClientError {
  return new TokenHubClientError('TOKENHUB_CLIENT_BAD_RESPONSE', `tokenhub answered ${what} with something that is not its JSON`, { status });
}

/** tokenhub's JSON error as a {@link TokenHubClientError}. */
function answerError(res: Response, text: string): TokenHubClientError {
  let error: unknown;
  try {
    error = (JSON.parse(text) as { error?: unknown }).error;
  } catch {
    error = undefined;
  }
  const header = Number(res.headers.get('retry-after'));
  const fromHeader = res.headers.has('retry-after') && Number.isFinite(header) ? header : undefined;
  if (!isRecord(error) || typeof error.code !== 'string') {
    return new TokenHubClientError('TOKENHUB_CLIENT_BAD_RESPONSE', `tokenhub answered HTTP ${res.status} without its JSON error`, { status: res.status, retryAfter: fromHeader });
  }
  const platformCode = error.platformCode;
  return new TokenHubClientError(error.code as ErrorCode, typeof error.message === 'string' ? error.message : error.code, {
    status: res.status,
    platform: typeof error.platform === 'string' ? error.platform : undefined,
    platformCode: typeof platformCode === 'number' || typeof platformCode === 'string' ? platformCode : undefined,
    retryAfter: typeof error.retryAfter === 'number' ? error.retryAfter : fromHeader,
  });
}
