/**
 * `tokenhub`: the server as a library (ES modules only). What is exported here is the public
 * surface; everything else under `dist/` is internal and may change. The client is
 * `tokenhub/client`, the platform simulators `tokenhub/sim`.
 *
 * @example
 * ```ts
 * import { createHub, loadConfig } from 'tokenhub';
 * const hub = createHub(await loadConfig('tokenhub.yaml'));
 * console.log(`tokenhub on ${await hub.listen()}`);
 * ```
 */

// Config and the hub.
export { createHub, type Hub, type HubOptions } from './hub.js';
export { loadConfigFile as loadConfig, parseConfig, validateConfig, PLATFORMS } from './config.js';
export type { AppConfig, ClientEntry, Config, LoadedConfig, Platform, StoreConfig } from './config.js';

// Errors.
export { ConfigError, ERRORS, TokenHubError, UpstreamError } from './core/errors.js';
export type { ErrorCode, ErrorSpec, FailureClass, TokenHubErrorOptions, UpstreamErrorOptions } from './core/errors.js';

// What a hub is built of: the broker's view of providers and stores.
export type { Broker, BrokerOptions, IssuedToken, SlotStatus, TenantKindStatus } from './core/broker.js';
export type {
  Authorization,
  AuthorizationApi,
  AuthorizationDetail,
  BusinessAnswer,
  BusinessApi,
  BusinessCall,
  EventAnswer,
  EventContext,
  EventReceiver,
  FetchContext,
  FetchReason,
  FetchRequest,
  FetchedToken,
  GrantAccess,
  IncomingEvent,
  KindSpec,
  Lease,
  Logger,
  Provider,
  StateAccess,
  StoreChange,
  StoredGrant,
  StoredToken,
  Token,
  TokenSource,
  TokenSourceRules,
  TokenStore,
} from './core/types.js';
export type { UpstreamLimit } from './core/budget.js';
export type { HealthContext, ProviderHealth } from './core/types.js';
export type { AdminStatus, AppState, TokenState } from './server/admin-status.js';
export type { Attention, AttentionReason } from './server/attention.js';

// The stores a hub may be given (`HubOptions.store`).
export { FileStore, MemoryStore, RedisStore, DEFAULT_REDIS_STORE_OPTIONS, type FileStoreOptions, type RedisStoreOptions } from './stores/index.js';
export type { MemoryStoreOptions } from './stores/memory.js';

// The platforms, one descriptor each.
export { PLATFORM_NAMES, PLATFORM_REGISTRY, platformNamed, platforms } from './platforms/index.js';
export type { AnyAppConfig, AppIssue, BaseAppConfig, PlatformDescriptor, ProviderEnvironment, SimulatorOptions } from './platforms/index.js';

// Operations: what a receiver of tokenhub's alerts checks, and what a reload reports.
export { signAlert, verifyAlertSignature } from './alerts/signature.js';
export { ALERT_EVENTS, type AlertBody, type AlertEvent } from './alerts/events.js';
export type { ReloadResult } from './reload/plan.js';
