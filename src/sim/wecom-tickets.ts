import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PlatformFaultAnswers } from './faults.js';
import type { SignatureCheck } from './jsapi.js';
import { positive, quota, withDefaults } from './options.js';
import { CallQuota, takeAll } from './quota.js';
import { queryString } from './request.js';
import { SimTokens } from './tokens.js';

/**
 * What WeCom's JS-SDK tickets are, for a corp's own app (`WeComSim`) and for a suite's app in an
 * authorized corp (`WeComSuiteSim`) alike: the corp ticket (`GET /cgi-bin/get_jsapi_ticket`) and
 * the agent ticket (`GET /cgi-bin/ticket/get?type=agent_config`), one per app, the same while it
 * is valid, within 400 fetches per corp and 100 per app an hour (doc 96909); and WeCom's error body.
 */

/** The corp ticket (`wx.config`) or an agent's (`wx.agentConfig`). */
export type WeComTicketType = 'corp' | 'agent';

/** The ticket options of a WeCom simulator. */
export interface WeComTicketOptions {
  /** Lifetime of a JS-SDK ticket (corp and agent); a fetch while one is valid returns it again, unrenewed. Default 7200. */
  jsapiTicketLifetimeSeconds?: number;
  /** Ticket fetches per corp per window before 45009, corp and agent tickets together. Default 400 (doc 96909). */
  jsapiTicketCorpQuota?: number;
  /** Ticket fetches per app per window before 45009, corp and agent tickets together. Default 100. */
  jsapiTicketAppQuota?: number;
  /** The quotas' window, opened by a corp's (an app's) first counted fetch. Default 3600. */
  jsapiTicketQuotaWindowSeconds?: number;
}

/** Defaults of {@link WeComTicketOptions}. */
export const DEFAULT_WECOM_TICKET_OPTIONS = {
  jsapiTicketLifetimeSeconds: 7200,
  jsapiTicketCorpQuota: 400,
  jsapiTicketAppQuota: 100,
  jsapiTicketQuotaWindowSeconds: 3600,
} as const;

/** {@link WeComTicketOptions} with their defaults, checked: a `TypeError` names the first bad one. */
export function resolveWeComTicketOptions(options: WeComTicketOptions): Required<WeComTicketOptions> {
  const opts = withDefaults(options, DEFAULT_WECOM_TICKET_OPTIONS);
  checkWeComTicketOptions(opts);
  return opts;
}

/** Checks {@link WeComTicketOptions} with their defaults; a `TypeError` names the first bad one. */
export function checkWeComTicketOptions(opts: Required<WeComTicketOptions>): void {
  positive('jsapiTicketLifetimeSeconds', opts.jsapiTicketLifetimeSeconds);
  quota('jsapiTicketCorpQuota', opts.jsapiTicketCorpQuota);
  quota('jsapiTicketAppQuota', opts.jsapiTicketAppQuota);
  positive('jsapiTicketQuotaWindowSeconds', opts.jsapiTicketQuotaWindowSeconds);
}

/**
 * The JS-SDK tickets of a WeCom simulator's apps, each app named by a key of the simulator's own
 * (an app's token owner): issued, counted against the corp's and the app's quotas, verified.
 *
 * @example
 * ```ts
 * const tickets = new WeComTickets(resolveWeComTicketOptions(options), now);
 * // in a ticket route, once the caller's token is known to be app `owner` of `corpId`:
 * return tickets.answer(request, reply, 'corp', corpId, owner);
 * ```
 */
export class WeComTickets {
  /** Owned by `{type}:{app key}`. */
  readonly #tickets: SimTokens;
  readonly #lifetimeMs: number;
  readonly #perCorp: CallQuota;
  readonly #perApp: CallQuota;
  readonly #now: () => number;

  constructor(options: Required<WeComTicketOptions>, now: () => number) {
    const window = { kind: 'from-first-call', ms: options.jsapiTicketQuotaWindowSeconds * 1000 } as const;
    this.#now = now;
    this.#tickets = new SimTokens(now, () => randomBytes(64).toString('base64url'));
    this.#lifetimeMs = options.jsapiTicketLifetimeSeconds * 1000;
    this.#perCorp = new CallQuota(options.jsapiTicketCorpQuota, window, now);
    this.#perApp = new CallQuota(options.jsapiTicketAppQuota, window, now);
  }

