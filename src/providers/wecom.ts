import type { Dispatcher } from 'undici';
import type { FailureClass } from '../core/errors.js';
import type { UpstreamLimit } from '../core/budget.js';
import type { BusinessAnswer, FetchContext, FetchRequest, FetchedToken, KindSpec, PageSigning, Provider, TokenSourceRules } from '../core/types.js';
import { errcodeIn, tokenInQuery } from './business.js';
import { kindsOf } from './kinds.js';
import { pageSigning, wxConfig, type PageLayout, type SignedValues } from './jsapi.js';
import { withToken } from './tickets.js';
import { byTable, readErrcodeToken } from './errcode.js';
import { callPlatform, endpoint } from './http.js';

/** WeCom's API host. */
export const WECOM_BASE_URL = 'https://qyapi.weixin.qq.com';

/** What each WeCom `errcode` means to tokenhub (PLATFORMS.md; WeCom's global error codes). */
export const WECOM_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([
  [-1, 'transient'], // system busy: the broker retries, at most 3 attempts per fetch
  [40001, 'credentials'], // on gettoken: the secret is wrong (not a stale token)
  [40013, 'credentials'], // invalid corp id
  [40091, 'credentials'], // secret malformed
  [41002, 'credentials'], // corpid missing
  [41004, 'credentials'], // corpsecret missing
  [60020, 'credentials'], // caller IP not among the app's trusted IPs
  [40014, 'token-invalid'],
  [42001, 'token-invalid'],
  [45009, 'rate-limited'],
  [45033, 'rate-limited'], // too many concurrent calls
]);

/** Codes a business API answers when the token it was given is no longer good. 40001 is not one: on WeCom it means a wrong secret. */
export const WECOM_TOKEN_INVALID_CODES: readonly number[] = [40014, 42001];

/** Options of {@link WeComProvider}. */
export interface WeComProviderOptions {
  /** Where the token calls go (an undici dispatcher: a `MockAgent` in tests). Default: the connections shared by every provider. */
  dispatcher?: Dispatcher | undefined;
  /** The corp id (`appId` in the config). */
  corpId: string;
  /** The app's (agent's) secret: each app of a corp has its own, and its own token. */
  corpSecret: string;
  baseUrl?: string | undefined;
  /** The app's agent id: with it the app has `agent_jsapi_ticket` and signs `wx.agentConfig`. */
  agentId?: string | undefined;
}

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** The corp's JS-SDK ticket, and the agent's where the app's agent id is configured. */
export function wecomKinds(agentId: string | undefined): readonly KindSpec[] {
  return [
    { name: 'access_token', tenantScoped: false },
    { name: 'jsapi_ticket', tenantScoped: false, derivedFrom: 'access_token' },
    ...(agentId === undefined ? [] : [{ name: 'agent_jsapi_ticket', tenantScoped: false, derivedFrom: 'access_token' }]),
  ];
}

const TICKETS = ['jsapi_ticket', 'agent_jsapi_ticket'];

/**
 * WeCom allows at most 400 ticket fetches per corp and 100 per app an hour (doc 96909), counted
 * by every instance together. Its windows' start is not documented, so they count as sliding.
 */
export function wecomTicketLimits(corpId: string): readonly UpstreamLimit[] {
  return [
    { name: 'ticket-hour', limit: 100, windowMs: HOUR, kinds: TICKETS, sliding: true },
    { name: 'corp-ticket-hour', limit: 400, windowMs: HOUR, kinds: TICKETS, sliding: true, scope: `wecom-corp:${corpId}` },
  ];
}

/**
 * A fetch within the token's life returns the same token with a renewed life (自动续期), so an
 * early refresh costs one call and leaves room for retries before expiry.
 */
export const WECOM_RULES = { refreshAheadMs: 15 * MINUTE } as const satisfies TokenSourceRules;

/**
 * WeCom (企业微信) apps: `access_token` from `GET /cgi-bin/gettoken`. The broker keys the token by
 * corp id and a hash of the secret, so two apps of one corp never share a token.
 *
 * @example
 * ```ts
 * const provider = new WeComProvider({ corpId: 'ww1234', corpSecret: process.env.WECOM_SECRET! });
 * ```
 */
