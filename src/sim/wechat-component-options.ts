import { notNegative, positive, quota, withDefaults } from './options.js';
import { DEFAULT_PUSHING_SIM_OPTIONS, checkPushingApps, checkPushingOptions, type PushingSimOptions } from './pushing-options.js';
import type { WxPushResult } from './wxbiz-events.js';

/** A third-party platform (第三方平台) known to the simulator, with its message settings. */
export interface WeChatComponentSimApp {
  /** `component_appid`. */
  appId: string;
  /** `component_appsecret`. */
  appSecret: string;
  /** The message Token pushes are signed with. */
  token: string;
  /** The 43-character EncodingAESKey pushes are encrypted with. */
  encodingAESKey: string;
  /** The 授权事件接收 URL where tickets and authorization events are pushed; settable later with {@link WeChatComponentSim.setEventUrl}. */
  eventUrl?: string;
  /** `false`: the caller's IP is not among the platform's registered IPs (61004). Default `true`. */
  ipAllowed?: boolean;
}

/**
 * Options of {@link WeChatComponentSim}; every lifetime and window scales down for tests. The
 * shared ones ({@link PushingSimOptions}): `platform` (default `wechat-open`), the component's and
 * authorizers' `tokenLifetimeSeconds`, `ticketPushIntervalSeconds`, `onlyLatestTicket` (an older
 * unexpired ticket is 61006), the authorizers' `jsapiTicketLifetimeSeconds`, `jsapiMaxSkewSeconds`,
 * `pushTimeoutMs` (default 5000: the platform waits 5 s), `now`.
 */
export interface WeChatComponentSimOptions extends PushingSimOptions {
  apps: WeChatComponentSimApp[];
  /** How long the previous component or authorizer token keeps working after a new one is issued (unverified: modelled on the OA's `cgi-bin/token`). Default 300. */
  tokenOverlapSeconds?: number;
  /** Lifetime of a pushed `component_verify_ticket`. Default 43200 (12 h). */
  verifyTicketLifetimeSeconds?: number;
  /** `api_start_push_ticket` calls of one component closer than this answer 45011 (unverified: no limit is published). Default 60. */
  startPushTicketIntervalSeconds?: number;
  /** Delay between an `api_start_push_ticket` call and its push. Default 20. */
  startPushDelayMs?: number;
  /** Lifetime of a `pre_auth_code`. Default 1800 (the doc's text; its sample answers 600). */
  preAuthCodeLifetimeSeconds?: number;
  /** Lifetime of an authorization code. Default 3600 (the install redirect's `expires_in`). */
  authorizationCodeLifetimeSeconds?: number;
  /** `true`: an authorization code can be exchanged again while unexpired. Default `false`: once (unverified). */
  reusableAuthorizationCodes?: boolean;
  /** Every Nth `api_authorizer_token` call of an authorization hands out a new refresh token (the old one then answers 61023); 0: never. Default 0. */
  refreshTokenRotateEvery?: number;
  /** The chance that an `api_authorizer_token` call hands out a new refresh token, drawn from a generator seeded with {@link seed}. Default 0. */
  refreshTokenRotateProbability?: number;
  /** Seed of the rotation draws. Default 1. */
  seed?: number;
  /** `api_component_token` calls per component per (China) day before 45009 (unverified: no figure is published). Default 2000. */
  componentTokenDailyQuota?: number;
  /** `api_authorizer_token` calls per authorizer per (China) day before 45009 (unverified). Default 2000. */
  authorizerTokenDailyQuota?: number;
  /** `ticket/getticket` calls per authorizer per (China) day before 45009 (unverified, as for an OA). Default 2000. */
  jsapiTicketDailyQuota?: number;
  /** `ticket/getticket` calls per authorizer per clock minute before 45011. Default `Infinity`. */
  jsapiTicketMinuteQuota?: number;
}

