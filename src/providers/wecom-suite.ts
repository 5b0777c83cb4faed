import type { Dispatcher } from 'undici';
import { TokenHubError, UpstreamError, type FailureClass } from '../core/errors.js';
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
  GrantAccess,
  HealthContext,
  IncomingEvent,
  KindSpec,
  PageSigning,
  PageToSign,
  Provider,
  ProviderHealth,
} from '../core/types.js';
import { errcodeIn, tokenInQuery } from './business.js';
import { byTable, errcodeAnswer, readErrcodeToken } from './errcode.js';
import { callPlatform, endpoint, type UpstreamResponse } from './http.js';
import { pageSigning } from './jsapi.js';
import { kindsOf } from './kinds.js';
import { takeTenantQuota } from './tenant-quota.js';
import { GrantLedger } from './third-party/grant-ledger.js';
import { PendingCodes } from './third-party/pending-codes.js';
import { PushChecker, type OpenedPush } from './third-party/push.js';
import { PushedTicket, ticketTime, type PushedTicketOptions } from './third-party/pushed-ticket.js';
import { withToken } from './tickets.js';
import { WECOM_BASE_URL, WECOM_CODES, WECOM_RULES, WECOM_TOKEN_INVALID_CODES, fetchWeComTicket, isWeComTicketKind, wecomPageLayouts, wecomTicketLimits } from './wecom.js';

export { readTicket } from './third-party/pushed-ticket.js';

/** Names of a suite's durable state. */
export const WECOM_SUITE_STATE = {
  /** The newest suite_ticket pushed: `{"ticket","at":<its TimeStamp, epoch ms>,"refused"?:true}`. */
  ticket: 'suite_ticket',
} as const;

/** A corp's grant is kept under this name and the corp id (`corp:<corpid>`). */
export const WECOM_SUITE_GRANT_PREFIX = 'corp:';

/** What a corp's grant holds: the permanent code and the public facts of the authorization. */
export interface SuiteGrant {
  readonly permanentCode: string;
  readonly corpName: string;
  /** The agent id of the suite's app in the corp (for `wx.agentConfig`), when WeCom gave one. */
  readonly agentId?: string;
  readonly authorizedAt: number;
  /** WeCom refused the permanent code (40084, 48004): kept, shown as revoked, never sent again. */
  readonly revoked?: { readonly code: number; readonly at: number };
}

/** A suite's kinds: its own token from the pushed ticket, then per authorized corp (the tenant key) the corp token and its tickets. */
export const WECOM_SUITE_KINDS: readonly KindSpec[] = [
  { name: 'suite_access_token', tenantScoped: false },
  { name: 'access_token', tenantScoped: true, derivedFrom: 'suite_access_token' },
  { name: 'jsapi_ticket', tenantScoped: true, derivedFrom: 'access_token' },
  { name: 'agent_jsapi_ticket', tenantScoped: true, derivedFrom: 'access_token' },
];

/** The suite APIs' codes (PLATFORMS.md, WeCom third-party apps), over the corp APIs' ones. */
export const WECOM_SUITE_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([
  ...WECOM_CODES,
  [40082, 'token-invalid'], // invalid suite_access_token: refreshed once
  [42009, 'token-invalid'], // suite_access_token expired: refreshed once
  [40085, 'pending'], // invalid suite_ticket: wait for the next push
  [40080, 'credentials'], // bad suite secret
  [40083, 'credentials'], // bad suite id
  [40078, 'credentials'], // bad or used auth code
  [40084, 'credentials'], // invalid permanent code: the grant is gone
  [48004, 'credentials'], // authorization cancelled: the grant is gone
]);

/** Codes that mean a corp's grant is gone. */
export const WECOM_GRANT_GONE_CODES: readonly number[] = [40084, 48004];
const AUTH_CODE_INVALID = 40078;
const TICKET_INVALID = 40085;
/** A pushed AuthCode is valid 10 minutes (documented). */
const AUTH_CODE_TTL_MS = 10 * 60_000;

