import type { FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { Dispatcher } from 'undici';
import { Alerts, type AlertsOptions } from './alerts/alerts.js';
import { AuditLog } from './audit/audit-log.js';
import { Broker, type AppDefinition } from './core/broker.js';
import { ConfigError, TokenHubError } from './core/errors.js';
import { appFingerprint, grantScope } from './core/keys.js';
import type { TokenStore } from './core/types.js';
import { refreshRuleIssues, type AppConfig, type LoadedConfig } from './config.js';
import { createLogger } from './logger.js';
import { combineObservers } from './observe/combine.js';
import { tracingObserver } from './observe/tracing.js';
import { upstreamLog } from './observe/upstream-log.js';
import { createProvider } from './providers/index.js';
import { planReload, type ReloadResult } from './reload/plan.js';
import { buildServer, reconfigureServer } from './server/app.js';
import { Metrics } from './server/metrics.js';
import { createStore } from './stores/index.js';

export type { ReloadResult } from './reload/plan.js';

export interface Hub {
  readonly server: FastifyInstance;
  readonly broker: Broker;
  readonly store: TokenStore;
  /** Starts listening; resolves to the base URL. */
  listen(): Promise<string>;
  /** Stops taking requests, lets those in flight finish, stops refreshing and closes the store. */
  close(): Promise<void>;
  /**
   * Applies a new config without a restart (SIGHUP, `POST /v1/admin/reload`): `next`, or the config
   * read again by `HubOptions.loadConfig`. Added apps and clients work at once, removed ones are
   * gone, changed apps start afresh, unchanged ones keep their tokens. A config that does not load
   * is refused with a `ConfigError` (logged) and the running one stays. Reloads run one at a time.
   */
  reload(next?: LoadedConfig): Promise<ReloadResult>;
}

export interface HubOptions {
  logger?: PinoLogger;
  /** A store built by the caller (tests, benchmarks); otherwise built from `config.store`. */
  store?: TokenStore;
  /** The clock of the broker, the token answers and the stores built here: tests compress time with it. */
  now?: () => number;
  /** Where the providers' token calls go (an undici dispatcher: a `MockAgent` in tests); default: shared keep-alive connections. */
  dispatcher?: Dispatcher;
  /** How long `close()` lets requests in flight finish before it drops their connections. */
  shutdownGraceMs?: number;
  /** Reads the config again for `reload()` (`tokenhub serve` reads its config file); without it only `reload(next)` works. */
  loadConfig?: () => Promise<LoadedConfig>;
  /** How alerts are delivered (timeouts, attempts, backoff) and how often pushed tickets are looked at: tests shorten them. */
  alertDelivery?: Omit<AlertsOptions, 'log' | 'onOutcome' | 'now'>;
}

/** Wires config → providers → broker → server. The one place that knows every part. */
export function createHub(config: LoadedConfig, options: HubOptions = {}): Hub {
  const logger = options.logger ?? createLogger(config.log.level, undefined, config.log.format);
  const definitions = defineApps(Object.entries(config.apps), options, logger);
  const store = options.store ?? createStore(config.store, logger.child({ component: 'store' }), options.now);
  // The gauge of seconds left reads the broker at scrape time.
  const metrics: Metrics = new Metrics(() => broker);
  const alerts = new Alerts(config.alerts, {
    ...options.alertDelivery,
    log: logger.child({ component: 'alerts' }),
    onOutcome: (outcome) => metrics.alertDeliveries.inc({ outcome }),
    ...(options.now ? { now: options.now } : {}),
  });
  const broker: Broker = new Broker({
    store,
    logger: logger.child({ component: 'broker' }),
    observer: combineObservers(metrics.observer, upstreamLog(logger.child({ component: 'upstream' })), alerts.observer, tracingObserver()),
    upstreamTimeoutMs: config.upstream.timeoutMs,
    ...(config.store.leaseMs === undefined ? {} : { leaseMs: config.store.leaseMs }),
    ...(options.now ? { now: options.now } : {}),
  });
  for (const definition of definitions) broker.register(definition);
  // Pushed tickets that stop coming alert too, though no fetch needs one yet.
  alerts.watchTickets(broker);
  const jsapiUrls = jsapiUrlsOf(config);
  const audit = config.audit === undefined ? undefined : new AuditLog({
    path: config.audit.path,
    tokenIdKey: config.audit.tokenIdKey,
    log: logger.child({ component: 'audit' }),
    onDrop: () => metrics.auditDropped.inc(),
    ...(options.now ? { now: options.now } : {}),
  });
  const server = buildServer({
    broker, store, clients: config.clientEntries, metrics, logger, proxy: config.proxy, limits: config.server, jsapiUrls,
    reload: () => reload(), ...(audit ? { audit } : {}), ...(options.now ? { now: options.now } : {}),
  });

  let running = config;
  let queue: Promise<unknown> = Promise.resolve();
  const reloadLog = logger.child({ component: 'reload' });
  /** Builds everything the new config needs first (any failure refuses it whole), then swaps without an await. */
  const apply = async (given: LoadedConfig | undefined): Promise<ReloadResult> => {
    let next: LoadedConfig;
    // A SIGHUP is also what log rotation sends: the audit file is opened again under its path.
    audit?.reopen();
    try {
      if (given !== undefined) next = given;
      else if (options.loadConfig !== undefined) next = await options.loadConfig();
      else throw new ConfigError(['this tokenhub was started without a config file to read again']);
      const plan = planReload(running, next);
      const fresh = defineApps([...plan.added, ...plan.changed].map((id) => [id, next.apps[id]!] as const), options, logger);
      for (const id of [...plan.removed, ...plan.changed]) broker.unregister(id);
      for (const definition of fresh) broker.register(definition);
      reconfigureServer(server, { clients: next.clientEntries, jsapiUrls: jsapiUrlsOf(next) });
      // A changed app keeps its alert state: the fix of a refused secret is alerted as recovered.
      for (const id of plan.removed) alerts.forget(id);
      alerts.setReceivers(next.alerts);
      // What needs a restart keeps running as it was, so that the next reload compares against it.
      const kept = Object.fromEntries(plan.restartNeeded.map((key) => [key, (running as unknown as Record<string, unknown>)[key]]));
      running = { ...next, ...kept } as LoadedConfig;
      const result: ReloadResult = { ...plan, clients: next.clientEntries.length };
      const { unchanged, ...said } = result;
      reloadLog.info({ ...said, unchanged: unchanged.length }, 'config reloaded');
      if (plan.restartNeeded.length > 0) reloadLog.warn({ keys: plan.restartNeeded }, `config reloaded, but ${plan.restartNeeded.join(', ')} take effect only on a restart`);
      return result;
    } catch (err) {
      const issues = err instanceof ConfigError ? err.issues : [err instanceof TokenHubError ? err.message : String(err)];
      reloadLog.error({ issues }, 'config reload refused: the running config stays');
      throw err;
    }
  };
  const reload = (next?: LoadedConfig): Promise<ReloadResult> => {
    const run = queue.then(() => apply(next));
    queue = run.catch(() => {});
    return run;
  };
  return {
    server,
    broker,
    store,
    reload,
    async listen() {
      try {
        // Before the port opens: a locked data dir or a wrong encryption key stops the start here.
        await store.open?.();
        await audit?.open();
        // Fastify logs a line per listening address; the ready line is the caller's, one line.
        const level = server.log.level;
        server.log.level = 'warn';
        try {
          await server.listen({ host: config.listen.host, port: config.listen.port });
        } finally {
          server.log.level = level;
        }
      } catch (err) {
        broker.close();
        await alerts.close();
        await audit?.close().catch(() => {});
        await store.close().catch(() => {});
        throw err;
      }
      const addr = server.server.address();
      const port = typeof addr === 'object' && addr ? addr.port : config.listen.port;
      const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
      return `http://${host}:${port}`;
    },
    async close() {
      // Keep-alive connections whose last request finished during the close would hold it open
      // for the keep-alive timeout; close them as they go idle, and all of them after a grace period.
      const sweep = setInterval(() => server.server.closeIdleConnections(), 50);
      const deadline = setTimeout(() => server.server.closeAllConnections(), options.shutdownGraceMs ?? 10_000);
      try {
        await server.close();
      } finally {
        clearInterval(sweep);
        clearTimeout(deadline);
      }
      broker.close();
      await alerts.close();
      await audit?.close();
      await store.close();
    },
  };
}

/**
 * The broker's definition of each app, its provider built and the platform's rules checked
 * against its configured windows: every problem of every app, as one `ConfigError`.
 */
function defineApps(apps: Iterable<readonly [string, AppConfig]>, options: HubOptions, logger: PinoLogger): AppDefinition[] {
  const entries = [...apps];
  // The platform's rules, as its descriptor states them, against the configured windows.
  const issues = entries.flatMap(([id, app]) => refreshRuleIssues(id, app));
  if (issues.length > 0) throw new ConfigError(issues);
  const built = entries.map(([id, app]) => ({ id, app, provider: createProvider(id, app, options.dispatcher ? { dispatcher: options.dispatcher } : {}) }));
  return built.map(({ id, app, provider }) => {
    for (const warning of provider.warnings ?? []) logger.warn({ app: id }, warning);
    return {
      id,
      provider,
      fingerprint: appFingerprint(app.platform, app.appId, app.appSecret),
      grantScope: grantScope(app.platform, app.appId),
      ...(app.refreshAheadSeconds === undefined ? {} : { refreshAheadMs: app.refreshAheadSeconds * 1000 }),
      ...(app.minTtlSeconds === undefined ? {} : { minTtlMs: app.minTtlSeconds * 1000 }),
      ...(app.maxTenants === undefined ? {} : { maxTenants: app.maxTenants }),
      ...(app.maxConcurrentFetches === undefined ? {} : { maxConcurrentFetches: app.maxConcurrentFetches }),
      ...(app.reportIntervalSeconds === undefined ? {} : { reportIntervalMs: app.reportIntervalSeconds * 1000 }),
    };
  });
}

/** The pages each app signs for (`apps.<id>.jsapiUrls`). */
function jsapiUrlsOf(config: LoadedConfig): Map<string, readonly string[]> {
  return new Map(Object.entries(config.apps).flatMap(([id, app]) => ('jsapiUrls' in app && app.jsapiUrls ? [[id, app.jsapiUrls] as const] : [])));
}
