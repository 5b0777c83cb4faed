import { randomBytes, randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counters } from './counters.js';
import { Faults, type PlatformFaultAnswers } from './faults.js';
import { DEFAULT_JSAPI_MAX_SKEW_SECONDS, field, refuse, text, verifyCardSignature, verifyPageSignature, type JsapiVerdict, type SignatureCheck } from './jsapi.js';
import { checkApps, notNegative, positive, quota, withDefaults } from './options.js';
import { CallQuota } from './quota.js';
import { isRecord, keepBodiesRaw, parseJson, pathOf, queryString, withoutToken } from './request.js';
import { resetFaultsAndCounters } from './reset.js';
import { Script, SimTokens, type SimToken, type TokenCheck } from './tokens.js';
import type { PlatformSim } from './types.js';

/** An Official Account known to the simulator. */
export interface WeChatSimApp {
  appId: string;
  appSecret: string;
  /** `false`: the caller's IP is not in the account's IP allow list (40164). Default `true`. */
  ipAllowed?: boolean;
}

/** Options of {@link WeChatSim}; every window scales down for tests. */
export interface WeChatSimOptions {
  apps: WeChatSimApp[];
  /** Lifetime of a new token. Default 7200. */
  tokenLifetimeSeconds?: number;
  /** `cgi-bin/token`: how long the previous token keeps working after a new fetch. Default 300. */
  rotationOverlapSeconds?: number;
  /** `cgi-bin/stable_token`: with less than this left, a plain call returns a new token (the old one lives on to its expiry). Default 300. */
  renewWindowSeconds?: number;
  /** `force_refresh: true` calls per account per day. Default 20. */
  forceRefreshPerDay?: number;
  /** A forced call closer than this to the previous one returns the current token unchanged. Default 30. */
  forceRefreshIntervalSeconds?: number;
  /** `cgi-bin/token` calls per account per day before 45009. Default 2000. */
  classicDailyQuota?: number;
  /** Lifetime of a JS-SDK ticket (`jsapi` and `wx_card`); a fetch while one is valid returns it again. Default 7200. */
  jsapiTicketLifetimeSeconds?: number;
  /**
   * `ticket/getticket` calls per account per (China) day before 45009, both types together.
   * Default 2000 (unverified: the platform publishes no figure, only "very limited").
   */
  jsapiTicketDailyQuota?: number;
  /** `ticket/getticket` calls per account per clock minute before 45011. Default `Infinity` (no limit). */
  jsapiTicketMinuteQuota?: number;
  /** The verifier refuses a config whose timestamp is farther than this from the clock. Default 600. */
  jsapiMaxSkewSeconds?: number;
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Defaults of {@link WeChatSimOptions}, from the platform's documentation. */
export const DEFAULT_WECHAT_SIM_OPTIONS = {
  tokenLifetimeSeconds: 7200,
  rotationOverlapSeconds: 300,
  renewWindowSeconds: 300,
  forceRefreshPerDay: 20,
  forceRefreshIntervalSeconds: 30,
  classicDailyQuota: 2000,
  jsapiTicketLifetimeSeconds: 7200,
  jsapiTicketDailyQuota: 2000,
  jsapiTicketMinuteQuota: Infinity,
  jsapiMaxSkewSeconds: DEFAULT_JSAPI_MAX_SKEW_SECONDS,
  now: Date.now,
} as const;

/** Counter names of the simulator's endpoints (counted by app id). */
export const WECHAT_ENDPOINTS = {
  classic: 'token',
  stable: 'stable_token',
  business: 'business',
  /** `GET /cgi-bin/ticket/getticket?type=jsapi` (and calls with a type other than `wx_card`). */
  ticket: 'ticket/getticket',
  /** `GET /cgi-bin/ticket/getticket?type=wx_card` (the card `api_ticket`). */
  cardTicket: 'ticket/getticket wx_card',
} as const;

/** The two ticket types of `ticket/getticket`. */
export type WeChatTicketType = 'jsapi' | 'wx_card';

/** `cgi-bin/token` or `cgi-bin/stable_token`. */
export type WeChatTokenApi = 'classic' | 'stable';

interface AppState {
  secret: string;
  ipAllowed: boolean;
  day: string;
  classicCalls: number;
  forces: number;
  lastForceAt: number;
}

/** WeChat's quotas are counted per day in China time. */
const CHINA_OFFSET_MS = 8 * 3_600_000;

/**
 * A simulator of the WeChat Official Account token APIs: `GET /cgi-bin/token`, where each fetch
 * retires the previous token after an overlap, and `POST /cgi-bin/stable_token`, which returns
 * the same token while more than the renewal window is left and whose `force_refresh` is
 * limited per day and in spacing. Business endpoints under `/cgi-bin/` check `?access_token=`.
 * `GET /cgi-bin/ticket/getticket?access_token=&type=jsapi|wx_card` hands out JS-SDK tickets
 * (with a daily and an optional per-minute quota), which {@link verifyJsapi} checks page signatures against.
 *
 * @example
 * ```ts
 * const wechat = new WeChatSim({ apps: [{ appId: 'wx1234', appSecret: 's3cret' }], tokenLifetimeSeconds: 12, rotationOverlapSeconds: 3 });
 * ```
 */
export class WeChatSim implements PlatformSim {
  readonly platform = 'wechat';
  readonly faults = new Faults();
  readonly counters = new Counters();
  /** Answers ahead of the rules, on both token endpoints. */
  readonly script = new Script();
  readonly #apps = new Map<string, AppState>();
  readonly #tokens: SimTokens;
  /** Classic tokens retired by a newer fetch: once past their overlap the platform calls them "not latest" (40001). */
  readonly #superseded = new Set<string>();
  readonly #forced = new Counters();
  readonly #opts: Required<Omit<WeChatSimOptions, 'apps' | 'now'>>;
  readonly #now: () => number;
  /** Faults of `ticket/getticket`, apart from the token endpoints'. */
  readonly ticketFaults = new Faults();
  /** Answers ahead of the rules, on `ticket/getticket`. */
  readonly ticketScript = new Script();
  /** JS-SDK tickets, owned by `{type}:{appId}`. */
  readonly #tickets: SimTokens;
  readonly #ticketsPerDay: CallQuota;
  readonly #ticketsPerMinute: CallQuota;

