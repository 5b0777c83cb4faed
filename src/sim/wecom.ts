import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counters } from './counters.js';
import { Faults, type PlatformFaultAnswers } from './faults.js';
import { DEFAULT_JSAPI_MAX_SKEW_SECONDS, field, refuse, text, verifyPageSignature, type JsapiVerdict } from './jsapi.js';
import { notNegative, positive } from './options.js';
import { keepBodiesRaw, parseJson, pathOf, queryString, withoutToken } from './request.js';
import { resetFaultsAndCounters } from './reset.js';
import { Script, SimTokens, type SimToken, type TokenCheck } from './tokens.js';
import type { PlatformSim } from './types.js';
import {
  DEFAULT_WECOM_TICKET_OPTIONS,
  WECOM_TICKET_FAULTS,
  WeComTickets,
  resolveWeComTicketOptions,
  wecomError as error,
  wecomRateLimit,
  type WeComTicketOptions,
  type WeComTicketType,
} from './wecom-tickets.js';

export type { WeComTicketType } from './wecom-tickets.js';

/** One app (agent) of a corp: each has its own secret and so its own token. */
export interface WeComSimApp {
  corpId: string;
  corpSecret: string;
  /** Echoed by business endpoints, to tell the apps of one corp apart; `wx.agentConfig` names it. Default 1000001, 1000002, … per corp. */
  agentId?: number;
  /** `false`: the caller's IP is not among the app's trusted IPs (60020). Default `true`. */
  ipAllowed?: boolean;
}

/** Options of {@link WeComSim} (and its JS-SDK tickets', {@link WeComTicketOptions}). */
export interface WeComSimOptions extends WeComTicketOptions {
  apps: WeComSimApp[];
  /** Lifetime of a token, renewed by every fetch within it. Default 7200. */
  tokenLifetimeSeconds?: number;
  /** The verifier refuses a config whose timestamp is farther than this from the clock. Default 600. */
  jsapiMaxSkewSeconds?: number;
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Defaults of {@link WeComSimOptions}. */
export const DEFAULT_WECOM_SIM_OPTIONS = {
  ...DEFAULT_WECOM_TICKET_OPTIONS,
  tokenLifetimeSeconds: 7200,
  jsapiMaxSkewSeconds: DEFAULT_JSAPI_MAX_SKEW_SECONDS,
  now: Date.now,
} as const;

/** Counter names of the simulator's endpoints (counted by corp id). */
export const WECOM_ENDPOINTS = {
  token: 'gettoken',
  business: 'business',
  /** `GET /cgi-bin/get_jsapi_ticket`: the corp ticket of `wx.config`. */
  ticket: 'get_jsapi_ticket',
  /** `GET /cgi-bin/ticket/get?type=agent_config`: the agent ticket of `wx.agentConfig`. */
  agentTicket: 'ticket/get',
} as const;

interface AppState {
  readonly corpId: string;
  readonly agentId: number;
  secret: string;
  ipAllowed: boolean;
  /** Tokens are kept per app, not per corp. */
  readonly owner: string;
}

/**
 * A simulator of WeCom's (企业微信) `GET /cgi-bin/gettoken`: one token per corp id + secret,
 * the same token (its lifetime renewed) while it is valid, WeCom's error codes, business
 * endpoints under `/cgi-bin/` checking `?access_token=`, and early invalidation ({@link revoke}).
 * JS-SDK tickets: the corp ticket (`GET /cgi-bin/get_jsapi_ticket`) and the agent ticket
 * (`GET /cgi-bin/ticket/get?type=agent_config`), within 400 fetches per corp and 100 per app per
 * hour; {@link verifyJsapi} checks `wx.config` and `wx.agentConfig` signatures against them.
 *
 * @example
 * ```ts
 * const wecom = new WeComSim({ apps: [{ corpId: 'ww1234', corpSecret: 'agent-secret' }] });
 * wecom.script.push({ body: { errcode: -1, errmsg: 'system busy' } }, 2);
 * ```
 */
export class WeComSim implements PlatformSim {
  readonly platform = 'wecom';
  readonly faults = new Faults();
  readonly counters = new Counters();
  /** Answers ahead of the rules, on the token endpoint. */
  readonly script = new Script();
  readonly #apps: AppState[] = [];
  readonly #tokens: SimTokens;
  readonly #lifetimeMs: number;
  readonly #now: () => number;
  /** Faults of the ticket endpoints, apart from the token endpoint's. */
  readonly ticketFaults = new Faults();
  /** Answers ahead of the rules, on both ticket endpoints. */
  readonly ticketScript = new Script();
  /** JS-SDK tickets, by app owner. */
  readonly #tickets: WeComTickets;
  readonly #maxSkewMs: number;

