import type { Dispatcher } from 'undici';
import { UpstreamError, type FailureClass } from '../core/errors.js';
import type { BusinessAnswer, FetchContext, FetchRequest, FetchedToken, KindSpec, PageSigning, Provider, TokenSourceRules } from '../core/types.js';
import { tokenAsBearer } from './business.js';
import { kindsOf } from './kinds.js';
import { pageSigning } from './jsapi.js';
import { withToken } from './tickets.js';
import { callPlatform, endpoint, jsonObject, lifetimeSeconds, platformMessage } from './http.js';

export const FEISHU_BASE_URLS = {
  feishu: 'https://open.feishu.cn',
  lark: 'https://open.larksuite.com',
} as const;

export type FeishuPlatform = keyof typeof FEISHU_BASE_URLS;

/** What each Feishu/Lark error code means to tokenhub (PLATFORMS.md). */
export const FEISHU_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([
  [99991663, 'token-invalid'],
  [99991664, 'token-invalid'],
  [99991665, 'token-invalid'],
  [99991671, 'token-invalid'],
  [99991677, 'token-invalid'],
  [10003, 'credentials'],
  [10005, 'credentials'],
  [10014, 'credentials'],
  [10015, 'credentials'],
  [99991543, 'credentials'],
  [99991662, 'credentials'],
  [99991673, 'credentials'],
  [99991401, 'credentials'],
  [10012, 'pending'],
  [99991400, 'rate-limited'],
]);

/** Codes a business API answers when the token it was given is no longer good. */
export const FEISHU_TOKEN_INVALID_CODES: readonly number[] = [...FEISHU_CODES].filter(([, c]) => c === 'token-invalid').map(([code]) => code);

export interface FeishuProviderOptions {
  /** Where the token calls go (an undici dispatcher: a `MockAgent` in tests). Default: the connections shared by every provider. */
  dispatcher?: Dispatcher | undefined;
  platform: FeishuPlatform;
  appId: string;
  appSecret: string;
  baseUrl?: string | undefined;
}

const MINUTE = 60_000;

/** A custom app's kinds: all app-wide; the JS-SDK ticket is fetched with the tenant token. */
export const FEISHU_CUSTOM_KINDS: readonly KindSpec[] = [
  { name: 'tenant_access_token', tenantScoped: false },
  { name: 'app_access_token', tenantScoped: false },
  { name: 'jsapi_ticket', tenantScoped: false, derivedFrom: 'tenant_access_token' },
];

/** The JS-SDK ticket of a Feishu/Lark app, fetched with a tenant token (the tenant's, for store apps). */
export async function fetchFeishuTicket(platform: string, baseUrl: string, dispatcher: Dispatcher | undefined, token: string, signal: AbortSignal): Promise<FetchedToken> {
  const res = await callPlatform(platform, {
    dispatcher,
    method: 'POST',
    url: endpoint(baseUrl, '/open-apis/jssdk/ticket/get'),
    headers: { authorization: `Bearer ${token}` },
    signal,
  });
  const body = feishuAnswer(platform, res);
  // The ticket and its lifetime sit under `data`, the lifetime as `expire_in` (not `expire`).
  const data = typeof body.data === 'object' && body.data !== null ? (body.data as Record<string, unknown>) : {};
  const expire = lifetimeSeconds(data.expire_in);
  if (typeof data.ticket !== 'string' || data.ticket === '' || expire === undefined) {
    throw new UpstreamError('transient', 'answered code 0 without data.ticket or data.expire_in', { platform, httpStatus: res.status });
  }
  return { value: data.ticket, expiresInMs: expire * 1000 };
}

/** How Feishu/Lark pages are signed: `h5sdk.config`, its timestamp in milliseconds. */
export function feishuPages(appId: string): PageSigning {
  return pageSigning({
    jsapi_ticket: { call: 'h5sdk.config', unit: 'milliseconds', ids: { appId }, config: (ids, { timestamp, nonceStr, signature }) => ({ appId: ids.appId!, timestamp, nonceStr, signature }) },
  });
}

/**
 * Feishu's rules for custom and store apps: with 30 minutes or more left it hands back the same
 * token, so the broker refreshes inside that.
 */
export const FEISHU_RULES = { refreshAheadMs: 25 * MINUTE, sameTokenWhileMs: 30 * MINUTE } as const satisfies TokenSourceRules;