export interface WeComSuiteProviderOptions extends PushedTicketOptions {
  dispatcher?: Dispatcher | undefined;
  suiteId: string;
  suiteSecret: string;
  /** The callback Token and EncodingAESKey of the suite's 指令回调 settings. */
  token: string;
  encodingAESKey: string;
  /** The provider's (服务商) corp id, the receive id of the GET URL check; the suite id is accepted there too. */
  providerCorpId?: string | undefined;
  baseUrl?: string | undefined;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;

export const DEFAULT_WECOM_SUITE_OPTIONS = {
  // WeCom pushes every 10 minutes and has no resend call: the next push ends the wait (it wakes the broker).
  pendingRetryMs: 10 * SECOND,
  ticketTtlMs: 30 * MINUTE,
  // Two missed pushes: the callback URL is not reached.
  ticketStaleMs: 20 * MINUTE,
} as const;

const TEXT = 'text/plain; charset=utf-8';
const SUCCESS: EventAnswer = { body: 'success', contentType: TEXT };

/**
 * WeCom third-party apps (服务商应用, suites): the `suite_access_token` from the `suite_ticket`
 * WeCom pushes to the suite's callback URL, and per authorized corp its `access_token` from
 * `get_corp_token` with the corp's permanent code (the grant, kept by `create_auth` or an install
 * redirect's code), and the corp's JS-SDK tickets from that token.
 *
 * @example
 * ```ts
 * const suite = new WeComSuiteProvider({ suiteId: 'ww_suite', suiteSecret, token, encodingAESKey, providerCorpId: 'ww_provider' });
 * ```
 */
export class WeComSuiteProvider implements Provider {
  readonly platform = 'wecom';
  readonly kindSpecs = WECOM_SUITE_KINDS;
  readonly kinds = kindsOf(WECOM_SUITE_KINDS).kinds;
  readonly tenantScoped = kindsOf(WECOM_SUITE_KINDS).tenantScoped;
  readonly refreshAheadMs = WECOM_RULES.refreshAheadMs;
  readonly businessKind = 'access_token';
  readonly #suiteId: string;
  readonly #suiteSecret: string;
  readonly #baseUrl: string;
  readonly #dispatcher: Dispatcher | undefined;
  readonly #checker: PushChecker;
  readonly #ticket: PushedTicket;
  /** Codes of installs pushed while they could not be exchanged, kept until they can. A code WeCom refuses (40078) would be refused again: dropped. */
  readonly #codes = new PendingCodes({
    exchange: async (code, context) => (await this.#exchange(code, context))[0],
    refused: (err) => err instanceof TokenHubError && err.platformCode === AUTH_CODE_INVALID,
  });

  /** Tells a corp that never installed the suite from grants the store lost. */
  readonly #ledger = new GrantLedger(this.platform);

