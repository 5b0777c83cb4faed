import type { Dispatcher } from 'undici';
import { TokenHubError, UpstreamError, badRequest, type FailureClass } from '../core/errors.js';
import type {
  Authorization,
  AuthorizationApi,
  BusinessAnswer,
  EventAnswer,
  EventContext,
  EventReceiver,
  FetchContext,
  FetchRequest,
  FetchedToken,
  HealthContext,
  KindSpec,
  PageSigning,
  PageToSign,
  Provider,
  ProviderHealth,
  StoredGrant,
  TokenSourceRules,
} from '../core/types.js';
import { errcodeIn, tokenInQuery } from './business.js';
import { errcodeAnswer as answer, tokenFields, type Classified } from './errcode.js';
import { callPlatform, endpoint, type UpstreamResponse } from './http.js';
import { pageSigning, wxConfig } from './jsapi.js';
import { kindsOf } from './kinds.js';
import { GrantLedger } from './third-party/grant-ledger.js';
import { PendingCodes } from './third-party/pending-codes.js';
import { PushChecker, type OpenedPush } from './third-party/push.js';
import { PushedTicket, ticketTime, type PushedTicketOptions } from './third-party/pushed-ticket.js';
import { UnsettledCalls } from './third-party/unsettled-calls.js';
import { withToken } from './tickets.js';

export { readTicket } from './third-party/pushed-ticket.js';
import { WECHAT_BASE_URL, WECHAT_CODES, WECHAT_TOKEN_INVALID_CODES } from './wechat.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

/** Names of a component's durable state. */
export const WECHAT_COMPONENT_STATE = {
  /** The newest pushed `component_verify_ticket`: `{"ticket":…,"at":<its CreateTime, epoch ms>}`. */
  ticket: 'component_verify_ticket',
  /** Set when `api_start_push_ticket` was called; expires after the interval. */
  startPushAt: 'component_start_push_at',
} as const;

/** The grant of one authorizer is kept under this name and its appid. */
export const AUTHORIZER_GRANT_PREFIX = 'authorizer:';

/** What is kept per authorizer: the refresh token (the grant) and public facts of the authorization. */
export interface AuthorizerGrant {
  readonly refreshToken: string;
  /** Epoch ms of the authorization (install or re-authorization). */
  readonly authorizedAt: number;
  /** The permission sets (权限集 ids) granted. */
  readonly funcInfo: readonly number[];
  /** The platform answered 61023 to it: kept (never deleted for it), no longer used until a new authorization. */
  readonly rejected?: { readonly at: number; readonly platformCode: number };
}

/** A component's kinds: its own token from the pushed ticket; each authorizer's token from its grant; the authorizer's JS-SDK ticket. */
export const WECHAT_COMPONENT_KINDS: readonly KindSpec[] = [
  { name: 'component_access_token', tenantScoped: false },
  { name: 'authorizer_access_token', tenantScoped: true, derivedFrom: 'component_access_token' },
  { name: 'jsapi_ticket', tenantScoped: true, derivedFrom: 'authorizer_access_token' },
];

/**
 * Every token the platform issues here is replaced by the next call, the old one living on a few
 * minutes (unverified; modelled on the OA's classic `cgi-bin/token`): refresh in the last minutes.
 */
export const WECHAT_COMPONENT_RULES: TokenSourceRules = { refreshAheadMs: 4 * MINUTE };

export const DEFAULT_WECHAT_COMPONENT_OPTIONS = {
  /** `api_start_push_ticket` at most this often per component. */
  startPushIntervalMs: MINUTE,
  /** The ticket lives 12 h (documented). */
  ticketTtlMs: 12 * 60 * MINUTE,
  /** `Retry-After` while the ticket is pending. */
  pendingRetryMs: 2 * SECOND,
  /** Pushed every 10 min: three missed pushes mean the events URL is not reached. */
  ticketStaleMs: 30 * MINUTE,
} as const;

const TICKET_EXPIRED = 61005;
const TICKET_INVALID = 61006;
const REFRESH_TOKEN_INVALID = 61023;
const NOT_AUTHORIZED = 61003;
const CODE_INVALID = 61009;
const CODE_EXPIRED = 61010;
/** An authorization code's validity when a push does not say (the install redirect's `expires_in`). */
const CODE_TTL_MS = 10 * MINUTE;