  /** Every ticket issued, for `revoke` and `isValid`. */
  get tokens(): SimTokens {
    return this.#tickets;
  }

  /**
   * WeCom's answer to a ticket fetch of app `appKey` of corp `corpId`, its token checked: 40097
   * for an agent ticket without `type=agent_config` (unverified), 45009 over a quota, else the
   * app's ticket of that type, the same while it is valid (its `expires_in` counting down).
   */
  answer(request: FastifyRequest, reply: FastifyReply, type: WeComTicketType, corpId: string, appKey: string): FastifyReply {
    if (type === 'agent' && queryString(request.query, 'type') !== 'agent_config') return reply.send(wecomError(40097, 'invalid args', request));
    if (!takeAll([[this.#perCorp, corpId], [this.#perApp, appKey]])) return reply.send(wecomError(45009, 'api freq out of limit', request));
    const key = ticketOwner(type, appKey);
    const ticket = this.#tickets.current(key) ?? this.#tickets.issue(key, this.#lifetimeMs);
    return reply.send({ errcode: 0, errmsg: 'ok', ticket: ticket.value, expires_in: Math.floor((ticket.expiresAt - this.#now()) / 1000) });
  }

  /** How many distinct tickets were issued to the apps `appKeys`, of one type or both. */
  issued(appKeys: readonly string[], type?: WeComTicketType): number {
    const types: readonly WeComTicketType[] = type === undefined ? ['corp', 'agent'] : [type];
    return appKeys.reduce((sum, appKey) => sum + types.reduce((n, t) => n + this.#tickets.issued(ticketOwner(t, appKey)), 0), 0);
  }

  /** What a page's signature is checked against: the valid tickets of type `type` of the apps `appKeys`. */
  signatureCheck(type: WeComTicketType, appKeys: readonly string[], maxSkewMs: number): SignatureCheck {
    const owners = new Set(appKeys.map((k) => ticketOwner(type, k)));
    return { tickets: this.#tickets.known((o) => owners.has(o)), now: this.#now(), maxSkewMs, timestampUnit: 'seconds' };
  }

  /** Revokes the tickets of the app `appKey` (its authorization was cancelled). */
  revokeApp(appKey: string): void {
    const owners = new Set([ticketOwner('corp', appKey), ticketOwner('agent', appKey)]);
    for (const ticket of this.#tickets.known((o) => owners.has(o))) this.#tickets.revoke(ticket.value);
  }

  /** The hourly quotas cleared. */
  resetQuotas(): void {
    this.#perCorp.reset();
    this.#perApp.reset();
  }
}

function ticketOwner(type: WeComTicketType, appKey: string): string {
  return `${type}:${appKey}`;
}

/** WeCom's error body: the message with a hint, the caller's IP and a lookup link. */
export function wecomError(errcode: number, message: string, request: FastifyRequest): Record<string, unknown> {
  const hint = `${Math.floor(Date.now() / 1000)}_${randomBytes(2).readUInt16BE() % 100}_${randomBytes(16).toString('hex')}`;
  return { errcode, errmsg: `${message}, hint: [${hint}], from ip: ${request.ip}, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}` };
}

/** WeCom's rate-limit answer (45009). */
export function wecomRateLimit(reply: FastifyReply): void {
  reply.send({ errcode: 45009, errmsg: 'api freq out of limit, more info at https://open.work.weixin.qq.com/devtool/query?e=45009' });
}

/** The faults' answers on WeCom's ticket endpoints. */
export const WECOM_TICKET_FAULTS: PlatformFaultAnswers = {
  ratelimit: wecomRateLimit,
  okWithoutToken: { errcode: 0, errmsg: 'ok', expires_in: 7200 },
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok', ticket: 'bxLdikRXVbTPdHSM05e5u5sUoXNKd8-41ZO3MhKoyN5OfkWITDGgnr2fwJ0m9E8NYzWKVZvdVtaUgWvsdshFKA', expires_in: 7200 }),
};