/** Defaults of {@link WeChatComponentSimOptions}. */
export const DEFAULT_WECHAT_COMPONENT_SIM_OPTIONS = {
  ...DEFAULT_PUSHING_SIM_OPTIONS,
  platform: 'wechat-open',
  tokenOverlapSeconds: 300,
  verifyTicketLifetimeSeconds: 12 * 3600,
  startPushTicketIntervalSeconds: 60,
  startPushDelayMs: 20,
  preAuthCodeLifetimeSeconds: 1800,
  authorizationCodeLifetimeSeconds: 3600,
  reusableAuthorizationCodes: false,
  refreshTokenRotateEvery: 0,
  refreshTokenRotateProbability: 0,
  seed: 1,
  componentTokenDailyQuota: 2000,
  authorizerTokenDailyQuota: 2000,
  jsapiTicketDailyQuota: 2000,
  jsapiTicketMinuteQuota: Infinity,
  pushTimeoutMs: 5000,
} as const;

/**
 * Counter names. Component endpoints count by component appid; `api_query_auth` (once its code
 * is known), `api_authorizer_token`, `api_get_authorizer_info`, the ticket and business
 * endpoints by authorizer appid; pushes by `InfoType`.
 */
export const WECHAT_COMPONENT_ENDPOINTS = {
  componentToken: 'api_component_token',
  startPushTicket: 'api_start_push_ticket',
  preAuthCode: 'api_create_preauthcode',
  queryAuth: 'api_query_auth',
  authorizerToken: 'api_authorizer_token',
  /** `api_authorizer_token` calls answered 61023: a refresh token that is not the authorization's current one (used twice, or of an older authorization). */
  refreshTokenRejected: 'api_authorizer_token 61023',
  authorizerInfo: 'api_get_authorizer_info',
  /** `GET /cgi-bin/ticket/getticket` with an authorizer token. */
  ticket: 'ticket/getticket',
  business: 'business',
  /** Pushes to event URLs (outgoing): every attempt, those answered `success`, the others. */
  push: 'push',
  pushDelivered: 'push delivered',
  pushFailed: 'push failed',
} as const;

/** What an authorization pushed and handed out. */
export interface AuthorizationEvent extends WxPushResult {
  readonly infoType: 'authorized' | 'updateauthorized';
  readonly authorizationCode: string;
  readonly preAuthCode: string;
}

/** Options of {@link WeChatComponentSim.authorize} and {@link WeChatComponentSim.reauthorize}. */
export interface AuthorizeOptions {
  /** Default: the first component. */
  componentAppId?: string;
  /** The permission sets (权限集 ids) granted. Default `[1, 2, 3]`. */
  funcInfo?: number[];
  /** One from `api_create_preauthcode` (as the install link carries); default a fresh one. */
  preAuthCode?: string;
}

/** {@link WeChatComponentSimOptions} with their defaults, checked. */
export type ResolvedWeChatComponentOptions = Required<WeChatComponentSimOptions>;

/** The options with their defaults; a `TypeError` naming the first bad one. */
export function resolveWeChatComponentOptions(options: WeChatComponentSimOptions): ResolvedWeChatComponentOptions {
  const d = DEFAULT_WECHAT_COMPONENT_SIM_OPTIONS;
  const opts = withDefaults(options, d);
  checkPushingOptions(opts);
  for (const key of ['verifyTicketLifetimeSeconds', 'preAuthCodeLifetimeSeconds', 'authorizationCodeLifetimeSeconds'] as const) positive(key, opts[key]);
  for (const key of ['tokenOverlapSeconds', 'startPushTicketIntervalSeconds', 'startPushDelayMs'] as const) notNegative(key, opts[key]);
  for (const key of ['componentTokenDailyQuota', 'authorizerTokenDailyQuota', 'jsapiTicketDailyQuota', 'jsapiTicketMinuteQuota', 'refreshTokenRotateEvery'] as const) quota(key, opts[key]);
  if (!(opts.refreshTokenRotateProbability >= 0 && opts.refreshTokenRotateProbability <= 1)) {
    throw new TypeError(`refreshTokenRotateProbability: expected a number from 0 to 1, got ${String(opts.refreshTokenRotateProbability)}`);
  }
  if (!Number.isInteger(opts.seed)) throw new TypeError(`seed: expected a whole number, got ${String(opts.seed)}`);
  return { ...opts, apps: [...checkPushingApps(options.apps, 'appId', 'appSecret')] };
}