/**
 * What the component APIs' codes mean. On calls made with the component token, 40001 means that
 * token (not the secret); on `api_component_token` it keeps the OA's meaning.
 */
const COMPONENT_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([
  ...WECHAT_CODES,
  [40001, 'token-invalid'],
  [NOT_AUTHORIZED, 'credentials'], // not authorized by this account
  [61004, 'credentials'], // caller IP not registered
  [REFRESH_TOKEN_INVALID, 'credentials'],
]);
const TOKEN_CALL_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([...WECHAT_CODES, [61004, 'credentials']]);
/** The authorizer's ticket endpoint: as an OA's, 40001 is the token sent. */
const TICKET_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([...WECHAT_CODES, [40001, 'token-invalid']]);

export interface WeChatComponentProviderOptions extends PushedTicketOptions {
  dispatcher?: Dispatcher | undefined;
  /** `component_appid`. */
  appId: string;
  /** `component_appsecret`. */
  appSecret: string;
  /** The message settings' Token. */
  token: string;
  /** The message settings' EncodingAESKey (43 letters and digits). */
  encodingAESKey: string;
  baseUrl?: string | undefined;
  startPushIntervalMs?: number;
}

/**
 * A WeChat Open Platform third-party platform (第三方平台, `appType: component`): the
 * `component_access_token` from the `component_verify_ticket` the platform pushes to the events
 * URL; per authorizer (an Official Account or Mini Program that authorized the component, its
 * appid the tenant key) an `authorizer_access_token` from the grant kept at authorization, the
 * `authorizer_refresh_token`, replaced by compare-and-set whenever the platform hands out a new
 * one; and the authorizer's `jsapi_ticket`, as for an OA.
 *
 * @example
 * ```ts
 * const provider = new WeChatComponentProvider({ appId: 'wxcomponent', appSecret, token, encodingAESKey });
 * ```
 */
