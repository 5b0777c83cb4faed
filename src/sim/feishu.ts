import { randomBytes, randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counters } from './counters.js';
import { Faults, type PlatformFaultAnswers } from './faults.js';
import {
  appTicketEvent,
  buildEvent,
  postEvent,
  urlVerificationEvent,
  type BuildEventOptions,
  type BuiltEvent,
  type PushResult,
} from './feishu-events.js';
import { DEFAULT_JSAPI_MAX_SKEW_SECONDS, field, refuse, text, verifyPageSignature, type JsapiVerdict } from './jsapi.js';
import { checkApps, notNegative, positive } from './options.js';
import { isRecord, keepBodiesRaw, parseJson, pathOf } from './request.js';
import { Script, SimTokens, type SimToken } from './tokens.js';
import type { PlatformSim } from './types.js';

/** A custom (self-built) app known to the simulator. */
export interface FeishuSimApp {
  appId: string;
  appSecret: string;
  /** A disabled app is refused its tokens with code 99991662. */
  disabled?: boolean;
}

/** A store (ISV) app known to the simulator, with its event-subscription settings. */
export interface FeishuSimStoreApp {
  appId: string;
  appSecret: string;
  verificationToken: string;
  /** With one, pushed events are encrypted and signed. */
  encryptKey?: string;
  /** Where app_ticket events are pushed; settable later with {@link FeishuSim.setEventUrl}. */
  eventUrl?: string;
  /** Schema of the pushed events. Default `2.0`. */
  schema?: '1.0' | '2.0';
  /** The tenants that installed the app; a tenant token for any other key is refused (99991673). Default: every key. */
  tenants?: string[];
}

