import { DEFAULT_JSAPI_MAX_SKEW_SECONDS } from './jsapi.js';
import { notNegative, positive } from './options.js';

/**
 * Options every simulator of a third-party platform has (the WeChat Open Platform's components,
 * WeCom's suites): the platform pushes a ticket to each app's event URL, and its tokens and
 * tickets live as long as these say. Every lifetime and window scales down for tests.
 */
export interface PushingSimOptions {
  /** Path prefix and control-API name. Default: the simulator's (`wechat-open`, `wecom-suite`). */
  platform?: string;
  /** Lifetime of the app's token and of its tenants' tokens. Default 7200. */
  tokenLifetimeSeconds?: number;
  /** Push a new ticket to every app with an event URL this often; 0: only on demand. Default 600 (both platforms push every 10 minutes). */
  ticketPushIntervalSeconds?: number;
  /** `true`: only the newest ticket buys the app's token, an older unexpired one is refused too. Default `false` (unverified). */
  onlyLatestTicket?: boolean;
  /** Lifetime of a tenant's JS-SDK ticket; a fetch while one is valid returns it again. Default 7200. */
  jsapiTicketLifetimeSeconds?: number;
  /** The verifier refuses a config whose timestamp is farther than this from the clock. Default 600. */
  jsapiMaxSkewSeconds?: number;
  /** A push not answered within this is a failure. Default: as long as the platform waits (WeChat 5000, WeCom 1000). */
  pushTimeoutMs?: number;
  /** Clock in epoch milliseconds. Default `Date.now`. */
  now?: () => number;
}

/** Defaults of {@link PushingSimOptions} shared by both platforms. */
export const DEFAULT_PUSHING_SIM_OPTIONS = {
  tokenLifetimeSeconds: 7200,
  ticketPushIntervalSeconds: 600,
  onlyLatestTicket: false,
  jsapiTicketLifetimeSeconds: 7200,
  jsapiMaxSkewSeconds: DEFAULT_JSAPI_MAX_SKEW_SECONDS,
  now: Date.now,
} as const;

/**
 * Checks the shared options (with their defaults, e.g. from {@link withDefaults}); a `TypeError`
 * names the first bad one.
 *
 * @example
 * ```ts
 * const opts = withDefaults(options, DEFAULT_WECOM_SUITE_SIM_OPTIONS);
 * checkPushingOptions(opts);
 * ```
 */
export function checkPushingOptions(opts: Required<PushingSimOptions>): void {
  for (const key of ['tokenLifetimeSeconds', 'jsapiTicketLifetimeSeconds', 'pushTimeoutMs'] as const) positive(key, opts[key]);
  for (const key of ['ticketPushIntervalSeconds', 'jsapiMaxSkewSeconds'] as const) notNegative(key, opts[key]);
  if (typeof opts.platform !== 'string' || opts.platform === '') throw new TypeError('platform: expected a non-empty string');
}

/** The callback settings an app of a pushing platform has, whatever its own field names. */
interface PushingAppFields {
  readonly token: string;
  readonly encodingAESKey: string;
}

/**
 * Checks a pushing simulator's `apps`: an array whose apps each have a non-empty id (in
 * `idField`) and secret (in `secretField`), a Token and a 43-character EncodingAESKey, no id twice.
 *
 * @example
 * ```ts
 * for (const app of checkPushingApps(options.apps, 'suiteId', 'suiteSecret')) suites.set(app.suiteId, app);
 * ```
 */
export function checkPushingApps<I extends string, S extends string, A extends Record<I | S, string> & PushingAppFields>(apps: readonly A[], idField: I, secretField: S): readonly A[] {
  if (!Array.isArray(apps)) throw new TypeError('apps: expected an array');
  const seen = new Set<string>();
  for (const [i, app] of apps.entries()) {
    for (const key of [idField, secretField, 'token'] as const) {
      if (typeof app[key] !== 'string' || app[key] === '') throw new TypeError(`apps[${i}].${key}: expected a non-empty string`);
    }
    if (typeof app.encodingAESKey !== 'string' || !/^[A-Za-z0-9+/]{43}$/.test(app.encodingAESKey)) throw new TypeError(`apps[${i}].encodingAESKey: expected 43 base64 characters`);
    if (seen.has(app[idField])) throw new TypeError(`apps[${i}].${idField}: duplicate ${app[idField]}`);
    seen.add(app[idField]);
  }
  return apps;
}
