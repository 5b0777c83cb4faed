import type { Dispatcher } from 'undici';
import type { UpstreamLimit } from '../core/budget.js';
import { UpstreamError, type FailureClass } from '../core/errors.js';
import type { BusinessAnswer, FetchContext, FetchRequest, FetchedToken, KindSpec, PageSigning, Provider, StateAccess, TokenSourceRules } from '../core/types.js';
import { errcodeIn, tokenInQuery } from './business.js';
import { kindsOf } from './kinds.js';
import { pageSigning, wechatCards, wxConfig } from './jsapi.js';
import { withToken } from './tickets.js';
import { readErrcodeToken, type Classified } from './errcode.js';
import { callPlatform, endpoint } from './http.js';

/** The Official Account API host. */
export const WECHAT_BASE_URL = 'https://api.weixin.qq.com';

/** What each WeChat `errcode` means when fetching a token (PLATFORMS.md; the stable_token and token docs). */
export const WECHAT_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([
  [-1, 'transient'], // system busy
  [40001, 'credentials'], // on a token request: wrong AppSecret
  [40125, 'credentials'], // invalid appsecret (how newer answers say the same)
  [40013, 'credentials'], // invalid appid
  [40164, 'credentials'], // caller IP not in the allow list
  [40002, 'credentials'], // invalid grant_type
  [41002, 'credentials'], // appid missing
  [41004, 'credentials'], // secret missing
  [47001, 'credentials'], // data format error
  [89503, 'credentials'], // risky IP: an admin must confirm the call
  [40014, 'token-invalid'],
  [42001, 'token-invalid'],
  [45009, 'rate-limited'], // daily quota
  [45011, 'rate-limited'], // per-minute limit
]);

/** Codes a business API answers when the token it was given is no longer good (40001 there means the token, not the secret). */
export const WECHAT_TOKEN_INVALID_CODES: readonly number[] = [40001, 40014, 42001];

/** The limits of `stable_token`'s `force_refresh: true` (documented: 20 a day, at least 30 s apart). */
export const WECHAT_FORCE_REFRESH = { perDay: 20, intervalMs: 30_000 } as const;

/**
 * The daily quotas of the two token APIs, counted in China time. classic `cgi-bin/token`: 2000 a
 * day per app (documented). stable_token: 10,000 a minute and 500,000 a day (as documented at the
 * time of writing; unverified against the live platform).
 */
const DAY_IN_CHINA = { windowMs: 86_400_000, offsetMs: -8 * 3_600_000 } as const;
const TOKEN = ['access_token'];
export const WECHAT_CLASSIC_LIMITS: readonly UpstreamLimit[] = [{ name: 'day', limit: 2000, kinds: TOKEN, ...DAY_IN_CHINA }];
export const WECHAT_STABLE_LIMITS: readonly UpstreamLimit[] = [
  { name: 'minute', limit: 10_000, windowMs: 60_000, kinds: TOKEN },
  { name: 'day', limit: 500_000, kinds: TOKEN, ...DAY_IN_CHINA },
];

/**
 * The JS-SDK tickets, fetched with the access token. Their quota is not published ("very
 * limited"); a ticket lives 2 hours and is refreshed once per lifetime, and the platform's
 * 45009/45011 still stop us.
 */
export const WECHAT_KINDS: readonly KindSpec[] = [
  { name: 'access_token', tenantScoped: false },
  { name: 'jsapi_ticket', tenantScoped: false, derivedFrom: 'access_token' },
  { name: 'wx_card_ticket', tenantScoped: false, derivedFrom: 'access_token' },
];

/** The `type` of `cgi-bin/ticket/getticket` for each ticket kind. */
const TICKET_TYPES: Readonly<Record<string, string>> = { jsapi_ticket: 'jsapi', wx_card_ticket: 'wx_card' };

/** On the ticket endpoint 40001 means the access token we sent, not the secret. */
const WECHAT_TICKET_CODES: ReadonlyMap<number, FailureClass> = new Map([...WECHAT_CODES, [40001, 'token-invalid']]);

/** Name of the app state that counts forced refreshes, so that a restart does not forget them. */
export const WECHAT_FORCE_STATE = 'wechat.stable.force';

/** Options of {@link WeChatProvider}. */
export interface WeChatProviderOptions {
  /** Where the token calls go (an undici dispatcher: a `MockAgent` in tests). Default: the connections shared by every provider. */
  dispatcher?: Dispatcher | undefined;
  appId: string;
  appSecret: string;
  baseUrl?: string | undefined;
  /** `stable` (default): `POST /cgi-bin/stable_token`; `classic`: `GET /cgi-bin/token`. */
  tokenApi?: 'stable' | 'classic' | undefined;
}

const MINUTE = 60_000;
const DAY_MS = 86_400_000;
/** WeChat counts daily quotas in China time (UTC+8). Unverified for force_refresh: if it is UTC, we refuse a few hours early or ask a few hours late, and the platform's 45009 still tells us. */
const CHINA_OFFSET_MS = 8 * 3_600_000;
/** stable_token hands out a new token once less than 5 minutes are left (so expires_in is always >= 300). */
const STABLE_RENEW_MS = 5 * MINUTE;
/**
 * With the day's forced refreshes used up, callers are told to come back after at most this long
 * rather than at midnight: by then a plain call may return a renewed token, and if the report was
 * a caller's mistake, the platform's token is served again instead of an outage of hours.
 */