export interface FeishuSimOptions {
  /** `feishu` (open.feishu.cn) or `lark` (open.larksuite.com): same API, different prefix. Default `feishu`. */
  platform?: 'feishu' | 'lark';
  apps: FeishuSimApp[];
  /** Store apps: their app token comes from a pushed app_ticket, their tenant tokens per tenant_key. */
  storeApps?: FeishuSimStoreApp[];
  /** How long a pushed app_ticket is taken. Default 12 h (unverified: the real lifetime is not documented). */
  ticketLifetimeSeconds?: number;
  /** Push a fresh app_ticket to every store app with an event URL this often (the platform: hourly). Default 0: only on resend and on demand. */
  ticketPushIntervalSeconds?: number;
  /** Delay between an `app_ticket/resend` call and its push. Default 20. */
  resendDelayMs?: number;
  /** Lifetime of a new token. Default 7200. */
  tokenLifetimeSeconds?: number;
  /** While a token (or a JS-SDK ticket) has at least this long left, a fetch returns it again (the 30-minute rule). Default 1800. */
  sameTokenWindowSeconds?: number;
  /** Lifetime of a new JS-SDK ticket (`jssdk/ticket/get`). Default 7200. */
  jsapiTicketLifetimeSeconds?: number;
  /** The verifier refuses a config whose timestamp is farther than this from the clock. Default 600. */
  jsapiMaxSkewSeconds?: number;
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Defaults of {@link FeishuSimOptions}. */
export const DEFAULT_FEISHU_SIM_OPTIONS = {
  platform: 'feishu',
  tokenLifetimeSeconds: 7200,
  sameTokenWindowSeconds: 1800,
  ticketLifetimeSeconds: 12 * 3600,
  ticketPushIntervalSeconds: 0,
  resendDelayMs: 20,
  jsapiTicketLifetimeSeconds: 7200,
  jsapiMaxSkewSeconds: DEFAULT_JSAPI_MAX_SKEW_SECONDS,
  now: Date.now,
} as const;

export type FeishuTokenKind = 'tenant_access_token' | 'app_access_token';

/** Counter names of the simulator's endpoints. */
export const FEISHU_ENDPOINTS = {
  tenant: 'tenant_access_token/internal',
  app: 'app_access_token/internal',
  business: 'business',
  /** Store apps. */
  storeApp: 'app_access_token',
  storeTenant: 'tenant_access_token',
  resend: 'app_ticket/resend',
  /** app_ticket events pushed to event URLs (outgoing). */
  push: 'app_ticket push',
  /** `POST /open-apis/jssdk/ticket/get`: the JS-SDK ticket. */
  ticket: 'jssdk/ticket/get',
} as const;

interface IssuedToken {
  readonly value: string;
  readonly appId: string;
  readonly kind: FeishuTokenKind;
  /** Store apps' tenant tokens. */
  readonly tenantKey?: string;
  readonly expiresAt: number;
  revoked: boolean;
}

interface StoreAppState {
  secret: string;
  verificationToken: string;
  encryptKey: string | undefined;
  eventUrl: string | undefined;
  schema: '1.0' | '2.0';
  tenants: ReadonlySet<string> | undefined;
}

type TokenEndpoint = typeof FEISHU_ENDPOINTS.tenant | typeof FEISHU_ENDPOINTS.app;

const AUTH_PATH = '/open-apis/auth/v3';
const PREFIX: Record<FeishuTokenKind, string> = { tenant_access_token: 't-', app_access_token: 'a-' };
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

// Token endpoints answer business errors under HTTP 200: Lark's own CLI tests
// (larksuite/cli, credential tests) and probes of open.feishu.cn show `{"code":10003,"msg":"invalid param"}` with 200.
const INVALID_PARAM = { code: 10003, msg: 'invalid param' } as const;
const SECRET_INVALID = { code: 10014, msg: 'app secret invalid' } as const;
// Unverified message text; the code is the documented "app not in use / disabled".
const APP_DISABLED = { code: 99991662, msg: 'app is not in use' } as const;
// The code is documented (PLATFORMS.md); the message text and the HTTP 200 are unverified.
const TICKET_INVALID = { code: 10012, msg: 'app ticket is invalid' } as const;
// Unverified: the answer of tenant_access_token to a bad app token; 99991664 is "app token invalid".
const APP_TOKEN_INVALID = { code: 99991664, msg: 'invalid app access token' } as const;
const NOT_INSTALLED = { code: 99991673, msg: 'the app is not installed by this tenant' } as const;
// Business calls with a bad token answer HTTP 400 (SDK users report "Request failed with status code 400"
// carrying these codes).
const TOKEN_MISSING = {
  code: 99991661,
  msg: 'Missing access token for authorization. Please make a request with token attached.',
} as const;
const TOKEN_INVALID = {
  code: 99991663,
  msg: 'Invalid access token for authorization. Please make a request with token attached.',
} as const;
// Unverified: the ticket endpoint's answer to a bearer that is no tenant token at all (an app token, garbage).
const NOT_A_TENANT_TOKEN = { code: 99991671, msg: 'Invalid access token: a tenant_access_token (t-…) is required.' } as const;

/**
 * A simulator of the Feishu / Lark token API for custom and store apps, with the platform's
 * 30-minute rule, its error answers, a generic business endpoint checking bearer tokens, and fault
 * injection. Store apps get app_ticket events pushed to their event URL (plain or encrypted,
 * schema 1.0 or 2.0, signed) on `app_ticket/resend`, on demand and, if asked, periodically.
 *
 * @example
 * ```ts
 * const feishu = new FeishuSim({ apps: [{ appId: 'cli_a1', appSecret: 's3cret' }] });
 * const sims = await startSimulators({ sims: [feishu] });
 * // tokenhub config: baseUrl: sims.baseUrl('feishu')
 * feishu.faults.set('ratelimit');
 * ```
 */
export class FeishuSim implements PlatformSim {
  readonly platform: 'feishu' | 'lark';
  readonly faults = new Faults();
  readonly counters = new Counters();
  readonly #apps = new Map<string, { secret: string; disabled: boolean }>();
  readonly #storeApps = new Map<string, StoreAppState>();
  readonly #tickets = new Map<string, { appId: string; expiresAt: number }>();
  readonly #ticketLifetimeMs: number;
  readonly #pushIntervalMs: number;
  readonly #resendDelayMs: number;
  readonly #tokens = new Map<string, IssuedToken>();
  readonly #current = new Map<string, IssuedToken>();
  readonly #issued = new Counters();
  readonly #lifetimeMs: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #prunedAt = -Infinity;
  /** Faults of `jssdk/ticket/get`, apart from the token endpoints'. */
  readonly ticketFaults = new Faults();
  /** Answers ahead of the rules, on `jssdk/ticket/get`. */
  readonly ticketScript = new Script();
  /** JS-SDK tickets, owned by `{appId}\0{tenant key}` (no tenant key for custom apps). */
  readonly #jsapiTickets: SimTokens;
  readonly #jsapiTicketLifetimeMs: number;
  readonly #maxSkewMs: number;

