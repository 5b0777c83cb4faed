import type { Dispatcher } from 'undici';
import { z } from 'zod';
import type { KindSpec, Provider, TokenSourceRules } from '../core/types.js';
import type { PlatformSim } from '../sim/types.js';

/**
 * What a platform is, described once: config, provider, kinds, rules, simulator and demo. The
 * config, the provider registry, the simulators' CLI, the events URL and the demo loop over
 * the list in `./index.ts`; nothing else names a platform.
 */

const text = z.string().min(1, 'must not be empty');
const seconds = z.number().int('must be a whole number of seconds').nonnegative('must not be negative');

/** The options every app has, whatever its platform (`apps.<id>` in the config). */
export const APP_COMMON_OPTIONS = {
  appId: text,
  appSecret: text,
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  refreshAheadSeconds: seconds.optional(),
  minTtlSeconds: seconds.optional(),
  /** Tenant tokens kept per app (store apps); the least recently read go first. */
  maxTenants: z.number().int().min(1, 'must be at least 1').max(10_000_000).optional(),
  /** Token calls to the platform in flight at once, per kind. */
  maxConcurrentFetches: z.number().int().min(1, 'must be at least 1').max(1000).optional(),
  /** Reports of one token make at most one fetch per this many seconds. */
  reportIntervalSeconds: seconds.optional(),
};

/** A non-empty string option. */
export const textOption = text;

/** An id the platform gives as a number, written either way in the config (`agentId: 1000002`). */
export const numericIdOption = z
  .union([z.string().regex(/^\d{1,20}$/, 'must be digits'), z.number().int().nonnegative()])
  .transform((v) => String(v));

/**
 * The options of the platforms whose pages use a JS-SDK: `jsapiUrls`, the pages tokenhub signs
 * for (`*` matches any rest of the URL); without it, any http(s) URL.
 */
export const JSAPI_OPTIONS = {
  jsapiUrls: z
    .array(
      z
        .string()
        .max(2048)
        .regex(/^https?:\/\/[^\s#]+$/, 'must be an http(s) URL pattern without a fragment (a * matches any rest of the URL)'),
    )
    .min(1, 'must list at least one URL pattern (leave it out to allow any)')
    .optional(),
};

/**
 * The schema of an app of platform `name`: the common options and the platform's own, no others.
 *
 * @example
 * ```ts
 * const schema = appSchema('wechat', { tokenApi: z.enum(['stable', 'classic']).default('stable') });
 * ```
 */
export function appSchema<const Name extends string, Shape extends z.ZodRawShape>(name: Name, options: Shape) {
  return z.strictObject({ platform: z.literal(name), ...APP_COMMON_OPTIONS, ...options });
}

/** What every app config has, whatever its platform. */
export type BaseAppConfig = z.infer<ReturnType<typeof appSchema<string, Record<never, never>>>>;

/** A problem a platform finds in one app's options: the option's key and what is wrong. */
export interface AppIssue {
  readonly key: string;
  readonly message: string;
}

/** What the hub gives a provider besides the app's config. */
export interface ProviderEnvironment {
  /** The app's id in the config (for messages). */
  readonly id: string;
  /** Where the provider's HTTP goes; default: the connections shared by every provider. */
  readonly dispatcher?: Dispatcher;
}

export interface SimulatorOptions {
  /** Token lifetime in seconds, with the platform's windows scaled to keep their share of it. */
  readonly lifetime?: number;
}

/** How the demo and `tokenhub sim` connect a platform's simulator to an app's events URL. */
export interface SimulatedEvents<App> {
  /** Whether the platform pushes events to this app. */
  takes(app: App): boolean;
  /** Points the simulator at `url` for this app, pushing once at once when `pushNow`; returns a line for the console. */
  connect(sim: PlatformSim, app: App, url: string, options: { pushNow: boolean }): Promise<string>;
}

/** One platform (or a family of platforms with one API, as Feishu and Lark). */
export interface PlatformDescriptor<App extends BaseAppConfig = BaseAppConfig> {
  /** The `platform` values of the config (`feishu`, `lark`); also the simulators' path prefixes. */
  readonly names: readonly string[];
  /** The app types it offers (`custom`, `store`), the first being the default. */
  readonly appTypes: readonly string[];
  /** One strict schema per name, the common options included. */
  readonly schemas: readonly z.ZodType<App>[];
  /** The app's token kinds as data. */
  kinds(app: App): readonly KindSpec[];
  /** The platform's rules for the app's token calls (the same data the provider states). */
  rules(app: App): TokenSourceRules;
  /** Problems in the app's options the schema cannot see (a store app without its verification token). */
  validate?(app: App): readonly AppIssue[];
  /** The provider of one configured app; its `events` answers the events URL where the platform pushes. */
  createProvider(app: App, environment: ProviderEnvironment): Provider;
  /**
   * The simulator an app's calls go to (its path prefix, `sims.baseUrl(name)`), where it is not the
   * platform's name: a third-party app's APIs have a simulator of their own. Default: the platform.
   */
  simulatorName?(app: App): string;
  /** The simulator of platform `name` (or of {@link simulatorName}) knowing these apps' credentials. */
  createSimulator(name: string, apps: readonly App[], options: SimulatorOptions): PlatformSim;
  /** The demo's apps of this platform (`npm start`, `tokenhub sim`), their base URLs under `simUrl`. */
  demoApps(simUrl: string): Record<string, Record<string, unknown>>;
  /** Present where the platform pushes events to the app. */
  readonly events?: SimulatedEvents<App>;
}

/** Checks a descriptor against its app type (the registry holds them erased). */
export function definePlatform<App extends BaseAppConfig>(descriptor: PlatformDescriptor<App>): PlatformDescriptor<App> {
  return descriptor;
}

/** The first item of each key. */
export function uniqueBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
