import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counters } from './counters.js';
import { Faults, type PlatformFaultAnswers } from './faults.js';
import { positive } from './options.js';
import { keepBodiesRaw, parseJson, pathOf, queryString, withoutToken } from './request.js';
import { Script, SimTokens, type SimToken } from './tokens.js';
import type { PlatformSim } from './types.js';

/** One app (agent) of a corp: each has its own secret and so its own token. */
export interface WeComSimApp {
  corpId: string;
  corpSecret: string;
  /** Echoed by business endpoints, to tell the apps of one corp apart. Default 1000001, 1000002, … per corp. */
  agentId?: number;
  /** `false`: the caller's IP is not among the app's trusted IPs (60020). Default `true`. */
  ipAllowed?: boolean;
}

/** Options of {@link WeComSim}. */
export interface WeComSimOptions {
  apps: WeComSimApp[];
  /** Lifetime of a token, renewed by every fetch within it. Default 7200. */
  tokenLifetimeSeconds?: number;
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Defaults of {@link WeComSimOptions}. */
export const DEFAULT_WECOM_SIM_OPTIONS = { tokenLifetimeSeconds: 7200, now: Date.now } as const;

/** Counter names of the simulator's endpoints (counted by corp id). */
export const WECOM_ENDPOINTS = { token: 'gettoken', business: 'business' } as const;

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

  constructor(options: WeComSimOptions) {
    const lifetime = options.tokenLifetimeSeconds ?? DEFAULT_WECOM_SIM_OPTIONS.tokenLifetimeSeconds;
    positive('tokenLifetimeSeconds', lifetime);
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
  }

  register(app: FastifyInstance): void {
    keepBodiesRaw(app);
    const prefix = app.prefix;
    app.get('/cgi-bin/gettoken', (request, reply) => this.#tokenRoute(request, reply));
    app.all('/cgi-bin/*', (request, reply) => this.#business(request, reply, prefix));
  }

  revoke(token: string): boolean {
    return this.#tokens.revoke(token);
  }

  isValid(token: string): boolean {
    return this.#tokens.isValid(token);
  }

  /** Back to healthy: no fault, no scripted answers, zero counters. Issued tokens stay valid. */
  reset(): void {
    this.faults.set('none');
    this.script.clear();
    this.counters.reset();
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

  #business(request: FastifyRequest, reply: FastifyReply, prefix: string): FastifyReply {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#tokens.check(value);
    const app = check?.status === 'valid' ? this.#apps.find((a) => a.owner === check.token.owner) : undefined;
    this.counters.increment(WECOM_ENDPOINTS.business, app?.corpId ?? '');
    if (check === undefined) return reply.send(error(41001, 'access_token missing', request));
    if (check.status === 'expired') return reply.send(error(42001, 'access_token expired', request));
    if (app === undefined) return reply.send(error(40014, 'invalid access_token', request));
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

  /** Within a token's lifetime a fetch returns the same token and renews its lifetime (自动续期). */
  #fetch(app: AppState): SimToken {
    const current = this.#tokens.current(app.owner);
    if (current === undefined) return this.#tokens.issue(app.owner, this.#lifetimeMs);
    current.expiresAt = this.#now() + this.#lifetimeMs;
    return current;
  }
}

/** WeCom's error body: the message with a hint, the caller's IP and a lookup link. */
function error(errcode: number, message: string, request: FastifyRequest): Record<string, unknown> {
  const hint = `${Math.floor(Date.now() / 1000)}_${randomBytes(2).readUInt16BE() % 100}_${randomBytes(16).toString('hex')}`;
  return { errcode, errmsg: `${message}, hint: [${hint}], from ip: ${request.ip}, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}` };
}

const FAULT_ANSWERS: PlatformFaultAnswers = {
  ratelimit(reply) {
    reply.send({ errcode: 45009, errmsg: 'api freq out of limit, more info at https://open.work.weixin.qq.com/devtool/query?e=45009' });
  },
  okWithoutToken: { errcode: 0, errmsg: 'ok' },
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 'kQv1ds0Fz4uBn8X1mN0vQ2kHcQeS3nYb7yT9pL0aZ6rW', expires_in: 7200 }),
};