  constructor(options: FeishuSimOptions) {
    const platform = options.platform ?? DEFAULT_FEISHU_SIM_OPTIONS.platform;
    if (platform !== 'feishu' && platform !== 'lark') {
      throw new TypeError(`platform: expected "feishu" or "lark", got ${JSON.stringify(platform)}`);
    }
    const lifetime = options.tokenLifetimeSeconds ?? DEFAULT_FEISHU_SIM_OPTIONS.tokenLifetimeSeconds;
    const window = options.sameTokenWindowSeconds ?? DEFAULT_FEISHU_SIM_OPTIONS.sameTokenWindowSeconds;
    positive('tokenLifetimeSeconds', lifetime);
    notNegative('sameTokenWindowSeconds', window);
    for (const app of checkApps(options.apps, 'appId')) this.#apps.set(app.appId, { secret: app.appSecret, disabled: app.disabled ?? false });
    for (const [i, app] of (options.storeApps ?? []).entries()) {
      const where = `storeApps[${i}]`;
      if (typeof app.appId !== 'string' || app.appId === '') throw new TypeError(`${where}.appId: expected a non-empty string`);
      if (this.#apps.has(app.appId) || this.#storeApps.has(app.appId)) throw new TypeError(`${where}.appId: duplicate ${app.appId}`);
      if (typeof app.verificationToken !== 'string' || app.verificationToken === '') throw new TypeError(`${where}.verificationToken: expected a non-empty string`);
      if (app.schema !== undefined && app.schema !== '1.0' && app.schema !== '2.0') throw new TypeError(`${where}.schema: expected "1.0" or "2.0"`);
      this.#storeApps.set(app.appId, {
        secret: app.appSecret,
        verificationToken: app.verificationToken,
        encryptKey: app.encryptKey,
        eventUrl: app.eventUrl,
        schema: app.schema ?? '2.0',
        tenants: app.tenants === undefined ? undefined : new Set(app.tenants),
      });
    }
    const ticketLifetime = options.ticketLifetimeSeconds ?? DEFAULT_FEISHU_SIM_OPTIONS.ticketLifetimeSeconds;
    const pushInterval = options.ticketPushIntervalSeconds ?? DEFAULT_FEISHU_SIM_OPTIONS.ticketPushIntervalSeconds;
    const resendDelay = options.resendDelayMs ?? DEFAULT_FEISHU_SIM_OPTIONS.resendDelayMs;
    positive('ticketLifetimeSeconds', ticketLifetime);
    notNegative('ticketPushIntervalSeconds', pushInterval);
    notNegative('resendDelayMs', resendDelay);
    this.#ticketLifetimeMs = ticketLifetime * 1000;
    this.#pushIntervalMs = pushInterval * 1000;
    this.#resendDelayMs = resendDelay;
    this.platform = platform;
    this.#lifetimeMs = lifetime * 1000;
    this.#windowMs = window * 1000;
    this.#now = options.now ?? DEFAULT_FEISHU_SIM_OPTIONS.now;
    const jsapiLifetime = options.jsapiTicketLifetimeSeconds ?? DEFAULT_FEISHU_SIM_OPTIONS.jsapiTicketLifetimeSeconds;
    const maxSkew = options.jsapiMaxSkewSeconds ?? DEFAULT_FEISHU_SIM_OPTIONS.jsapiMaxSkewSeconds;
    positive('jsapiTicketLifetimeSeconds', jsapiLifetime);
    notNegative('jsapiMaxSkewSeconds', maxSkew);
    this.#jsapiTicketLifetimeMs = jsapiLifetime * 1000;
    this.#maxSkewMs = maxSkew * 1000;
    this.#jsapiTickets = new SimTokens(this.#now, () => randomBytes(16).toString('hex'));
  }

