import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { controlPost, optionalText, requiredText } from './control.js';
import { Counters } from './counters.js';
import { Faults } from './faults.js';
import { field, refuse, text, verifyPageSignature, type JsapiVerdict } from './jsapi.js';
import { CallQuota, takeAll } from './quota.js';
import { isRecord, keepBodiesRaw, parseJson, pathOf, queryString, withoutToken } from './request.js';
import { Script, SimTokens, type SimToken, type TokenCheck } from './tokens.js';
import type { PlatformSim } from './types.js';
import { CORP_TOKEN_FAULTS, PERMANENT_CODE_FAULTS, SUITE_TOKEN_FAULTS, TICKET_FAULTS, wecomError as error } from './wecom-suite-answers.js';
import {
  WECOM_SUITE_ENDPOINTS,
  resolveWeComSuiteOptions,
  type AuthCodeEvent,
  type ResolvedWeComSuiteOptions,
  type SuiteAuthOptions,
  type WeComSuiteSimOptions,
} from './wecom-suite-options.js';
import { NO_CALLBACK_URL, PushLog, deliver, seal, xml, type PushRecord, type SealOptions, type WxPush } from './wxbiz-events.js';

interface SuiteState {
  readonly suiteId: string;
  secret: string;
  readonly token: string;
  readonly encodingAESKey: string;
  eventUrl: string | undefined;
}

/** One corp's authorization of one suite; `generation` moves on with each reset or cancellation. */
interface CorpAuth {
  readonly suiteId: string;
  readonly corpId: string;
  readonly corpName: string;
  readonly agentId: number;
  state: string;
  active: boolean;
  generation: number;
  permanentCode: SimToken | undefined;
}

/**
 * A simulator of WeCom's third-party app (服务商应用) APIs under `/cgi-bin/service/`: the
 * `suite_ticket` pushed to the suite's event URL every
 * {@link WeComSuiteSimOptions.ticketPushIntervalSeconds} or on {@link pushTicket}, encrypted and
 * signed as WeCom does; the suite token it buys; authorizations ({@link createAuth},
 * {@link changeAuth}, {@link cancelAuth}, {@link resetPermanentCode}) pushed as events whose
 * `AuthCode` `get_permanent_code` exchanges for the grant; `get_corp_token`; and the corp's
 * JS-SDK tickets and business endpoints. {@link verifyEventUrl} sends the console's GET URL check.
 *
 * @example
 * ```ts
 * const suite = new WeComSuiteSim({ apps: [{ suiteId: 'wwsuite', suiteSecret: 's', token: 't', encodingAESKey: '…43 chars…', eventUrl }] });
 * const sims = await startSimulators({ sims: [suite] });
 * await suite.verifyEventUrl();
 * const { authCode } = await suite.createAuth('wwcorp1');
 * ```
 */
