import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counters } from './counters.js';
import { Faults, type PlatformFaultAnswers } from './faults.js';
import { DEFAULT_JSAPI_MAX_SKEW_SECONDS, field, refuse, text, verifyPageSignature, type JsapiVerdict } from './jsapi.js';
import { checkApps, notNegative, positive } from './options.js';
import { isRecord, keepBodiesRaw, parseJson, pathOf, queryString, withoutToken } from './request.js';
import { resetFaultsAndCounters } from './reset.js';
import { Script, SimTokens, type SimToken } from './tokens.js';
import type { PlatformSim } from './types.js';

/** An internal app known to the simulator (its AppKey, a.k.a. Client ID, and AppSecret). */
export interface DingTalkSimApp {
  appKey: string;
  appSecret: string;
  /** `false`: the caller's IP is not in the app's allow list. Default `true`. */
  ipAllowed?: boolean;
  /** The corp the app belongs to, as `dd.config` names it; unset, the verifier takes any. */
  corpId?: string;
  /** The app's agent id, as `dd.config` names it; unset, the verifier takes any. */
  agentId?: string;
}

/** DingTalk's per-IP ban: more than `calls` requests within `windowSeconds` and every request gets an HTML page for `banSeconds`. */
export interface DingTalkIpBan {
  calls: number;
  windowSeconds: number;
  banSeconds: number;
}