  constructor(options: WeComSimOptions) {
    const lifetime = options.tokenLifetimeSeconds ?? DEFAULT_WECOM_SIM_OPTIONS.tokenLifetimeSeconds;
    positive('tokenLifetimeSeconds', lifetime);
    const tickets = resolveWeComTicketOptions(options);
    const maxSkew = options.jsapiMaxSkewSeconds ?? DEFAULT_WECOM_SIM_OPTIONS.jsapiMaxSkewSeconds;
    notNegative('jsapiMaxSkewSeconds', maxSkew);
    if (!Array.isArray(options.apps)) throw new TypeError('apps: expected an array');
    for (const [i, app] of options.apps.entries()) {
      if (typeof app.corpId !== 'string' || app.corpId === '') throw new TypeError(`apps[${i}].corpId: expected a non-empty string`);
      if (typeof app.corpSecret !== 'string' || app.corpSecret === '') throw new TypeError(`apps[${i}].corpSecret: expected a non-empty string`);
      if (this.#apps.some((a) => a.corpId === app.corpId && a.secret === app.corpSecret)) {
        throw new TypeError(`apps[${i}]: duplicate secret for corp ${app.corpId}`);
      }
      const agentId = app.agentId ?? 1_000_001 + this.#apps.filter((a) => a.corpId === app.corpId).length;
      this.#apps.push({ corpId: app.corpId, agentId, secret: app.corpSecret, ipAllowed: app.ipAllowed ?? true, owner: `${app.corpId}#${agentId}` });
    }
    this.#lifetimeMs = lifetime * 1000;
    this.#now = options.now ?? DEFAULT_WECOM_SIM_OPTIONS.now;
    this.#tokens = new SimTokens(this.#now, () => randomBytes(120).toString('base64url'));
    this.#tickets = new WeComTickets(tickets, this.#now);
    this.#maxSkewMs = maxSkew * 1000;
  }