  constructor(options: WeChatSimOptions) {
    const opts = withDefaults(options, DEFAULT_WECHAT_SIM_OPTIONS);
    positive('jsapiTicketLifetimeSeconds', opts.jsapiTicketLifetimeSeconds);
    quota('jsapiTicketDailyQuota', opts.jsapiTicketDailyQuota);
    quota('jsapiTicketMinuteQuota', opts.jsapiTicketMinuteQuota);
    notNegative('jsapiMaxSkewSeconds', opts.jsapiMaxSkewSeconds);
    positive('tokenLifetimeSeconds', opts.tokenLifetimeSeconds);
    for (const key of ['rotationOverlapSeconds', 'renewWindowSeconds', 'forceRefreshPerDay', 'forceRefreshIntervalSeconds', 'classicDailyQuota'] as const) notNegative(key, opts[key]);
    if (opts.renewWindowSeconds >= opts.tokenLifetimeSeconds) {
      throw new TypeError('renewWindowSeconds: must be shorter than tokenLifetimeSeconds (or every call would return a new token)');
    }
    for (const app of checkApps(options.apps, 'appId')) {
      this.#apps.set(app.appId, { secret: app.appSecret, ipAllowed: app.ipAllowed ?? true, day: '', classicCalls: 0, forces: 0, lastForceAt: -Infinity });
    }
    this.#opts = opts;
    this.#now = opts.now;
    // Shaped like WeChat's: a number, an underscore, then about 130 URL-safe characters.
    this.#tokens = new SimTokens(this.#now, () => `${randomInt(60, 99)}_${randomBytes(100).toString('base64url')}`);
    // Shaped like the documented sample: 86 URL-safe characters.
    this.#tickets = new SimTokens(this.#now, () => randomBytes(64).toString('base64url'));
    this.#ticketsPerDay = new CallQuota(opts.jsapiTicketDailyQuota, { kind: 'aligned', ms: 24 * 3_600_000, offsetMs: CHINA_OFFSET_MS }, this.#now);
    this.#ticketsPerMinute = new CallQuota(opts.jsapiTicketMinuteQuota, { kind: 'aligned', ms: 60_000 }, this.#now);
  }

