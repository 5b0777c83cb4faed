import { createHmac, randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counters } from './counters.js';
import { Faults, type PlatformFaultAnswers } from './faults.js';
import { checkApps, notNegative, positive } from './options.js';
import { keepBodiesRaw, pathOf } from './request.js';
import type { PlatformSim } from './types.js';

/** An app (轻应用/订阅号) known to the simulator. */
export interface QingtuiSimApp {
  appId: string;
  appSecret: string;
  /** `/v1/token` calls allowed per day for this app (300 free, 2000 verified). Default: the simulator's. */
  dailyQuota?: number;
}

export interface QingtuiSimOptions {
  apps: QingtuiSimApp[];
  /** How long an access token is really valid (the JWT's `expires_in`). Default 7200. */
  tokenLifetimeSeconds?: number;
  /** What `expires_in` in the answer says. Default: the real lifetime. Set it apart to see who trusts which. */
  reportedLifetimeSeconds?: number;
  /** Lifetime of a refresh token. Default 30 days. */
  refreshTokenLifetimeSeconds?: number;
  /** At most one `/v1/token` call per app in this interval. Default 2000. */
  minTokenIntervalMs?: number;
  /** `/v1/token` calls allowed per app per day. Default unlimited (大企业版). */
  dailyQuota?: number;
  /** `jwt` (as the platform issues) or `opaque` (random strings, to see that clients cope). Default `jwt`. */
  tokenFormat?: 'jwt' | 'opaque';
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Defaults of {@link QingtuiSimOptions}. */
export const DEFAULT_QINGTUI_SIM_OPTIONS = {
  tokenLifetimeSeconds: 7200,
  refreshTokenLifetimeSeconds: 30 * 24 * 3600,
  minTokenIntervalMs: 2000,
  dailyQuota: Infinity,
  tokenFormat: 'jwt',
  now: Date.now,
} as const;

/** Counter names of the simulator's endpoints. */
export const QINGTUI_ENDPOINTS = {
  token: 'v1/token',
  refresh: 'autoRefreshToken',
  business: 'business',
} as const;

// From the seed (004): the only error answers it shows.
const UNAUTHENTICATED = { errcode: 40401, errmsg: 'appid or secret is unauthenticated' } as const;
const REFRESH_INVALID = { errcode: 40402, errmsg: 'invalid token' } as const;
// Codes from the official Java SDK's table; the messages are ours (unverified).
const REFRESH_EXPIRED = { errcode: 42002, errmsg: 'refresh_token expired' } as const;
const REFRESH_MISSING = { errcode: 41003, errmsg: 'refresh_token missing' } as const;
const QUOTA = { errcode: 45009, errmsg: 'reach max api daily quota limit' } as const;
const TOKEN_INVALID = { errcode: 40001, errmsg: 'invalid access_token' } as const;
const TOKEN_EXPIRED = { errcode: 42001, errmsg: 'access_token expired' } as const;
// Unverified: no document names these answers. 41001 and 40002 follow WeChat's table, which
// Qingtui's codes track; 45011 for breaking the 2-s rule is our pick (tokenhub treats it as a rate limit).
const TOKEN_MISSING = { errcode: 41001, errmsg: 'access_token missing' } as const;
const BAD_GRANT = { errcode: 40002, errmsg: 'invalid grant_type' } as const;
const TOO_FAST = { errcode: 45011, errmsg: 'api freq out of limit: /v1/token may be called once per 2 seconds' } as const;

const DAY_MS = 24 * 3600 * 1000;

interface AppState {
  secret: string;
  quota: number;
  lastTokenCallAt: number;
  quotaDay: number;
  quotaUsed: number;
}

interface IssuedToken {
  readonly value: string;
  readonly appId: string;
  readonly expiresAt: number;
  revoked: boolean;
}

interface RefreshToken {
  readonly appId: string;
  readonly expiresAt: number;
  killed: boolean;
}

/**
 * A simulator of Qingtui's (轻推) token API: `/v1/token` with its refresh token, which a later
 * `/v1/token` call kills, `/auth/autoRefreshToken`, the 2-s rule and the daily quota of
 * `/v1/token`, HS256 JWT access tokens whose payload `expires_in` is epoch milliseconds, a
 * business endpoint taking `?access_token=`, and fault injection.
 *
 * @example
 * ```ts
 * const qingtui = new QingtuiSim({ apps: [{ appId: 'qt_app', appSecret: 's3cret' }] });
 * const sims = await startSimulators({ sims: [qingtui] });
 * // tokenhub config: platform: qingtui, baseUrl: sims.baseUrl('qingtui')
 * qingtui.counters.count('autoRefreshToken');
 * ```
 */
export class QingtuiSim implements PlatformSim {
  readonly platform = 'qingtui';
  readonly faults = new Faults();
  readonly counters = new Counters();
  readonly #apps = new Map<string, AppState>();
  readonly #tokens = new Map<string, IssuedToken>();
  readonly #refreshTokens = new Map<string, RefreshToken>();
  readonly #issued = new Counters();
  readonly #signingKey = randomBytes(32);
  readonly #lifetimeMs: number;
  readonly #reportedSeconds: number;
  readonly #refreshLifetimeMs: number;
  readonly #minIntervalMs: number;
  readonly #format: 'jwt' | 'opaque';
  readonly #now: () => number;