export class WeComProvider implements Provider {
  readonly platform = 'wecom';
  readonly kindSpecs: readonly KindSpec[];
  readonly kinds: readonly string[];
  readonly tenantScoped: (kind: string) => boolean;
  readonly businessKind = 'access_token';
  readonly refreshAheadMs = WECOM_RULES.refreshAheadMs;
  readonly limits: readonly UpstreamLimit[];
  readonly pages: PageSigning;
  readonly #corpId: string;
  readonly #corpSecret: string;
  readonly #baseUrl: string;

  readonly #dispatcher: Dispatcher | undefined;
  constructor(options: WeComProviderOptions) {
    this.#dispatcher = options.dispatcher;
    this.#corpId = options.corpId;
    this.#corpSecret = options.corpSecret;
    this.#baseUrl = options.baseUrl ?? WECOM_BASE_URL;
    this.kindSpecs = wecomKinds(options.agentId);
    ({ kinds: this.kinds, tenantScoped: this.tenantScoped } = kindsOf(this.kindSpecs));
    this.limits = wecomTicketLimits(options.corpId);
    this.pages = pageSigning(wecomPageLayouts(options.corpId, options.agentId));
  }

  readonly attachToken = tokenInQuery;
  readonly isTokenRejected = ({ body }: BusinessAnswer): boolean => errcodeIn(body, WECOM_TOKEN_INVALID_CODES);
  readonly businessUrl = (path: string): URL => endpoint(this.#baseUrl, path);

  async fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    const kind = request.kind;
    if (isWeComTicketKind(kind)) {
      // The ticket of the same agent as the token (for suites: the corp token from get_corp_token).
      return withToken(this.platform, context, 'access_token', undefined, (token) => this.#ticket(kind, token, context));
    }
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'GET',
      url: endpoint(this.#baseUrl, '/cgi-bin/gettoken', { corpid: this.#corpId, corpsecret: this.#corpSecret }),
      signal: context.signal,
    });
    return readErrcodeToken(this.platform, res, { tokenField: 'access_token', expiresField: 'expires_in', classify: classify });
  }

  #ticket(kind: WeComTicketKind, token: string, context: FetchContext): Promise<FetchedToken> {
    return fetchWeComTicket(this.platform, { baseUrl: this.#baseUrl, dispatcher: this.#dispatcher, signal: context.signal }, kind, token);
  }
}

/** The ticket kinds of WeCom: the corp's (`wx.config`) and the agent's (`wx.agentConfig`). */
export type WeComTicketKind = 'jsapi_ticket' | 'agent_jsapi_ticket';

/** Whether `kind` is one of WeCom's JS-SDK ticket kinds. */
export function isWeComTicketKind(kind: string): kind is WeComTicketKind {
  return TICKETS.includes(kind);
}

/**
 * Fetches a corp's or an agent's JS-SDK ticket with `token` (a self-built app's token, or a
 * suite's corp token from `get_corp_token`): one implementation for both.
 */
export async function fetchWeComTicket(
  platform: string,
  where: { baseUrl: string; dispatcher: Dispatcher | undefined; signal: AbortSignal },
  kind: WeComTicketKind,
  token: string,
): Promise<FetchedToken> {
  const url =
    kind === 'jsapi_ticket'
      ? endpoint(where.baseUrl, '/cgi-bin/get_jsapi_ticket', { access_token: token })
      : endpoint(where.baseUrl, '/cgi-bin/ticket/get', { access_token: token, type: 'agent_config' });
  const res = await callPlatform(platform, { dispatcher: where.dispatcher, method: 'GET', url, signal: where.signal });
  return readErrcodeToken(platform, res, { tokenField: 'ticket', expiresField: 'expires_in', classify: classify });
}

/** How a corp's pages are signed: the corp ticket for `wx.config` (appId = the corp id), the agent ticket for `wx.agentConfig`. */
export function wecomPageLayouts(corpId: string, agentId: string | undefined): Record<string, PageLayout> {
  return {
    jsapi_ticket: { call: 'wx.config', unit: 'seconds', ids: { appId: corpId }, config: wxConfig },
    ...(agentId === undefined
      ? {}
      : {
          agent_jsapi_ticket: {
            call: 'wx.agentConfig',
            unit: 'seconds',
            ids: { appId: corpId, agentId },
            config: (ids: Readonly<Record<string, string>>, { timestamp, nonceStr, signature }: SignedValues) => ({ corpid: ids.appId!, agentid: ids.agentId!, timestamp, nonceStr, signature }),
          },
        }),
  };
}

const classify = byTable(WECOM_CODES);
