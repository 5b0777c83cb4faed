import type { Dispatcher } from 'undici';
import { UpstreamError, type FailureClass } from '../core/errors.js';
import type { BusinessAnswer, BusinessCall, FetchContext, FetchRequest, FetchedToken, KindSpec, PageSigning, Provider, TokenSourceRules } from '../core/types.js';
import { kindsOf } from './kinds.js';
import { pageSigning } from './jsapi.js';
import { withToken } from './tickets.js';
import { errcodeIn, tokenInQuery } from './business.js';
import { errcodeError, errcodeOf, setHeader, tokenFields, type Classified } from './errcode.js';
import { callPlatform, endpoint, isHtml, jsonObject, platformMessage, type UpstreamResponse } from './http.js';

/** DingTalk's two hosts: the current API (`/v1.0/…`) and the legacy one (`/gettoken`, `/topapi/…`). */
export const DINGTALK_BASE_URLS = {
  api: 'https://api.dingtalk.com',
  oapi: 'https://oapi.dingtalk.com',
} as const;

/** What each legacy `errcode` (and `sub_code` under errcode 88) means to tokenhub (PLATFORMS.md, DingTalk's global codes). */
export const DINGTALK_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([
  [-1, 'transient'], // 系统繁忙: documented as "retry, at most 3 times"
  [40014, 'token-invalid'],
  [42001, 'token-invalid'],
  [40089, 'credentials'], // 不合法的corpId或corpSecret (also for appkey/appsecret)
  [33001, 'credentials'], // invalid corp id
  [60011, 'credentials'], // no permission for this API
  [60020, 'credentials'], // caller IP not in the allow list
  [90018, 'rate-limited'], // QPS per app per API
  [90002, 'rate-limited'], // QPS per API over all apps
  [90019, 'rate-limited'], // QPS of a third-party app per corp
]);

/** What each v1 (`api.dingtalk.com`) string `code` means; any other `Forbidden.AccessDenied.*` is taken as a rate limit. */
export const DINGTALK_V1_CODES: ReadonlyMap<string, FailureClass> = new Map<string, FailureClass>([
  ['invalidClientIdOrSecret', 'credentials'],
  ['InvalidAuthentication', 'token-invalid'],
  ['Forbidden.AccessDenied.IpNotInWhiteList', 'credentials'],
  ['Forbidden.AccessDenied.AccessTokenPermissionDenied', 'credentials'],
  ['Forbidden.AccessDenied.QpsLimitForAppkeyAndApi', 'rate-limited'],
  ['Forbidden.AccessDenied.QpsLimitForApi', 'rate-limited'],
]);

/** Codes a business API answers when the token it was given is no longer good. */
export const DINGTALK_TOKEN_INVALID_CODES: readonly number[] = [40014, 42001];

/**
 * DingTalk documents its per-IP limit (10,000 calls in 20 s) as banning the IP for 5 minutes and
 * answering an HTML page. Asking again during the ban would only prolong it.
 */
export const DINGTALK_BAN_RETRY_MS = 5 * 60_000;

/** Options of {@link DingTalkProvider}. */
export interface DingTalkProviderOptions {
  /** Where the token calls go (an undici dispatcher: a `MockAgent` in tests). Default: the connections shared by every provider. */
  dispatcher?: Dispatcher | undefined;
  appKey: string;
  appSecret: string;
  /** Replaces both hosts; paths stay as they are. */
  baseUrl?: string | undefined;
  /** `v1` (default): `POST /v1.0/oauth2/accessToken`; `legacy`: `GET /gettoken`. */
  api?: 'v1' | 'legacy' | undefined;
  /** The app's agent id and the corp id, which `dd.config` names. */
  agentId?: string | undefined;
  corpId?: string | undefined;
}

/** The access token, and the JS-SDK ticket fetched with it. */
export const DINGTALK_KINDS: readonly KindSpec[] = [
  { name: 'access_token', tenantScoped: false },
  { name: 'jsapi_ticket', tenantScoped: false, derivedFrom: 'access_token' },
];

const MINUTE = 60_000;