  constructor(options: WeComSuiteProviderOptions) {
    this.#suiteId = options.suiteId;
    this.#suiteSecret = options.suiteSecret;
    this.#baseUrl = options.baseUrl ?? WECOM_BASE_URL;
    this.#dispatcher = options.dispatcher;
    this.#ticket = new PushedTicket({
      platform: this.platform,
      name: WECOM_SUITE_STATE.ticket,
      defaults: DEFAULT_WECOM_SUITE_OPTIONS,
      refusedCodes: [TICKET_INVALID],
      // No call asks for one: the next push ends the wait.
      arrival: "WeCom pushes one to the suite's callback URL (GET|POST /v1/apps/{app}/events) every 10 minutes",
    }, options);
    const urlCheck = options.providerCorpId === undefined ? [options.suiteId] : [options.providerCorpId, options.suiteId];
    this.#checker = new PushChecker({ token: options.token, encodingAESKey: options.encodingAESKey, receiveIds: [options.suiteId], urlCheckReceiveIds: urlCheck });
  }

  readonly attachToken = tokenInQuery;
  readonly isTokenRejected = ({ body }: BusinessAnswer): boolean => errcodeIn(body, WECOM_TOKEN_INVALID_CODES);
  readonly businessUrl = (path: string): URL => endpoint(this.#baseUrl, path);

  /** A corp's pages: `wx.config` with the corp id as appId, `wx.agentConfig` with the agent id of the corp's grant. */
  readonly pages: PageSigning = {
    kinds: ['jsapi_ticket', 'agent_jsapi_ticket'],
    tenantIds: async (tenantKey: string, grants: GrantAccess) => {
      const grant = readGrant(await grants.get(grantName(tenantKey)));
      return { appId: tenantKey, ...(grant?.agentId === undefined ? {} : { agentId: grant.agentId }) };
    },
    sign: (kind: string, ticket: string, page: PageToSign) => {
      const corpId = page.ids?.appId;
      if (corpId === undefined) throw new TokenHubError('TOKENHUB_BAD_REQUEST', 'tenant_key: a suite signs pages for one authorized corp: name its corp id');
      return pageSigning(wecomPageLayouts(corpId, page.ids?.agentId)).sign(kind, ticket, page);
    },
  };

  /**
   * The suite's callback URL: the GET URL check (its echostr's plaintext answered), and POST
   * pushes, each checked by the PushChecker before anything is kept, answered `success`.
   */
  readonly events: EventReceiver = {
    methods: ['GET', 'POST'],
    receive: async (event: IncomingEvent, context: EventContext): Promise<EventAnswer> => {
      if (event.method === 'GET') return { body: this.#checker.checkUrl(event.query, context.now()).message, contentType: TEXT };
      return this.#checker.accept(event, context, (push) => this.#handle(push, context));
    },
  };

  readonly authorizations: AuthorizationApi = {
    authorize: async (code, context) => authorizationOf(...(await this.#exchange(code, context))),
    list: async (context) => {
      const grants = await context.grants.list(WECOM_SUITE_GRANT_PREFIX);
      await (grants.length === 0 ? this.#ledger.assertNotLost(context.grants) : this.#ledger.kept(context.grants));
      return grants.flatMap(({ name, grant }) => {
        const kept = readGrant(grant);
        return kept === undefined ? [] : [authorizationOf(name.slice(WECOM_SUITE_GRANT_PREFIX.length), kept)];
      });
    },
    revoke: (tenantKey, context) => context.grants.delete(grantName(tenantKey)),
    preAuthCode: (context) =>
      withToken(this.platform, context, 'suite_access_token', undefined, async (suiteToken) => {
        const res = await this.#call('GET', '/cgi-bin/service/get_pre_auth_code', suiteToken, undefined, context.signal);
        const { value, expiresInMs } = readErrcodeToken(this.platform, res, { tokenField: 'pre_auth_code', expiresField: 'expires_in', classify });
        return { preAuthCode: value, expiresInMs };
      }),
  };

  /** The kept suite_ticket: there or not, its age, refused, stale. Never its value. */
  async health(context: HealthContext): Promise<ProviderHealth> {
    if (context.grants !== undefined) await this.#ledger.observe(context.grants);
    return { ticket: await this.#ticket.health(context) };
  }

  async fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    if (request.kind === 'suite_access_token') return this.#suiteToken(context);
    const corpId = request.tenantKey;
    if (corpId === undefined) throw new TokenHubError('TOKENHUB_BAD_REQUEST', `tenant_key: a suite's ${request.kind} is a corp's: name the authorized corp id`);
    const kind = request.kind;
    if (isWeComTicketKind(kind)) {
      return withToken(this.platform, context, 'access_token', corpId, async (token) => {
        // WeCom counts ticket fetches per corp and per app: each authorized corp has its own quota.
        await takeTenantQuota(context.state, wecomTicketLimits(corpId), kind, corpId, context.now(), this.platform);
        return fetchWeComTicket(this.platform, { baseUrl: this.#baseUrl, dispatcher: this.#dispatcher, signal: context.signal }, kind, token);
      });
    }
    return this.#corpToken(corpId, context, request.reason !== 'cold');
  }

  async #handle(push: OpenedPush, context: EventContext): Promise<EventAnswer> {
    const f = push.fields;
    switch (f.InfoType) {
      case 'suite_ticket': {
        if (!f.SuiteTicket) throw new TokenHubError('TOKENHUB_BAD_REQUEST', 'a suite_ticket push without SuiteTicket');
        if ((await this.#ticket.received(f.SuiteTicket, ticketTime(f.TimeStamp, push.signedAt), context)) === 'new') {
          // Codes pushed while no ticket was at hand can be exchanged now.
          void this.#codes.drain(context).catch((err: unknown) => context.log.warn({ err: String(err) }, 'kept authorization codes: not exchanged yet'));
        }
        return SUCCESS;
      }
      case 'create_auth':
      case 'reset_permanent_code': {
        if (!f.AuthCode) throw new TokenHubError('TOKENHUB_BAD_REQUEST', `a ${f.InfoType} push without AuthCode`);
        await this.#codes.take(f.AuthCode, { infoType: f.InfoType, expiresAt: context.now() + AUTH_CODE_TTL_MS }, context);
        return SUCCESS;
      }
      case 'change_auth':
        if (f.AuthCorpId) await this.#refreshInfo(f.AuthCorpId, context);
        return SUCCESS;
      case 'cancel_auth':
        if (f.AuthCorpId) {
          await context.grants.delete(grantName(f.AuthCorpId));
          await context.forgetTenant(f.AuthCorpId);
          context.log.info({ tenantKey: f.AuthCorpId }, 'authorization cancelled: grant deleted');
        }
        return SUCCESS;
      default:
        return SUCCESS;
    }
  }

  /** The suite token from the kept suite_ticket (40085 refuses it: WeCom pushes the next within 10 minutes). */
  #suiteToken(context: FetchContext): Promise<FetchedToken> {
    return this.#ticket.use(context, async (ticket) => {
      const res = await callPlatform(this.platform, {
        dispatcher: this.#dispatcher,
        method: 'POST',
        url: endpoint(this.#baseUrl, '/cgi-bin/service/get_suite_token'),
        json: { suite_id: this.#suiteId, suite_secret: this.#suiteSecret, suite_ticket: ticket },
        signal: context.signal,
      });
      return readErrcodeToken(this.platform, res, { tokenField: 'suite_access_token', expiresField: 'expires_in', classify });
    });
  }

  async #corpToken(corpId: string, context: FetchContext, hadToken: boolean): Promise<FetchedToken> {
    const grant = readGrant(await context.grants.get(grantName(corpId)));
    if (grant === undefined) throw await this.#ledger.missing(context.grants, `corp ${corpId}`, hadToken);
    await this.#ledger.kept(context.grants);
    if (grant.revoked !== undefined) throw revokedError(this.platform, corpId, grant.revoked.code);
    try {
      // "Token invalid" here can only mean the suite token: withToken replaces it (compare-and-refresh) once.
      return await withToken(this.platform, context, 'suite_access_token', undefined, async (suiteToken) => {
        const res = await this.#call('POST', '/cgi-bin/service/get_corp_token', suiteToken, { auth_corpid: corpId, permanent_code: grant.permanentCode }, context.signal);
        return readErrcodeToken(this.platform, res, { tokenField: 'access_token', expiresField: 'expires_in', classify });
      });
    } catch (err) {
      const code = err instanceof UpstreamError && typeof err.platformCode === 'number' ? err.platformCode : undefined;
      if (code === undefined || !WECOM_GRANT_GONE_CODES.includes(code)) throw err;
      await this.#markRevoked(corpId, grant.permanentCode, code, context);
      throw revokedError(this.platform, corpId, code, err);
    }
  }

  /** Marks the grant revoked, unless it was replaced meanwhile (a reset's new code is not revoked). */
  async #markRevoked(corpId: string, permanentCode: string, code: number, context: FetchContext): Promise<void> {
    await context.grants.update(grantName(corpId), (current) => {
      const kept = readGrant(current);
      if (kept === undefined || kept.permanentCode !== permanentCode || kept.revoked !== undefined) return undefined;
      return JSON.stringify({ ...kept, revoked: { code, at: context.now() } } satisfies SuiteGrant);
    });
  }

  /**
   * An auth code (pushed, or from an install redirect) exchanged by `get_permanent_code` for the
   * corp's grant, which replaces any kept before (a reset, an install anew) before this answers.
   */
  async #exchange(authCode: string, context: FetchContext): Promise<[string, SuiteGrant]> {
    const answer = await withToken(this.platform, context, 'suite_access_token', undefined, async (suiteToken) =>
      this.#answer(await this.#call('POST', '/cgi-bin/service/get_permanent_code', suiteToken, { auth_code: authCode }, context.signal)),
    ).catch((err: unknown) => {
      if (err instanceof UpstreamError && err.platformCode === AUTH_CODE_INVALID) {
        throw new TokenHubError('TOKENHUB_BAD_REQUEST', `WeCom refused the auth code: invalid, expired or used (${AUTH_CODE_INVALID})`, { platform: this.platform, platformCode: AUTH_CODE_INVALID, cause: err });
      }
      throw err;
    });
    const permanentCode = answer.permanent_code;
    const corp = (answer.auth_corp_info ?? {}) as { corpid?: unknown; corp_name?: unknown };
    if (typeof permanentCode !== 'string' || permanentCode === '' || typeof corp.corpid !== 'string' || corp.corpid === '') {
      throw new UpstreamError('transient', 'get_permanent_code answered without permanent_code or auth_corp_info.corpid', { platform: this.platform });
    }
    const agentId = agentIdOf(answer);
    const grant: SuiteGrant = { permanentCode, corpName: typeof corp.corp_name === 'string' ? corp.corp_name : '', ...(agentId === undefined ? {} : { agentId }), authorizedAt: context.now() };
    await context.grants.update(grantName(corp.corpid), () => JSON.stringify(grant));
    await this.#ledger.kept(context.grants);
    return [corp.corpid, grant];
  }

  /** `change_auth`: the corp's name and agent id read again (`get_auth_info`); the permanent code stays. Best effort. */
  async #refreshInfo(corpId: string, context: EventContext): Promise<void> {
    const fetchContext = context.fetchContext();
    try {
      await fetchContext.grants.update(grantName(corpId), async (current) => {
        const kept = readGrant(current);
        if (kept === undefined || kept.revoked !== undefined) return undefined;
        const info = await withToken(this.platform, fetchContext, 'suite_access_token', undefined, async (suiteToken) =>
          this.#answer(await this.#call('POST', '/cgi-bin/service/get_auth_info', suiteToken, { auth_corpid: corpId, permanent_code: kept.permanentCode }, fetchContext.signal)),
        );
        const corp = (info.auth_corp_info ?? {}) as { corp_name?: unknown };
        const agentId = agentIdOf(info) ?? kept.agentId;
        return JSON.stringify({ ...kept, corpName: typeof corp.corp_name === 'string' ? corp.corp_name : kept.corpName, ...(agentId === undefined ? {} : { agentId }), authorizedAt: context.now() } satisfies SuiteGrant);
      });
    } catch (err) {
      // The grant is as it was: a change of permissions needs no new code.
      context.log.warn({ tenantKey: corpId, err: err instanceof Error ? err.message : String(err) }, 'change_auth: the authorization info could not be read again; the grant is kept as it was');
    }
  }

  #call(method: 'GET' | 'POST', path: string, suiteToken: string, json: unknown, signal: AbortSignal) {
    return callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method,
      url: endpoint(this.#baseUrl, path, { suite_access_token: suiteToken }),
      ...(json === undefined ? {} : { json }),
      signal,
    });
  }

  /** A success body of the errcode family, or its classified failure. */
  #answer(res: UpstreamResponse): Record<string, unknown> {
    return errcodeAnswer(this.platform, res, classify);
  }
}