  register(app: FastifyInstance): void {
    keepBodiesRaw(app);
    const prefix = app.prefix;
    app.get('/cgi-bin/gettoken', (request, reply) => this.#tokenRoute(request, reply));
    app.get('/cgi-bin/get_jsapi_ticket', (request, reply) => this.#ticketRoute(request, reply, 'corp'));
    app.get('/cgi-bin/ticket/get', (request, reply) => this.#ticketRoute(request, reply, 'agent'));
    app.all('/cgi-bin/*', (request, reply) => this.#business(request, reply, prefix));
  }

  revoke(token: string): boolean {
    return this.#tokens.revoke(token) || this.#tickets.tokens.revoke(token);
  }

  isValid(token: string): boolean {
    return this.#tokens.isValid(token) || this.#tickets.tokens.isValid(token);
  }

  /** Back to healthy: no fault, no scripted answers, zero counters, the hourly ticket quotas cleared. Issued tokens and tickets stay valid. */
  reset(): void {
    resetFaultsAndCounters(this);
    this.#tickets.resetQuotas();
  }

  /** How many distinct tickets were issued: for one app (corp id + secret), one corp, or all; of one type or both. */
  ticketsIssued(corpId?: string, corpSecret?: string, type?: WeComTicketType): number {
    const apps = this.#apps.filter((a) => (corpId === undefined || a.corpId === corpId) && (corpSecret === undefined || a.secret === corpSecret));
    return this.#tickets.issued(
      apps.map((a) => a.owner),
      type,
    );
  }

  /**
   * Checks a page's config as the WeCom client does:
   * - `wx.config`: `{ appId: corpid, timestamp, nonceStr, signature, url }` (`api` absent or `'config'`),
   *   against the corp tickets of the corp's apps;
   * - `wx.agentConfig`: `{ api: 'agentConfig', corpid, agentid, timestamp, nonceStr, signature, url }`,
   *   against the agent tickets of the app with that agent id.
   */
  verifyJsapi(config: Record<string, unknown>): JsapiVerdict {
    const api = config.api ?? 'config';
    const fields = { timestamp: field(config, 'timestamp'), nonceStr: field(config, 'nonceStr'), signature: field(config, 'signature') };
    if (api === 'config') {
      const corpId = text(config.appId);
      if (corpId === undefined) return refuse('appId: missing (wx.config takes the corp id as appId)');
      const apps = this.#apps.filter((a) => a.corpId === corpId);
      if (apps.length === 0) return refuse(`appId: unknown corp ${corpId}`);
      // Unverified: whether two apps of one corp share the corp ticket. Each app's token gets its own here, and any valid one of the corp signs.
      return verifyPageSignature(config, fields, this.#tickets.signatureCheck('corp', apps.map((a) => a.owner), this.#maxSkewMs));
    }
    if (api === 'agentConfig') {
      const corpId = text(config.corpid);
      const agentId = text(config.agentid);
      if (corpId === undefined) return refuse('corpid: missing');
      if (agentId === undefined) return refuse('agentid: missing');
      const app = this.#apps.find((a) => a.corpId === corpId && String(a.agentId) === agentId);
      if (app === undefined) return refuse(`agentid: no app ${agentId} in corp ${corpId}`);
      return verifyPageSignature(config, fields, this.#tickets.signatureCheck('agent', [app.owner], this.#maxSkewMs));
    }
    return refuse('api: expected "config" (wx.config) or "agentConfig" (wx.agentConfig)');
  }

  /** Put the caller's IP in or out of the trusted IPs of every app of a corp. */
  setIpAllowed(corpId: string, allowed: boolean): void {
    const apps = this.#apps.filter((a) => a.corpId === corpId);
    if (apps.length === 0) throw new RangeError(`corpId: unknown corp ${corpId}`);
    for (const app of apps) app.ipAllowed = allowed;
  }

  /** How many distinct tokens were issued: for one app (corp id + secret), one corp, or all. */
  tokensIssued(corpId?: string, corpSecret?: string): number {
    return this.#apps
      .filter((a) => (corpId === undefined || a.corpId === corpId) && (corpSecret === undefined || a.secret === corpSecret))
      .reduce((sum, a) => sum + this.#tokens.issued(a.owner), 0);
  }

  async #tokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const corpId = queryString(request.query, 'corpid');
    const secret = queryString(request.query, 'corpsecret');
    this.counters.increment(WECOM_ENDPOINTS.token, corpId ?? '');
    if (await this.faults.apply(request, reply, FAULT_ANSWERS)) return reply;
    if (this.script.answer(reply)) return reply;

    if (corpId === undefined) return reply.send(error(41002, 'corpid missing', request));
    if (secret === undefined) return reply.send(error(41004, 'corpsecret missing', request));
    const corp = this.#apps.filter((a) => a.corpId === corpId);
    if (corp.length === 0) return reply.send(error(40013, 'invalid corpid', request));
    const app = corp.find((a) => a.secret === secret);
    if (app === undefined) return reply.send(error(40001, 'invalid credential', request));
    if (!app.ipAllowed) return reply.send(error(60020, 'not allow to access from your ip', request));
    const token = this.#fetch(app);
    return reply.send({ errcode: 0, errmsg: 'ok', access_token: token.value, expires_in: Math.floor((token.expiresAt - this.#now()) / 1000) });
  }

  /**
   * The corp ticket or an agent ticket of the token's app: the same one while it is valid (its
   * `expires_in` counting down, no renewal; unverified), within the corp's and the app's quotas.
   */
  async #ticketRoute(request: FastifyRequest, reply: FastifyReply, type: WeComTicketType): Promise<FastifyReply> {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#tokens.check(value);
    const app = this.#appOf(check);
    this.counters.increment(type === 'corp' ? WECOM_ENDPOINTS.ticket : WECOM_ENDPOINTS.agentTicket, app?.corpId ?? '');
    if (await this.ticketFaults.apply(request, reply, WECOM_TICKET_FAULTS)) return reply;
    if (this.ticketScript.answer(reply)) return reply;

    if (app === undefined) return reply.send(tokenRefusal(check, request));
    return this.#tickets.answer(request, reply, type, app.corpId, app.owner);
  }

  #business(request: FastifyRequest, reply: FastifyReply, prefix: string): FastifyReply {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#tokens.check(value);
    const app = this.#appOf(check);
    this.counters.increment(WECOM_ENDPOINTS.business, app?.corpId ?? '');
    if (app === undefined) return reply.send(tokenRefusal(check, request));
    return reply.send({
      errcode: 0,
      errmsg: 'ok',
      corpid: app.corpId,
      agentid: app.agentId,
      method: request.method,
      path: pathOf(request.url).slice(prefix.length),
      query: withoutToken(request.query),
      body: parseJson(request.body),
    });
  }

  /** The app of a valid token. */
  #appOf(check: TokenCheck | undefined): AppState | undefined {
    return check?.status === 'valid' ? this.#apps.find((a) => a.owner === check.token.owner) : undefined;
  }

  /** Within a token's lifetime a fetch returns the same token and renews its lifetime (自动续期). */
  #fetch(app: AppState): SimToken {
    const current = this.#tokens.current(app.owner);
    if (current === undefined) return this.#tokens.issue(app.owner, this.#lifetimeMs);
    current.expiresAt = this.#now() + this.#lifetimeMs;
    return current;
  }
}

/** WeCom's answer to a call without a valid token: 41001 missing, 42001 expired, 40014 invalid. */
function tokenRefusal(check: TokenCheck | undefined, request: FastifyRequest): Record<string, unknown> {
  if (check === undefined) return error(41001, 'access_token missing', request);
  if (check.status === 'expired') return error(42001, 'access_token expired', request);
  return error(40014, 'invalid access_token', request);
}

const FAULT_ANSWERS: PlatformFaultAnswers = {
  ratelimit: wecomRateLimit,
  okWithoutToken: { errcode: 0, errmsg: 'ok' },
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 'kQv1ds0Fz4uBn8X1mN0vQ2kHcQeS3nYb7yT9pL0aZ6rW', expires_in: 7200 }),
};
