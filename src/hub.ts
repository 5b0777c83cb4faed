import type { FastifyInstance } from 'fastify';
import type { Logger as PinoLogger } from 'pino';
import type { Dispatcher } from 'undici';
import { Broker } from './core/broker.js';
import { ConfigError } from './core/errors.js';
import { appFingerprint, grantScope } from './core/keys.js';
import type { TokenStore } from './core/types.js';
import { refreshRuleIssues, type LoadedConfig } from './config.js';
import { createLogger } from './logger.js';
import { createProvider } from './providers/index.js';
import { buildServer } from './server/app.js';
import { Metrics } from './server/metrics.js';
import { createStore } from './stores/index.js';

export interface Hub {
  readonly server: FastifyInstance;
  readonly broker: Broker;
  readonly store: TokenStore;
  /** Starts listening; resolves to the base URL. */
  listen(): Promise<string>;
  /** Stops taking requests, lets those in flight finish, stops refreshing and closes the store. */
  close(): Promise<void>;
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
}

/** Wires config → providers → broker → server. The one place that knows every part. */
export function createHub(config: LoadedConfig, options: HubOptions = {}): Hub {
  const logger = options.logger ?? createLogger(config.log.level);
  // The platform's rules, as its descriptor states them, against the configured windows.
  const issues = Object.entries(config.apps).flatMap(([id, app]) => refreshRuleIssues(id, app));
  if (issues.length > 0) throw new ConfigError(issues);
  const providers = Object.entries(config.apps).map(([id, app]) => {
    const provider = createProvider(id, app, options.dispatcher ? { dispatcher: options.dispatcher } : {});
    const refreshAheadMs = app.refreshAheadSeconds === undefined ? undefined : app.refreshAheadSeconds * 1000;
    for (const warning of provider.warnings ?? []) logger.warn({ app: id }, warning);
    return { id, app, provider, refreshAheadMs };
  });
  const store = options.store ?? createStore(config.store, logger.child({ component: 'store' }), options.now);
  // The gauge of seconds left reads the broker at scrape time.
  const metrics: Metrics = new Metrics(() => broker);
  const broker: Broker = new Broker({
    store,
    logger: logger.child({ component: 'broker' }),
    observer: metrics.observer,
    upstreamTimeoutMs: config.upstream.timeoutMs,
    ...(config.store.leaseMs === undefined ? {} : { leaseMs: config.store.leaseMs }),
    ...(options.now ? { now: options.now } : {}),
  });
  for (const { id, app, provider, refreshAheadMs } of providers) {
    broker.register({
      id,
      provider,
      fingerprint: appFingerprint(app.platform, app.appId, app.appSecret),
      grantScope: grantScope(app.platform, app.appId),
      ...(refreshAheadMs === undefined ? {} : { refreshAheadMs }),
      ...(app.minTtlSeconds === undefined ? {} : { minTtlMs: app.minTtlSeconds * 1000 }),
      ...(app.maxTenants === undefined ? {} : { maxTenants: app.maxTenants }),
      ...(app.maxConcurrentFetches === undefined ? {} : { maxConcurrentFetches: app.maxConcurrentFetches }),
      ...(app.reportIntervalSeconds === undefined ? {} : { reportIntervalMs: app.reportIntervalSeconds * 1000 }),
    });
  }
  const jsapiUrls = new Map(Object.entries(config.apps).flatMap(([id, app]) => ('jsapiUrls' in app && app.jsapiUrls ? [[id, app.jsapiUrls] as const] : [])));
  const server = buildServer({ broker, store, clients: config.clientEntries, metrics, logger, proxy: config.proxy, limits: config.server, jsapiUrls, ...(options.now ? { now: options.now } : {}) });
  return {
    server,
    broker,
    store,
    async listen() {
      try {
        // Before the port opens: a locked data dir or a wrong encryption key stops the start here.
        await store.open?.();
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
      await store.close();
    },
  };
}