/**
 * A fetch within the token's life returns the same token with a renewed life, so refreshing
 * early costs one call and buys time for retries; the broker's jitter (10 % of the window,
 * up to 90 s) spreads the refreshes of many apps fetched together. 20 calls a second per app
 * and API (documented as 90018 QpsLimitForAppkeyAndApi).
 */
export const DINGTALK_RULES = {
  refreshAheadMs: 15 * MINUTE,
  limits: [
    { name: 'second', limit: 20, windowMs: 1000, kinds: ['access_token'] },
    { name: 'ticket-second', limit: 20, windowMs: 1000, kinds: ['jsapi_ticket'] },
  ],
} as const satisfies TokenSourceRules;
/** Paths of the current API (`/v1.0/…`, and later versions), which take the token in a header. */
const VERSIONED_PATH = /^\/v\d+\.\d+\//;

/**
 * DingTalk internal apps: `access_token` from the current or the legacy endpoint.
 *
 * @example
 * ```ts
 * const provider = new DingTalkProvider({ appKey: 'dingabc', appSecret: process.env.DING_SECRET!, api: 'legacy' });
 * ```
 */
export class DingTalkProvider implements Provider {
  readonly platform = 'dingtalk';
  readonly kindSpecs = DINGTALK_KINDS;
  readonly kinds = kindsOf(DINGTALK_KINDS).kinds;
  readonly tenantScoped = kindsOf(DINGTALK_KINDS).tenantScoped;
  readonly pages: PageSigning;
  readonly businessKind = 'access_token';
  readonly refreshAheadMs = DINGTALK_RULES.refreshAheadMs;
  readonly limits = DINGTALK_RULES.limits;
  readonly #appKey: string;
  readonly #appSecret: string;
  readonly #api: 'v1' | 'legacy';
  readonly #base: { api: string; oapi: string };
  /** The path prefix of a configured base URL, stripped before looking at a business path. */
  readonly #basePath: string;

  readonly #dispatcher: Dispatcher | undefined;
  constructor(options: DingTalkProviderOptions) {
    this.#dispatcher = options.dispatcher;
    this.#appKey = options.appKey;
    this.#appSecret = options.appSecret;
    this.#api = options.api ?? 'v1';
    this.#base = options.baseUrl === undefined ? { ...DINGTALK_BASE_URLS } : { api: options.baseUrl, oapi: options.baseUrl };
    this.#basePath = options.baseUrl === undefined ? '' : new URL(options.baseUrl).pathname.replace(/\/+$/, '');
    this.pages = pageSigning({
      jsapi_ticket: {
        call: 'dd.config',
        unit: 'seconds',
        ids: { agentId: options.agentId, corpId: options.corpId },
        config: (ids, { timestamp, nonceStr, signature }) => ({ agentId: ids.agentId!, corpId: ids.corpId!, timeStamp: timestamp, nonceStr, signature }),
      },
    });
  }

  /** `/v1.0/…` (and later versions) on the api host, every other path on the oapi host; both on `baseUrl` when set. */
  businessUrl(path: string): URL {
    return endpoint(VERSIONED_PATH.test(path) ? this.#base.api : this.#base.oapi, path);
  }

  /** Current-API paths get the `x-acs-dingtalk-access-token` header, the others `?access_token=`. */
  attachToken(call: BusinessCall, token: string): void {
    const path = call.url.pathname.startsWith(this.#basePath) ? call.url.pathname.slice(this.#basePath.length) : call.url.pathname;
    if (VERSIONED_PATH.test(path)) setHeader(call.headers, 'x-acs-dingtalk-access-token', token);
    else tokenInQuery(call, token);
  }

  isTokenRejected(answer: BusinessAnswer): boolean {
    return isDingTalkTokenRejected(answer);
  }

  async fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    if (request.kind === 'jsapi_ticket') return withToken(this.platform, context, 'access_token', undefined, (token) => this.#ticket(token, context));
    if (this.#api === 'legacy') {
      const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
        method: 'GET',
        url: endpoint(this.#base.oapi, '/gettoken', { appkey: this.#appKey, appsecret: this.#appSecret }),
        signal: context.signal,
      });
      return parseDingTalkToken(res, 'access_token', 'expires_in');
    }
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'POST',
      url: endpoint(this.#base.api, '/v1.0/oauth2/accessToken'),
      json: { appKey: this.#appKey, appSecret: this.#appSecret },
      signal: context.signal,
    });
    return parseDingTalkToken(res, 'accessToken', 'expireIn');
  }

  /** A repeat fetch within the ticket's life returns the same ticket with 2 h more (at most 24 h from its creation). */
  async #ticket(token: string, context: FetchContext): Promise<FetchedToken> {
    if (this.#api === 'legacy') {
      const res = await callPlatform(this.platform, {
        dispatcher: this.#dispatcher,
        method: 'GET',
        url: endpoint(this.#base.oapi, '/get_jsapi_ticket', { access_token: token }),
        signal: context.signal,
      });
      return parseDingTalkToken(res, 'ticket', 'expires_in');
    }
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'POST',
      url: endpoint(this.#base.api, '/v1.0/oauth2/jsapiTickets'),
      headers: { 'x-acs-dingtalk-access-token': token },
      signal: context.signal,
    });
    return parseDingTalkToken(res, 'jsapiTicket', 'expireIn');
  }
}

