import type { BackoffStrategy } from './backoff.js';
import type { FailureClass, TokenHubError } from './errors.js';
import type { FetchReason, Logger, Provider, TokenStore } from './types.js';

/** One configured app, as the broker sees it. */
export interface AppDefinition {
  /** The id callers use (`feishu-main`). */
  readonly id: string;
  readonly provider: Provider;
  /** Platform + app id + a hash of the secret: the store namespace of this app. Never holds a secret. */
  readonly fingerprint: string;
  /** The namespace of the app's grants (`grantScope(platform, appId)`: kept across a new secret). Default: the fingerprint. */
  readonly grantScope?: string;
  /** Start a background refresh when less than this is left (defaults to the provider's). */
  readonly refreshAheadMs?: number;
  /** Never hand out a token with less than this left (capped at a quarter of the lifetime the platform issues). */
  readonly minTtlMs?: number;
  /** Tenant tokens kept per app; beyond it the least recently read tenant is dropped from memory. */
  readonly maxTenants?: number;
  /** Upstream token calls in flight at once for one kind of this app. */
  readonly maxConcurrentFetches?: number;
  /** Reports of a token fetch it anew at most once per this interval. */
  readonly reportIntervalMs?: number;
}

/** What the broker reports to whoever watches it (metrics, logs, alerts, traces). Observers are called synchronously: they must not block. */
export interface BrokerObserver {
  /** One upstream token call (each attempt of a fetch); `host` is where it went, when the provider said. */
  upstream?(event: UpstreamCall): void;
  /** One fetch of a token ended, after all its attempts: the token is in, or the failure is recorded. */
  fetched?(event: FetchOutcome): void;
  /** What an app's fetches waited for has come (a pushed ticket, an authorization): `Broker.wake`. */
  woken?(app: string): void;
  /** A tenant's authorization changed: kept anew (`Broker.authorized`) or forgotten (`Broker.forgetTenant`). */
  tenant?(event: TenantChange): void;
}

export interface TenantChange {
  app: string;
  platform: string;
  tenantKey: string;
  change: 'authorized' | 'forgotten';
}

export interface UpstreamCall {
  app: string;
  platform: string;
  kind: string;
  reason: FetchReason;
  outcome: 'ok' | FailureClass;
  durationMs: number;
  host?: string;
}

/** How one fetch of a token ended, for whoever watches the state of tokens (alerts). Never a token value. */
export interface FetchOutcome {
  app: string;
  platform: string;
  kind: string;
  tenantKey: string | undefined;
  reason: FetchReason;
  /** `ok`, or the class of the failure. */
  outcome: 'ok' | FailureClass;
  /** The failure was a third-party grant's (`UpstreamError.grant`). */
  grant: boolean;
  /** A `pending` failure's wait: the pushed ticket it waits for (`UpstreamError.waitingFor`). */
  waitingFor?: string;
  /** A token with time left is at hand after the fetch (always on `ok`; on a failure, the one served on). */
  valid: boolean;
  /** What callers are told of the failure. */
  error?: TokenHubError;
  /** Where the failed call went. */
  host?: string;
}

export interface BrokerOptions {
  store: TokenStore;
  logger?: Logger;
  observer?: BrokerObserver;
  now?: () => number;
  random?: () => number;
  backoff?: BackoffStrategy;
  /** Timeout of one upstream call. */
  upstreamTimeoutMs?: number;
  /** Upstream attempts within one fetch for transient failures (network, 5xx, busy). */
  attempts?: number;
  /** How long one holder may fetch before another may take over (the store lease). */
  leaseMs?: number;
  /** Default `minTtlMs` for apps that set none. */
  minTtlMs?: number;
  /** Upper bound of the random delay subtracted from each refresh time, as a fraction of the window. */
  refreshJitter?: number;
  /** No two background refreshes of one token closer than this. */
  minRefreshIntervalMs?: number;
  /** Default `maxTenants` for apps that set none. */
  maxTenants?: number;
  /** Default `maxConcurrentFetches` for apps that set none. */
  maxConcurrentFetches?: number;
  /** Default `reportIntervalMs` for apps that set none. */
  reportIntervalMs?: number;
  /** Tenant keys the platform refused, remembered (without a slot) so that asking again costs no call. */
  maxRefusedTenants?: number;
}

export const DEFAULT_BROKER_OPTIONS = {
  upstreamTimeoutMs: 5_000,
  attempts: 3,
  leaseMs: 15_000,
  minTtlMs: 60_000,
  refreshJitter: 0.1,
  minRefreshIntervalMs: 1_000,
  maxTenants: 10_000,
  maxConcurrentFetches: 8,
  // However many reports come, a token is fetched anew on their word at most every 10 s.
  reportIntervalMs: 10_000,
  maxRefusedTenants: 10_000,
} as const;

/** The broker's numeric options, every one set. */
export type BrokerLimits = { -readonly [K in keyof typeof DEFAULT_BROKER_OPTIONS]: number };

export interface GetTokenOptions {
  tenantKey?: string | undefined;
  /** The least lifetime the caller needs, in milliseconds (raises the app's `minTtlMs`). */
  minTtlMs?: number | undefined;
}

/** The defaults with `options` laid over them; throws a `TypeError` naming the first bad option. */
export function resolveLimits(options: BrokerOptions): BrokerLimits {
  const opts: BrokerLimits = { ...DEFAULT_BROKER_OPTIONS };
  for (const name of Object.keys(DEFAULT_BROKER_OPTIONS) as (keyof typeof DEFAULT_BROKER_OPTIONS)[]) {
    const value = options[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (name === 'refreshJitter' && value > 1)) {
      throw new TypeError(`BrokerOptions.${name} must be a ${name === 'refreshJitter' ? 'fraction between 0 and 1' : 'non-negative number'}, not ${String(value)}`);
    }
    opts[name] = value;
  }
  return opts;
}