const LIMITED_RETRY_CAP_MS = 5 * MINUTE;

/**
 * The rules of each token API. Both refresh inside the 5-minute window in which both behave well:
 * stable_token returns a new token there (and the same one while more is left), and a classic
 * rotation's 5-minute overlap outlasts the old token.
 */
export function wechatRules(tokenApi: 'stable' | 'classic'): TokenSourceRules {
  return tokenApi === 'stable'
    ? { refreshAheadMs: 4 * MINUTE, sameTokenWhileMs: STABLE_RENEW_MS, limits: WECHAT_STABLE_LIMITS }
    : { refreshAheadMs: 4 * MINUTE, limits: WECHAT_CLASSIC_LIMITS };
}

/** Forced refreshes made today (China time) and when the last one was. */
interface ForceState {
  day: string;
  count: number;
  lastAt: number;
}

/**
 * WeChat Official Account (公众号): `access_token` from `stable_token` (default) or the classic
 * `cgi-bin/token`.
 *
 * - classic: every fetch retires the previous token after a 5-minute overlap, so the broker's
 *   single flight and compare-and-refresh matter most here; refreshing inside the last 5 minutes
 *   means the old token lives to its own expiry.
 * - stable: the platform returns the same token until less than 5 minutes are left; tokenhub
 *   refreshes inside that window. A token a caller reports as rejected is replaced by a plain
 *   call if the platform already has a newer one, else by `force_refresh`, within its limits,
 *   which are counted in the app's durable state.
 *
 * @example
 * ```ts
 * const provider = new WeChatProvider({ appId: 'wx1234', appSecret: process.env.WECHAT_SECRET!, tokenApi: 'classic' });
 * ```
 */
export class WeChatProvider implements Provider {
  readonly platform = 'wechat';
  readonly kindSpecs = WECHAT_KINDS;
  readonly kinds = kindsOf(WECHAT_KINDS).kinds;
  readonly tenantScoped = kindsOf(WECHAT_KINDS).tenantScoped;
  readonly businessKind = 'access_token';
  readonly pages: PageSigning;
  readonly refreshAheadMs: number;
  readonly sameTokenWhileMs?: number;
  readonly limits: readonly UpstreamLimit[];
  readonly #appId: string;
  readonly #appSecret: string;
  readonly #baseUrl: string;
  readonly #api: 'stable' | 'classic';