const classify = byTable(WECOM_SUITE_CODES);

function grantName(corpId: string): string {
  return WECOM_SUITE_GRANT_PREFIX + corpId;
}

/** WeCom refused a corp's grant: a failure of the grant (alerted as `grant.rejected`), not of the suite's credentials. */
function revokedError(platform: string, corpId: string, code: number, cause?: unknown): UpstreamError {
  return new UpstreamError('credentials', `WeCom no longer takes the permanent code of corp ${corpId} (${code}): the corp must authorize the suite again`, {
    platform,
    platformCode: code,
    grant: true,
    ...(cause === undefined ? {} : { cause }),
  });
}

function authorizationOf(corpId: string, grant: SuiteGrant): Authorization {
  return {
    tenantKey: corpId,
    authorizedAt: grant.authorizedAt,
    state: grant.revoked === undefined ? 'active' : 'revoked',
    corpName: grant.corpName,
    ...(grant.agentId === undefined ? {} : { agentId: grant.agentId }),
    ...(grant.revoked === undefined ? {} : { revokedAt: new Date(grant.revoked.at).toISOString(), platformCode: grant.revoked.code }),
  };
}

/** The first agent id of an answer's `auth_info.agent`. */
function agentIdOf(answer: Record<string, unknown>): string | undefined {
  const agents = (answer.auth_info as { agent?: unknown } | undefined)?.agent;
  const first = Array.isArray(agents) ? (agents[0] as { agentid?: unknown } | undefined) : undefined;
  return typeof first?.agentid === 'number' || typeof first?.agentid === 'string' ? String(first.agentid) : undefined;
}

/** A kept grant, or undefined when none (or one this version cannot read). */
export function readGrant(grant: { value: string } | undefined): SuiteGrant | undefined {
  if (grant === undefined) return undefined;
  try {
    const parsed = JSON.parse(grant.value) as Partial<SuiteGrant>;
    return typeof parsed.permanentCode === 'string' ? (parsed as SuiteGrant) : undefined;
  } catch {
    return undefined;
  }
}