  register(app: FastifyInstance): void {
    const prefix = app.prefix;
    keepBodiesRaw(app);

    app.post(`${AUTH_PATH}/tenant_access_token/internal`, (request, reply) =>
      this.#tokenRoute(request, reply, FEISHU_ENDPOINTS.tenant),
    );
    app.post(`${AUTH_PATH}/app_access_token/internal`, (request, reply) =>
      this.#tokenRoute(request, reply, FEISHU_ENDPOINTS.app),
    );
    app.post(`${AUTH_PATH}/app_access_token`, (request, reply) => this.#storeAppTokenRoute(request, reply));
    app.post(`${AUTH_PATH}/tenant_access_token`, (request, reply) => this.#storeTenantTokenRoute(request, reply));
    app.post(`${AUTH_PATH}/app_ticket/resend`, (request, reply) => this.#resendRoute(request, reply));
    app.post('/open-apis/jssdk/ticket/get', (request, reply) => this.#jsapiTicketRoute(request, reply));
    if (this.#pushIntervalMs > 0) {
      const timer = setInterval(() => {
        for (const [appId, store] of this.#storeApps) if (store.eventUrl !== undefined) void this.pushTicket(appId);
      }, this.#pushIntervalMs);
      timer.unref();
      app.addHook('onClose', async () => clearInterval(timer));
    }
    app.post('/open-apis/im/v1/messages', (request, reply) =>
      this.#businessRoute(request, reply, (issued) => sendMessageData(request, issued)),
    );
    app.all('/open-apis/*', (request, reply) =>
      this.#businessRoute(request, reply, () => ({
        method: request.method,
        path: pathOf(request.url).slice(prefix.length),
        query: request.query,
        body: parseJson(request.body),
      })),
    );
  }

  revoke(token: string): boolean {
    if (this.#jsapiTickets.revoke(token)) return true;
    const issued = this.#tokens.get(token);
    if (issued === undefined || issued.revoked) return false;
    issued.revoked = true;
    const key = currentKey(issued.appId, issued.kind, issued.tenantKey);
    if (this.#current.get(key) === issued) this.#current.delete(key);
    return true;
  }

  isValid(token: string): boolean {
    return this.#validToken(token) !== undefined || this.#jsapiTickets.isValid(token);
  }

  /** Back to healthy: no fault, no scripted ticket answers, zero counters. Issued tokens and tickets stay valid. */
  reset(): void {
    this.faults.set('none');
    this.ticketFaults.set('none');
    this.ticketScript.clear();
    this.counters.reset();
  }

  /** How many distinct JS-SDK tickets were issued, for one app (and one tenant of a store app) or all. */
  ticketsIssued(appId?: string, tenantKey?: string): number {
    if (appId === undefined) return this.#jsapiTickets.issued();
    if (tenantKey !== undefined) return this.#jsapiTickets.issued(ticketOwner(appId, tenantKey));
    return this.#jsapiTickets.known((o) => o.startsWith(`${appId}\u0000`)).length;
  }

  /**
   * Checks a page's `h5sdk.config` `{ appId, timestamp, nonceStr, signature, url }` as the client
   * does, the timestamp in milliseconds, against the app's valid JS-SDK tickets: of every tenant
   * for a store app, or of the one named by an extra `tenantKey`.
   */
  verifyJsapi(config: Record<string, unknown>): JsapiVerdict {
    const appId = text(config.appId);
    if (appId === undefined) return refuse('appId: missing');
    if (!this.#apps.has(appId) && !this.#storeApps.has(appId)) return refuse(`appId: unknown app ${appId}`);
    const tenantKey = text(config.tenantKey);
    const owns = tenantKey === undefined ? (o: string) => o.startsWith(`${appId}\u0000`) : (o: string) => o === ticketOwner(appId, tenantKey);
    const fields = { timestamp: field(config, 'timestamp'), nonceStr: field(config, 'nonceStr'), signature: field(config, 'signature') };
    return verifyPageSignature(config, fields, { tickets: this.#jsapiTickets.known(owns), now: this.#now(), maxSkewMs: this.#maxSkewMs, timestampUnit: 'milliseconds' });
  }

  /** Rotate an app's secret: the old one is refused from now on (issued tokens stay valid). */
  setSecret(appId: string, secret: string): void {
    this.#app(appId).secret = secret;
  }

  /** Disable or re-enable an app: a disabled app is refused new tokens. */
  setDisabled(appId: string, disabled: boolean): void {
    this.#app(appId).disabled = disabled;
  }

  /** Set (or clear) where a store app's events are pushed. */
  setEventUrl(appId: string, url: string | undefined): void {
    this.#storeApp(appId).eventUrl = url;
  }

  /**
   * Issue a new app_ticket and push it to the app's event URL now, as the platform does hourly
   * and after a resend. Older tickets stay valid until their own expiry.
   */
  async pushTicket(appId: string, options: BuildEventOptions & { schema?: '1.0' | '2.0' } = {}): Promise<PushResult & { ticket: string }> {
    const store = this.#storeApp(appId);
    const now = this.#now();
    const ticket = newTicket();
    this.#pruneTickets(now);
    this.#tickets.set(ticket, { appId, expiresAt: now + this.#ticketLifetimeMs });
    this.counters.increment(FEISHU_ENDPOINTS.push, appId);
    if (store.eventUrl === undefined) return { status: 0, body: 'no event URL set', ticket };
    const event = appTicketEvent(this.#settings(appId), ticket, options.schema ?? store.schema, now);
    return { ...(await postEvent(store.eventUrl, this.buildEvent(appId, event, options))), ticket };
  }

  /** Send the url_verification request the console sends when an event URL is saved; `true` when the challenge came back. */
  async verifyEventUrl(appId: string): Promise<boolean> {
    const url = this.#storeApp(appId).eventUrl;
    if (url === undefined) return false;
    const challenge = randomBytes(12).toString('hex');
    // The platform does not sign this request; it is encrypted when the app has an encrypt key.
    const res = await postEvent(url, this.buildEvent(appId, urlVerificationEvent(this.#settings(appId), challenge), { sign: false }));
    return res.status === 200 && isRecord(res.body) && res.body.challenge === challenge;
  }

  /** An event body and headers as the platform would send them for this store app (for crafting pushes in tests). */
  buildEvent(appId: string, event: unknown, options: BuildEventOptions = {}): BuiltEvent {
    // Signed at the simulator's time, as the events it carries are made at it.
    return buildEvent(this.#settings(appId), event, { timestamp: Math.floor(this.#now() / 1000), ...options });
  }

  /** Make every app_ticket of a store app invalid (as if they expired): the next app token call gets 10012. */
  revokeTickets(appId: string): void {
    this.#storeApp(appId);
    for (const [ticket, t] of this.#tickets) if (t.appId === appId) this.#tickets.delete(ticket);
  }

  /** How many distinct tokens were issued, for one app and/or one kind. */
  tokensIssued(appId?: string, kind?: FeishuTokenKind): number {
    return this.#issued.count(kind, appId);
  }

  async #tokenRoute(request: FastifyRequest, reply: FastifyReply, endpoint: TokenEndpoint): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const appId = isRecord(body) && typeof body.app_id === 'string' ? body.app_id : '';
    this.counters.track(endpoint, appId, reply.raw);
    if (await this.faults.apply(request, reply, FAULT_ANSWERS)) return reply;

    if (!isRecord(body) || typeof body.app_id !== 'string' || typeof body.app_secret !== 'string') {
      return reply.send(INVALID_PARAM);
    }
    const app = this.#apps.get(body.app_id);
    if (app === undefined) return reply.send(INVALID_PARAM);
    if (app.secret !== body.app_secret) return reply.send(SECRET_INVALID);
    if (app.disabled) return reply.send(APP_DISABLED);

    const tenant = this.#fetch(body.app_id, 'tenant_access_token');
    if (endpoint === FEISHU_ENDPOINTS.tenant) {
      return reply.send({ code: 0, msg: 'ok', tenant_access_token: tenant.token, expire: tenant.expire });
    }
    const appToken = this.#fetch(body.app_id, 'app_access_token');
    return reply.send({
      code: 0,
      msg: 'ok',
      app_access_token: appToken.token,
      expire: appToken.expire,
      tenant_access_token: tenant.token,
    });
  }

  /**
   * `jssdk/ticket/get`: the JS-SDK ticket of the tenant token's app and tenant, by the same
   * 30-minute rule as tokens (unverified for tickets): the current ticket while enough is left,
   * else a new one (the old one stays valid until its expiry).
   */
  async #jsapiTicketRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const bearer = match?.[1];
    const issued = bearer === undefined ? undefined : this.#validToken(bearer);
    const tenant = issued?.kind === 'tenant_access_token' ? issued : undefined;
    this.counters.increment(FEISHU_ENDPOINTS.ticket, tenant?.appId ?? '');
    if (await this.ticketFaults.apply(request, reply, TICKET_FAULT_ANSWERS)) return reply;
    if (this.ticketScript.answer(reply)) return reply;

    if (bearer === undefined) return reply.code(400).send(withLogId(TOKEN_MISSING));
    if (!bearer.startsWith(PREFIX.tenant_access_token)) return reply.code(400).send(withLogId(NOT_A_TENANT_TOKEN));
    if (tenant === undefined) return reply.code(400).send(withLogId(TOKEN_INVALID));
    const ticket = this.#fetchJsapiTicket(ticketOwner(tenant.appId, tenant.tenantKey ?? ''));
    return reply.send({ code: 0, msg: 'ok', data: { ticket: ticket.value, expire_in: Math.floor((ticket.expiresAt - this.#now()) / 1000) } });
  }

  #fetchJsapiTicket(owner: string): SimToken {
    const current = this.#jsapiTickets.current(owner);
    if (current !== undefined && current.expiresAt - this.#now() >= this.#windowMs) return current;
    return this.#jsapiTickets.issue(owner, this.#jsapiTicketLifetimeMs);
  }

  #businessRoute(
    request: FastifyRequest,
    reply: FastifyReply,
    data: (issued: IssuedToken) => unknown,
  ): FastifyReply {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const issued = match?.[1] === undefined ? undefined : this.#validToken(match[1]);
    this.counters.increment(FEISHU_ENDPOINTS.business, issued?.appId ?? '');
    if (match === null) return reply.code(400).send(withLogId(TOKEN_MISSING));
    if (issued === undefined) return reply.code(400).send(withLogId(TOKEN_INVALID));
    return reply.send({ code: 0, msg: 'success', data: data(issued) });
  }

  async #storeAppTokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const appId = isRecord(body) && typeof body.app_id === 'string' ? body.app_id : '';
    this.counters.track(FEISHU_ENDPOINTS.storeApp, appId, reply.raw);
    if (await this.faults.apply(request, reply, FAULT_ANSWERS)) return reply;
    if (!isRecord(body) || typeof body.app_id !== 'string' || typeof body.app_secret !== 'string' || typeof body.app_ticket !== 'string') {
      return reply.send(INVALID_PARAM);
    }
    const store = this.#storeApps.get(body.app_id);
    if (store === undefined) return reply.send(INVALID_PARAM);
    if (store.secret !== body.app_secret) return reply.send(SECRET_INVALID);
    const ticket = this.#tickets.get(body.app_ticket);
    if (ticket === undefined || ticket.appId !== body.app_id || ticket.expiresAt <= this.#now()) return reply.send(TICKET_INVALID);
    const { token, expire } = this.#fetch(body.app_id, 'app_access_token');
    return reply.send({ code: 0, msg: 'ok', app_access_token: token, expire });
  }

  async #storeTenantTokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const appToken = isRecord(body) && typeof body.app_access_token === 'string' ? this.#validToken(body.app_access_token) : undefined;
    const storeApp = appToken !== undefined && appToken.kind === 'app_access_token' && this.#storeApps.has(appToken.appId) ? appToken : undefined;
    this.counters.track(FEISHU_ENDPOINTS.storeTenant, storeApp?.appId ?? '', reply.raw);
    if (await this.faults.apply(request, reply, FAULT_ANSWERS)) return reply;
    if (!isRecord(body) || typeof body.app_access_token !== 'string' || typeof body.tenant_key !== 'string' || body.tenant_key === '') {
      return reply.send(INVALID_PARAM);
    }
    if (storeApp === undefined) return reply.send(APP_TOKEN_INVALID);
    const installed = this.#storeApps.get(storeApp.appId)?.tenants;
    if (installed !== undefined && !installed.has(body.tenant_key)) return reply.send(NOT_INSTALLED);
    const { token, expire } = this.#fetch(storeApp.appId, 'tenant_access_token', body.tenant_key);
    return reply.send({ code: 0, msg: 'ok', tenant_access_token: token, expire });
  }

  async #resendRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const appId = isRecord(body) && typeof body.app_id === 'string' ? body.app_id : '';
    this.counters.increment(FEISHU_ENDPOINTS.resend, appId);
    if (await this.faults.apply(request, reply, FAULT_ANSWERS)) return reply;
    if (!isRecord(body) || typeof body.app_id !== 'string' || typeof body.app_secret !== 'string') return reply.send(INVALID_PARAM);
    const store = this.#storeApps.get(body.app_id);
    if (store === undefined) return reply.send(INVALID_PARAM);
    if (store.secret !== body.app_secret) return reply.send(SECRET_INVALID);
    // The ticket comes later, by its own HTTP request to the event URL.
    setTimeout(() => void this.pushTicket(appId), this.#resendDelayMs).unref();
    return reply.send({ code: 0, msg: 'ok' });
  }

  /** The 30-minute rule: the current token while enough is left, else a new one (the old stays valid). */
  #fetch(appId: string, kind: FeishuTokenKind, tenantKey?: string): { token: string; expire: number } {
    const now = this.#now();
    const key = currentKey(appId, kind, tenantKey);
    const current = this.#current.get(key);
    if (current !== undefined) {
      const left = current.expiresAt - now;
      if (left > 0 && left >= this.#windowMs) return { token: current.value, expire: Math.floor(left / 1000) };
    }
    this.#prune(now);
    const issued: IssuedToken = { value: newToken(kind), appId, kind, ...(tenantKey === undefined ? {} : { tenantKey }), expiresAt: now + this.#lifetimeMs, revoked: false };
    this.#tokens.set(issued.value, issued);
    this.#current.set(key, issued);
    this.#issued.increment(kind, appId);
    return { token: issued.value, expire: Math.floor(this.#lifetimeMs / 1000) };
  }

  #validToken(token: string): IssuedToken | undefined {
    const issued = this.#tokens.get(token);
    return issued !== undefined && !issued.revoked && this.#now() < issued.expiresAt ? issued : undefined;
  }

  #prune(now: number): void {
    // At most once a second: with many tenants, a sweep per new token would make issuing quadratic.
    // Expired and revoked tokens are refused either way; the sweep only frees them.
    if (now - this.#prunedAt < 1000) return;
    this.#prunedAt = now;
    for (const [value, issued] of this.#tokens) {
      if (issued.revoked || issued.expiresAt <= now) this.#tokens.delete(value);
    }
  }

  #storeApp(appId: string): StoreAppState {
    const store = this.#storeApps.get(appId);
    if (store === undefined) throw new RangeError(`appId: unknown store app ${appId}`);
    return store;
  }

  #settings(appId: string): { appId: string; verificationToken: string; encryptKey: string | undefined } {
    const store = this.#storeApp(appId);
    return { appId, verificationToken: store.verificationToken, encryptKey: store.encryptKey };
  }

  #pruneTickets(now: number): void {
    for (const [ticket, t] of this.#tickets) if (t.expiresAt <= now) this.#tickets.delete(ticket);
  }

  #app(appId: string): { secret: string; disabled: boolean } {
    const app = this.#apps.get(appId);
    if (app === undefined) throw new RangeError(`appId: unknown app ${appId}`);
    return app;
  }
}

const FAULT_ANSWERS: PlatformFaultAnswers = {
  // As documented on Feishu's "Rate limits" page (server-docs/api-call-guide/frequency-control).
  ratelimit(reply, retryAfterSeconds) {
    reply
      .code(429)
      .header('x-ogw-ratelimit-limit', '50')
      .header('x-ogw-ratelimit-reset', String(retryAfterSeconds))
      .send({ code: 99991400, msg: 'request trigger frequency limit' });
  },
  okWithoutToken: { code: 0, msg: 'ok' },
  sampleOk: JSON.stringify({ code: 0, msg: 'ok', tenant_access_token: 't-g1044ghJRUIJJ5ZPPZMOHKWZISL33E4QSS3abcef', expire: 7200 }),
};

const TICKET_FAULT_ANSWERS: PlatformFaultAnswers = {
  ratelimit: FAULT_ANSWERS.ratelimit,
  okWithoutToken: { code: 0, msg: 'ok', data: { expire_in: 7200 } },
  sampleOk: JSON.stringify({ code: 0, msg: 'ok', data: { ticket: '617bf955832a4d4d80d9d8d85917a427', expire_in: 7200 } }),
};

function ticketOwner(appId: string, tenantKey: string): string {
  return `${appId}\u0000${tenantKey}`;
}

function sendMessageData(request: FastifyRequest, issued: IssuedToken): Record<string, unknown> {
  const body = parseJson(request.body);
  const query = request.query as Record<string, string | undefined>;
  const receiveId = isRecord(body) && typeof body.receive_id === 'string' ? body.receive_id : undefined;
  const now = String(Date.now());
  return {
    message_id: `om_${randomBytes(16).toString('hex')}`,
    msg_type: isRecord(body) && typeof body.msg_type === 'string' ? body.msg_type : 'text',
    create_time: now,
    update_time: now,
    deleted: false,
    updated: false,
    chat_id: query.receive_id_type === 'chat_id' && receiveId !== undefined ? receiveId : `oc_${randomBytes(16).toString('hex')}`,
    sender: { id: issued.appId, id_type: 'app_id', sender_type: 'app', tenant_key: issued.tenantKey ?? 'sim_tenant' },
    body: { content: isRecord(body) && typeof body.content === 'string' ? body.content : '' },
  };
}

/** A token shaped like Feishu's (`t-g1044ghJRUIJJ5ZPPZMOHKWZISL33E4QSS3abcef`): prefix, `g104`, 36 base32 characters. */
function newToken(kind: FeishuTokenKind): string {
  let tail = '';
  for (let i = 0; i < 36; i++) tail += BASE32[randomInt(BASE32.length)];
  return `${PREFIX[kind]}g104${tail}`;
}

function withLogId(error: { code: number; msg: string }): Record<string, unknown> {
  return { ...error, error: { log_id: randomBytes(12).toString('hex').toUpperCase() } };
}

function currentKey(appId: string, kind: FeishuTokenKind, tenantKey?: string): string {
  return `${kind}\u0000${appId}\u0000${tenantKey ?? ''}`;
}

/** A ticket shaped like the platform's (a UUID-like string). */
function newTicket(): string {
  return `sim-ticket-${randomBytes(16).toString('hex')}`;
}
