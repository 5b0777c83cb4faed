import { randomBytes, randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { controlPost, optionalIds, optionalText, requiredText } from './control.js';
import { field, refuse, text, verifyPageSignature, type JsapiVerdict } from './jsapi.js';
import { PushingSim, type PushingApp } from './pushing-sim.js';
import { CallQuota } from './quota.js';
import { seededRandom } from './random.js';
import { isRecord, parseJson, pathOf, queryString, stringField, withoutToken } from './request.js';
import { SimTokens, type SimToken, type TokenCheck } from './tokens.js';
import {
  AUTHORIZER_TOKEN_FAULTS,
  COMPONENT_TOKEN_FAULTS,
  QUERY_AUTH_FAULTS,
  START_PUSH_FAULTS,
  TICKET_FAULTS,
  wechatError as error,
} from './wechat-component-answers.js';
import {
  WECHAT_COMPONENT_ENDPOINTS,
  resolveWeChatComponentOptions,
  type AuthorizationEvent,
  type AuthorizeOptions,
  type ResolvedWeChatComponentOptions,
  type WeChatComponentSimOptions,
} from './wechat-component-options.js';
import { plainSignature, xml, type PushRecord, type SealOptions, type WxPush } from './wxbiz-events.js';

interface ComponentState extends PushingApp {
  ipAllowed: boolean;
  pushing: boolean;
  lastStartPushAt: number;
}

/** One authorizer's authorization of one component; `generation` moves on with each re-authorization. */
interface Authorization {
  readonly componentAppId: string;
  readonly authorizerAppId: string;
  funcInfo: number[];
  active: boolean;
  generation: number;
  /** The refresh token of this generation, once a code of it was exchanged. */
  refreshToken: SimToken | undefined;
  refreshes: number;
}

/** WeChat's quotas are counted per day in China time. */
const CHINA_DAY = { kind: 'aligned', ms: 24 * 3_600_000, offsetMs: 8 * 3_600_000 } as const;
const FOREVER = Infinity;

/**
 * A simulator of the WeChat Open Platform's third-party platform (第三方平台) APIs under
 * `/cgi-bin/component/`: the `component_verify_ticket` pushed to the component's event URL
 * (every {@link WeChatComponentSimOptions.ticketPushIntervalSeconds}, after
 * `api_start_push_ticket`, on {@link pushTicket}), encrypted and signed as the platform does;
 * the component token it buys; authorizations ({@link authorize}, {@link reauthorize},
 * {@link unauthorize}) pushed as events whose code `api_query_auth` exchanges for the
 * authorizer's refresh and access tokens; `api_authorizer_token`, which may hand out a new
 * refresh token; and the authorizer's own `ticket/getticket` and business endpoints.
 *
 * @example
 * ```ts
 * const open = new WeChatComponentSim({ apps: [{ appId: 'wxcomp', appSecret: 's', token: 't', encodingAESKey: '…43 chars…', eventUrl }] });
 * const sims = await startSimulators({ sims: [open] });
 * await open.pushTicket();
 * const { authorizationCode } = await open.authorize('wxauthorizer1');
 * ```
 */
export class WeChatComponentSim extends PushingSim<ComponentState> {
  // `faults`: of the token endpoints (`api_component_token`, `api_start_push_ticket`, `api_query_auth`, `api_authorizer_token`); `ticketFaults`: of `ticket/getticket`.
  readonly #opts: ResolvedWeChatComponentOptions;
  readonly #random: () => number;
  /** By `{component}\0{authorizer}`. */
  readonly #authorizations = new Map<string, Authorization>();
  /** Owned by the component appid. */
  readonly #componentTokens: SimTokens;
  /** Owned by `{component}\0{authorizer}`. */
  readonly #authorizerTokens: SimTokens;
  readonly #refreshTokens: SimTokens;
  readonly #jsapiTickets: SimTokens;
  /** Owned by the component appid. */
  readonly #verifyTickets: SimTokens;
  readonly #preAuthCodes: SimTokens;
  /** Owned by `{component}\0{authorizer}`; the generation each was issued for. */
  readonly #authCodes: SimTokens;
  readonly #codeGeneration = new Map<string, number>();
  /** Tokens retired by a newer one: once past their overlap the platform calls them "not latest" (40001). */
  readonly #superseded = new Set<string>();
  readonly #componentTokenQuota: CallQuota;
  readonly #authorizerTokenQuota: CallQuota;
  readonly #ticketsPerDay: CallQuota;
  readonly #ticketsPerMinute: CallQuota;
  readonly #rotationListeners = new Set<(authorizerAppId: string) => void>();

  constructor(options: WeChatComponentSimOptions) {
    const opts = resolveWeChatComponentOptions(options);
    const components = opts.apps.map(
      (app): ComponentState => ({
        id: app.appId,
        secret: app.appSecret,
        token: app.token,
        encodingAESKey: app.encodingAESKey,
        eventUrl: app.eventUrl,
        ipAllowed: app.ipAllowed ?? true,
        pushing: true,
        lastStartPushAt: -Infinity,
      }),
    );
    const E = WECHAT_COMPONENT_ENDPOINTS;
    super({ ...opts, appOption: 'componentAppId', appNoun: 'component', pushCounters: { push: E.push, delivered: E.pushDelivered, failed: E.pushFailed } }, components);
    this.#opts = opts;
    this.#random = seededRandom(opts.seed);
    // Shaped like the platform's: a number, an underscore, URL-safe characters (tokens); URL-safe characters (the rest).
    const token = (): string => `${randomInt(60, 99)}_${randomBytes(100).toString('base64url')}`;
    this.#componentTokens = new SimTokens(this.now, token);
    this.#authorizerTokens = new SimTokens(this.now, token);
    this.#refreshTokens = new SimTokens(this.now, () => `refreshtoken@@@${randomBytes(32).toString('base64url')}`);
    this.#jsapiTickets = new SimTokens(this.now, () => randomBytes(64).toString('base64url'));
    this.#verifyTickets = new SimTokens(this.now, () => `ticket@@@${randomBytes(48).toString('base64url')}`);
    this.#preAuthCodes = new SimTokens(this.now, () => `preauthcode@@@${randomBytes(36).toString('base64url')}`);
    this.#authCodes = new SimTokens(this.now, () => `queryauthcode@@@${randomBytes(48).toString('base64url')}`);
    this.#componentTokenQuota = new CallQuota(opts.componentTokenDailyQuota, CHINA_DAY, this.now);
    this.#authorizerTokenQuota = new CallQuota(opts.authorizerTokenDailyQuota, CHINA_DAY, this.now);
    this.#ticketsPerDay = new CallQuota(opts.jsapiTicketDailyQuota, CHINA_DAY, this.now);
    this.#ticketsPerMinute = new CallQuota(opts.jsapiTicketMinuteQuota, { kind: 'aligned', ms: 60_000 }, this.now);
  }

  protected routes(app: FastifyInstance, prefix: string): void {
    const c = '/cgi-bin/component';
    app.post(`${c}/api_component_token`, (request, reply) => this.#componentTokenRoute(request, reply));
    app.post(`${c}/api_start_push_ticket`, (request, reply) => this.#startPushRoute(request, reply));
    app.post(`${c}/api_create_preauthcode`, (request, reply) => this.#preAuthCodeRoute(request, reply));
    app.post(`${c}/api_query_auth`, (request, reply) => this.#queryAuthRoute(request, reply));
    app.post(`${c}/api_authorizer_token`, (request, reply) => this.#authorizerTokenRoute(request, reply));
    app.post(`${c}/api_get_authorizer_info`, (request, reply) => this.#authorizerInfoRoute(request, reply));
    app.get('/cgi-bin/ticket/getticket', (request, reply) => this.#ticketRoute(request, reply));
    app.all('/cgi-bin/*', (request, reply) => this.#business(request, reply, prefix));
  }

  /** The periodic pushes stop with {@link stopTicketPushes}, as when the platform's push service stops. */
  protected override pushesTickets(component: ComponentState): boolean {
    return component.pushing;
  }

  /**
   * Control routes of the component (beside `event-url`, `push-ticket` and `pushes`), each taking
   * an optional `componentAppId` (default the first): `POST stop-ticket-pushes`,
   * `POST authorize {authorizerAppId, funcInfo?, preAuthCode?}`, `POST reauthorize {…}`,
   * `POST unauthorize {authorizerAppId}`.
   */
  protected controls(scope: FastifyInstance): void {
    controlPost(scope, '/stop-ticket-pushes', (body) => {
      this.stopTicketPushes(optionalText(body, 'componentAppId'));
      return { pushing: false };
    });
    const authorizeOptions = (body: Record<string, unknown>): AuthorizeOptions => {
      const options: AuthorizeOptions = {};
      const componentAppId = optionalText(body, 'componentAppId');
      const funcInfo = optionalIds(body, 'funcInfo');
      const preAuthCode = optionalText(body, 'preAuthCode');
      if (componentAppId !== undefined) options.componentAppId = componentAppId;
      if (funcInfo !== undefined) options.funcInfo = funcInfo;
      if (preAuthCode !== undefined) options.preAuthCode = preAuthCode;
      return options;
    };
    controlPost(scope, '/authorize', (body) => this.authorize(requiredText(body, 'authorizerAppId'), authorizeOptions(body)));
    controlPost(scope, '/reauthorize', (body) => this.reauthorize(requiredText(body, 'authorizerAppId'), authorizeOptions(body)));
    controlPost(scope, '/unauthorize', (body) => this.unauthorize(requiredText(body, 'authorizerAppId'), optionalText(body, 'componentAppId')));
  }

  /** Component and authorizer tokens, refresh tokens, JS-SDK tickets, verify tickets, pre-auth and authorization codes: what {@link isValid} knows. */
  protected issued(): readonly SimTokens[] {
    return [this.#componentTokens, this.#authorizerTokens, this.#refreshTokens, this.#jsapiTickets, this.#verifyTickets, this.#preAuthCodes, this.#authCodes];
  }

  /** Back to healthy, and the per-minute ticket limit cleared. Tokens, tickets, grants and daily quotas stay. */
  override reset(): void {
    super.reset();
    this.#ticketsPerMinute.reset();
  }

  /**
   * Checks an authorizer's page config `{ appId: authorizer appid, timestamp, nonceStr, signature, url }`
   * as the WeChat client does, against the authorizer's valid JS-SDK tickets.
   */
  verifyJsapi(config: Record<string, unknown>): JsapiVerdict {
    const appId = text(config.appId);
    if (appId === undefined) return refuse('appId: missing (the authorizer appid)');
    const owners = new Set([...this.#authorizations.values()].filter((a) => a.authorizerAppId === appId).map((a) => authKey(a.componentAppId, a.authorizerAppId)));
    if (owners.size === 0) return refuse(`appId: ${appId} never authorized a component`);
    const fields = { timestamp: field(config, 'timestamp'), nonceStr: field(config, 'nonceStr'), signature: field(config, 'signature') };
    return verifyPageSignature(config, fields, {
      tickets: this.#jsapiTickets.known((o) => owners.has(o)),
      now: this.now(),
      maxSkewMs: this.#opts.jsapiMaxSkewSeconds * 1000,
      timestampUnit: 'seconds',
    });
  }

  /** Put the caller's IP in or out of a component's registered IPs (61004). */
  setIpAllowed(allowed: boolean, componentAppId?: string): void {
    this.app(componentAppId).ipAllowed = allowed;
  }

  /** Stop the periodic ticket pushes of a component, as when the platform's push service stops; `api_start_push_ticket` restarts them. */
  stopTicketPushes(componentAppId?: string): void {
    this.app(componentAppId).pushing = false;
  }

  /**
   * Issue a new `component_verify_ticket` and push it to the component's event URL now. Older
   * tickets stay valid to their own expiry (unless {@link WeChatComponentSimOptions.onlyLatestTicket}).
   */
  async pushTicket(componentAppId?: string, options: SealOptions = {}): Promise<PushRecord & { ticket: string }> {
    const component = this.app(componentAppId);
    const ticket = this.#verifyTickets.issue(component.id, this.#opts.verifyTicketLifetimeSeconds * 1000).value;
    const message = { AppId: component.id, CreateTime: this.seconds(), InfoType: 'component_verify_ticket', ComponentVerifyTicket: ticket };
    return { ...(await this.push(component, message, options)), ticket };
  }

  /**
   * The authorizer authorizes the component (scans the install link): a new authorization code is
   * pushed as `authorized`, or as `updateauthorized` when the authorizer had authorized already,
   * which is a re-authorization (see {@link reauthorize}).
   */
  async authorize(authorizerAppId: string, options: AuthorizeOptions = {}): Promise<AuthorizationEvent> {
    const component = this.app(options.componentAppId);
    const key = authKey(component.id, authorizerAppId);
    const existing = this.#authorizations.get(key);
    if (existing?.active === true) return this.reauthorize(authorizerAppId, options);
    this.#checkPreAuthCode(component, options.preAuthCode);
    const auth: Authorization = existing ?? { componentAppId: component.id, authorizerAppId, funcInfo: [], active: true, generation: 0, refreshToken: undefined, refreshes: 0 };
    auth.active = true;
    auth.funcInfo = options.funcInfo ?? DEFAULT_FUNC_INFO;
    this.#newGeneration(auth);
    this.#authorizations.set(key, auth);
    return this.#pushAuthorization(component, auth, 'authorized', options.preAuthCode);
  }

  /**
   * The authorizer authorizes again (changing its permission sets, or not): the authorization's
   * refresh token is invalid from now on (61023); the new one comes with the code pushed as
   * `updateauthorized`. Throws a `RangeError` when the authorizer has not authorized.
   */
  async reauthorize(authorizerAppId: string, options: AuthorizeOptions = {}): Promise<AuthorizationEvent> {
    const component = this.app(options.componentAppId);
    const auth = this.#activeAuthorization(component.id, authorizerAppId);
    this.#checkPreAuthCode(component, options.preAuthCode);
    if (options.funcInfo !== undefined) auth.funcInfo = options.funcInfo;
    this.#newGeneration(auth);
    return this.#pushAuthorization(component, auth, 'updateauthorized', options.preAuthCode);
  }

  /**
   * The authorizer cancels the authorization: `unauthorized` is pushed; its refresh token
   * (61003 from now on), pending codes, access tokens and tickets stop working.
   */
  async unauthorize(authorizerAppId: string, componentAppId?: string): Promise<PushRecord> {
    const component = this.app(componentAppId);
    const auth = this.#activeAuthorization(component.id, authorizerAppId);
    auth.active = false;
    this.#newGeneration(auth);
    const key = authKey(auth.componentAppId, authorizerAppId);
    // Unverified: whether issued authorizer tokens die with the authorization; here they do.
    for (const tokens of [this.#authorizerTokens, this.#jsapiTickets]) for (const t of tokens.known((o) => o === key || o === cardOwner(key))) tokens.revoke(t.value);
    return this.push(component, { AppId: component.id, CreateTime: this.seconds(), InfoType: 'unauthorized', AuthorizerAppid: authorizerAppId });
  }

  /**
   * Calls `listener` whenever `api_authorizer_token` hands out a new refresh token, just before it
   * answers (the old one is dead from then on): a test can stop tokenhub at the one moment its
   * grant is newer at the platform than in its store. Answers the way to stop listening.
   */
  onRotation(listener: (authorizerAppId: string) => void): () => void {
    this.#rotationListeners.add(listener);
    return () => this.#rotationListeners.delete(listener);
  }

  /** The current refresh token of an authorization (the grant), if one was handed out and is still valid. */
  refreshTokenOf(authorizerAppId: string, componentAppId?: string): string | undefined {
    const auth = this.#authorizations.get(authKey(this.app(componentAppId).id, authorizerAppId));
    return auth?.refreshToken !== undefined && this.#refreshTokens.isValid(auth.refreshToken.value) ? auth.refreshToken.value : undefined;
  }

  /**
   * A push as the platform would send it for this component: the message (fields in order) as
   * XML, encrypted, in `<xml><AppId/><Encrypt/></xml>`, with `signature`, `timestamp`, `nonce`,
   * `encrypt_type=aes` and `msg_signature` in the query (for crafting, replaying or tampering in tests).
   */
  buildPush(message: Readonly<Record<string, string | number>>, componentAppId?: string, options: SealOptions = {}): WxPush {
    const component = this.app(componentAppId);
    const sealed = this.seal(component, message, options);
    return {
      method: 'POST',
      query: {
        signature: plainSignature(component.token, sealed.timestamp, sealed.nonce),
        timestamp: sealed.timestamp,
        nonce: sealed.nonce,
        encrypt_type: 'aes',
        msg_signature: sealed.msgSignature,
      },
      body: xml({ AppId: component.id, Encrypt: sealed.encrypt }),
    };
  }

  /** How many distinct component tokens were issued, for one component or all. */
  componentTokensIssued(componentAppId?: string): number {
    return this.#componentTokens.issued(componentAppId);
  }

  /** How many distinct authorizer access tokens were issued, for one authorizer (of any component) or all. */
  authorizerTokensIssued(authorizerAppId?: string): number {
    if (authorizerAppId === undefined) return this.#authorizerTokens.issued();
    return [...this.#authorizations.values()].filter((a) => a.authorizerAppId === authorizerAppId).reduce((n, a) => n + this.#authorizerTokens.issued(authKey(a.componentAppId, a.authorizerAppId)), 0);
  }

  /** How many distinct JS-SDK tickets were issued, for one authorizer or all. */
  ticketsIssued(authorizerAppId?: string): number {
    if (authorizerAppId === undefined) return this.#jsapiTickets.issued();
    return [...this.#authorizations.values()].filter((a) => a.authorizerAppId === authorizerAppId).reduce((n, a) => n + this.#jsapiTickets.issued(authKey(a.componentAppId, a.authorizerAppId)), 0);
  }

  async #componentTokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const appId = stringField(body, 'component_appid');
    this.counters.increment(WECHAT_COMPONENT_ENDPOINTS.componentToken, appId ?? '');
    if (await this.faulted(request, reply, COMPONENT_TOKEN_FAULTS)) return reply;

    const refused = this.#refuseCredentials(body, 'component_appsecret');
    if (refused !== undefined) return reply.send(refused);
    const component = this.apps.get(appId!)!;
    const ticket = stringField(body, 'component_verify_ticket');
    const check = ticket === undefined ? undefined : this.#verifyTickets.check(ticket);
    if (check?.status === 'expired' && this.#verifyTickets.known((o) => o === component.id).some((t) => t.value === ticket)) {
      return reply.send(error(61005, 'component ticket is expired'));
    }
    if (check?.status !== 'valid' || check.token.owner !== component.id) return reply.send(error(61006, 'component ticket is invalid'));
    if (this.#opts.onlyLatestTicket && this.#verifyTickets.current(component.id) !== check.token) return reply.send(error(61006, 'component ticket is invalid'));
    if (!this.#componentTokenQuota.fits(component.id)) return reply.send(error(45009, 'reach max api daily quota limit'));
    this.#componentTokenQuota.take(component.id);
    const token = this.#issueRetiring(this.#componentTokens, component.id);
    return reply.send({ component_access_token: token.value, expires_in: this.#opts.tokenLifetimeSeconds });
  }

  async #startPushRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const appId = stringField(body, 'component_appid');
    this.counters.increment(WECHAT_COMPONENT_ENDPOINTS.startPushTicket, appId ?? '');
    if (await this.faulted(request, reply, START_PUSH_FAULTS)) return reply;

    const refused = this.#refuseCredentials(body, 'component_secret');
    if (refused !== undefined) return reply.send(refused);
    const component = this.apps.get(appId!)!;
    const now = this.now();
    if (now - component.lastStartPushAt < this.#opts.startPushTicketIntervalSeconds * 1000) {
      return reply.send(error(45011, 'api minute-quota reach limit  mustslower  retry next minute'));
    }
    component.lastStartPushAt = now;
    const wasPushing = component.pushing;
    component.pushing = true;
    // The ticket comes later, by its own request to the event URL (unverified: that one comes at once).
    this.later(this.#opts.startPushDelayMs, () => void this.pushTicket(component.id));
    return reply.send({ errcode: 0, errmsg: wasPushing ? 'in a normal state' : 'ok' });
  }

  async #preAuthCodeRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const { component, refusal } = this.#componentOf(request);
    this.counters.increment(WECHAT_COMPONENT_ENDPOINTS.preAuthCode, component?.id ?? '');
    if (component === undefined) return reply.send(refusal);
    const mismatch = this.#refuseComponentAppId(parseJson(request.body), component);
    if (mismatch !== undefined) return reply.send(mismatch);
    const code = this.#preAuthCodes.issue(component.id, this.#opts.preAuthCodeLifetimeSeconds * 1000);
    return reply.send({ pre_auth_code: code.value, expires_in: this.#opts.preAuthCodeLifetimeSeconds });
  }

  async #queryAuthRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const value = stringField(body, 'authorization_code');
    const code = value === undefined ? undefined : this.#authCodes.check(value);
    const owner = code?.status === 'valid' ? code.token.owner : undefined;
    this.counters.increment(WECHAT_COMPONENT_ENDPOINTS.queryAuth, owner === undefined ? '' : authorizerOf(owner));
    if (await this.faulted(request, reply, QUERY_AUTH_FAULTS)) return reply;

    const { component, refusal } = this.#componentOf(request);
    if (component === undefined) return reply.send(refusal);
    const mismatch = this.#refuseComponentAppId(body, component);
    if (mismatch !== undefined) return reply.send(mismatch);
    if (value === undefined) return reply.send(error(47001, 'data format error: authorization_code missing'));
    if (code?.status === 'expired' && this.#codeGeneration.has(value)) return reply.send(error(61010, 'code is expired'));
    const auth = owner === undefined ? undefined : this.#authorizations.get(owner);
    if (auth === undefined || auth.componentAppId !== component.id || !auth.active || this.#codeGeneration.get(value) !== auth.generation) {
      return reply.send(error(61009, 'code is invalid'));
    }
    if (!this.#opts.reusableAuthorizationCodes) this.#authCodes.revoke(value);
    auth.refreshToken ??= this.#refreshTokens.issue(owner!, FOREVER);
    const access = this.#issueRetiring(this.#authorizerTokens, owner!);
    return reply.send({
      authorization_info: {
        authorizer_appid: auth.authorizerAppId,
        authorizer_access_token: access.value,
        expires_in: this.#opts.tokenLifetimeSeconds,
        authorizer_refresh_token: auth.refreshToken.value,
        func_info: funcInfo(auth.funcInfo),
      },
    });
  }

  async #authorizerTokenRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const authorizerAppId = stringField(body, 'authorizer_appid');
    this.counters.increment(WECHAT_COMPONENT_ENDPOINTS.authorizerToken, authorizerAppId ?? '');
    if (await this.faulted(request, reply, AUTHORIZER_TOKEN_FAULTS)) return reply;

    const { component, refusal } = this.#componentOf(request);
    if (component === undefined) return reply.send(refusal);
    const mismatch = this.#refuseComponentAppId(body, component);
    if (mismatch !== undefined) return reply.send(mismatch);
    if (authorizerAppId === undefined) return reply.send(error(41002, 'appid missing'));
    const refresh = stringField(body, 'authorizer_refresh_token');
    if (refresh === undefined) return reply.send(error(41003, 'refresh_token missing'));
    const key = authKey(component.id, authorizerAppId);
    const auth = this.#authorizations.get(key);
    if (auth === undefined || !auth.active) return reply.send(error(61003, 'component is not authorized by this account'));
    const check = this.#refreshTokens.check(refresh);
    if (check.status !== 'valid' || check.token !== auth.refreshToken) {
      this.counters.increment(WECHAT_COMPONENT_ENDPOINTS.refreshTokenRejected, authorizerAppId);
      return reply.send(error(61023, 'refresh_token is invalid'));
    }
    if (!this.#authorizerTokenQuota.fits(key)) return reply.send(error(45009, 'reach max api daily quota limit'));
    this.#authorizerTokenQuota.take(key);
    auth.refreshes++;
    if (this.#rotates(auth)) {
      this.#refreshTokens.revoke(auth.refreshToken.value);
      auth.refreshToken = this.#refreshTokens.issue(key, FOREVER);
      for (const listener of this.#rotationListeners) listener(authorizerAppId);
    }
    const access = this.#issueRetiring(this.#authorizerTokens, key);
    return reply.send({ authorizer_access_token: access.value, expires_in: this.#opts.tokenLifetimeSeconds, authorizer_refresh_token: auth.refreshToken.value });
  }

  async #authorizerInfoRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const body = parseJson(request.body);
    const authorizerAppId = stringField(body, 'authorizer_appid');
    this.counters.increment(WECHAT_COMPONENT_ENDPOINTS.authorizerInfo, authorizerAppId ?? '');
    const { component, refusal } = this.#componentOf(request);
    if (component === undefined) return reply.send(refusal);
    const mismatch = this.#refuseComponentAppId(body, component);
    if (mismatch !== undefined) return reply.send(mismatch);
    if (authorizerAppId === undefined) return reply.send(error(41002, 'appid missing'));
    const auth = this.#authorizations.get(authKey(component.id, authorizerAppId));
    if (auth === undefined || !auth.active) return reply.send(error(61003, 'component is not authorized by this account'));
    return reply.send({
      authorizer_info: {
        nick_name: `Sim account ${authorizerAppId}`,
        head_img: '',
        service_type_info: { id: 2 },
        verify_type_info: { id: 0 },
        user_name: `gh_${authorizerAppId.slice(-12)}`,
        principal_name: 'Sim Co., Ltd.',
        alias: '',
        business_info: { open_store: 0, open_scan: 0, open_pay: 0, open_card: 0, open_shake: 0 },
        qrcode_url: '',
      },
      // The platform's answer carries the refresh token too (a way back to a grant whose push was lost).
      authorization_info: {
        authorizer_appid: authorizerAppId,
        ...(auth.refreshToken === undefined ? {} : { authorizer_refresh_token: auth.refreshToken.value }),
        func_info: funcInfo(auth.funcInfo),
      },
    });
  }

  /** `ticket/getticket?type=jsapi|wx_card` with an authorizer token, as for an Official Account. */
  async #ticketRoute(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#authorizerTokens.check(value);
    const owner = check?.status === 'valid' ? check.token.owner : undefined;
    this.counters.increment(WECHAT_COMPONENT_ENDPOINTS.ticket, owner === undefined ? '' : authorizerOf(owner));
    if (await this.ticketFaulted(request, reply, TICKET_FAULTS)) return reply;

    if (owner === undefined) return reply.send(this.#authorizerRefusal(value, check));
    const type = queryString(request.query, 'type');
    if (type !== 'jsapi' && type !== 'wx_card') return reply.send(error(40097, 'invalid args'));
    if (!this.#ticketsPerDay.fits(owner)) return reply.send(error(45009, 'reach max api daily quota limit'));
    if (!this.#ticketsPerMinute.fits(owner)) return reply.send(error(45011, 'api minute-quota reach limit  mustslower  retry next minute'));
    this.#ticketsPerDay.take(owner);
    this.#ticketsPerMinute.take(owner);
    // Card tickets are kept apart from jsapi tickets; only the latter sign page configs.
    const key = type === 'jsapi' ? owner : cardOwner(owner);
    const ticket = this.#jsapiTickets.current(key) ?? this.#jsapiTickets.issue(key, this.#opts.jsapiTicketLifetimeSeconds * 1000);
    return reply.send({ errcode: 0, errmsg: 'ok', ticket: ticket.value, expires_in: Math.floor((ticket.expiresAt - this.now()) / 1000) });
  }

  #business(request: FastifyRequest, reply: FastifyReply, prefix: string): FastifyReply {
    const value = queryString(request.query, 'access_token');
    const check = value === undefined ? undefined : this.#authorizerTokens.check(value);
    const owner = check?.status === 'valid' ? check.token.owner : undefined;
    this.counters.increment(WECHAT_COMPONENT_ENDPOINTS.business, owner === undefined ? '' : authorizerOf(owner));
    if (owner === undefined) return reply.send(this.#authorizerRefusal(value, check));
    return reply.send({
      errcode: 0,
      errmsg: 'ok',
      appid: authorizerOf(owner),
      component_appid: owner.slice(0, owner.indexOf('\u0000')),
      method: request.method,
      path: pathOf(request.url).slice(prefix.length),
      query: withoutToken(request.query),
      body: parseJson(request.body),
    });
  }

  /** The refusal of a call naming a component by appid + secret (`api_component_token`, `api_start_push_ticket`), if any. */
  #refuseCredentials(body: unknown, secretField: string): Record<string, unknown> | undefined {
    if (!isRecord(body)) return error(47001, 'data format error');
    const appId = stringField(body, 'component_appid');
    if (appId === undefined) return error(41002, 'appid missing');
    const secret = stringField(body, secretField);
    if (secret === undefined) return error(41004, 'appsecret missing');
    const component = this.apps.get(appId);
    if (component === undefined) return error(40013, 'invalid appid');
    // Unverified: 40125 rather than 40001, which the doc gives for a wrong secret as well.
    if (component.secret !== secret) return error(40125, 'invalid appsecret');
    if (!component.ipAllowed) return error(61004, 'access clientip is not registered');
    return undefined;
  }

  /** The component of the request's `component_access_token` (or `access_token`, as the newer docs name it), or the platform's refusal. */
  #componentOf(request: FastifyRequest): { component: ComponentState; refusal?: undefined } | { component?: undefined; refusal: Record<string, unknown> } {
    const value = queryString(request.query, 'component_access_token') ?? queryString(request.query, 'access_token');
    if (value === undefined) return { refusal: error(41001, 'access_token missing') };
    const check = this.#componentTokens.check(value);
    if (check.status === 'valid') {
      const component = this.apps.get(check.token.owner)!;
      if (!component.ipAllowed) return { refusal: error(61004, 'access clientip is not registered') };
      return { component };
    }
    if (this.#authorizerTokens.check(value).status !== 'invalid') return { refusal: error(61014, 'must use component token for component api') };
    if (check.status === 'expired' && !this.#superseded.has(value)) return { refusal: error(42001, 'access_token expired') };
    return { refusal: error(40001, 'invalid credential, access_token is invalid or not latest') };
  }

  /** A body's `component_appid` must name the token's component (unverified: the code answered otherwise). */
  #refuseComponentAppId(body: unknown, component: ComponentState): Record<string, unknown> | undefined {
    if (!isRecord(body)) return error(47001, 'data format error');
    return stringField(body, 'component_appid') === component.id ? undefined : error(40013, 'invalid appid');
  }

  /** 41001 missing, 42001 expired, 40001 invalid or not latest (a component token included). */
  #authorizerRefusal(value: string | undefined, check: TokenCheck | undefined): Record<string, unknown> {
    if (value === undefined || check === undefined) return error(41001, 'access_token missing');
    if (check.status === 'expired' && !this.#superseded.has(value)) return error(42001, 'access_token expired');
    return error(40001, 'invalid credential, access_token is invalid or not latest');
  }

  /** A new token for `owner`; its previous one keeps working for the overlap, then is "not latest". */
  #issueRetiring(tokens: SimTokens, owner: string): SimToken {
    const previous = tokens.current(owner);
    if (previous !== undefined) {
      previous.expiresAt = Math.min(previous.expiresAt, this.now() + this.#opts.tokenOverlapSeconds * 1000);
      this.#superseded.add(previous.value);
    }
    return tokens.issue(owner, this.#opts.tokenLifetimeSeconds * 1000);
  }

  #rotates(auth: Authorization): boolean {
    const every = this.#opts.refreshTokenRotateEvery;
    if (every > 0 && auth.refreshes % every === 0) return true;
    return this.#opts.refreshTokenRotateProbability > 0 && this.#random() < this.#opts.refreshTokenRotateProbability;
  }

  /** A (re-)authorization or a cancellation: the refresh token and the codes of the previous generation die. */
  #newGeneration(auth: Authorization): void {
    auth.generation++;
    if (auth.refreshToken !== undefined) this.#refreshTokens.revoke(auth.refreshToken.value);
    auth.refreshToken = undefined;
    auth.refreshes = 0;
    const key = authKey(auth.componentAppId, auth.authorizerAppId);
    for (const code of this.#authCodes.known((o) => o === key)) this.#authCodes.revoke(code.value);
  }

  async #pushAuthorization(component: ComponentState, auth: Authorization, infoType: 'authorized' | 'updateauthorized', preAuthCode: string | undefined): Promise<AuthorizationEvent> {
    const pre = preAuthCode ?? this.#preAuthCodes.issue(component.id, this.#opts.preAuthCodeLifetimeSeconds * 1000).value;
    const code = this.#authCodes.issue(authKey(component.id, auth.authorizerAppId), this.#opts.authorizationCodeLifetimeSeconds * 1000);
    this.#codeGeneration.set(code.value, auth.generation);
    const message = {
      AppId: component.id,
      CreateTime: this.seconds(),
      InfoType: infoType,
      AuthorizerAppid: auth.authorizerAppId,
      AuthorizationCode: code.value,
      AuthorizationCodeExpiredTime: Math.floor(code.expiresAt / 1000),
      PreAuthCode: pre,
    };
    const pushed = await this.push(component, message);
    return { ...pushed, infoType, authorizationCode: code.value, preAuthCode: pre };
  }

  #checkPreAuthCode(component: ComponentState, preAuthCode: string | undefined): void {
    if (preAuthCode === undefined) return;
    const check = this.#preAuthCodes.check(preAuthCode);
    if (check.status !== 'valid' || check.token.owner !== component.id) throw new RangeError(`preAuthCode: not a valid pre_auth_code of ${component.id}`);
  }

  #activeAuthorization(componentAppId: string, authorizerAppId: string): Authorization {
    const auth = this.#authorizations.get(authKey(componentAppId, authorizerAppId));
    if (auth === undefined || !auth.active) throw new RangeError(`authorizerAppId: ${authorizerAppId} has not authorized ${componentAppId}`);
    return auth;
  }

}

const DEFAULT_FUNC_INFO = [1, 2, 3];

function authKey(componentAppId: string, authorizerAppId: string): string {
  return `${componentAppId}\u0000${authorizerAppId}`;
}

function cardOwner(owner: string): string {
  return `wx_card:${owner}`;
}

function authorizerOf(owner: string): string {
  return owner.slice(owner.indexOf('\u0000') + 1);
}

function funcInfo(ids: readonly number[]): { funcscope_category: { id: number } }[] {
  return ids.map((id) => ({ funcscope_category: { id } }));
}