  constructor(options: QingtuiSimOptions) {
    const lifetime = options.tokenLifetimeSeconds ?? DEFAULT_QINGTUI_SIM_OPTIONS.tokenLifetimeSeconds;
    const reported = options.reportedLifetimeSeconds ?? lifetime;
    const refreshLifetime = options.refreshTokenLifetimeSeconds ?? DEFAULT_QINGTUI_SIM_OPTIONS.refreshTokenLifetimeSeconds;
    const interval = options.minTokenIntervalMs ?? DEFAULT_QINGTUI_SIM_OPTIONS.minTokenIntervalMs;
    const quota = options.dailyQuota ?? DEFAULT_QINGTUI_SIM_OPTIONS.dailyQuota;
    positive('tokenLifetimeSeconds', lifetime);
    positive('reportedLifetimeSeconds', reported);
    positive('refreshTokenLifetimeSeconds', refreshLifetime);
    notNegative('minTokenIntervalMs', interval);
    if (!(quota >= 0)) throw new TypeError(`dailyQuota: expected a number >= 0, got ${String(quota)}`);
    const format = options.tokenFormat ?? DEFAULT_QINGTUI_SIM_OPTIONS.tokenFormat;
    if (format !== 'jwt' && format !== 'opaque') throw new TypeError(`tokenFormat: expected "jwt" or "opaque", got ${JSON.stringify(format)}`);
    for (const app of checkApps(options.apps, 'appId')) {
      this.#apps.set(app.appId, { secret: app.appSecret, quota: app.dailyQuota ?? quota, lastTokenCallAt: -Infinity, quotaDay: 0, quotaUsed: 0 });
    }
    this.#lifetimeMs = lifetime * 1000;
    this.#reportedSeconds = Math.floor(reported);
    this.#refreshLifetimeMs = refreshLifetime * 1000;
    this.#minIntervalMs = interval;
    this.#format = format;
    this.#now = options.now ?? DEFAULT_QINGTUI_SIM_OPTIONS.now;
  }