/**
 * A rejected token: legacy `errcode` 40014/42001 (or those as `sub_code` under errcode 88), or
 * the current API's `InvalidAuthentication`.
 */
export function isDingTalkTokenRejected({ body }: BusinessAnswer): boolean {
  if (typeof body !== 'object' || body === null) return false;
  const { code, sub_code: subCode } = body as { code?: unknown; sub_code?: unknown };
  if (code === 'InvalidAuthentication') return true;
  if (errcodeOf(body) === 88) return DINGTALK_TOKEN_INVALID_CODES.includes(Number(subCode));
  return errcodeIn(body, DINGTALK_TOKEN_INVALID_CODES);
}

/** Reads an answer of either token endpoint, classifying every failure. */
export function parseDingTalkToken(res: UpstreamResponse, tokenField: string, expiresField: string): FetchedToken {
  const platform = 'dingtalk';
  if (res.status < 500 && isHtml(res)) {
    throw new UpstreamError('rate-limited', `answered an HTML page (HTTP ${res.status}): the per-IP ban`, { platform, httpStatus: res.status, retryAfterMs: DINGTALK_BAN_RETRY_MS });
  }
  if (res.status >= 500 && !res.contentType.includes('json')) {
    throw new UpstreamError('transient', `answered HTTP ${res.status}`, { platform, httpStatus: res.status });
  }
  const body = jsonObject(platform, res);
  // The ban has also been reported as a JSON verdict of the gateway: {"status":1111,"wait":5,"source":"x5","punish":"deny",…}.
  if (typeof body.punish === 'string') {
    throw new UpstreamError('rate-limited', `answered a gateway verdict (${platformMessage(body.punish)}): the per-IP ban`, { platform, httpStatus: res.status, retryAfterMs: DINGTALK_BAN_RETRY_MS });
  }
  if (typeof body.code === 'string' && body.code !== '' && body.code !== '0') {
    const failure = DINGTALK_V1_CODES.get(body.code) ?? v1Fallback(body.code, res.status);
    throw new UpstreamError(failure, `${platformMessage(body.code)}: ${platformMessage(body.message)}`, { platform, platformCode: body.code, httpStatus: res.status });
  }
  const errcode = errcodeOf(body);
  if (errcode !== undefined && errcode !== 0) throw errcodeError(platform, res.status, errcode, body, classifyLegacy);
  if (res.status >= 500) throw new UpstreamError('transient', `answered HTTP ${res.status}`, { platform, httpStatus: res.status });
  return tokenFields(platform, res, body, tokenField, expiresField);
}

function v1Fallback(code: string, status: number): FailureClass {
  if (code.startsWith('Forbidden.AccessDenied.') || status === 429) return 'rate-limited';
  return status >= 500 ? 'transient' : 'credentials';
}

/** errcode 88 says "look at sub_code": classify by that when it is a code we know. */
function classifyLegacy(code: number, body: Record<string, unknown>): Classified {
  const sub = Number(body.sub_code);
  if (code === 88 && DINGTALK_CODES.has(sub)) return { failure: DINGTALK_CODES.get(sub)! };
  return { failure: DINGTALK_CODES.get(code) ?? 'credentials' };
}
