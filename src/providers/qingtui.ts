import type { Dispatcher } from 'undici';
import { UpstreamError, type FailureClass } from '../core/errors.js';
import type { BusinessAnswer, FetchContext, FetchRequest, FetchedToken, Provider, StateAccess, TokenSourceRules } from '../core/types.js';
import { errcodeIn, tokenInQuery } from './business.js';
import { ACCESS_TOKEN_ONLY, kindsOf } from './kinds.js';
import { callPlatform, endpoint, jsonObject, lifetimeSeconds, platformMessage, type UpstreamResponse } from './http.js';

export const QINGTUI_BASE_URL = 'https://open.qingtui.cn';

/** What each Qingtui error code means to tokenhub (PLATFORMS.md: the seed and the official Java SDK). */
export const QINGTUI_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([
  [40401, 'credentials'],
  [40001, 'token-invalid'],
  [40014, 'token-invalid'],
  [42001, 'token-invalid'],
  [45009, 'rate-limited'],
  // Unverified: no document names the code for breaking the 2-s rule of /v1/token. 45011 is
  // WeChat's per-minute limit, whose code table Qingtui's follows; our simulator answers it.
  [45011, 'rate-limited'],
  [-1, 'transient'],
]);

/** Codes of `autoRefreshToken` that mean the refresh token is dead: only these send us back to `/v1/token`. */
export const QINGTUI_REFRESH_REJECTED_CODES: readonly number[] = [40402, 42002, 40030, 41003];

/** Codes a business API answers when the access token it was given is no longer good. */
export const QINGTUI_TOKEN_INVALID_CODES: readonly number[] = [...QINGTUI_CODES].filter(([, c]) => c === 'token-invalid').map(([code]) => code);

/** Names of the durable per-app state this provider keeps (encrypted at rest by the stores that can). */
export const QINGTUI_STATE = {
  refreshToken: 'qingtui_refresh_token',
  lastTokenCall: 'qingtui_token_called_at',
} as const;

export interface QingtuiProviderOptions {
  /** Where the token calls go (an undici dispatcher: a `MockAgent` in tests). Default: the connections shared by every provider. */
  dispatcher?: Dispatcher | undefined;
  appId: string;
  appSecret: string;
  baseUrl?: string | undefined;
  /** Lifetime of a refresh token from its issue. Default 30 days. */
  refreshTokenLifetimeMs?: number;
  /** At most one `/v1/token` call per app in this interval. Default 2 s. */
  minTokenIntervalMs?: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const DAY = 24 * 60 * MINUTE;

export const DEFAULT_QINGTUI_OPTIONS = {
  refreshTokenLifetimeMs: 30 * DAY,
  minTokenIntervalMs: 2 * SECOND,
} as const;

/**
 * The official SDK refreshes 5 minutes before expiry; the refresh endpoint returns a new token at
 * any time, so there is no upper bound as on Feishu. The limit is the smallest documented daily
 * quota (a free, unverified organization's 300 calls); paid ones have more.
 */
export const QINGTUI_RULES = { refreshAheadMs: 5 * MINUTE, limits: [{ name: 'day', limit: 300, windowMs: 86_400_000 }] } as const satisfies TokenSourceRules;

// A refresh token is dropped this long before its 30 days are over: one `/v1/token` call a month
// is cheaper than a rotation that fails on the last day.
const REFRESH_TOKEN_MARGIN_MS = 60 * MINUTE;
// 45009 is a daily quota: asking again within a minute only spends calls.
const QUOTA_RETRY_MS = 60 * SECOND;

/**
 * Qingtui (轻推): the first token from `/v1/token`, every later one from `/auth/autoRefreshToken`
 * with the refresh token, which is kept in the app's durable state. Another `/v1/token` call kills
 * the refresh token, so it is made only when the refresh token is gone or rejected, and never
 * twice within 2 s for one app.
 */
export class QingtuiProvider implements Provider {
  readonly platform = 'qingtui';
  readonly kindSpecs = ACCESS_TOKEN_ONLY;
  readonly kinds = kindsOf(ACCESS_TOKEN_ONLY).kinds;
  readonly tenantScoped = kindsOf(ACCESS_TOKEN_ONLY).tenantScoped;
  readonly refreshAheadMs = QINGTUI_RULES.refreshAheadMs;
  readonly limits = QINGTUI_RULES.limits;
  readonly businessKind = 'access_token';
  readonly #appId: string;
  readonly #appSecret: string;
  readonly #baseUrl: string;
  readonly #refreshTokenLifetimeMs: number;
  readonly #minTokenIntervalMs: number;
  /** The refresh token, kept here as well for when the store cannot be reached. */
  #localRefreshToken: string | undefined;