/**
 * Feishu and Lark custom apps: `tenant_access_token` and `app_access_token` from the
 * `/internal` endpoints.
 */
export class FeishuProvider implements Provider {
  readonly platform: FeishuPlatform;
  readonly kindSpecs = FEISHU_CUSTOM_KINDS;
  readonly kinds = kindsOf(FEISHU_CUSTOM_KINDS).kinds;
  readonly tenantScoped = kindsOf(FEISHU_CUSTOM_KINDS).tenantScoped;
  readonly pages: PageSigning;
  readonly refreshAheadMs = FEISHU_RULES.refreshAheadMs;
  readonly sameTokenWhileMs = FEISHU_RULES.sameTokenWhileMs;
  readonly #appId: string;
  readonly #appSecret: string;
  readonly #baseUrl: string;

  readonly #dispatcher: Dispatcher | undefined;
  constructor(options: FeishuProviderOptions) {
    this.#dispatcher = options.dispatcher;
    this.platform = options.platform;
    this.#appId = options.appId;
    this.#appSecret = options.appSecret;
    this.#baseUrl = options.baseUrl ?? FEISHU_BASE_URLS[options.platform];
    this.pages = feishuPages(options.appId);
  }

  readonly businessKind = 'tenant_access_token';

  readonly attachToken = tokenAsBearer;
  readonly isTokenRejected = isFeishuTokenRejected;
  readonly businessUrl = (path: string): URL => endpoint(this.#baseUrl, path);

  async fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    if (request.kind === 'jsapi_ticket') {
      return withToken(this.platform, context, 'tenant_access_token', undefined, (token) => fetchFeishuTicket(this.platform, this.#baseUrl, this.#dispatcher, token, context.signal));
    }
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'POST',
      url: endpoint(this.#baseUrl, `/open-apis/auth/v3/${request.kind}/internal`),
      json: { app_id: this.#appId, app_secret: this.#appSecret },
      signal: context.signal,
    });
    return parseFeishuToken(this.platform, request.kind, res);
  }
}

/** Feishu answers a rejected token with one of its token-invalid codes (under HTTP 400 or 401). */
export function isFeishuTokenRejected({ body }: BusinessAnswer): boolean {
  const code = typeof body === 'object' && body !== null ? (body as { code?: unknown }).code : undefined;
  return typeof code === 'number' && FEISHU_TOKEN_INVALID_CODES.includes(code);
}

/** Reads a Feishu/Lark token answer, classifying every failure. Shared with store apps. */
export function parseFeishuToken(platform: string, field: string, res: Parameters<typeof jsonObject>[1]): FetchedToken {
  const body = feishuAnswer(platform, res);
  const value = body[field];
  const expire = lifetimeSeconds(body.expire);
  if (typeof value !== 'string' || value === '' || expire === undefined) {
    throw new UpstreamError('transient', `answered code 0 without ${field} or expire`, { platform, httpStatus: res.status });
  }
  return { value, expiresInMs: expire * 1000 };
}

/** The body of a Feishu/Lark answer with code 0; any other answer is thrown as a classified `UpstreamError`. */
export function feishuAnswer(platform: string, res: Parameters<typeof jsonObject>[1]): Record<string, unknown> {
  const resetSeconds = Number(res.headers['x-ogw-ratelimit-reset']);
  const retryAfterMs = Number.isFinite(resetSeconds) && resetSeconds > 0 ? resetSeconds * 1000 : undefined;
  if (res.status === 429 && !res.text.trim().startsWith('{')) {
    throw new UpstreamError('rate-limited', 'answered HTTP 429', { platform, httpStatus: 429, ...(retryAfterMs ? { retryAfterMs } : {}) });
  }
  const body = jsonObject(platform, res);
  const code = typeof body.code === 'number' ? body.code : Number(body.code);
  if (code !== 0) {
    if (!Number.isFinite(code)) {
      throw new UpstreamError('transient', `answered without a code (HTTP ${res.status})`, { platform, httpStatus: res.status });
    }
    const failure = FEISHU_CODES.get(code) ?? (res.status === 429 ? 'rate-limited' : res.status >= 500 ? 'transient' : 'credentials');
    throw new UpstreamError(failure, `code ${code}: ${platformMessage(body.msg)}`, {
      platform,
      platformCode: code,
      httpStatus: res.status,
      ...(retryAfterMs ? { retryAfterMs } : {}),
    });
  }
  return body;
}