export class WeComSuiteSim implements PlatformSim {
  readonly platform: string;
  /** Faults of the token endpoints: `get_suite_token`, `get_permanent_code`, `get_corp_token`. */
  readonly faults = new Faults();
  /** Faults of the ticket endpoints. */
  readonly ticketFaults = new Faults();
  readonly counters = new Counters();
  /** Answers ahead of the rules, on the token endpoints. */
  readonly script = new Script();
  /** Answers ahead of the rules, on both ticket endpoints. */
  readonly ticketScript = new Script();
  /** The pushes made, with their answers. */
  readonly pushes: PushLog;
  readonly #opts: ResolvedWeComSuiteOptions;
  readonly #now: () => number;
  readonly #suites = new Map<string, SuiteState>();
  /** By `{suite}\0{corp}`. */
  readonly #auths = new Map<string, CorpAuth>();
  /** Owned by the suite id. */
  readonly #suiteTokens: SimTokens;
  readonly #suiteTickets: SimTokens;
  readonly #preAuthCodes: SimTokens;
  /** Owned by `{suite}\0{corp}`. */
  readonly #corpTokens: SimTokens;
  readonly #permanentCodes: SimTokens;
  readonly #authCodes: SimTokens;
  readonly #codeGeneration = new Map<string, number>();
  /** Owned by `{corp|agent}:{suite}\0{corp}`. */
  readonly #jsapiTickets: SimTokens;
  /** Corp tokens of a cancelled authorization: business calls answer 48004 rather than 40014. */
  readonly #cancelled = new Set<string>();
  readonly #perCorp: CallQuota;
  readonly #perApp: CallQuota;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(options: WeComSuiteSimOptions) {
    const opts = resolveWeComSuiteOptions(options);
    for (const app of opts.apps) {
      this.#suites.set(app.suiteId, { suiteId: app.suiteId, secret: app.suiteSecret, token: app.token, encodingAESKey: app.encodingAESKey, eventUrl: app.eventUrl });
    }
    this.platform = opts.platform;
    this.#opts = opts;
    this.#now = opts.now;
    this.pushes = new PushLog(this.counters, { push: WECOM_SUITE_ENDPOINTS.push, delivered: WECOM_SUITE_ENDPOINTS.pushDelivered, failed: WECOM_SUITE_ENDPOINTS.pushFailed });
    const opaque = (bytes: number) => () => randomBytes(bytes).toString('base64url');
    this.#suiteTokens = new SimTokens(this.#now, opaque(60));
    this.#suiteTickets = new SimTokens(this.#now, opaque(48));
    this.#preAuthCodes = new SimTokens(this.#now, opaque(36));
    this.#corpTokens = new SimTokens(this.#now, opaque(120));
    this.#permanentCodes = new SimTokens(this.#now, opaque(32));
    this.#authCodes = new SimTokens(this.#now, opaque(48));
    this.#jsapiTickets = new SimTokens(this.#now, opaque(64));
    this.#perCorp = new CallQuota(opts.jsapiTicketCorpQuota, { kind: 'from-first-call', ms: opts.jsapiTicketQuotaWindowSeconds * 1000 }, this.#now);
    this.#perApp = new CallQuota(opts.jsapiTicketAppQuota, { kind: 'from-first-call', ms: opts.jsapiTicketQuotaWindowSeconds * 1000 }, this.#now);
  }

  register(app: FastifyInstance): void {
    keepBodiesRaw(app);
    const prefix = app.prefix;
    const s = '/cgi-bin/service';
    app.post(`${s}/get_suite_token`, (request, reply) => this.#suiteTokenRoute(request, reply));
    app.get(`${s}/get_pre_auth_code`, (request, reply) => this.#preAuthCodeRoute(request, reply));
    app.post(`${s}/get_permanent_code`, (request, reply) => this.#permanentCodeRoute(request, reply, 1));
    app.post(`${s}/v2/get_permanent_code`, (request, reply) => this.#permanentCodeRoute(request, reply, 2));
    app.post(`${s}/get_corp_token`, (request, reply) => this.#corpTokenRoute(request, reply));
    app.post(`${s}/get_auth_info`, (request, reply) => this.#authInfoRoute(request, reply));
    app.get('/cgi-bin/get_jsapi_ticket', (request, reply) => this.#ticketRoute(request, reply, 'corp'));
    app.get('/cgi-bin/ticket/get', (request, reply) => this.#ticketRoute(request, reply, 'agent'));
    app.all('/cgi-bin/*', (request, reply) => this.#business(request, reply, prefix));
    if (this.#opts.ticketPushIntervalSeconds > 0) {
      const timer = setInterval(() => {
        for (const suite of this.#suites.values()) if (suite.eventUrl !== undefined) void this.pushTicket(suite.suiteId);
      }, this.#opts.ticketPushIntervalSeconds * 1000);
      timer.unref();
      this.#timers.add(timer);
    }
    app.addHook('onClose', async () => {
      for (const timer of this.#timers) clearInterval(timer);
      this.#timers.clear();
    });
  }

  /**
   * Control routes under `/_sim/{platform}/`, each taking an optional `suiteId` (default the
   * first): `POST event-url {url}` (`url` null clears it), `POST verify-url {receiveId?}`,
   * `POST push-ticket`, `POST create-auth {corpId, corpName?, agentId?, state?}`,
   * `POST change-auth {corpId, state?}`, `POST cancel-auth {corpId}`,
   * `POST reset-permanent-code {corpId}`, `GET pushes`.
   */
  registerControl(scope: FastifyInstance): void {
    controlPost(scope, '/event-url', (body) => {
      const url = body.url === null ? undefined : requiredText(body, 'url');
      this.setEventUrl(url, optionalText(body, 'suiteId'));
      return { suiteId: this.#suite(optionalText(body, 'suiteId')).suiteId, eventUrl: url ?? null };
    });
    controlPost(scope, '/verify-url', (body) => {
      const receiveId = optionalText(body, 'receiveId');
      return this.verifyEventUrl(optionalText(body, 'suiteId'), receiveId === undefined ? {} : { receiveId });
    });
    controlPost(scope, '/push-ticket', (body) => this.pushTicket(optionalText(body, 'suiteId')));
    const authOptions = (body: Record<string, unknown>): SuiteAuthOptions => {
      const options: SuiteAuthOptions = {};
      for (const key of ['suiteId', 'corpName', 'state'] as const) {
        const value = optionalText(body, key);
        if (value !== undefined) options[key] = value;
      }
      if (body.agentId !== undefined) {
        if (!Number.isInteger(body.agentId)) throw new TypeError('agentId: expected a whole number');
        options.agentId = body.agentId as number;
      }
      return options;
    };
    controlPost(scope, '/create-auth', (body) => this.createAuth(requiredText(body, 'corpId'), authOptions(body)));
    controlPost(scope, '/change-auth', (body) => this.changeAuth(requiredText(body, 'corpId'), authOptions(body)));
    controlPost(scope, '/cancel-auth', (body) => this.cancelAuth(requiredText(body, 'corpId'), authOptions(body)));
    controlPost(scope, '/reset-permanent-code', (body) => this.resetPermanentCode(requiredText(body, 'corpId'), authOptions(body)));
    scope.get('/pushes', async () => ({ pushes: this.pushes.list() }));
  }

  revoke(token: string): boolean {
    return this.#all().some((tokens) => tokens.revoke(token));
  }

  /** Whether a suite or corp token, suite ticket, permanent, auth or pre-auth code, or JS-SDK ticket would be accepted now. */
  isValid(token: string): boolean {
    return this.#all().some((tokens) => tokens.isValid(token));
  }

  /** Back to healthy: no fault, no scripted answers, zero counters, no push log, the hourly ticket quotas cleared. Tokens, tickets and grants stay. */
  reset(): void {
    this.faults.set('none');
    this.ticketFaults.set('none');
    this.script.clear();
    this.ticketScript.clear();
    this.counters.reset();
    this.pushes.clear();
    this.#perCorp.reset();
    this.#perApp.reset();
  }

  /**
   * Checks an authorized corp's page config as the WeCom client does:
   * - `wx.config`: `{ appId: corpid, timestamp, nonceStr, signature, url }` against the corp tickets;
   * - `wx.agentConfig`: `{ api: 'agentConfig', corpid, agentid, timestamp, nonceStr, signature, url }`
   *   against the agent tickets of the suite's app with that agent id.
   */
  verifyJsapi(config: Record<string, unknown>): JsapiVerdict {
    const api = config.api ?? 'config';
    const fields = { timestamp: field(config, 'timestamp'), nonceStr: field(config, 'nonceStr'), signature: field(config, 'signature') };
    let owners: Set<string>;
    if (api === 'config') {
      const corpId = text(config.appId);
      if (corpId === undefined) return refuse('appId: missing (wx.config takes the corp id as appId)');
      owners = new Set([...this.#auths.values()].filter((a) => a.corpId === corpId).map((a) => ticketOwner('corp', a)));
      if (owners.size === 0) return refuse(`appId: corp ${corpId} never authorized a suite`);
    } else if (api === 'agentConfig') {
      const corpId = text(config.corpid);
      const agentId = text(config.agentid);
      if (corpId === undefined) return refuse('corpid: missing');
      if (agentId === undefined) return refuse('agentid: missing');
      const auth = [...this.#auths.values()].find((a) => a.corpId === corpId && String(a.agentId) === agentId);
      if (auth === undefined) return refuse(`agentid: no suite app ${agentId} in corp ${corpId}`);
      owners = new Set([ticketOwner('agent', auth)]);
    } else {
      return refuse('api: expected "config" (wx.config) or "agentConfig" (wx.agentConfig)');
    }
    return verifyPageSignature(config, fields, { tickets: this.#jsapiTickets.known((o) => owners.has(o)), now: this.#now(), maxSkewMs: this.#opts.jsapiMaxSkewSeconds * 1000, timestampUnit: 'seconds' });
  }

  /** Set (or clear) where a suite's events are pushed. */
  setEventUrl(url: string | undefined, suiteId?: string): void {
    this.#suite(suiteId).eventUrl = url;
  }

  /** Rotate a suite's secret: the old one is refused from now on. */
  setSecret(secret: string, suiteId?: string): void {
    this.#suite(suiteId).secret = secret;
  }

  /**
   * The console's URL check: `GET {url}?msg_signature&timestamp&nonce&echostr` with a random
   * plaintext encrypted under the provider corp id (or `receiveId`); delivered when the answer is
   * exactly the plaintext.
   */
  async verifyEventUrl(suiteId?: string, options: SealOptions & { receiveId?: string; plaintext?: string } = {}): Promise<PushRecord & { plaintext: string }> {
    const suite = this.#suite(suiteId);
    const plaintext = options.plaintext ?? String(BigInt(`0x${randomBytes(8).toString('hex')}`));
    const sealed = seal({ token: suite.token, encodingAESKey: suite.encodingAESKey, receiveId: options.receiveId ?? this.#opts.providerCorpId }, plaintext, this.#now(), options);
    const push: WxPush = { method: 'GET', query: { msg_signature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce, echostr: sealed.encrypt } };
    const at = this.#now();
    const url = suite.eventUrl;
    const result = url === undefined ? NO_CALLBACK_URL : await deliver(url, push, plaintext, this.#opts.pushTimeoutMs);
    return { ...this.pushes.add({ infoType: 'echostr', appId: suite.suiteId, url, at, ...result }), plaintext };
  }

  /** Issue a new `suite_ticket` and push it now. Older tickets stay valid to their own expiry (unless {@link WeComSuiteSimOptions.onlyLatestTicket}). */
  async pushTicket(suiteId?: string, options: SealOptions = {}): Promise<PushRecord & { ticket: string }> {
    const suite = this.#suite(suiteId);
    const ticket = this.#suiteTickets.issue(suite.suiteId, this.#opts.suiteTicketLifetimeSeconds * 1000).value;
    const message = { SuiteId: suite.suiteId, InfoType: 'suite_ticket', TimeStamp: this.#seconds(), SuiteTicket: ticket };
    return { ...(await this.#push(suite, message, options)), ticket };
  }

  /**
   * A corp installs the suite's app: `create_auth` is pushed with a single-use `AuthCode`.
   * Throws a `RangeError` when the corp's authorization is active (use {@link changeAuth}).
   */
  async createAuth(corpId: string, options: SuiteAuthOptions = {}): Promise<AuthCodeEvent> {
    const suite = this.#suite(options.suiteId);
    const key = authKey(suite.suiteId, corpId);
    const existing = this.#auths.get(key);
    if (existing?.active === true) throw new RangeError(`corpId: ${corpId} has authorized ${suite.suiteId} already`);
    const agentId = options.agentId ?? existing?.agentId ?? 1_000_001 + [...this.#auths.values()].filter((a) => a.corpId === corpId).length;
    const auth: CorpAuth = {
      suiteId: suite.suiteId,
      corpId,
      corpName: options.corpName ?? existing?.corpName ?? `Sim corp ${corpId}`,
      agentId,
      state: options.state ?? '',
      active: true,
      generation: (existing?.generation ?? 0) + 1,
      permanentCode: undefined,
    };
    this.#auths.set(key, auth);
    const code = this.#issueAuthCode(auth);
    const message = { SuiteId: suite.suiteId, AuthCode: code, InfoType: 'create_auth', TimeStamp: this.#seconds(), State: auth.state };
    return { ...(await this.#push(suite, message)), authCode: code };
  }

  /** The corp changes the app's permissions or visible range: `change_auth` is pushed; the permanent code stays. */
  async changeAuth(corpId: string, options: SuiteAuthOptions = {}): Promise<PushRecord> {
    const suite = this.#suite(options.suiteId);
    const auth = this.#activeAuth(suite.suiteId, corpId);
    if (options.state !== undefined) auth.state = options.state;
    return this.#push(suite, { SuiteId: suite.suiteId, InfoType: 'change_auth', TimeStamp: this.#seconds(), AuthCorpId: corpId, State: auth.state });
  }

  /**
   * The corp uninstalls the app: `cancel_auth` is pushed; the permanent code answers 40084 from
   * now on, and the corp's tokens and tickets 48004.
   */
  async cancelAuth(corpId: string, options: SuiteAuthOptions = {}): Promise<PushRecord> {
    const suite = this.#suite(options.suiteId);
    const auth = this.#activeAuth(suite.suiteId, corpId);
    auth.active = false;
    this.#newGeneration(auth);
    const key = authKey(auth.suiteId, corpId);
    for (const token of this.#corpTokens.known((o) => o === key)) {
      if (this.#corpTokens.revoke(token.value)) this.#cancelled.add(token.value);
    }
    for (const ticket of this.#jsapiTickets.known((o) => o === ticketOwner('corp', auth) || o === ticketOwner('agent', auth))) this.#jsapiTickets.revoke(ticket.value);
    return this.#push(suite, { SuiteId: suite.suiteId, InfoType: 'cancel_auth', TimeStamp: this.#seconds(), AuthCorpId: corpId });
  }

  /**
   * The permanent code is reset: the old one answers 40084 from now on; `reset_permanent_code` is
   * pushed with an `AuthCode` that `get_permanent_code` exchanges for the new one. Issued corp
   * tokens stay valid to their expiry (unverified).
   */
  async resetPermanentCode(corpId: string, options: SuiteAuthOptions = {}): Promise<AuthCodeEvent> {
    const suite = this.#suite(options.suiteId);
    const auth = this.#activeAuth(suite.suiteId, corpId);
    this.#newGeneration(auth);
    const code = this.#issueAuthCode(auth);
    const message = { SuiteId: suite.suiteId, AuthCode: code, InfoType: 'reset_permanent_code', TimeStamp: this.#seconds() };
    return { ...(await this.#push(suite, message)), authCode: code };
  }

  /** The current permanent code of a corp's authorization (the grant), once handed out. */
  permanentCodeOf(corpId: string, suiteId?: string): string | undefined {
    const auth = this.#auths.get(authKey(this.#suite(suiteId).suiteId, corpId));
    return auth?.permanentCode !== undefined && this.#permanentCodes.isValid(auth.permanentCode.value) ? auth.permanentCode.value : undefined;
  }

  /**
   * A push as WeCom would send it for this suite: the message (fields in order) as XML,
   * encrypted with receive id = suite id, in `<xml><ToUserName/><Encrypt/><AgentID/></xml>`,
   * with `msg_signature`, `timestamp` and `nonce` in the query (for crafting, replaying or tampering in tests).
   */
  buildPush(message: Readonly<Record<string, string | number>>, suiteId?: string, options: SealOptions = {}): WxPush {
    const suite = this.#suite(suiteId);
    const sealed = seal({ token: suite.token, encodingAESKey: suite.encodingAESKey, receiveId: suite.suiteId }, xml(message), this.#now(), options);
    return {
      method: 'POST',
      query: { msg_signature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce },
      body: xml({ ToUserName: suite.suiteId, Encrypt: sealed.encrypt, AgentID: '' }),
    };
  }

  /** How many distinct suite tokens were issued, for one suite or all. */
  suiteTokensIssued(suiteId?: string): number {
    return this.#suiteTokens.issued(suiteId);
  }

  /** How many distinct corp tokens were issued, for one authorized corp (of any suite) or all. */
  corpTokensIssued(corpId?: string): number {
    if (corpId === undefined) return this.#corpTokens.issued();
    return [...this.#auths.values()].filter((a) => a.corpId === corpId).reduce((n, a) => n + this.#corpTokens.issued(authKey(a.suiteId, a.corpId)), 0);
  }

  /** How many distinct JS-SDK tickets were issued, for one corp or all, of one type or both. */
  ticketsIssued(corpId?: string, type?: 'corp' | 'agent'): number {
    const types: readonly ('corp' | 'agent')[] = type === undefined ? ['corp', 'agent'] : [type];
    return [...this.#auths.values()].filter((a) => corpId === undefined || a.corpId === corpId).reduce((n, a) => n + types.reduce((m, t) => m + this.#jsapiTickets.issued(ticketOwner(t, a)), 0), 0);
  }

  async #suiteTokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const suiteId = stringField(body, 'suite_id');
    this.counters.increment(WECOM_SUITE_ENDPOINTS.suiteToken, suiteId ?? '');
    if (await this.faults.apply(request, reply, SUITE_TOKEN_FAULTS)) return reply;
    if (this.script.answer(reply)) return reply;

    if (!isRecord(body)) return reply.send(error(40083, 'invalid suite_id', request));
    const suite = suiteId === undefined ? undefined : this.#suites.get(suiteId);
    if (suite === undefined) return reply.send(error(40083, 'invalid suite_id', request));
    if (stringField(body, 'suite_secret') !== suite.secret) return reply.send(error(40080, 'invalid suite_secret', request));
    const ticket = stringField(body, 'suite_ticket');
    const check = ticket === undefined ? undefined : this.#suiteTickets.check(ticket);
    if (check?.status !== 'valid' || check.token.owner !== suite.suiteId) return reply.send(error(40085, 'invalid suite_ticket', request));
    if (this.#opts.onlyLatestTicket && this.#suiteTickets.current(suite.suiteId) !== check.token) return reply.send(error(40085, 'invalid suite_ticket', request));
    // Unverified: whether a fetch within a token's validity returns it again; here each fetch issues a new one and the older ones live on.
    const token = this.#suiteTokens.issue(suite.suiteId, this.#opts.tokenLifetimeSeconds * 1000);
    return reply.send({ suite_access_token: token.value, expires_in: this.#opts.tokenLifetimeSeconds });
  }

  async #preAuthCodeRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { suite, refusal } = this.#suiteOf(request);
    this.counters.increment(WECOM_SUITE_ENDPOINTS.preAuthCode, suite?.suiteId ?? '');
    if (suite === undefined) return reply.send(refusal);
    const code = this.#preAuthCodes.issue(suite.suiteId, this.#opts.preAuthCodeLifetimeSeconds * 1000);
    return reply.send({ errcode: 0, errmsg: 'ok', pre_auth_code: code.value, expires_in: this.#opts.preAuthCodeLifetimeSeconds });
  }

  async #permanentCodeRoute(request: FastifyRequest, reply: FastifyReply, version: 1 | 2): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const value = stringField(body, 'auth_code');
    const code = value === undefined ? undefined : this.#authCodes.check(value);
    const owner = code?.status === 'valid' ? code.token.owner : undefined;
    this.counters.increment(WECOM_SUITE_ENDPOINTS.permanentCode, owner === undefined ? '' : corpOf(owner));
    if (await this.faults.apply(request, reply, PERMANENT_CODE_FAULTS)) return reply;
    if (this.script.answer(reply)) return reply;

    const { suite, refusal } = this.#suiteOf(request);
    if (suite === undefined) return reply.send(refusal);
    const auth = owner === undefined ? undefined : this.#auths.get(owner);
    if (auth === undefined || auth.suiteId !== suite.suiteId || !auth.active || this.#codeGeneration.get(value!) !== auth.generation) {
      return reply.send(error(40078, 'invalid auth_code', request));
    }
    // Single use, as documented ("只能消费一次").
    this.#authCodes.revoke(value!);
    auth.permanentCode ??= this.#permanentCodes.issue(owner!, Infinity);
    const access = version === 1 ? this.#corpTokens.issue(owner!, this.#opts.tokenLifetimeSeconds * 1000) : undefined;
    return reply.send({
      errcode: 0,
      errmsg: 'ok',
      ...(access === undefined ? {} : { access_token: access.value, expires_in: this.#opts.tokenLifetimeSeconds }),
      permanent_code: auth.permanentCode.value,
      auth_corp_info: corpInfo(auth),
      auth_info: agentInfo(auth),
      auth_user_info: { userid: 'sim-admin', open_userid: `wo${randomBytes(12).toString('hex')}`, name: 'Sim Admin', avatar: '' },
      state: auth.state,
    });
  }

  async #corpTokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const corpId = stringField(body, 'auth_corpid');
    this.counters.increment(WECOM_SUITE_ENDPOINTS.corpToken, corpId ?? '');
    if (await this.faults.apply(request, reply, CORP_TOKEN_FAULTS)) return reply;
    if (this.script.answer(reply)) return reply;

    const { suite, refusal } = this.#suiteOf(request);
    if (suite === undefined) return reply.send(refusal);
    const auth = this.#grant(suite, corpId, stringField(body, 'permanent_code'));
    if (auth === undefined) return reply.send(error(40084, 'invalid permanent_code', request));
    // Unverified: whether a fetch within a token's validity returns it again; here each fetch issues a new one and the older ones live on.
    const token = this.#corpTokens.issue(authKey(auth.suiteId, auth.corpId), this.#opts.tokenLifetimeSeconds * 1000);
    return reply.send({ errcode: 0, errmsg: 'ok', access_token: token.value, expires_in: this.#opts.tokenLifetimeSeconds });
  }

  async #authInfoRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const corpId = stringField(body, 'auth_corpid');
    this.counters.increment(WECOM_SUITE_ENDPOINTS.authInfo, corpId ?? '');
    const { suite, refusal } = this.#suiteOf(request);
    if (suite === undefined) return reply.send(refusal);
    const auth = this.#grant(suite, corpId, stringField(body, 'permanent_code'));
    if (auth === undefined) return reply.send(error(40084, 'invalid permanent_code', request));
    return reply.send({ errcode: 0, errmsg: 'ok', auth_corp_info: corpInfo(auth), auth_info: agentInfo(auth) });
  }

  /** The corp ticket or the agent ticket of the corp token's authorization: the same one while it is valid, within the corp's and the app's quotas. */
  async #ticketRoute(request: FastifyRequest, reply: FastifyReply, type: 'corp' | 'agent'): Promise<FastifyReply> {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#corpTokens.check(value);
    const auth = this.#authOf(check);
    this.counters.increment(type === 'corp' ? WECOM_SUITE_ENDPOINTS.ticket : WECOM_SUITE_ENDPOINTS.agentTicket, auth?.corpId ?? '');
    if (await this.ticketFaults.apply(request, reply, TICKET_FAULTS)) return reply;
    if (this.ticketScript.answer(reply)) return reply;

    if (auth === undefined) return reply.send(this.#corpTokenRefusal(value, check, request));
    if (type === 'agent' && queryString(request.query, 'type') !== 'agent_config') return reply.send(error(40097, 'invalid args', request));
    if (!takeAll([[this.#perCorp, auth.corpId], [this.#perApp, authKey(auth.suiteId, auth.corpId)]])) return reply.send(error(45009, 'api freq out of limit', request));
    const key = ticketOwner(type, auth);
    const ticket = this.#jsapiTickets.current(key) ?? this.#jsapiTickets.issue(key, this.#opts.jsapiTicketLifetimeSeconds * 1000);
    return reply.send({ errcode: 0, errmsg: 'ok', ticket: ticket.value, expires_in: Math.floor((ticket.expiresAt - this.#now()) / 1000) });
  }

  #business(request: FastifyRequest, reply: FastifyReply, prefix: string): FastifyReply {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#corpTokens.check(value);
    const auth = this.#authOf(check);
    this.counters.increment(WECOM_SUITE_ENDPOINTS.business, auth?.corpId ?? '');
    if (auth === undefined) return reply.send(this.#corpTokenRefusal(value, check, request));
    return reply.send({
      errcode: 0,
      errmsg: 'ok',
      corpid: auth.corpId,
      agentid: auth.agentId,
      suite_id: auth.suiteId,
      method: request.method,
      path: pathOf(request.url).slice(prefix.length),
      query: withoutToken(request.query),
      body: parseJson(request.body),
    });
  }

  /** The suite of the request's `suite_access_token`, or WeCom's refusal: 41022 missing (unverified), 42009 expired, 40082 invalid. */
  #suiteOf(request: FastifyRequest): { suite: SuiteState; refusal?: undefined } | { suite?: undefined; refusal: Record<string, unknown> } {
    const value = queryString(request.query, 'suite_access_token');
    if (value === undefined) return { refusal: error(41022, 'suite_access_token missing', request) };
    const check = this.#suiteTokens.check(value);
    if (check.status === 'valid') return { suite: this.#suites.get(check.token.owner)! };
    if (check.status === 'expired') return { refusal: error(42009, 'suite_access_token expired', request) };
    return { refusal: error(40082, 'invalid suite_access_token', request) };
  }

  /** The authorization a permanent code is the current grant of, for this suite and corp. */
  #grant(suite: SuiteState, corpId: string | undefined, permanentCode: string | undefined): CorpAuth | undefined {
    if (corpId === undefined || permanentCode === undefined) return undefined;
    const auth = this.#auths.get(authKey(suite.suiteId, corpId));
    if (auth === undefined || !auth.active || auth.permanentCode?.value !== permanentCode) return undefined;
    return this.#permanentCodes.isValid(permanentCode) ? auth : undefined;
  }

  /** 41001 missing, 42001 expired, 48004 the authorization was cancelled (unverified), 40014 invalid. */
  #corpTokenRefusal(value: string | undefined, check: TokenCheck | undefined, request: FastifyRequest): Record<string, unknown> {
    if (value === undefined || check === undefined) return error(41001, 'access_token missing', request);
    if (this.#cancelled.has(value)) return error(48004, 'api forbidden for the corp has cancelled the authorization', request);
    if (check.status === 'expired') return error(42001, 'access_token expired', request);
    return error(40014, 'invalid access_token', request);
  }

  #authOf(check: TokenCheck | undefined): CorpAuth | undefined {
    return check?.status === 'valid' ? this.#auths.get(check.token.owner) : undefined;
  }

  #issueAuthCode(auth: CorpAuth): string {
    const code = this.#authCodes.issue(authKey(auth.suiteId, auth.corpId), this.#opts.authCodeLifetimeSeconds * 1000);
    this.#codeGeneration.set(code.value, auth.generation);
    return code.value;
  }

  /** A reset or a cancellation: the permanent code and the codes of the previous generation die. */
  #newGeneration(auth: CorpAuth): void {
    auth.generation++;
    if (auth.permanentCode !== undefined) this.#permanentCodes.revoke(auth.permanentCode.value);
    auth.permanentCode = undefined;
    const key = authKey(auth.suiteId, auth.corpId);
    for (const code of this.#authCodes.known((o) => o === key)) this.#authCodes.revoke(code.value);
  }

  async #push(suite: SuiteState, message: Record<string, string | number>, options: SealOptions = {}): Promise<PushRecord> {
    const at = this.#now();
    const url = suite.eventUrl;
    const result = url === undefined ? NO_CALLBACK_URL : await deliver(url, this.buildPush(message, suite.suiteId, options), 'success', this.#opts.pushTimeoutMs);
    return this.pushes.add({ infoType: String(message.InfoType), appId: suite.suiteId, url, at, ...result });
  }

  #activeAuth(suiteId: string, corpId: string): CorpAuth {
    const auth = this.#auths.get(authKey(suiteId, corpId));
    if (auth === undefined || !auth.active) throw new RangeError(`corpId: ${corpId} has not authorized ${suiteId}`);
    return auth;
  }

  #suite(suiteId: string | undefined): SuiteState {
    const suite = suiteId === undefined ? this.#suites.values().next().value : this.#suites.get(suiteId);
    if (suite === undefined) throw new RangeError(suiteId === undefined ? 'suiteId: the simulator has no suite' : `suiteId: unknown suite ${suiteId}`);
    return suite;
  }

  #all(): SimTokens[] {
    return [this.#suiteTokens, this.#suiteTickets, this.#preAuthCodes, this.#corpTokens, this.#permanentCodes, this.#authCodes, this.#jsapiTickets];
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000);
  }
}

function authKey(suiteId: string, corpId: string): string {
  return `${suiteId}\u0000${corpId}`;
}

function corpOf(owner: string): string {
  return owner.slice(owner.indexOf('\u0000') + 1);
}

function ticketOwner(type: 'corp' | 'agent', auth: CorpAuth): string {
  return `${type}:${authKey(auth.suiteId, auth.corpId)}`;
}

function corpInfo(auth: CorpAuth): Record<string, unknown> {
  return {
    corpid: auth.corpId,
    corp_name: auth.corpName,
    corp_type: 'verified',
    corp_square_logo_url: '',
    corp_user_max: 200,
    corp_full_name: auth.corpName,
    subject_type: 1,
    corp_scale: '1-50人',
    corp_industry: '',
    corp_sub_industry: '',
  };
}

function agentInfo(auth: CorpAuth): Record<string, unknown> {
  return {
    agent: [
      {
        agentid: auth.agentId,
        name: `Sim app of ${auth.suiteId}`,
        round_logo_url: '',
        square_logo_url: '',
        auth_mode: 0,
        is_customized_app: false,
        privilege: { level: 1, allow_party: [1], allow_user: [], allow_tag: [], extra_party: [], extra_user: [], extra_tag: [] },
      },
    ],
  };
}

function stringField(body: unknown, name: string): string | undefined {
  const value = isRecord(body) ? body[name] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