  readonly #dispatcher: Dispatcher | undefined;
  constructor(options: QingtuiProviderOptions) {
    this.#dispatcher = options.dispatcher;
    this.#appId = options.appId;
    this.#appSecret = options.appSecret;
    this.#baseUrl = options.baseUrl ?? QINGTUI_BASE_URL;
    this.#refreshTokenLifetimeMs = options.refreshTokenLifetimeMs ?? DEFAULT_QINGTUI_OPTIONS.refreshTokenLifetimeMs;
    this.#minTokenIntervalMs = options.minTokenIntervalMs ?? DEFAULT_QINGTUI_OPTIONS.minTokenIntervalMs;
  }

  readonly attachToken = tokenInQuery;
  readonly isTokenRejected = ({ body }: BusinessAnswer): boolean => errcodeIn(body, QINGTUI_TOKEN_INVALID_CODES);
  readonly businessUrl = (path: string): URL => endpoint(this.#baseUrl, path);

  async fetch(_request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    const refreshToken = await this.#readRefreshToken(context.state);
    if (refreshToken !== undefined) {
      const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
        method: 'GET',
        url: endpoint(this.#baseUrl, '/auth/autoRefreshToken', { refresh_token: refreshToken }),
        signal: context.signal,
      });
      const body = jsonObject(this.platform, res);
      const code = errcode(body);
      // That endpoint takes no token but the refresh token, so a token-invalid code can only be about it:
      // one /v1/token call costs less than being stuck until the refresh token's 30 days are over.
      const rejected = code !== undefined && (QINGTUI_REFRESH_REJECTED_CODES.includes(code) || QINGTUI_TOKEN_INVALID_CODES.includes(code));
      if (!rejected) {
        const token = this.#parseToken(res, body, context.now());
        await this.#keepRefreshToken(context.state, body.refresh_token);
        return token;
      }
      await this.#dropRefreshToken(context.state, refreshToken);
    }
    return this.#issue(context);
  }