  register(app: FastifyInstance): void {
    keepBodiesRaw(app);
    const prefix = app.prefix;
    app.get('/cgi-bin/token', (request, reply) => this.#classic(request, reply));
    app.post('/cgi-bin/stable_token', (request, reply) => this.#stable(request, reply));
    app.get('/cgi-bin/ticket/getticket', (request, reply) => this.#ticket(request, reply));
    app.all('/cgi-bin/*', (request, reply) => this.#business(request, reply, prefix));
  }

  /**
   * Make a token invalid at once. With `stillCurrent`, `stable_token` keeps returning it to plain
   * calls until it expires (only `force_refresh` replaces it): the case where tokenhub must force.
   */
  revoke(token: string, options: { stillCurrent?: boolean } = {}): boolean {
    return this.#tokens.revoke(token, options) || this.#tickets.revoke(token);
  }

  isValid(token: string): boolean {
    return this.#tokens.isValid(token) || this.#tickets.isValid(token);
  }

  /**
   * Back to healthy: no fault, no scripted answers, zero counters, the per-minute ticket limit
   * cleared. Issued tokens and tickets, and daily quotas, stay.
   */
  reset(): void {
    resetFaultsAndCounters(this);
    this.#forced.reset();
    this.#ticketsPerMinute.reset();
  }

  /** How many distinct tickets were issued, by account and type. */
  ticketsIssued(appId?: string, type?: WeChatTicketType): number {
    const types: WeChatTicketType[] = type === undefined ? ['jsapi', 'wx_card'] : [type];
    const ids = appId === undefined ? [...this.#apps.keys()] : [appId];
    let sum = 0;
    for (const id of ids) for (const t of types) sum += this.#tickets.issued(owner(t, id));
    return sum;
  }

  /**
   * Checks a page's config as the WeChat client does, against the account's valid tickets:
   * - `wx.config`: `{ appId, timestamp, nonceStr, signature, url }` (`api` absent or `'config'`),
   *   signed with the `jsapi` ticket;
   * - a card signature: `{ api: 'cardSign', appId, timestamp, nonceStr, cardId, code?, openid?, cardSign }`,
   *   the sorted values of the `wx_card` api_ticket, timestamp, nonceStr, cardId, code and openid.
   */
  verifyJsapi(config: Record<string, unknown>): JsapiVerdict {
    const api = config.api ?? 'config';
    const appId = text(config.appId);
    if (appId === undefined) return refuse('appId: missing');
    if (!this.#apps.has(appId)) return refuse(`appId: unknown account ${appId}`);
    if (api === 'config') {
      const fields = { timestamp: field(config, 'timestamp'), nonceStr: field(config, 'nonceStr'), signature: field(config, 'signature') };
      return verifyPageSignature(config, fields, this.#signatureCheck(owner('jsapi', appId)));
    }
    if (api === 'cardSign') {
      const cardId = text(config.cardId);
      if (cardId === undefined) return refuse('cardId: missing');
      const values = [cardId, ...(['code', 'openid'] as const).flatMap((key) => text(config[key]) ?? [])];
      const fields = { timestamp: field(config, 'timestamp'), nonceStr: field(config, 'nonceStr'), signature: field(config, 'cardSign') };
      return verifyCardSignature(fields, values, this.#signatureCheck(owner('wx_card', appId)));
    }
    return refuse('api: expected "config" (wx.config) or "cardSign"');
  }

  /** Rotate an account's AppSecret: the old one is refused from now on (issued tokens stay valid). */
  setSecret(appId: string, secret: string): void {
    this.#app(appId).secret = secret;
  }

  /** Put the caller's IP in or out of an account's allow list. */
  setIpAllowed(appId: string, allowed: boolean): void {
    this.#app(appId).ipAllowed = allowed;
  }

  /** How many distinct tokens were issued, by account and API. */
  tokensIssued(appId?: string, api?: WeChatTokenApi): number {
    const apis: WeChatTokenApi[] = api === undefined ? ['classic', 'stable'] : [api];
    const ids = appId === undefined ? [...this.#apps.keys()] : [appId];
    let sum = 0;
    for (const id of ids) for (const a of apis) sum += this.#tokens.issued(owner(a, id));
    return sum;
  }

  /** `force_refresh: true` calls that did replace the token, since the last reset. */
  forcedRefreshes(appId?: string): number {
    return this.#forced.count('force', appId);
  }

  async #classic(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const query = request.query;
    const appId = queryString(query, 'appid');
    this.counters.increment(WECHAT_ENDPOINTS.classic, appId ?? '');
    if (await this.faults.apply(request, reply, FAULT_ANSWERS)) return reply;
    if (this.script.answer(reply)) return reply;

    const refused = this.#refuse(request, queryString(query, 'grant_type'), appId, queryString(query, 'secret'), 40001);
    if (refused !== undefined) return reply.send(refused);
    const app = this.#day(this.#app(appId!));
    if (app.classicCalls >= this.#opts.classicDailyQuota) return reply.send(error(45009, 'reach max api daily quota limit'));
    app.classicCalls++;
    const previous = this.#tokens.current(owner('classic', appId!));
    if (previous !== undefined) {
      previous.expiresAt = Math.min(previous.expiresAt, this.#now() + this.#opts.rotationOverlapSeconds * 1000);
      this.#superseded.add(previous.value);
    }
    const token = this.#tokens.issue(owner('classic', appId!), this.#opts.tokenLifetimeSeconds * 1000);
    return reply.send({ access_token: token.value, expires_in: this.#opts.tokenLifetimeSeconds });
  }

  async #stable(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const appId = isRecord(body) && typeof body.appid === 'string' && body.appid !== '' ? body.appid : undefined;
    this.counters.increment(WECHAT_ENDPOINTS.stable, appId ?? '');
    if (await this.faults.apply(request, reply, FAULT_ANSWERS)) return reply;
    if (this.script.answer(reply)) return reply;

    if (!isRecord(body) || (body.force_refresh !== undefined && typeof body.force_refresh !== 'boolean')) {
      return reply.send(error(47001, 'data format error'));
    }
    const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
    const refused = this.#refuse(request, str(body.grant_type), appId, str(body.secret), 40125);
    if (refused !== undefined) return reply.send(refused);

    const app = this.#day(this.#app(appId!));
    const key = owner('stable', appId!);
    const current = this.#tokens.currentEvenIfRevoked(key);
    const now = this.#now();
    let token: SimToken;
    if (body.force_refresh === true) {
      if (app.forces >= this.#opts.forceRefreshPerDay) return reply.send(error(45009, 'reach max api daily quota limit'));
      app.forces++;
      if (current !== undefined && now - app.lastForceAt < this.#opts.forceRefreshIntervalSeconds * 1000) {
        // Documented: forced calls closer than 30 s apart "do not refresh".
        token = current;
      } else {
        app.lastForceAt = now;
        if (current !== undefined) this.#tokens.revoke(current.value);
        token = this.#tokens.issue(key, this.#opts.tokenLifetimeSeconds * 1000);
        this.#forced.increment('force', appId);
      }
    } else if (current !== undefined && current.expiresAt - now >= this.#opts.renewWindowSeconds * 1000) {
      token = current;
    } else {
      token = this.#tokens.issue(key, this.#opts.tokenLifetimeSeconds * 1000);
    }
    return reply.send({ access_token: token.value, expires_in: Math.floor((token.expiresAt - now) / 1000) });
  }

  /** The platform's refusal of a token request, if any. */
  #refuse(request: FastifyRequest, grantType: string | undefined, appId: string | undefined, secret: string | undefined, wrongSecretCode: number): Record<string, unknown> | undefined {
    if (grantType !== 'client_credential') return error(40002, 'invalid grant_type');
    if (appId === undefined) return error(41002, 'appid missing');
    if (secret === undefined) return error(41004, 'appsecret missing');
    const app = this.#apps.get(appId);
    if (app === undefined) return error(40013, 'invalid appid');
    if (app.secret !== secret) {
      // cgi-bin/token's documented answer is 40001; clients report 40125 "invalid appsecret" as well, which stable_token answers here.
      return error(wrongSecretCode, wrongSecretCode === 40001 ? 'invalid credential, access_token is invalid or not latest' : 'invalid appsecret');
    }
    if (!app.ipAllowed) return error(40164, `invalid ip ${request.ip} ipv6 ::ffff:${request.ip}, not in whitelist`);
    return undefined;
  }

  /**
   * `ticket/getticket`: the ticket of the token's account, the same one while it is valid (its
   * `expires_in` counting down), a new one after it expired or was revoked.
   */
  async #ticket(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#tokens.check(value);
    const appId = check?.status === 'valid' ? appIdOf(check.token) : '';
    const type = queryString(request.query, 'type');
    this.counters.increment(type === 'wx_card' ? WECHAT_ENDPOINTS.cardTicket : WECHAT_ENDPOINTS.ticket, appId);
    if (await this.ticketFaults.apply(request, reply, TICKET_FAULT_ANSWERS)) return reply;
    if (this.ticketScript.answer(reply)) return reply;

    const refused = this.#tokenRefusal(value, check);
    if (refused !== undefined) return reply.send(refused);
    // Unverified: the answer to a missing or unknown type.
    if (type !== 'jsapi' && type !== 'wx_card') return reply.send(error(40097, 'invalid args'));
    if (!this.#ticketsPerDay.fits(appId)) return reply.send(error(45009, 'reach max api daily quota limit'));
    if (!this.#ticketsPerMinute.fits(appId)) return reply.send(error(45011, 'api minute-quota reach limit  mustslower  retry next minute'));
    this.#ticketsPerDay.take(appId);
    this.#ticketsPerMinute.take(appId);
    const key = owner(type, appId);
    const ticket = this.#tickets.current(key) ?? this.#tickets.issue(key, this.#opts.jsapiTicketLifetimeSeconds * 1000);
    return reply.send({ errcode: 0, errmsg: 'ok', ticket: ticket.value, expires_in: Math.floor((ticket.expiresAt - this.#now()) / 1000) });
  }

  #business(request: FastifyRequest, reply: FastifyReply, prefix: string): FastifyReply {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#tokens.check(value);
    const appId = check?.status === 'valid' ? appIdOf(check.token) : '';
    this.counters.increment(WECHAT_ENDPOINTS.business, appId);
    const refused = this.#tokenRefusal(value, check);
    if (refused !== undefined) return reply.send(refused);
    return reply.send({
      errcode: 0,
      errmsg: 'ok',
      appid: appId,
      method: request.method,
      path: pathOf(request.url).slice(prefix.length),
      query: withoutToken(request.query),
      body: parseJson(request.body),
    });
  }

  /** The platform's answer to a call with a bad `access_token` (41001 missing, 42001 expired, 40001 invalid or not latest); undefined when it is good. */
  #tokenRefusal(value: string | undefined, check: TokenCheck | undefined): Record<string, unknown> | undefined {
    if (value === undefined || check === undefined) return error(41001, 'access_token missing');
    if (check.status === 'expired' && !this.#superseded.has(value)) return error(42001, 'access_token expired');
    if (check.status !== 'valid') {
      return error(40001, 'invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r');
    }
    return undefined;
  }

  #signatureCheck(ticketOwner: string): SignatureCheck {
    return {
      tickets: this.#tickets.known((o) => o === ticketOwner),
      now: this.#now(),
      maxSkewMs: this.#opts.jsapiMaxSkewSeconds * 1000,
      timestampUnit: 'seconds',
    };
  }

  /** Resets the account's daily counters when the (China) day has changed. */
  #day(app: AppState): AppState {
    const day = new Date(this.#now() + CHINA_OFFSET_MS).toISOString().slice(0, 10);
    if (app.day !== day) {
      app.day = day;
      app.classicCalls = 0;
      app.forces = 0;
    }
    return app;
  }

  #app(appId: string): AppState {
    const app = this.#apps.get(appId);
    if (app === undefined) throw new RangeError(`appId: unknown app ${appId}`);
    return app;
  }
}

function owner(api: WeChatTokenApi | WeChatTicketType, appId: string): string {
  return `${api}:${appId}`;
}

function appIdOf(token: SimToken): string {
  return token.owner.slice(token.owner.indexOf(':') + 1);
}

/** WeChat's error body: the message followed by a request id. */
function error(errcode: number, message: string): Record<string, unknown> {
  return { errcode, errmsg: `${message} rid: ${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}-${randomBytes(2).toString('hex')}` };
}

const FAULT_ANSWERS: PlatformFaultAnswers = {
  ratelimit(reply) {
    reply.send(error(45011, 'api minute-quota reach limit  mustslower  retry next minute'));
  },
  okWithoutToken: { expires_in: 7200 },
  sampleOk: JSON.stringify({ access_token: '86_Dx7Z0y7bZL7sEFkXq3qB9eJx0WUPxWvYAx4RTlq1pNQ6vZIvmCvKKpbIn9mrwDsg', expires_in: 7200 }),
};

const TICKET_FAULT_ANSWERS: PlatformFaultAnswers = {
  ratelimit: FAULT_ANSWERS.ratelimit,
  okWithoutToken: { errcode: 0, errmsg: 'ok', expires_in: 7200 },
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok', ticket: 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg', expires_in: 7200 }),
};
