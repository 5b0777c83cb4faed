import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { controlPost, optionalText, requiredText } from './control.js';
import { field, refuse, text, verifyPageSignature, type JsapiVerdict } from './jsapi.js';
import { PushingSim, type PushingApp } from './pushing-sim.js';
import { isRecord, parseJson, pathOf, queryString, stringField, withoutToken } from './request.js';
import { SimTokens, type SimToken, type TokenCheck } from './tokens.js';
import { CORP_TOKEN_FAULTS, PERMANENT_CODE_FAULTS, SUITE_TOKEN_FAULTS } from './wecom-suite-answers.js';
import {
  WECOM_SUITE_ENDPOINTS,
  resolveWeComSuiteOptions,
  type AuthCodeEvent,
  type ResolvedWeComSuiteOptions,
  type SuiteAuthOptions,
  type WeComSuiteSimOptions,
} from './wecom-suite-options.js';
import { WECOM_TICKET_FAULTS, WeComTickets, wecomError as error, type WeComTicketType } from './wecom-tickets.js';
import { seal, xml, type PushRecord, type SealOptions, type WxPush } from './wxbiz-events.js';

/** A suite: its id (`id`), secret and callback settings. */
type SuiteState = PushingApp;

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
export class WeComSuiteSim extends PushingSim<SuiteState> {
  // `faults`: of the token endpoints (`get_suite_token`, `get_permanent_code`, `get_corp_token`); `ticketFaults`: of both ticket endpoints.
  readonly #opts: ResolvedWeComSuiteOptions;
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
  readonly #jsapiTickets: WeComTickets;
  /** Corp tokens of a cancelled authorization: business calls answer 48004 rather than 40014. */
  readonly #cancelled = new Set<string>();

  constructor(options: WeComSuiteSimOptions) {
    const opts = resolveWeComSuiteOptions(options);
    const suites = opts.apps.map((app): SuiteState => ({ id: app.suiteId, secret: app.suiteSecret, token: app.token, encodingAESKey: app.encodingAESKey, eventUrl: app.eventUrl }));
    const E = WECOM_SUITE_ENDPOINTS;
    super({ ...opts, appOption: 'suiteId', appNoun: 'suite', pushCounters: { push: E.push, delivered: E.pushDelivered, failed: E.pushFailed } }, suites);
    this.#opts = opts;
    const opaque = (bytes: number) => () => randomBytes(bytes).toString('base64url');
    this.#suiteTokens = new SimTokens(this.now, opaque(60));
    this.#suiteTickets = new SimTokens(this.now, opaque(48));
    this.#preAuthCodes = new SimTokens(this.now, opaque(36));
    this.#corpTokens = new SimTokens(this.now, opaque(120));
    this.#permanentCodes = new SimTokens(this.now, opaque(32));
    this.#authCodes = new SimTokens(this.now, opaque(48));
    this.#jsapiTickets = new WeComTickets(opts, this.now);
  }

  protected routes(app: FastifyInstance, prefix: string): void {
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
  }

  /**
   * Control routes of the suite (beside `event-url`, `push-ticket` and `pushes`), each taking an
   * optional `suiteId` (default the first): `POST verify-url {receiveId?}`,
   * `POST create-auth {corpId, corpName?, agentId?, state?}`, `POST change-auth {corpId, state?}`,
   * `POST cancel-auth {corpId}`, `POST reset-permanent-code {corpId}`.
   */
  protected controls(scope: FastifyInstance): void {
    controlPost(scope, '/verify-url', (body) => {
      const receiveId = optionalText(body, 'receiveId');
      return this.verifyEventUrl(optionalText(body, 'suiteId'), receiveId === undefined ? {} : { receiveId });
    });
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
  }