  readonly #dispatcher: Dispatcher | undefined;
  constructor(options: WeChatProviderOptions) {
    this.#dispatcher = options.dispatcher;
    this.#appId = options.appId;
    this.#appSecret = options.appSecret;
    this.#baseUrl = options.baseUrl ?? WECHAT_BASE_URL;
    this.#api = options.tokenApi ?? 'stable';
    const rules = wechatRules(this.#api);
    this.refreshAheadMs = rules.refreshAheadMs;
    // A wider window asks stable_token while it still returns the same token.
    if (rules.sameTokenWhileMs !== undefined) this.sameTokenWhileMs = rules.sameTokenWhileMs;
    this.limits = rules.limits ?? [];
    const appId = options.appId;
    this.pages = pageSigning(
      { jsapi_ticket: { call: 'wx.config', unit: 'seconds', ids: { appId }, config: wxConfig } },
      wechatCards(appId, 'wx_card_ticket'),
    );
  }

  readonly attachToken = tokenInQuery;
  readonly isTokenRejected = ({ body }: BusinessAnswer): boolean => errcodeIn(body, WECHAT_TOKEN_INVALID_CODES);
  readonly businessUrl = (path: string): URL => endpoint(this.#baseUrl, path);

  async fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    const type = TICKET_TYPES[request.kind];
    if (type !== undefined) return withToken(this.platform, context, 'access_token', undefined, (token) => this.#ticket(type, token, context));
    if (this.#api === 'classic') return this.#classic(context);
    const plain = await this.#stable(false, context);
    const rejected = request.reason === 'invalidate' ? request.rejected : undefined;
    if (rejected === undefined || plain.value !== rejected) return plain;
    return this.#forced(plain, rejected, context);
  }

  async #ticket(type: string, token: string, context: FetchContext): Promise<FetchedToken> {
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'GET',
      url: endpoint(this.#baseUrl, '/cgi-bin/ticket/getticket', { access_token: token, type }),
      signal: context.signal,
    });
    return readErrcodeToken(this.platform, res, { tokenField: 'ticket', expiresField: 'expires_in', classify: classifier(context.now(), WECHAT_TICKET_CODES) });
  }

  async #classic(context: FetchContext): Promise<FetchedToken> {
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'GET',
      url: endpoint(this.#baseUrl, '/cgi-bin/token', { grant_type: 'client_credential', appid: this.#appId, secret: this.#appSecret }),
      signal: context.signal,
    });
    return readErrcodeToken(this.platform, res, { tokenField: 'access_token', expiresField: 'expires_in', classify: classifier(context.now()) });
  }

  async #stable(force: boolean, context: FetchContext): Promise<FetchedToken> {
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'POST',
      url: endpoint(this.#baseUrl, '/cgi-bin/stable_token'),
      json: { grant_type: 'client_credential', appid: this.#appId, secret: this.#appSecret, force_refresh: force },
      signal: context.signal,
    });
    return readErrcodeToken(this.platform, res, { tokenField: 'access_token', expiresField: 'expires_in', classify: classifier(context.now()) });
  }

  /**
   * The platform still hands out the rejected token: force a new one if the limits allow,
   * else say when a new token can be had (a forced refresh allowed again, or the platform's
   * own renewal in the token's last 5 minutes, whichever comes first).
   */
  async #forced(plain: FetchedToken, rejected: string, context: FetchContext): Promise<FetchedToken> {
    const now = context.now();
    const renewsInMs = Math.max(1000, plain.expiresInMs - STABLE_RENEW_MS);
    const before = await readForceState(context.state, now);
    if (before.count >= WECHAT_FORCE_REFRESH.perDay) {
      throw refreshLimited(`the ${WECHAT_FORCE_REFRESH.perDay} forced refreshes of today are used up`, Math.min(nextChinaMidnight(now) - now, renewsInMs, LIMITED_RETRY_CAP_MS));
    }
    const allowedAt = before.lastAt + WECHAT_FORCE_REFRESH.intervalMs;
    if (now < allowedAt) {
      throw refreshLimited('the last forced refresh was less than 30 s ago', Math.min(allowedAt - now, renewsInMs));
    }
    // Counted before the call: a crash after it must not give us a 21st.
    await writeForceState(context.state, { day: before.day, count: before.count + 1, lastAt: now });
    let forced: FetchedToken;
    try {
      forced = await this.#stable(true, context);
    } catch (err) {
      if (!(err instanceof UpstreamError)) throw err;
      if (err.failure === 'transient') {
        // Not refreshed, or refreshed with the answer lost; either way the next plain call shows which.
        await writeForceState(context.state, before);
        throw err;
      }
      if (err.failure === 'rate-limited') {
        if (err.platformCode === 45009) await writeForceState(context.state, { day: before.day, count: WECHAT_FORCE_REFRESH.perDay, lastAt: now });
        const wait = err.platformCode === 45009 ? LIMITED_RETRY_CAP_MS : (err.retryAfterMs ?? WECHAT_FORCE_REFRESH.intervalMs);
        throw refreshLimited(`the platform refused a forced refresh (errcode ${String(err.platformCode)})`, Math.min(wait, renewsInMs), err);
      }
      throw err;
    }
    if (forced.value === rejected) {
      throw refreshLimited('the platform did not replace the token on a forced refresh', Math.min(WECHAT_FORCE_REFRESH.intervalMs, renewsInMs));
    }
    return forced;
  }
}

function refreshLimited(reason: string, retryAfterMs: number, cause?: unknown): UpstreamError {
  return new UpstreamError('refresh-limited', `cannot replace the rejected token now: ${reason}`, {
    platform: 'wechat',
    retryAfterMs: Math.max(1000, retryAfterMs),
    ...(cause === undefined ? {} : { cause }),
  });
}

/** 45011 says "retry next minute": wait for the next minute to begin. */
function classifier(now: number, codes: ReadonlyMap<number, FailureClass> = WECHAT_CODES): (code: number) => Classified {
  return (code) => {
    const failure = codes.get(code) ?? 'credentials';
    return code === 45011 ? { failure, retryAfterMs: MINUTE - (now % MINUTE) + 1000 } : { failure };
  };
}

function chinaDay(now: number): string {
  return new Date(now + CHINA_OFFSET_MS).toISOString().slice(0, 10);
}

function nextChinaMidnight(now: number): number {
  return (Math.floor((now + CHINA_OFFSET_MS) / DAY_MS) + 1) * DAY_MS - CHINA_OFFSET_MS;
}

/** Today's force count; an unreadable or older state counts as none today. */
async function readForceState(state: StateAccess, now: number): Promise<ForceState> {
  const today = chinaDay(now);
  const fresh: ForceState = { day: today, count: 0, lastAt: -Infinity };
  const raw = await state.get(WECHAT_FORCE_STATE);
  if (raw === undefined) return fresh;
  try {
    const parsed = JSON.parse(raw) as Partial<ForceState>;
    const lastAt = typeof parsed.lastAt === 'number' ? parsed.lastAt : -Infinity;
    const count = parsed.day === today && typeof parsed.count === 'number' ? parsed.count : 0;
    return { day: today, count, lastAt };
  } catch {
    return fresh;
  }
}

async function writeForceState(state: StateAccess, value: ForceState): Promise<void> {
  // Kept two days: long enough to span the day it counts, short enough to clean itself up.
  await state.set(WECHAT_FORCE_STATE, JSON.stringify({ ...value, lastAt: Number.isFinite(value.lastAt) ? value.lastAt : null }), 2 * DAY_MS);
}