  /** `/v1/token`: a new access token and a new refresh token (which kills the previous one). */
  async #issue(context: FetchContext): Promise<FetchedToken> {
    await this.#awaitTokenInterval(context);
    let res: UpstreamResponse;
    try {
      res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
        method: 'GET',
        url: endpoint(this.#baseUrl, '/v1/token', { grant_type: 'client_credential', appid: this.#appId, secret: this.#appSecret }),
        signal: context.signal,
      });
    } finally {
      // Timed at the end, answered or not: the platform received the call no later, so the next one
      // reaches it 2 s after this one whatever the latency of each.
      await safely(context.state.set(QINGTUI_STATE.lastTokenCall, String(context.now()), this.#minTokenIntervalMs + MINUTE));
    }
    const body = jsonObject(this.platform, res);
    const token = this.#parseToken(res, body, context.now());
    // Without a refresh token in the answer, the next rotation comes back here.
    await this.#keepRefreshToken(context.state, body.refresh_token);
    return token;
  }

  /** The 2-s rule: waits out what is left of the interval since the last `/v1/token` call of this app. */
  async #awaitTokenInterval(context: FetchContext): Promise<void> {
    const last = Number(await safely(context.state.get(QINGTUI_STATE.lastTokenCall)));
    if (!Number.isFinite(last)) return;
    const wait = last + this.#minTokenIntervalMs - context.now();
    if (wait <= 0) return;
    if (!(await sleep(Math.min(wait, this.#minTokenIntervalMs), context.signal))) {
      throw new UpstreamError('rate-limited', `/v1/token may be called once per ${this.#minTokenIntervalMs / SECOND} s`, { platform: this.platform, retryAfterMs: wait });
    }
  }

  #parseToken(res: UpstreamResponse, body: Record<string, unknown>, now: number): FetchedToken {
    const code = errcode(body);
    if (code !== undefined && code !== 0) {
      const failure = QINGTUI_CODES.get(code) ?? (res.status >= 500 ? 'transient' : 'credentials');
      throw new UpstreamError(failure, `errcode ${code}: ${platformMessage(body.errmsg)}`, {
        platform: this.platform,
        platformCode: code,
        httpStatus: res.status,
        ...(code === 45009 ? { retryAfterMs: QUOTA_RETRY_MS } : code === 45011 ? { retryAfterMs: this.#minTokenIntervalMs } : {}),
      });
    }
    if (res.status >= 400) {
      throw new UpstreamError(res.status >= 500 ? 'transient' : 'credentials', `answered HTTP ${res.status} without an errcode`, { platform: this.platform, httpStatus: res.status });
    }
    const value = body.access_token;
    if (typeof value !== 'string' || value === '') {
      throw new UpstreamError('transient', 'answered without access_token', { platform: this.platform, httpStatus: res.status });
    }
    const fromBody = lifetimeSeconds(body.expires_in);
    const fromJwt = jwtLifetimeMs(value, now);
    if (fromBody === undefined && fromJwt === undefined) {
      throw new UpstreamError('transient', 'answered without expires_in', { platform: this.platform, httpStatus: res.status });
    }
    // Of the two, the earlier expiry: either may be wrong (a clock apart, a lifetime cut short).
    return { value, expiresInMs: Math.min(fromBody === undefined ? Infinity : fromBody * SECOND, fromJwt ?? Infinity) };
  }

  async #readRefreshToken(state: StateAccess): Promise<string | undefined> {
    try {
      return await state.get(QINGTUI_STATE.refreshToken);
    } catch {
      return this.#localRefreshToken;
    }
  }

  async #keepRefreshToken(state: StateAccess, value: unknown): Promise<void> {
    // The seed documents no refresh token from autoRefreshToken; take one if it ever comes.
    if (typeof value !== 'string' || value === '') return;
    this.#localRefreshToken = value;
    await safely(state.set(QINGTUI_STATE.refreshToken, value, Math.max(MINUTE, this.#refreshTokenLifetimeMs - REFRESH_TOKEN_MARGIN_MS)));
  }

  async #dropRefreshToken(state: StateAccess, value: string): Promise<void> {
    if (this.#localRefreshToken === value) this.#localRefreshToken = undefined;
    await safely(state.delete(QINGTUI_STATE.refreshToken));
  }
}

/**
 * The remaining lifetime a Qingtui access token states about itself, or `undefined` when it is not a
 * JWT or its payload makes no sense. From the seed only (unverified elsewhere): the token is an
 * HS256 JWT whose payload `expires_in` is an absolute time in epoch **milliseconds**. We cannot
 * check the signature (the key is Qingtui's) and need not: the token came to us over TLS.
 */
export function jwtLifetimeMs(token: string, now: number): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[1] === undefined) return undefined;
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  const expiresAt = Number((payload as { expires_in?: unknown }).expires_in);
  // Below 1e12 it cannot be milliseconds of this century (seconds, or a lifetime): not what the seed describes.
  if (!Number.isFinite(expiresAt) || expiresAt < 1e12) return undefined;
  const left = expiresAt - now;
  // Already past, or beyond any plausible lifetime: a clock far off or a payload we misread.
  return left > 0 && left <= DAY ? left : undefined;
}

function errcode(body: Record<string, unknown>): number | undefined {
  if (body.errcode === undefined || body.errcode === null) return undefined;
  const code = Number(body.errcode);
  return Number.isFinite(code) ? code : undefined;
}

/** Store trouble must not cost a token the platform already handed out. */
async function safely<T>(work: Promise<T>): Promise<T | undefined> {
  try {
    return await work;
  } catch {
    return undefined;
  }
}

/** Resolves `true` after `ms`, or `false` at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', abort);
      resolve(true);
    }, ms);
    const abort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener('abort', abort, { once: true });
  });
}
