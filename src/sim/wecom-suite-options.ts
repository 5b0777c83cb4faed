import { positive, withDefaults } from './options.js';
import { DEFAULT_PUSHING_SIM_OPTIONS, checkPushingApps, checkPushingOptions, type PushingSimOptions } from './pushing-options.js';
import { DEFAULT_WECOM_TICKET_OPTIONS, checkWeComTicketOptions, type WeComTicketOptions } from './wecom-tickets.js';
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

/**
 * Options of {@link WeComSuiteSim}; every lifetime and window scales down for tests. The shared
 * ones ({@link PushingSimOptions}): `platform` (default `wecom-suite`), the suite's and corps'
 * `tokenLifetimeSeconds`, `ticketPushIntervalSeconds`, `onlyLatestTicket` (an older unexpired
 * suite_ticket is 40085), `jsapiMaxSkewSeconds`, `pushTimeoutMs` (default 1000: WeCom waits 1 s),
 * `now`; the corps' JS-SDK tickets' ({@link WeComTicketOptions}), counted per authorized corp and
 * per app (suite + corp).
 */
export interface WeComSuiteSimOptions extends PushingSimOptions, WeComTicketOptions {
  apps: WeComSuiteSimApp[];
  /** The provider's (服务商) corp id: the receive id of the GET URL check. Default `wwsimprovider00001`. */
  providerCorpId?: string;
  /** Lifetime of a pushed `suite_ticket`. Default 1800. */
  suiteTicketLifetimeSeconds?: number;
  /** Lifetime of a temporary auth code (`AuthCode`, single use). Default 600. */
  authCodeLifetimeSeconds?: number;
  /** Lifetime of a `pre_auth_code`. Default 1200. */
  preAuthCodeLifetimeSeconds?: number;
}

/** Defaults of {@link WeComSuiteSimOptions}. */
export const DEFAULT_WECOM_SUITE_SIM_OPTIONS = {
  ...DEFAULT_PUSHING_SIM_OPTIONS,
  ...DEFAULT_WECOM_TICKET_OPTIONS,
  platform: 'wecom-suite',
  providerCorpId: 'wwsimprovider00001',
  suiteTicketLifetimeSeconds: 1800,
  authCodeLifetimeSeconds: 600,
  preAuthCodeLifetimeSeconds: 1200,
  pushTimeoutMs: 1000,
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
  const opts = withDefaults(options, d);
  checkPushingOptions(opts);
  checkWeComTicketOptions(opts);
  for (const key of ['suiteTicketLifetimeSeconds', 'authCodeLifetimeSeconds', 'preAuthCodeLifetimeSeconds'] as const) positive(key, opts[key]);
  if (typeof opts.providerCorpId !== 'string' || opts.providerCorpId === '') throw new TypeError('providerCorpId: expected a non-empty string');
  return { ...opts, apps: [...checkPushingApps(options.apps, 'suiteId', 'suiteSecret')] };
}