export class WeChatComponentProvider implements Provider {
  readonly platform = 'wechat';
  readonly kindSpecs = WECHAT_COMPONENT_KINDS;
  readonly kinds = kindsOf(WECHAT_COMPONENT_KINDS).kinds;
  readonly tenantScoped = kindsOf(WECHAT_COMPONENT_KINDS).tenantScoped;
  readonly refreshAheadMs = WECHAT_COMPONENT_RULES.refreshAheadMs;
  /** A business call is the authorizer's (`X-Tokenhub-Tenant-Key`: its appid). */
  readonly businessKind = 'authorizer_access_token';
  readonly #appId: string;
  readonly #appSecret: string;
  readonly #baseUrl: string;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #checker: PushChecker;
  readonly #ticket: PushedTicket;
  readonly #calls = new UnsettledCalls();
  /** Tells an authorizer that never authorized from grants the store lost. */
  readonly #ledger = new GrantLedger(this.platform);
  /** Codes of authorizations pushed while they could not be exchanged, kept until they can. */
  readonly #codes = new PendingCodes({
    exchange: async (code, context) => (await this.#exchange(code, context)).tenantKey,
    refused: (err) => err instanceof TokenHubError && (err.platformCode === CODE_INVALID || err.platformCode === CODE_EXPIRED),
  });

  constructor(options: WeChatComponentProviderOptions) {
    this.#appId = options.appId;
    this.#appSecret = options.appSecret;
    this.#baseUrl = options.baseUrl ?? WECHAT_BASE_URL;
    this.#dispatcher = options.dispatcher;
    this.#checker = new PushChecker({ token: options.token, encodingAESKey: options.encodingAESKey, receiveIds: [options.appId] });
    const d = DEFAULT_WECHAT_COMPONENT_OPTIONS;
    this.#ticket = new PushedTicket({
      platform: this.platform,
      name: WECHAT_COMPONENT_STATE.ticket,
      defaults: d,
      refusedCodes: [TICKET_EXPIRED, TICKET_INVALID],
      arrival: "tokenhub asked the platform to push one (api_start_push_ticket) to the app's events URL (POST /v1/apps/{app}/events) and waits for it",
      ask: { marker: WECHAT_COMPONENT_STATE.startPushAt, intervalMs: options.startPushIntervalMs ?? d.startPushIntervalMs, call: (context) => this.#startPush(context) },
    }, options);
  }

  readonly attachToken = tokenInQuery;
  readonly isTokenRejected = ({ body }: BusinessAnswer): boolean => errcodeIn(body, WECHAT_TOKEN_INVALID_CODES);
  readonly businessUrl = (path: string): URL => endpoint(this.#baseUrl, path);

  /** An authorizer's pages, signed as an OA's: `wx.config{appId: the authorizer appid, …}`. */
  readonly pages: PageSigning = {
    kinds: ['jsapi_ticket'],
    sign: (kind: string, ticket: string, page: PageToSign) => {
      if (page.tenantKey === undefined) throw badRequest("tenant_key: required: an authorizer's pages are signed with its own ticket (the authorizer appid)");
      return pageSigning({ jsapi_ticket: { call: 'wx.config', unit: 'seconds', ids: { appId: page.tenantKey }, config: wxConfig } }).sign(kind, ticket, page);
    },
  };

  /** The events URL (授权事件接收 URL): tickets and authorization events, checked before anything is kept. */
  readonly events: EventReceiver = {
    methods: ['POST'],
    receive: (event, context) => this.#checker.accept(event, context, (push) => this.#handle(push, context)),
  };

  readonly authorizations: AuthorizationApi = {
    authorize: (code, context) => this.#exchange(code, context),
    list: async (context) => {
      const grants = await context.grants.list(AUTHORIZER_GRANT_PREFIX);
      await (grants.length === 0 ? this.#ledger.assertNotLost(context.grants) : this.#ledger.kept(context.grants));
      return grants.map(({ name, grant }) => authorizationOf(name.slice(AUTHORIZER_GRANT_PREFIX.length), readGrant(grant)));
    },
    revoke: (tenantKey, context) => context.grants.delete(grantName(tenantKey)),
    preAuthCode: (context) =>
      withToken(this.platform, context, 'component_access_token', undefined, async (token) => {
        const { res, body } = await this.#component('api_create_preauthcode', token, { component_appid: this.#appId }, context.signal);
        const { value, expiresInMs } = tokenFields(this.platform, res, body, 'pre_auth_code', 'expires_in');
        return { preAuthCode: value, expiresInMs };
      }),
  };

  async health(context: HealthContext): Promise<ProviderHealth> {
    const ticket = await this.#ticket.health(context);
    if (context.grants === undefined) return { ticket };
    await this.#ledger.observe(context.grants);
    const grants = await context.grants.list(AUTHORIZER_GRANT_PREFIX);
    return { ticket, grants: { count: grants.length, rejected: grants.filter(({ grant }) => readGrant(grant).rejected !== undefined).length } };
  }

  async fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    if (request.kind === 'component_access_token') return this.#componentToken(context);
    const tenantKey = request.tenantKey;
    if (tenantKey === undefined) throw new UpstreamError('credentials', `a ${request.kind} needs a tenant_key (the authorizer appid)`, { platform: this.platform });
    if (request.kind === 'jsapi_ticket') return withToken(this.platform, context, 'authorizer_access_token', tenantKey, (token) => this.#jsapiTicket(token, context.signal));
    return withToken(this.platform, context, 'component_access_token', undefined, (token) => this.#authorizerToken(tenantKey, token, context, request.reason !== 'cold'));
  }

  async #handle(push: OpenedPush, context: EventContext): Promise<EventAnswer> {
    const { fields } = push;
    const success: EventAnswer = { body: 'success', contentType: 'text/plain; charset=utf-8' };
    switch (fields.InfoType) {
      case 'component_verify_ticket': {
        const ticket = fields.ComponentVerifyTicket;
        if (!ticket) throw badRequest('component_verify_ticket without its ComponentVerifyTicket');
        if ((await this.#ticket.received(ticket, ticketTime(fields.CreateTime, push.signedAt), context)) === 'new') {
          // Codes pushed while no ticket was at hand can be exchanged now.
          void this.#codes.drain(context).catch((err: unknown) => context.log.warn({ err: String(err) }, 'kept authorization codes: not exchanged yet'));
        }
        return success;
      }
      case 'authorized':
      case 'updateauthorized': {
        const code = fields.AuthorizationCode;
        if (!code) throw badRequest(`${fields.InfoType} without its AuthorizationCode`);
        const expiresAt = /^\d+$/.test(fields.AuthorizationCodeExpiredTime ?? '') ? Number(fields.AuthorizationCodeExpiredTime) * SECOND : context.now() + CODE_TTL_MS;
        await this.#codes.take(code, { infoType: fields.InfoType, expiresAt, ...(fields.AuthorizerAppid ? { tenantKey: fields.AuthorizerAppid } : {}) }, context);
        return success;
      }
      case 'unauthorized': {
        const tenantKey = fields.AuthorizerAppid;
        if (!tenantKey) throw badRequest('unauthorized without its AuthorizerAppid');
        const deleted = await context.grants.delete(grantName(tenantKey));
        await context.forgetTenant?.(tenantKey);
        context.log.info({ tenantKey, deleted }, 'authorization cancelled: grant deleted');
        return success;
      }
      default:
        context.log.info({ infoType: fields.InfoType }, 'event ignored');
        return success;
    }
  }

  /** The component token from the kept ticket; without one, a push is asked for (61005/61006 refuse it). */
  #componentToken(context: FetchContext): Promise<FetchedToken> {
    return this.#ticket.use(context, async (ticket) => {
      const res = await this.#post('/cgi-bin/component/api_component_token', undefined, { component_appid: this.#appId, component_appsecret: this.#appSecret, component_verify_ticket: ticket }, context.signal);
      return tokenFields(this.platform, res, answer(this.platform, res, classifier(context.now(), TOKEN_CALL_CODES)), 'component_access_token', 'expires_in');
    });
  }

  /** `api_start_push_ticket`: the platform pushes a ticket soon. */
  async #startPush(context: FetchContext): Promise<void> {
    const res = await this.#post('/cgi-bin/component/api_start_push_ticket', undefined, { component_appid: this.#appId, component_secret: this.#appSecret }, context.signal);
    try {
      answer(this.platform, res, classifier(context.now(), TOKEN_CALL_CODES));
    } catch (err) {
      // Asked too often: the pushes are on their way all the same.
      if (!(err instanceof UpstreamError) || err.failure !== 'rate-limited') throw err;
    }
  }

  /**
   * The authorizer's token from its grant. The grant is read, used and, when the platform handed
   * out a new refresh token, replaced by compare-and-set; a lost race re-reads it and calls again
   * with the winner's. 61023 is believed only after one more read: another instance may have
   * rotated the grant between our read and our call. A call whose answer was never stored (noted
   * by {@link UnsettledCalls}) or a 61023 to the grant as stored (an older one: restored from a
   * backup, or the store lost the answer) first asks the platform for the authorizer's current
   * refresh token (`api_get_authorizer_info`), so that a grant the platform still honours is
   * never marked rejected.
   */
  async #authorizerToken(tenantKey: string, componentToken: string, context: FetchContext, hadToken: boolean): Promise<FetchedToken> {
    const name = grantName(tenantKey);
    let fetched: FetchedToken | undefined;
    let used: StoredGrant | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        await context.grants.update(name, async (current) => {
          if (current === undefined) throw await this.#ledger.missing(context.grants, `authorizer ${tenantKey}`, hadToken);
          await this.#ledger.kept(context.grants);
          used = current;
          const kept = readGrant(current);
          if (kept.rejected !== undefined) throw grantRejected(tenantKey, kept.rejected.platformCode);
          const unsettled = await this.#calls.unsettled(context.state, name, current.version);
          const refreshToken = (unsettled ? await this.#platformRefreshToken(tenantKey, componentToken, context) : undefined) ?? kept.refreshToken;
          await this.#calls.begin(context.state, name, current.version);
          const { res, body } = await this.#component(
            'api_authorizer_token',
            componentToken,
            { component_appid: this.#appId, authorizer_appid: tenantKey, authorizer_refresh_token: refreshToken },
            context.signal,
          );
          fetched = tokenFields(this.platform, res, body, 'authorizer_access_token', 'expires_in');
          const next = typeof body.authorizer_refresh_token === 'string' && body.authorizer_refresh_token !== '' ? body.authorizer_refresh_token : refreshToken;
          if (next === kept.refreshToken) return undefined;
          return JSON.stringify({ ...kept, refreshToken: next } satisfies AuthorizerGrant);
        });
        await this.#calls.settle(context.state, name);
        return fetched!;
      } catch (err) {
        if (!(err instanceof UpstreamError)) throw err;
        // The authorizer no longer authorizes the component (its `unauthorized` push was missed): its grant's failure.
        if (err.platformCode === NOT_AUTHORIZED) throw grantRejected(tenantKey, NOT_AUTHORIZED, err);
        if (err.platformCode !== REFRESH_TOKEN_INVALID || used === undefined) throw err;
        const now = await context.grants.get(name);
        if (now === undefined) throw await this.#ledger.missing(context.grants, `authorizer ${tenantKey}`, hadToken);
        if (attempt === 1 && now.version !== used.version) continue;
        if (attempt === 1 && (await this.#adoptPlatformGrant(name, now, tenantKey, componentToken, context))) continue;
        await this.#reject(name, used, context);
        throw grantRejected(tenantKey, REFRESH_TOKEN_INVALID, err);
      }
    }
  }

  /** Writes the platform's current refresh token of the authorizer over `stale` when it differs; true when there was one to write. */
  async #adoptPlatformGrant(name: string, stale: StoredGrant, tenantKey: string, componentToken: string, context: FetchContext): Promise<boolean> {
    const current = await this.#platformRefreshToken(tenantKey, componentToken, context);
    const kept = readGrant(stale);
    if (current === undefined || current === kept.refreshToken) return false;
    // A lost race leaves the winner's grant, which the next attempt reads.
    await context.grants.put(name, JSON.stringify({ ...kept, refreshToken: current } satisfies AuthorizerGrant), stale.version);
    return true;
  }

  /**
   * The authorizer's refresh token as the platform holds it now: `api_get_authorizer_info`
   * answers it in `authorization_info` (as the docs' sample answer shows; whether it is always the
   * newest after a refresh handed out another is unverified). Undefined when it answers none or
   * refuses (61003: not authorized); a transient failure is thrown, for the fetch to be retried.
   */
  async #platformRefreshToken(tenantKey: string, componentToken: string, context: FetchContext): Promise<string | undefined> {
    try {
      const { body } = await this.#component('api_get_authorizer_info', componentToken, { component_appid: this.#appId, authorizer_appid: tenantKey }, context.signal);
      const value = (body.authorization_info as Record<string, unknown> | undefined)?.authorizer_refresh_token;
      return typeof value === 'string' && value !== '' ? value : undefined;
    } catch (err) {
      if (err instanceof UpstreamError && err.failure === 'credentials') return undefined;
      throw err;
    }
  }

  /** Marks the grant the platform refused as rejected, unless it changed meanwhile; never deletes it. */
  async #reject(name: string, refused: StoredGrant, context: FetchContext): Promise<void> {
    const kept = readGrant(refused);
    await context.grants.put(name, JSON.stringify({ ...kept, rejected: { at: context.now(), platformCode: REFRESH_TOKEN_INVALID } } satisfies AuthorizerGrant), refused.version);
  }

  /** A code (install redirect or `authorized` push) exchanged for the authorizer's grant, kept before the answer. */
  async #exchange(code: string, context: FetchContext): Promise<Authorization> {
    const info = await withToken(this.platform, context, 'component_access_token', undefined, async (token) => {
      try {
        return (await this.#component('api_query_auth', token, { component_appid: this.#appId, authorization_code: code }, context.signal)).body;
      } catch (err) {
        if (err instanceof UpstreamError && (err.platformCode === CODE_INVALID || err.platformCode === CODE_EXPIRED)) {
          throw new TokenHubError('TOKENHUB_BAD_REQUEST', `the platform refused the authorization code: ${err.message}`, { platform: this.platform, platformCode: err.platformCode, cause: err });
        }
        throw err;
      }
    });
    const auth = info.authorization_info as Record<string, unknown> | undefined;
    const tenantKey = auth?.authorizer_appid;
    const refreshToken = auth?.authorizer_refresh_token;
    if (typeof tenantKey !== 'string' || tenantKey === '' || typeof refreshToken !== 'string' || refreshToken === '') {
      throw new UpstreamError('transient', 'api_query_auth answered without authorizer_appid or authorizer_refresh_token', { platform: this.platform });
    }
    const grant: AuthorizerGrant = { refreshToken, authorizedAt: context.now(), funcInfo: funcInfoOf(auth?.func_info) };
    // A new authorization replaces whatever was kept (a rejected or an older grant).
    await context.grants.update(grantName(tenantKey), () => JSON.stringify(grant));
    await this.#ledger.kept(context.grants);
    return authorizationOf(tenantKey, grant);
  }

  async #jsapiTicket(token: string, signal: AbortSignal): Promise<FetchedToken> {
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'GET',
      url: endpoint(this.#baseUrl, '/cgi-bin/ticket/getticket', { access_token: token, type: 'jsapi' }),
      signal,
    });
    return tokenFields(this.platform, res, answer(this.platform, res, classifier(Date.now(), TICKET_CODES)), 'ticket', 'expires_in');
  }

  /** A component API called with the component token: the answer's body, every failure classified. */
  async #component(api: string, token: string, json: Record<string, unknown>, signal: AbortSignal): Promise<{ res: UpstreamResponse; body: Record<string, unknown> }> {
    const res = await this.#post(`/cgi-bin/component/${api}`, { component_access_token: token }, json, signal);
    return { res, body: answer(this.platform, res, classifier(Date.now(), COMPONENT_CODES)) };
  }

  #post(path: string, query: Record<string, string> | undefined, json: unknown, signal: AbortSignal): Promise<UpstreamResponse> {
    return callPlatform(this.platform, { dispatcher: this.#dispatcher, method: 'POST', url: endpoint(this.#baseUrl, path, query), json, signal });
  }
}

