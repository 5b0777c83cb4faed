import { DEFAULT_JSAPI_MAX_SKEW_SECONDS } from './jsapi.js';
import { notNegative, positive, quota } from './options.js';
import type { PushRecord } from './wxbiz-events.js';

/** A third-party app (服务商应用, a suite) known to the simulator, with its callback settings. */
export interface WeComSuiteSimApp {
  suiteId: string;
  suiteSecret: string;
  /** The callback Token pushes are signed with. */
  token: string;
  /** The 43-character EncodingAESKey pushes are encrypted with. */
  encodingAESKey: string;
  /** The 指令回调 URL where tickets and authorization events are pushed; settable later with {@link WeComSuiteSim.setEventUrl}. */
  eventUrl?: string;
}

/** Options of {@link WeComSuiteSim}; every lifetime and window scales down for tests. */
export interface WeComSuiteSimOptions {
  apps: WeComSuiteSimApp[];
  /** Path prefix and control-API name. Default `wecom-suite`. */
  platform?: string;
  /** The provider's (服务商) corp id: the receive id of the GET URL check. Default `wwsimprovider00001`. */
  providerCorpId?: string;
  /** Lifetime of a suite token and of a corp token. Default 7200. */
  tokenLifetimeSeconds?: number;
  /** Lifetime of a pushed `suite_ticket`. Default 1800. */
  suiteTicketLifetimeSeconds?: number;
  /** Push a new suite_ticket to every suite with an event URL this often; 0: only on demand. Default 600. */
  ticketPushIntervalSeconds?: number;
  /** `true`: only the newest suite_ticket buys a suite token, an older unexpired one is 40085 too. Default `false` (unverified). */
  onlyLatestTicket?: boolean;
  /** Lifetime of a temporary auth code (`AuthCode`, single use). Default 600. */
  authCodeLifetimeSeconds?: number;
  /** Lifetime of a `pre_auth_code`. Default 1200. */
  preAuthCodeLifetimeSeconds?: number;
  /** Lifetime of a JS-SDK ticket (corp and agent); a fetch while one is valid returns it again. Default 7200. */
  jsapiTicketLifetimeSeconds?: number;
  /** Ticket fetches per authorized corp per window before 45009, corp and agent tickets together. Default 400 (doc 96909). */
  jsapiTicketCorpQuota?: number;
  /** Ticket fetches per app (suite + corp) per window before 45009. Default 100. */
  jsapiTicketAppQuota?: number;
  /** The ticket quotas' window, opened by the first counted fetch. Default 3600. */
  jsapiTicketQuotaWindowSeconds?: number;
  /** The verifier refuses a config whose timestamp is farther than this from the clock. Default 600. */
  jsapiMaxSkewSeconds?: number;
  /** A push not answered within this is a failure (WeCom waits 1 s). Default 1000. */
  pushTimeoutMs?: number;
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Defaults of {@link WeComSuiteSimOptions}. */
export const DEFAULT_WECOM_SUITE_SIM_OPTIONS = {
  platform: 'wecom-suite',
  providerCorpId: 'wwsimprovider00001',
  tokenLifetimeSeconds: 7200,
  suiteTicketLifetimeSeconds: 1800,
  ticketPushIntervalSeconds: 600,
  onlyLatestTicket: false,
  authCodeLifetimeSeconds: 600,
  preAuthCodeLifetimeSeconds: 1200,
  jsapiTicketLifetimeSeconds: 7200,
  jsapiTicketCorpQuota: 400,
  jsapiTicketAppQuota: 100,
  jsapiTicketQuotaWindowSeconds: 3600,
  jsapiMaxSkewSeconds: DEFAULT_JSAPI_MAX_SKEW_SECONDS,
  pushTimeoutMs: 1000,
  now: Date.now,
} as const;

/**
 * Counter names. Suite endpoints count by suite id; `get_permanent_code` (once its code is known),
 * `get_corp_token`, `get_auth_info`, the ticket and business endpoints by authorized corp id;
 * pushes by `InfoType` (`echostr` for the URL check).
 */
export const WECOM_SUITE_ENDPOINTS = {
  suiteToken: 'service/get_suite_token',
  preAuthCode: 'service/get_pre_auth_code',
  /** `service/get_permanent_code` and `service/v2/get_permanent_code`. */
  permanentCode: 'service/get_permanent_code',
  corpToken: 'service/get_corp_token',
  authInfo: 'service/get_auth_info',
  /** `GET /cgi-bin/get_jsapi_ticket` with a corp token: the corp ticket of `wx.config`. */
  ticket: 'get_jsapi_ticket',
  /** `GET /cgi-bin/ticket/get?type=agent_config`: the agent ticket of `wx.agentConfig`. */
  agentTicket: 'ticket/get',
  business: 'business',
  /** Pushes to event URLs (outgoing): every attempt, those answered as expected, the others. */
  push: 'push',
  pushDelivered: 'push delivered',
  pushFailed: 'push failed',
} as const;

/** Options of the authorization methods of {@link WeComSuiteSim}. */
export interface SuiteAuthOptions {
  /** Default: the first suite. */
  suiteId?: string;
  /** `create_auth`: the corp's name. Default `Sim corp {corpId}`. */
  corpName?: string;
  /** `create_auth`: the agent id the suite's app gets in the corp. Default 1000001, 1000002, … per corp. */
  agentId?: number;
  /** `create_auth`, `change_auth`: the install link's `state`, echoed in the event. */
  state?: string;
}

/** What an authorization pushed and handed out. */
export interface AuthCodeEvent extends PushRecord {
  readonly authCode: string;
}

/** {@link WeComSuiteSimOptions} with their defaults, checked. */
export type ResolvedWeComSuiteOptions = Required<WeComSuiteSimOptions>;

/** The options with their defaults; a `TypeError` naming the first bad one. */
export function resolveWeComSuiteOptions(options: WeComSuiteSimOptions): ResolvedWeComSuiteOptions {
  const d = DEFAULT_WECOM_SUITE_SIM_OPTIONS;
  const opts = {
    providerCorpId: options.providerCorpId ?? d.providerCorpId,
    tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? d.tokenLifetimeSeconds,
    suiteTicketLifetimeSeconds: options.suiteTicketLifetimeSeconds ?? d.suiteTicketLifetimeSeconds,
    ticketPushIntervalSeconds: options.ticketPushIntervalSeconds ?? d.ticketPushIntervalSeconds,
    onlyLatestTicket: options.onlyLatestTicket ?? d.onlyLatestTicket,
    authCodeLifetimeSeconds: options.authCodeLifetimeSeconds ?? d.authCodeLifetimeSeconds,
    preAuthCodeLifetimeSeconds: options.preAuthCodeLifetimeSeconds ?? d.preAuthCodeLifetimeSeconds,
    jsapiTicketLifetimeSeconds: options.jsapiTicketLifetimeSeconds ?? d.jsapiTicketLifetimeSeconds,
    jsapiTicketCorpQuota: options.jsapiTicketCorpQuota ?? d.jsapiTicketCorpQuota,
    jsapiTicketAppQuota: options.jsapiTicketAppQuota ?? d.jsapiTicketAppQuota,
    jsapiTicketQuotaWindowSeconds: options.jsapiTicketQuotaWindowSeconds ?? d.jsapiTicketQuotaWindowSeconds,
    jsapiMaxSkewSeconds: options.jsapiMaxSkewSeconds ?? d.jsapiMaxSkewSeconds,
    pushTimeoutMs: options.pushTimeoutMs ?? d.pushTimeoutMs,
  };
  for (const key of ['tokenLifetimeSeconds', 'suiteTicketLifetimeSeconds', 'authCodeLifetimeSeconds', 'preAuthCodeLifetimeSeconds', 'jsapiTicketLifetimeSeconds', 'jsapiTicketQuotaWindowSeconds', 'pushTimeoutMs'] as const) positive(key, opts[key]);
  for (const key of ['ticketPushIntervalSeconds', 'jsapiMaxSkewSeconds'] as const) notNegative(key, opts[key]);
  quota('jsapiTicketCorpQuota', opts.jsapiTicketCorpQuota);
  quota('jsapiTicketAppQuota', opts.jsapiTicketAppQuota);
  if (typeof opts.providerCorpId !== 'string' || opts.providerCorpId === '') throw new TypeError('providerCorpId: expected a non-empty string');
  if (!Array.isArray(options.apps)) throw new TypeError('apps: expected an array');
  const seen = new Set<string>();
  for (const [i, app] of options.apps.entries()) {
    for (const key of ['suiteId', 'suiteSecret', 'token'] as const) {
      if (typeof app[key] !== 'string' || app[key] === '') throw new TypeError(`apps[${i}].${key}: expected a non-empty string`);
    }
    if (typeof app.encodingAESKey !== 'string' || !/^[A-Za-z0-9+/]{43}$/.test(app.encodingAESKey)) throw new TypeError(`apps[${i}].encodingAESKey: expected 43 base64 characters`);
    if (seen.has(app.suiteId)) throw new TypeError(`apps[${i}].suiteId: duplicate ${app.suiteId}`);
    seen.add(app.suiteId);
  }
  const platform = options.platform ?? d.platform;
  if (typeof platform !== 'string' || platform === '') throw new TypeError('platform: expected a non-empty string');
  return { ...opts, apps: options.apps, platform, now: options.now ?? d.now };
}