  /** Suite and corp tokens, suite tickets, permanent, auth and pre-auth codes, JS-SDK tickets: what {@link isValid} knows. */
  protected issued(): readonly SimTokens[] {
    return [this.#suiteTokens, this.#suiteTickets, this.#preAuthCodes, this.#corpTokens, this.#permanentCodes, this.#authCodes, this.#jsapiTickets.tokens];
  }

  /** Back to healthy, and the hourly ticket quotas cleared. Tokens, tickets and grants stay. */
  override reset(): void {
    super.reset();
    this.#jsapiTickets.resetQuotas();
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
    let type: WeComTicketType;
    let owners: string[];
    if (api === 'config') {
      const corpId = text(config.appId);
      if (corpId === undefined) return refuse('appId: missing (wx.config takes the corp id as appId)');
      type = 'corp';
      owners = [...this.#auths.values()].filter((a) => a.corpId === corpId).map(appKey);
      if (owners.length === 0) return refuse(`appId: corp ${corpId} never authorized a suite`);
    } else if (api === 'agentConfig') {
      const corpId = text(config.corpid);
      const agentId = text(config.agentid);
      if (corpId === undefined) return refuse('corpid: missing');
      if (agentId === undefined) return refuse('agentid: missing');
      const auth = [...this.#auths.values()].find((a) => a.corpId === corpId && String(a.agentId) === agentId);
      if (auth === undefined) return refuse(`agentid: no suite app ${agentId} in corp ${corpId}`);
      type = 'agent';
      owners = [appKey(auth)];
    } else {
      return refuse('api: expected "config" (wx.config) or "agentConfig" (wx.agentConfig)');
    }
    return verifyPageSignature(config, fields, this.#jsapiTickets.signatureCheck(type, owners, this.#opts.jsapiMaxSkewSeconds * 1000));
  }

  /**
   * The console's URL check: `GET {url}?msg_signature&timestamp&nonce&echostr` with a random
   * plaintext encrypted under the provider corp id (or `receiveId`); delivered when the answer is
   * exactly the plaintext.
   */
  async verifyEventUrl(suiteId?: string, options: SealOptions & { receiveId?: string; plaintext?: string } = {}): Promise<PushRecord & { plaintext: string }> {
    const suite = this.app(suiteId);
    const plaintext = options.plaintext ?? String(BigInt(`0x${randomBytes(8).toString('hex')}`));
    const sealed = seal({ token: suite.token, encodingAESKey: suite.encodingAESKey, receiveId: options.receiveId ?? this.#opts.providerCorpId }, plaintext, this.now(), options);
    const push: WxPush = { method: 'GET', query: { msg_signature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce, echostr: sealed.encrypt } };
    return { ...(await this.send(suite, 'echostr', push, plaintext)), plaintext };
  }

  /** Issue a new `suite_ticket` and push it now. Older tickets stay valid to their own expiry (unless {@link WeComSuiteSimOptions.onlyLatestTicket}). */
  async pushTicket(suiteId?: string, options: SealOptions = {}): Promise<PushRecord & { ticket: string }> {
    const suite = this.app(suiteId);
    const ticket = this.#suiteTickets.issue(suite.id, this.#opts.suiteTicketLifetimeSeconds * 1000).value;
    const message = { SuiteId: suite.id, InfoType: 'suite_ticket', TimeStamp: this.seconds(), SuiteTicket: ticket };
    return { ...(await this.push(suite, message, options)), ticket };
  }

  /**
   * A corp installs the suite's app: `create_auth` is pushed with a single-use `AuthCode`.
   * Throws a `RangeError` when the corp's authorization is active (use {@link changeAuth}).
   */
  async createAuth(corpId: string, options: SuiteAuthOptions = {}): Promise<AuthCodeEvent> {
    const suite = this.app(options.suiteId);
    const key = authKey(suite.id, corpId);
    const existing = this.#auths.get(key);
    if (existing?.active === true) throw new RangeError(`corpId: ${corpId} has authorized ${suite.id} already`);
    const agentId = options.agentId ?? existing?.agentId ?? 1_000_001 + [...this.#auths.values()].filter((a) => a.corpId === corpId).length;
    const auth: CorpAuth = {
      suiteId: suite.id,
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
    const message = { SuiteId: suite.id, AuthCode: code, InfoType: 'create_auth', TimeStamp: this.seconds(), State: auth.state };
    return { ...(await this.push(suite, message)), authCode: code };
  }

  /** The corp changes the app's permissions or visible range: `change_auth` is pushed; the permanent code stays. */
  async changeAuth(corpId: string, options: SuiteAuthOptions = {}): Promise<PushRecord> {
    const suite = this.app(options.suiteId);
    const auth = this.#activeAuth(suite.id, corpId);
    if (options.state !== undefined) auth.state = options.state;
    return this.push(suite, { SuiteId: suite.id, InfoType: 'change_auth', TimeStamp: this.seconds(), AuthCorpId: corpId, State: auth.state });
  }

  /**
   * The corp uninstalls the app: `cancel_auth` is pushed; the permanent code answers 40084 from
   * now on, and the corp's tokens and tickets 48004.
   */
  async cancelAuth(corpId: string, options: SuiteAuthOptions = {}): Promise<PushRecord> {
    const suite = this.app(options.suiteId);
    const auth = this.#activeAuth(suite.id, corpId);
    auth.active = false;
    this.#newGeneration(auth);
    const key = authKey(auth.suiteId, corpId);
    for (const token of this.#corpTokens.known((o) => o === key)) {
      if (this.#corpTokens.revoke(token.value)) this.#cancelled.add(token.value);
    }
    this.#jsapiTickets.revokeApp(appKey(auth));
    return this.push(suite, { SuiteId: suite.id, InfoType: 'cancel_auth', TimeStamp: this.seconds(), AuthCorpId: corpId });
  }

  /**
   * The permanent code is reset: the old one answers 40084 from now on; `reset_permanent_code` is
   * pushed with an `AuthCode` that `get_permanent_code` exchanges for the new one. Issued corp
   * tokens stay valid to their expiry (unverified).
   */
  async resetPermanentCode(corpId: string, options: SuiteAuthOptions = {}): Promise<AuthCodeEvent> {
    const suite = this.app(options.suiteId);
    const auth = this.#activeAuth(suite.id, corpId);
    this.#newGeneration(auth);
    const code = this.#issueAuthCode(auth);
    const message = { SuiteId: suite.id, AuthCode: code, InfoType: 'reset_permanent_code', TimeStamp: this.seconds() };
    return { ...(await this.push(suite, message)), authCode: code };
  }

  /** The current permanent code of a corp's authorization (the grant), once handed out. */
  permanentCodeOf(corpId: string, suiteId?: string): string | undefined {
    const auth = this.#auths.get(authKey(this.app(suiteId).id, corpId));
    return auth?.permanentCode !== undefined && this.#permanentCodes.isValid(auth.permanentCode.value) ? auth.permanentCode.value : undefined;
  }

  /**
   * A push as WeCom would send it for this suite: the message (fields in order) as XML,
   * encrypted with receive id = suite id, in `<xml><ToUserName/><Encrypt/><AgentID/></xml>`,
   * with `msg_signature`, `timestamp` and `nonce` in the query (for crafting, replaying or tampering in tests).
   */
  buildPush(message: Readonly<Record<string, string | number>>, suiteId?: string, options: SealOptions = {}): WxPush {
    const suite = this.app(suiteId);
    const sealed = this.seal(suite, message, options);
    return {
      method: 'POST',
      query: { msg_signature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce },
      body: xml({ ToUserName: suite.id, Encrypt: sealed.encrypt, AgentID: '' }),
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
  ticketsIssued(corpId?: string, type?: WeComTicketType): number {
    return this.#jsapiTickets.issued(
      [...this.#auths.values()].filter((a) => corpId === undefined || a.corpId === corpId).map(appKey),
      type,
    );
  }

  async #suiteTokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const suiteId = stringField(body, 'suite_id');
    this.counters.increment(WECOM_SUITE_ENDPOINTS.suiteToken, suiteId ?? '');
    if (await this.faulted(request, reply, SUITE_TOKEN_FAULTS)) return reply;

    if (!isRecord(body)) return reply.send(error(40083, 'invalid suite_id', request));
    const suite = suiteId === undefined ? undefined : this.apps.get(suiteId);
    if (suite === undefined) return reply.send(error(40083, 'invalid suite_id', request));
    if (stringField(body, 'suite_secret') !== suite.secret) return reply.send(error(40080, 'invalid suite_secret', request));
    const ticket = stringField(body, 'suite_ticket');
    const check = ticket === undefined ? undefined : this.#suiteTickets.check(ticket);
    if (check?.status !== 'valid' || check.token.owner !== suite.id) return reply.send(error(40085, 'invalid suite_ticket', request));
    if (this.#opts.onlyLatestTicket && this.#suiteTickets.current(suite.id) !== check.token) return reply.send(error(40085, 'invalid suite_ticket', request));
    // Unverified: whether a fetch within a token's validity returns it again; here each fetch issues a new one and the older ones live on.
    const token = this.#suiteTokens.issue(suite.id, this.#opts.tokenLifetimeSeconds * 1000);
    return reply.send({ suite_access_token: token.value, expires_in: this.#opts.tokenLifetimeSeconds });
  }

  async #preAuthCodeRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { suite, refusal } = this.#suiteOf(request);
    this.counters.increment(WECOM_SUITE_ENDPOINTS.preAuthCode, suite?.id ?? '');
    if (suite === undefined) return reply.send(refusal);
    const code = this.#preAuthCodes.issue(suite.id, this.#opts.preAuthCodeLifetimeSeconds * 1000);
    return reply.send({ errcode: 0, errmsg: 'ok', pre_auth_code: code.value, expires_in: this.#opts.preAuthCodeLifetimeSeconds });
  }

  async #permanentCodeRoute(request: FastifyRequest, reply: FastifyReply, version: 1 | 2): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const value = stringField(body, 'auth_code');
    const code = value === undefined ? undefined : this.#authCodes.check(value);
    const owner = code?.status === 'valid' ? code.token.owner : undefined;
    this.counters.increment(WECOM_SUITE_ENDPOINTS.permanentCode, owner === undefined ? '' : corpOf(owner));
    if (await this.faulted(request, reply, PERMANENT_CODE_FAULTS)) return reply;

    const { suite, refusal } = this.#suiteOf(request);
    if (suite === undefined) return reply.send(refusal);
    const auth = owner === undefined ? undefined : this.#auths.get(owner);
    if (auth === undefined || auth.suiteId !== suite.id || !auth.active || this.#codeGeneration.get(value!) !== auth.generation) {
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
    if (await this.faulted(request, reply, CORP_TOKEN_FAULTS)) return reply;

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
    if (await this.ticketFaulted(request, reply, WECOM_TICKET_FAULTS)) return reply;

    if (auth === undefined) return reply.send(this.#corpTokenRefusal(value, check, request));
    return this.#jsapiTickets.answer(request, reply, type, auth.corpId, appKey(auth));
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
    if (check.status === 'valid') return { suite: this.apps.get(check.token.owner)! };
    if (check.status === 'expired') return { refusal: error(42009, 'suite_access_token expired', request) };
    return { refusal: error(40082, 'invalid suite_access_token', request) };
  }

  /** The authorization a permanent code is the current grant of, for this suite and corp. */
  #grant(suite: SuiteState, corpId: string | undefined, permanentCode: string | undefined): CorpAuth | undefined {
    if (corpId === undefined || permanentCode === undefined) return undefined;
    const auth = this.#auths.get(authKey(suite.id, corpId));
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

  #activeAuth(suiteId: string, corpId: string): CorpAuth {
    const auth = this.#auths.get(authKey(suiteId, corpId));
    if (auth === undefined || !auth.active) throw new RangeError(`corpId: ${corpId} has not authorized ${suiteId}`);
    return auth;
  }

}

function authKey(suiteId: string, corpId: string): string {
  return `${suiteId}\u0000${corpId}`;
}

function corpOf(owner: string): string {
  return owner.slice(owner.indexOf('\u0000') + 1);
}

/** The suite's app in the corp: what its tokens and tickets are owned by. */
function appKey(auth: CorpAuth): string {
  return authKey(auth.suiteId, auth.corpId);
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