function grantName(tenantKey: string): string {
  return AUTHORIZER_GRANT_PREFIX + tenantKey;
}

/** The platform refused an authorizer's grant: a failure of the grant (alerted as `grant.rejected`), not of the component's credentials. */
function grantRejected(tenantKey: string, platformCode: number, cause?: unknown): UpstreamError {
  return new UpstreamError('credentials', `the platform rejected the refresh token of authorizer ${tenantKey} (errcode ${platformCode}): it must authorize the component again`, {
    platform: 'wechat',
    platformCode,
    grant: true,
    ...(cause === undefined ? {} : { cause }),
  });
}

/** 45011 says "retry next minute". */
function classifier(now: number, codes: ReadonlyMap<number, FailureClass>): (code: number) => Classified {
  return (code) => {
    const failure = codes.get(code) ?? 'credentials';
    return code === 45011 ? { failure, retryAfterMs: MINUTE - (now % MINUTE) + SECOND } : { failure };
  };
}

function funcInfoOf(value: unknown): number[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item) => {
    const id = (item as { funcscope_category?: { id?: unknown } } | null)?.funcscope_category?.id;
    return typeof id === 'number' ? [id] : [];
  });
}

function authorizationOf(tenantKey: string, grant: AuthorizerGrant): Authorization {
  return {
    tenantKey,
    authorizedAt: grant.authorizedAt,
    state: grant.rejected === undefined ? 'active' : 'rejected',
    funcInfo: [...grant.funcInfo],
    ...(grant.rejected === undefined ? {} : { rejectedAt: new Date(grant.rejected.at).toISOString(), platformCode: grant.rejected.platformCode }),
  };
}

/** The kept grant; one that is not ours to read is an error, never "not authorized". */
export function readGrant(grant: StoredGrant): AuthorizerGrant {
  const parsed = JSON.parse(grant.value) as Partial<AuthorizerGrant>;
  if (typeof parsed.refreshToken !== 'string') throw new TokenHubError('TOKENHUB_INTERNAL', 'a kept authorizer grant has no refresh token');
  return {
    refreshToken: parsed.refreshToken,
    authorizedAt: typeof parsed.authorizedAt === 'number' ? parsed.authorizedAt : 0,
    funcInfo: Array.isArray(parsed.funcInfo) ? parsed.funcInfo.filter((n): n is number => typeof n === 'number') : [],
    ...(parsed.rejected === undefined ? {} : { rejected: parsed.rejected }),
  };
}