/** Options of {@link DingTalkSim}; times scale down for tests. */
export interface DingTalkSimOptions {
  apps: DingTalkSimApp[];
  /** Lifetime of a token, renewed by every fetch within it. Default 7200. */
  tokenLifetimeSeconds?: number;
  /** Token requests per app per endpoint per second before the platform's QPS limit answers. Default 20. */
  qpsPerApi?: number;
  /** Default 10,000 calls per 20 s, then banned for 5 minutes (DingTalk's documented per-IP limit). */
  ipBan?: DingTalkIpBan;
  /** Lifetime of a new JS-SDK ticket, and what a fetch within it renews it to (counted from the fetch). Default 7200. */
  jsapiTicketLifetimeSeconds?: number;
  /** Renewals stop here, counted from the ticket's creation; then a fetch gets a new ticket. Default 86400. */
  jsapiTicketMaxLifetimeSeconds?: number;
  /** The verifier refuses a config whose timestamp is farther than this from the clock. Default 600. */
  jsapiMaxSkewSeconds?: number;
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Defaults of {@link DingTalkSimOptions}. */
export const DEFAULT_DINGTALK_SIM_OPTIONS = {
  tokenLifetimeSeconds: 7200,
  qpsPerApi: 20,
  ipBan: { calls: 10_000, windowSeconds: 20, banSeconds: 300 },
  jsapiTicketLifetimeSeconds: 7200,
  jsapiTicketMaxLifetimeSeconds: 86_400,
  jsapiMaxSkewSeconds: DEFAULT_JSAPI_MAX_SKEW_SECONDS,
  now: Date.now,
} as const;

/** Counter names of the simulator's endpoints. */
export const DINGTALK_ENDPOINTS = {
  /** `POST /v1.0/oauth2/accessToken` (api.dingtalk.com). */
  v1: 'oauth2/accessToken',
  /** `GET /gettoken` (oapi.dingtalk.com). */
  legacy: 'gettoken',
  business: 'business',
  /** `POST /v1.0/oauth2/jsapiTickets` (api.dingtalk.com). */
  v1Ticket: 'oauth2/jsapiTickets',
  /** `GET /get_jsapi_ticket` (oapi.dingtalk.com). */
  legacyTicket: 'get_jsapi_ticket',
} as const;

/** The endpoints with a per-app QPS limit. */
type LimitedEndpoint = Exclude<(typeof DINGTALK_ENDPOINTS)[keyof typeof DINGTALK_ENDPOINTS], typeof DINGTALK_ENDPOINTS.business>;

// The ban is documented as "an HTML page, not an error code"; this page is our own stand-in.
const BAN_PAGE =
  '<!DOCTYPE html><html><head><meta charset="utf-8"><title>访问被拒绝</title></head>' +
  '<body><h1>访问被拒绝</h1><p>您的访问过于频繁，已被暂时限制。请稍后再试。</p></body></html>';

const LEGACY_BAD_CREDENTIALS = { errcode: 40089, errmsg: '不合法的corpId或corpSecret' } as const;
const LEGACY_IP_REFUSED = { errcode: 60020, errmsg: '访问ip不在白名单之中' } as const;
const LEGACY_QPS = { errcode: 90018, errmsg: '当前应用调用该接口超过频率限制' } as const;
const LEGACY_TOKEN_INVALID = { errcode: 40014, errmsg: '不合法的access_token' } as const;
const LEGACY_TOKEN_EXPIRED = { errcode: 42001, errmsg: 'access_token超时' } as const;
// v1 errors carry a string `code`; invalidClientIdOrSecret under HTTP 400 is documented, the
// Missing*/IpNotInWhiteList/Qps answers follow the gateway's naming as seen in SDK issues (unverified).
const V1_BAD_CREDENTIALS = { code: 'invalidClientIdOrSecret', message: '无效的clientId或者clientSecret' } as const;
const V1_IP_REFUSED = { code: 'Forbidden.AccessDenied.IpNotInWhiteList', message: 'ip不在白名单中' } as const;
const V1_QPS = { code: 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi', message: '当前应用调用该接口超过每秒限流' } as const;
const V1_TOKEN_INVALID = { code: 'InvalidAuthentication', message: '不合法的access_token' } as const;
const V1_TOKEN_MISSING = { code: 'MissingParameter', message: 'x-acs-dingtalk-access-token is mandatory for this action.' } as const;

/**
 * A simulator of DingTalk's token APIs: the current `POST /v1.0/oauth2/accessToken` and the
 * legacy `GET /gettoken`, one token per app shared by both, renewed (same value, new expiry) by
 * every fetch within its lifetime. Business endpoints check the token where DingTalk expects it:
 * the `x-acs-dingtalk-access-token` header under `/v1.0/`, the `access_token` query under
 * `/topapi/` and the other legacy paths. Models the per-app QPS limit and the per-IP ban.
 * JS-SDK tickets come from `POST /v1.0/oauth2/jsapiTickets` and the legacy `GET /get_jsapi_ticket`
 * (one per app, renewed by a fetch within its lifetime up to 24 h); {@link verifyJsapi} checks
 * `dd.config` signatures against them.
 *
 * @example
 * ```ts
 * const dingtalk = new DingTalkSim({ apps: [{ appKey: 'dingabc', appSecret: 's3cret' }] });
 * const sims = await startSimulators({ sims: [dingtalk] });
 * // tokenhub config: platform: dingtalk, appId: dingabc, baseUrl: sims.baseUrl('dingtalk')
 * ```
 */
export class DingTalkSim implements PlatformSim {
  readonly platform = 'dingtalk';
  readonly faults = new Faults();
  readonly counters = new Counters();
  /** Answers ahead of the rules, on both token endpoints. */
  readonly script = new Script();
  readonly #apps = new Map<string, AppState>();
  /** Faults of the ticket endpoints, apart from the token endpoints'. */
  readonly ticketFaults = new Faults();
  /** Answers ahead of the rules, on both ticket endpoints. */
  readonly ticketScript = new Script();
  /** JS-SDK tickets, one per app (app key) shared by both APIs, like its token. */
  readonly #tickets: SimTokens;
  readonly #ticketLifetimeMs: number;
  readonly #ticketMaxLifetimeMs: number;
  readonly #maxSkewMs: number;
  readonly #tokens: SimTokens;
  readonly #lifetimeMs: number;
  readonly #qps: number;
  readonly #ban: DingTalkIpBan;
  readonly #now: () => number;
  readonly #qpsWindows = new Map<string, { second: number; calls: number }>();
  readonly #ipWindows = new Map<string, { window: number; calls: number; bannedUntil: number }>();

  constructor(options: DingTalkSimOptions) {
    const lifetime = options.tokenLifetimeSeconds ?? DEFAULT_DINGTALK_SIM_OPTIONS.tokenLifetimeSeconds;
    const qps = options.qpsPerApi ?? DEFAULT_DINGTALK_SIM_OPTIONS.qpsPerApi;
    const ban = options.ipBan ?? DEFAULT_DINGTALK_SIM_OPTIONS.ipBan;
    positive('tokenLifetimeSeconds', lifetime);
    if (!Number.isInteger(qps) || qps <= 0) throw new TypeError(`qpsPerApi: expected an integer > 0, got ${String(qps)}`);
    for (const key of ['calls', 'windowSeconds', 'banSeconds'] as const) positive(`ipBan.${key}`, ban[key]);
    const ticketLifetime = options.jsapiTicketLifetimeSeconds ?? DEFAULT_DINGTALK_SIM_OPTIONS.jsapiTicketLifetimeSeconds;
    const ticketMax = options.jsapiTicketMaxLifetimeSeconds ?? DEFAULT_DINGTALK_SIM_OPTIONS.jsapiTicketMaxLifetimeSeconds;
    const maxSkew = options.jsapiMaxSkewSeconds ?? DEFAULT_DINGTALK_SIM_OPTIONS.jsapiMaxSkewSeconds;
    positive('jsapiTicketLifetimeSeconds', ticketLifetime);
    positive('jsapiTicketMaxLifetimeSeconds', ticketMax);
    if (ticketMax < ticketLifetime) throw new TypeError('jsapiTicketMaxLifetimeSeconds: must not be shorter than jsapiTicketLifetimeSeconds');
    notNegative('jsapiMaxSkewSeconds', maxSkew);
    for (const [i, app] of checkApps(options.apps, 'appKey').entries()) {
      for (const key of ['corpId', 'agentId'] as const) {
        if (app[key] !== undefined && (typeof app[key] !== 'string' || app[key] === '')) throw new TypeError(`apps[${i}].${key}: expected a non-empty string`);
      }
      this.#apps.set(app.appKey, { secret: app.appSecret, ipAllowed: app.ipAllowed ?? true, corpId: app.corpId, agentId: app.agentId });
    }
    this.#ticketLifetimeMs = ticketLifetime * 1000;
    this.#ticketMaxLifetimeMs = ticketMax * 1000;
    this.#maxSkewMs = maxSkew * 1000;
    this.#lifetimeMs = lifetime * 1000;
    this.#qps = qps;
    this.#ban = { ...ban };
    this.#now = options.now ?? DEFAULT_DINGTALK_SIM_OPTIONS.now;
    this.#tokens = new SimTokens(this.#now, () => randomBytes(16).toString('hex'));
    this.#tickets = new SimTokens(this.#now, () => randomBytes(64).toString('base64url'));
  }

  register(app: FastifyInstance): void {
    keepBodiesRaw(app);
    const prefix = app.prefix;

    app.post('/v1.0/oauth2/accessToken', (request, reply) => this.#v1Token(request, reply));
    app.get('/gettoken', (request, reply) => this.#legacyToken(request, reply));
    app.post('/v1.0/oauth2/jsapiTickets', (request, reply) => this.#v1Ticket(request, reply));
    app.get('/get_jsapi_ticket', (request, reply) => this.#legacyTicket(request, reply));
    app.all('/v1.0/*', (request, reply) => {
      return this.#business(request, reply, v1Token(request), prefix, (status) =>
        status === 'missing'
          ? reply.code(400).send({ ...V1_TOKEN_MISSING, requestid: requestId() })
          : reply.code(400).send({ ...V1_TOKEN_INVALID, requestid: requestId() }),
        (echo) => reply.send({ result: echo }),
      );
    });
    for (const legacy of ['/topapi/*', '/user/*', '/department/*', '/message/*', '/chat/*', '/microapp/*']) {
      app.all(legacy, (request, reply) => {
        return this.#business(request, reply, queryString(request.query, 'access_token'), prefix, (status) =>
          reply.send(status === 'expired' ? LEGACY_TOKEN_EXPIRED : LEGACY_TOKEN_INVALID),
          (echo) => reply.send({ errcode: 0, errmsg: 'ok', result: echo, request_id: requestId() }),
        );
      });
    }
  }

  revoke(token: string): boolean {
    return this.#tokens.revoke(token) || this.#tickets.revoke(token);
  }

  isValid(token: string): boolean {
    return this.#tokens.isValid(token) || this.#tickets.isValid(token);
  }

  /** Back to healthy: no fault, no scripted answers, no ban, zero counters. Issued tokens and tickets stay valid. */
  reset(): void {
    resetFaultsAndCounters(this);
    this.#ipWindows.clear();
    this.#qpsWindows.clear();
  }

  /** Rotate an app's secret: the old one is refused from now on (issued tokens stay valid). */
  setSecret(appKey: string, secret: string): void {
    this.#app(appKey).secret = secret;
  }

  /** Put the caller's IP in or out of an app's allow list. */
  setIpAllowed(appKey: string, allowed: boolean): void {
    this.#app(appKey).ipAllowed = allowed;
  }

  /** How many distinct tokens were issued, for one app or all. */
  tokensIssued(appKey?: string): number {
    return this.#tokens.issued(appKey);
  }

  /** How many distinct JS-SDK tickets were issued, for one app or all. */
  ticketsIssued(appKey?: string): number {
    return this.#tickets.issued(appKey);
  }

  /**
   * Checks a page's `dd.config` `{ agentId, corpId, timeStamp, nonceStr, signature, url }` as the
   * DingTalk client does, against the valid tickets of the apps that `corpId` and `agentId` fit:
   * an app fits when its configured `corpId` / `agentId` equal them or it has none configured
   * (so without them the simulator takes the values it is given and checks only the signature).
   */
  verifyJsapi(config: Record<string, unknown>): JsapiVerdict {
    const corpId = text(config.corpId);
    const agentId = text(config.agentId);
    if (corpId === undefined) return refuse('corpId: missing');
    if (agentId === undefined) return refuse('agentId: missing');
    const keys = new Set(
      [...this.#apps].filter(([, a]) => (a.corpId === undefined || a.corpId === corpId) && (a.agentId === undefined || a.agentId === agentId)).map(([key]) => key),
    );
    if (keys.size === 0) return refuse(`corpId, agentId: no app of corp ${corpId} with agent ${agentId}`);
    const fields = { timestamp: field(config, 'timeStamp'), nonceStr: field(config, 'nonceStr'), signature: field(config, 'signature') };
    return verifyPageSignature(config, fields, { tickets: this.#tickets.known((o) => keys.has(o)), now: this.#now(), maxSkewMs: this.#maxSkewMs, timestampUnit: 'seconds' });
  }

  async #v1Token(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const appKey = isRecord(body) && typeof body.appKey === 'string' ? body.appKey : '';
    this.counters.increment(DINGTALK_ENDPOINTS.v1, appKey);
    if (this.#banned(request, reply)) return reply;
    if (await this.faults.apply(request, reply, V1_FAULTS)) return reply;
    if (this.script.answer(reply)) return reply;

    if (!isRecord(body)) return reply.code(400).send({ code: 'MissingBody', requestid: requestId(), message: 'body is mandatory for this action.' });
    for (const field of ['appKey', 'appSecret'] as const) {
      if (typeof body[field] !== 'string' || body[field] === '') {
        return reply.code(400).send({ code: `Missing${field}`, requestid: requestId(), message: `${field} is mandatory for this action.` });
      }
    }
    const app = this.#apps.get(appKey);
    if (app === undefined || app.secret !== body.appSecret) return reply.code(400).send({ ...V1_BAD_CREDENTIALS, requestid: requestId() });
    if (!app.ipAllowed) return reply.code(403).send({ ...V1_IP_REFUSED, requestid: requestId() });
    if (this.#overQps(appKey, DINGTALK_ENDPOINTS.v1)) return reply.code(403).send({ ...V1_QPS, requestid: requestId() });
    const token = this.#fetch(appKey);
    return reply.send({ expireIn: this.#lifetimeSeconds(), accessToken: token.value });
  }

  async #legacyToken(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const appKey = queryString(request.query, 'appkey') ?? '';
    this.counters.increment(DINGTALK_ENDPOINTS.legacy, appKey);
    if (this.#banned(request, reply)) return reply;
    if (await this.faults.apply(request, reply, LEGACY_FAULTS)) return reply;
    if (this.script.answer(reply)) return reply;

    const app = this.#apps.get(appKey);
    if (app === undefined || app.secret !== queryString(request.query, 'appsecret')) return reply.send(LEGACY_BAD_CREDENTIALS);
    if (!app.ipAllowed) return reply.send(LEGACY_IP_REFUSED);
    if (this.#overQps(appKey, DINGTALK_ENDPOINTS.legacy)) return reply.send(LEGACY_QPS);
    const token = this.#fetch(appKey);
    return reply.send({ errcode: 0, access_token: token.value, errmsg: 'ok', expires_in: this.#lifetimeSeconds() });
  }

  async #v1Ticket(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const value = v1Token(request);
    const check = value === undefined ? undefined : this.#tokens.check(value);
    const appKey = check?.status === 'valid' ? check.token.owner : '';
    this.counters.increment(DINGTALK_ENDPOINTS.v1Ticket, appKey);
    if (this.#banned(request, reply)) return reply;
    if (await this.ticketFaults.apply(request, reply, V1_TICKET_FAULTS)) return reply;
    if (this.ticketScript.answer(reply)) return reply;

    if (check === undefined) return reply.code(400).send({ ...V1_TOKEN_MISSING, requestid: requestId() });
    // Unverified: HTTP 401 for a bad or expired token here (the business endpoints answer 400), and one code for both.
    if (check.status !== 'valid') return reply.code(401).send({ ...V1_TOKEN_INVALID, requestid: requestId() });
    if (this.#overQps(appKey, DINGTALK_ENDPOINTS.v1Ticket)) return reply.code(403).send({ ...V1_QPS, requestid: requestId() });
    const ticket = this.#fetchTicket(appKey);
    return reply.send({ jsapiTicket: ticket.value, expireIn: Math.floor((ticket.expiresAt - this.#now()) / 1000) });
  }

  async #legacyTicket(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#tokens.check(value);
    const appKey = check?.status === 'valid' ? check.token.owner : '';
    this.counters.increment(DINGTALK_ENDPOINTS.legacyTicket, appKey);
    if (this.#banned(request, reply)) return reply;
    if (await this.ticketFaults.apply(request, reply, LEGACY_TICKET_FAULTS)) return reply;
    if (this.ticketScript.answer(reply)) return reply;

    if (check?.status === 'expired') return reply.send(LEGACY_TOKEN_EXPIRED);
    if (check?.status !== 'valid') return reply.send(LEGACY_TOKEN_INVALID);
    if (this.#overQps(appKey, DINGTALK_ENDPOINTS.legacyTicket)) return reply.send(LEGACY_QPS);
    const ticket = this.#fetchTicket(appKey);
    return reply.send({ errcode: 0, errmsg: 'ok', ticket: ticket.value, expires_in: Math.floor((ticket.expiresAt - this.#now()) / 1000) });
  }

  /**
   * Within a ticket's lifetime a fetch returns the same ticket, renewed to a full lifetime from
   * now but never past the maximum counted from its creation (our reading of "2 h more, at most
   * 24 h"); after that, a new ticket.
   */
  #fetchTicket(appKey: string): SimToken {
    const current = this.#tickets.current(appKey);
    if (current === undefined) return this.#tickets.issue(appKey, this.#ticketLifetimeMs);
    current.expiresAt = Math.min(this.#now() + this.#ticketLifetimeMs, current.issuedAt + this.#ticketMaxLifetimeMs);
    return current;
  }

  #business(
    request: FastifyRequest,
    reply: FastifyReply,
    value: string | undefined,
    prefix: string,
    refuse: (status: 'missing' | 'expired' | 'invalid') => FastifyReply,
    accept: (echo: Record<string, unknown>) => FastifyReply,
  ): FastifyReply {
    const check = value === undefined ? undefined : this.#tokens.check(value);
    this.counters.increment(DINGTALK_ENDPOINTS.business, check?.status === 'valid' ? check.token.owner : '');
    if (this.#banned(request, reply)) return reply;
    if (check === undefined) return refuse('missing');
    if (check.status !== 'valid') return refuse(check.status);
    return accept({
      appKey: check.token.owner,
      method: request.method,
      path: pathOf(request.url).slice(prefix.length),
      query: withoutToken(request.query),
      body: parseJson(request.body),
    });
  }

  /** A fetch (re)starts the token's whole lifetime, so that is what it reports; reading the clock again could lose a second. */
  #lifetimeSeconds(): number {
    return Math.floor(this.#lifetimeMs / 1000);
  }

  /** Within a token's lifetime a fetch returns the same token and renews its lifetime. */
  #fetch(appKey: string): SimToken {
    const current = this.#tokens.current(appKey);
    if (current === undefined) return this.#tokens.issue(appKey, this.#lifetimeMs);
    current.expiresAt = this.#now() + this.#lifetimeMs;
    return current;
  }

  #overQps(appKey: string, endpoint: LimitedEndpoint): boolean {
    const key = `${appKey}\u0000${endpoint}`;
    const second = Math.floor(this.#now() / 1000);
    const window = this.#qpsWindows.get(key);
    if (window === undefined || window.second !== second) {
      this.#qpsWindows.set(key, { second, calls: 1 });
      return false;
    }
    window.calls++;
    return window.calls > this.#qps;
  }

  /** Counts the call against the caller's IP; answers the ban page (and returns true) while banned. */
  #banned(request: FastifyRequest, reply: FastifyReply): boolean {
    const now = this.#now();
    const windowMs = this.#ban.windowSeconds * 1000;
    const window = Math.floor(now / windowMs);
    let entry = this.#ipWindows.get(request.ip);
    if (entry === undefined) {
      entry = { window, calls: 0, bannedUntil: 0 };
      this.#ipWindows.set(request.ip, entry);
    }
    if (entry.bannedUntil <= now) {
      if (entry.window !== window) {
        entry.window = window;
        entry.calls = 0;
      }
      entry.calls++;
      if (entry.calls > this.#ban.calls) entry.bannedUntil = now + this.#ban.banSeconds * 1000;
    }
    if (entry.bannedUntil <= now) return false;
    void reply.code(200).type('text/html; charset=utf-8').send(BAN_PAGE);
    return true;
  }

  #app(appKey: string): AppState {
    const app = this.#apps.get(appKey);
    if (app === undefined) throw new RangeError(`appKey: unknown app ${appKey}`);
    return app;
  }
}

interface AppState {
  secret: string;
  ipAllowed: boolean;
  readonly corpId: string | undefined;
  readonly agentId: string | undefined;
}

/** The token of a v1 call, from its header. */
function v1Token(request: FastifyRequest): string | undefined {
  const header = request.headers['x-acs-dingtalk-access-token'];
  return typeof header === 'string' && header !== '' ? header : undefined;
}

const V1_FAULTS: PlatformFaultAnswers = {
  ratelimit(reply) {
    reply.code(403).send({ ...V1_QPS, requestid: requestId() });
  },
  okWithoutToken: { expireIn: 7200 },
  sampleOk: JSON.stringify({ expireIn: 7200, accessToken: 'c5ddc3dab5e93f4a9a1e2c0a0ab4e4e1' }),
};

const LEGACY_FAULTS: PlatformFaultAnswers = {
  ratelimit(reply) {
    reply.send(LEGACY_QPS);
  },
  okWithoutToken: { errcode: 0, errmsg: 'ok' },
  sampleOk: JSON.stringify({ errcode: 0, access_token: 'c5ddc3dab5e93f4a9a1e2c0a0ab4e4e1', errmsg: 'ok', expires_in: 7200 }),
};

const V1_TICKET_FAULTS: PlatformFaultAnswers = {
  ratelimit: V1_FAULTS.ratelimit,
  okWithoutToken: { expireIn: 7200 },
  sampleOk: JSON.stringify({ jsapiTicket: 'zHoQdGJuH0ZDebwo7sLqLzHGUueLmkWCC4RycYgkuvDu3eoROgN5qhwnQLgfzwV8YhaZNKSK0yu1IYBmJSQ9yQ', expireIn: 7200 }),
};

const LEGACY_TICKET_FAULTS: PlatformFaultAnswers = {
  ratelimit: LEGACY_FAULTS.ratelimit,
  okWithoutToken: { errcode: 0, errmsg: 'ok', expires_in: 7200 },
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok', ticket: 'zHoQdGJuH0ZDebwo7sLqLzHGUueLmkWCC4RycYgkuvDu3eoROgN5qhwnQLgfzwV8YhaZNKSK0yu1IYBmJSQ9yQ', expires_in: 7200 }),
};

/** An id shaped like DingTalk's request ids (`30EE8654-1AA2-7D88-8248-9518547248AA`). */
function requestId(): string {
  const hex = randomBytes(16).toString('hex').toUpperCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