  register(app: FastifyInstance): void {
    const prefix = app.prefix;
    keepBodiesRaw(app);
    app.get('/v1/token', (request, reply) => this.#tokenRoute(request, reply));
    app.get('/auth/autoRefreshToken', (request, reply) => this.#refreshRoute(request, reply));
    app.all('/*', (request, reply) => this.#businessRoute(request, reply, prefix));
  }

  revoke(token: string): boolean {
    const issued = this.#tokens.get(token);
    if (issued === undefined || issued.revoked) return false;
    issued.revoked = true;
    return true;
  }

  isValid(token: string): boolean {
    return this.#validToken(token) !== undefined;
  }

  /** No fault, zero counters, a fresh daily quota. Tokens and refresh tokens stay valid. */
  reset(): void {
    this.faults.set('none');
    this.counters.reset();
    for (const app of this.#apps.values()) app.quotaUsed = 0;
  }

  /** Kill every refresh token of an app, as another `/v1/token` call elsewhere would. */
  revokeRefreshTokens(appId: string): void {
    this.#app(appId);
    for (const rt of this.#refreshTokens.values()) if (rt.appId === appId) rt.killed = true;
  }

  /** Whether `autoRefreshToken` would take this refresh token now. */
  isRefreshTokenValid(refreshToken: string): boolean {
    const rt = this.#refreshTokens.get(refreshToken);
    return rt !== undefined && !rt.killed && this.#now() < rt.expiresAt;
  }

  /** Rotate an app's secret: `/v1/token` refuses the old one from now on. */
  setSecret(appId: string, secret: string): void {
    this.#app(appId).secret = secret;
  }

  /** Access tokens issued, for one app or all. */
  tokensIssued(appId?: string): number {
    return this.#issued.count('access_token', appId);
  }

  async #tokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const query = request.query as Record<string, string | undefined>;
    const appId = typeof query.appid === 'string' && this.#apps.has(query.appid) ? query.appid : '';
    this.counters.increment(QINGTUI_ENDPOINTS.token, appId);
    if (await this.faults.apply(request, reply, FAULT_ANSWERS)) return reply;
    if (query.grant_type !== 'client_credential') return reply.send(BAD_GRANT);
    const app = this.#apps.get(query.appid ?? '');
    if (app === undefined || app.secret !== query.secret) return reply.send(UNAUTHENTICATED);

    const now = this.#now();
    if (now - app.lastTokenCallAt < this.#minIntervalMs) return reply.send(TOO_FAST);
    const day = Math.floor(now / DAY_MS);
    if (app.quotaDay !== day) {
      app.quotaDay = day;
      app.quotaUsed = 0;
    }
    if (app.quotaUsed >= app.quota) return reply.send(QUOTA);
    app.quotaUsed++;
    app.lastTokenCallAt = now;

    // A new /v1/token call kills the app's refresh tokens at once; issued access tokens live on.
    this.revokeRefreshTokens(appId);
    const refreshToken = randomBytes(24).toString('hex');
    this.#refreshTokens.set(refreshToken, { appId, expiresAt: now + this.#refreshLifetimeMs, killed: false });
    const token = this.#issue(appId, now);
    return reply.send({ expires_in: this.#reportedSeconds, refresh_token: refreshToken, access_token: token.value });
  }

  async #refreshRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const value = (request.query as Record<string, string | undefined>).refresh_token;
    const rt = value === undefined ? undefined : this.#refreshTokens.get(value);
    this.counters.increment(QINGTUI_ENDPOINTS.refresh, rt?.appId ?? '');
    if (await this.faults.apply(request, reply, FAULT_ANSWERS)) return reply;
    if (value === undefined || value === '') return reply.send(REFRESH_MISSING);
    if (rt === undefined || rt.killed) return reply.send(REFRESH_INVALID);
    const now = this.#now();
    if (now >= rt.expiresAt) return reply.send(REFRESH_EXPIRED);
    const token = this.#issue(rt.appId, now);
    return reply.send({ expires_in: this.#reportedSeconds, access_token: token.value });
  }

  #businessRoute(request: FastifyRequest, reply: FastifyReply, prefix: string): FastifyReply {
    const { access_token: token, ...query } = request.query as Record<string, string | undefined>;
    const issued = token === undefined ? undefined : this.#tokens.get(token);
    const valid = token === undefined ? undefined : this.#validToken(token);
    this.counters.increment(QINGTUI_ENDPOINTS.business, valid?.appId ?? '');
    if (token === undefined || token === '') return reply.send(TOKEN_MISSING);
    if (valid === undefined) return reply.send(issued !== undefined && !issued.revoked ? TOKEN_EXPIRED : TOKEN_INVALID);
    return reply.send({
      errcode: 0,
      errmsg: 'ok',
      data: { method: request.method, path: pathOf(request.url).slice(prefix.length), query, appid: valid.appId },
    });
  }

  #issue(appId: string, now: number): IssuedToken {
    this.#prune(now);
    const expiresAt = now + this.#lifetimeMs;
    const value = this.#format === 'jwt' ? this.#jwt(appId, now, expiresAt) : randomBytes(32).toString('hex');
    const issued: IssuedToken = { value, appId, expiresAt, revoked: false };
    this.#tokens.set(value, issued);
    this.#issued.increment('access_token', appId);
    return issued;
  }

  /** An HS256 JWT as the seed describes it: `expires_in` and `dispatch` in epoch milliseconds. */
  #jwt(appId: string, now: number, expiresAt: number): string {
    const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const unsigned = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ appid: appId, domain_id: 'sim-domain', dispatch: now, expires_in: expiresAt, jti: randomBytes(8).toString('hex') })}`;
    return `${unsigned}.${createHmac('sha256', this.#signingKey).update(unsigned).digest('base64url')}`;
  }

  #validToken(token: string): IssuedToken | undefined {
    const issued = this.#tokens.get(token);
    return issued !== undefined && !issued.revoked && this.#now() < issued.expiresAt ? issued : undefined;
  }

  #prune(now: number): void {
    // Kept an hour past expiry, so that a caller is told "expired" rather than "invalid" and is counted under its app.
    for (const [value, issued] of this.#tokens) if (issued.expiresAt + 3600_000 <= now) this.#tokens.delete(value);
    for (const [value, rt] of this.#refreshTokens) if (rt.expiresAt + 3600_000 <= now) this.#refreshTokens.delete(value);
  }

  #app(appId: string): AppState {
    const app = this.#apps.get(appId);
    if (app === undefined) throw new RangeError(`appId: unknown app ${appId}`);
    return app;
  }
}

const FAULT_ANSWERS: PlatformFaultAnswers = {
  // Qingtui sends no rate-limit headers: the daily quota's answer, under HTTP 200.
  ratelimit(reply) {
    reply.code(200).send(QUOTA);
  },
  okWithoutToken: { expires_in: 7200 },
  sampleOk: JSON.stringify({ expires_in: 7200, refresh_token: 'refresh_token1', access_token: 'eyJhbGciOiJIUzI1NiJ9.eyJleHBpcmVzX2luIjoxfQ.c2lnbmF0dXJl' }),
};
