import swagger from '@fastify/swagger';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Broker } from '../core/broker.js';
import { TokenHubError, badRequest } from '../core/errors.js';
import type { TokenStore } from '../core/types.js';
import type { ClientEntry } from '../config.js';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditLog } from '../audit/audit-log.js';
import { auditHook } from './audit.js';
import { ClientAuth, authorizeAdmin, clientOf } from './auth.js';
import { ClientBudget, DEFAULT_SIGNATURES_PER_MINUTE } from './client-budget.js';
import { cachedReadFastPath } from './fast-path.js';
import { DEFAULT_SERVER_LIMITS, limitedServer, type ServerLimits } from './limits.js';
import { TokenAnswers } from './token-answers.js';
import type { Metrics } from './metrics.js';
import { authorizationRoutes } from './routes/authorizations.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { jsapiRoutes } from './routes/jsapi.js';
import { DEFAULT_PROXY_OPTIONS, type ProxyOptions } from './proxy-options.js';
import { proxyRoutes } from './routes/proxy.js';
import { reloadRoutes } from './routes/reload.js';
import type { ReloadResult } from '../reload/plan.js';
import { tokenRoutes } from './routes/tokens.js';
import { adminStatus } from './admin-status.js';
import { adminRoutes, DEFAULT_ADMIN_EVENTS_INTERVAL_MS } from './routes/admin.js';
import { consoleRoutes } from './routes/console.js';
import { openapiOptions } from './openapi/document.js';
import { openapiRoutes } from './routes/openapi.js';
import { StoreHealth } from './store-health.js';
import { VERSION } from './version.js';

export interface ServerOptions {
  broker: Broker;
  store: TokenStore;
  clients: readonly ClientEntry[];
  metrics: Metrics;
  logger: FastifyBaseLogger | false;
  /** Largest request body accepted by the JSON API, in bytes (the proxy streams bodies instead). */
  bodyLimit?: number;
  proxy?: ProxyOptions;
  limits?: ServerLimits;
  /** The clock token answers count `expiresIn` by (the broker's), and signatures' timestamps. */
  now?: () => number;
  /** The pages each app signs for (`apps.<id>.jsapiUrls`); an app left out signs any http(s) URL. */
  jsapiUrls?: ReadonlyMap<string, readonly string[]>;
  /** How often `GET /v1/admin/events` sends the status. Default 1 s. */
  adminEventsIntervalMs?: number;
  /** What `POST /v1/admin/reload` runs (the hub's reload); without it the route refuses. */
  reload?: () => Promise<ReloadResult>;
  /** Where audited requests are written (`audit` in the config); none when left out. */
  audit?: AuditLog;
}

/** What a reload replaces in a running server: who may call, and the pages each app signs for. */
export interface ServerReconfiguration {
  clients: readonly ClientEntry[];
  jsapiUrls: ReadonlyMap<string, readonly string[]>;
}

const reconfigurers = new WeakMap<FastifyInstance, (next: ServerReconfiguration) => void>();

/** Replaces the clients and page rules of a server `buildServer` made; requests from then on see only the new ones. */
export function reconfigureServer(server: FastifyInstance, next: ServerReconfiguration): void {
  const apply = reconfigurers.get(server);
  if (apply === undefined) throw new TypeError('not a server made by buildServer');
  apply(next);
}

/** The Fastify app: routes, authentication and the JSON error format. Does not listen. */
export function buildServer(options: ServerOptions): FastifyInstance {
  const auth = new ClientAuth(options.clients);
  let jsapiUrls = options.jsapiUrls ?? new Map<string, readonly string[]>();
  const answers = new TokenAnswers(options.metrics, (id) => options.broker.has(id), options.now);
  const budget = new ClientBudget();
  const signatures = new ClientBudget('signatures', (c) => c.signaturesPerMinute ?? DEFAULT_SIGNATURES_PER_MINUTE);
  const fastPath = cachedReadFastPath(options.broker, auth, answers, options.audit);
  const limits = options.limits ?? DEFAULT_SERVER_LIMITS;
  const app = Fastify({
    // Cached token reads are answered before Fastify sees them; everything else is Fastify's.
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
      limitedServer(limits, (req, res) => {
        if (!fastPath(req, res)) handler(req, res);
      }),
    loggerInstance: options.logger === false ? undefined : options.logger,
    // One log line per request would cost more than serving a cached token.
    logController: new LogController({ disableRequestLogging: true }),
    // A child logger per request costs more than the rest of a cached read; errors name the request id themselves.
    childLoggerFactory: (logger: FastifyBaseLogger) => logger,
    bodyLimit: options.bodyLimit ?? 16 * 1024,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { coerceTypes: true, removeAdditional: false, allErrors: false } },
    // A URL the router cannot decode gets tokenhub's JSON error like any other bad request.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
      // Before routing, so before any key check: an unknown caller learns nothing but 401.
      const refused = auth.refusal(req.headers);
      if (refused !== undefined) return sendError(reply, refused);
      sendError(reply, err.code === 'FST_ERR_BAD_URL' ? badRequest('the URL is not valid percent-encoding') : toHttpError(err));
    },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  reconfigurers.set(app, (next) => {
    auth.replace(next.clients);
    jsapiUrls = next.jsapiUrls;
  });

  app.decorateRequest('client', undefined);
  app.decorateRequest('audit', undefined);
  if (options.audit !== undefined) app.addHook('onResponse', auditHook(options.audit));
  // Deny by default, decided by the matched route: every route that does not declare itself
  // public gets the key check as its own first hook. No test on the URL text, which has many
  // spellings (percent-encoded, absolute-form) that the router folds onto one route.
  const requireKey = (req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
    try {
      req.client = auth.authenticate(req.headers);
    } catch (err) {
      return done(err as Error);
    }
    done();
  };
  // The operations routes also need an admin client, checked right after the key (never public).
  const requireAdmin = (req: FastifyRequest, _reply: FastifyReply, done: (err?: Error) => void): void => {
    try {
      authorizeAdmin(clientOf(req));
    } catch (err) {
      return done(err as Error);
    }
    done();
  };
  app.addHook('onRoute', (route) => {
    const admin = route.config?.admin === true;
    if (route.config?.public === true && !admin) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [requireKey, ...(admin ? [requireAdmin] : []), ...own];
  });

  app.setErrorHandler((err: FastifyError | TokenHubError, req, reply) => {
    const error = toHttpError(err);
    if (error.statusCode >= 500 && error.code === 'TOKENHUB_INTERNAL') req.log.error({ err, reqId: req.id, url: req.url.split('?')[0] }, 'request failed');
    sendError(reply, error);
  });
  // No route matched: without a known key that is a 401 like any other, so app ids and routes cannot be probed.
  app.setNotFoundHandler((req, reply) => {
    const refused = auth.refusal(req.headers);
    if (refused !== undefined) return sendError(reply, refused);
    sendError(reply, new TokenHubError('TOKENHUB_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  });

  // First: it collects every route registered after it into the OpenAPI document (GET /openapi.json).
  app.register(swagger, openapiOptions());
  app.register(healthRoutes, { store: options.store, metrics: options.metrics });
  app.register(openapiRoutes);
  app.register(tokenRoutes, { broker: options.broker, auth, answers, budget });
  app.register(jsapiRoutes, { broker: options.broker, auth, budget: signatures, jsapiUrls: () => jsapiUrls, now: options.now ?? Date.now });
  app.register(eventRoutes, { broker: options.broker, timeoutMs: limits.eventsTimeoutMs, now: options.now ?? Date.now });
  app.register(authorizationRoutes, { broker: options.broker, auth, budget });
  app.register(proxyRoutes, { broker: options.broker, auth, budget, metrics: options.metrics, options: options.proxy ?? DEFAULT_PROXY_OPTIONS });
  const now = options.now ?? Date.now;
  const status = { broker: options.broker, store: new StoreHealth(options.store, { now }), upstream: options.metrics.upstream, version: VERSION, startedAt: now(), now };
  app.register(adminRoutes, { status: () => adminStatus(status), eventsIntervalMs: options.adminEventsIntervalMs ?? DEFAULT_ADMIN_EVENTS_INTERVAL_MS });
  app.register(consoleRoutes);
  app.register(reloadRoutes, { reload: options.reload });
  return app;
}

/**
 * tokenhub's JSON error. `X-Tokenhub-Error` carries the code too, so that a proxy caller can tell
 * tokenhub's own errors from the platform's answers without reading the body.
 */
function sendError(reply: FastifyReply, error: TokenHubError): void {
  if (error.retryAfterSeconds !== undefined) void reply.header('retry-after', String(error.retryAfterSeconds));
  void reply.code(error.statusCode).header('x-tokenhub-error', error.code).send(error.toJSON());
}

/** Fastify's own errors (validation, body size, bad JSON) mapped onto tokenhub's codes; 4xx never becomes 5xx. */
function toHttpError(err: FastifyError | TokenHubError): TokenHubError {
  if (err instanceof TokenHubError) return err;
  if (err.validation) return badRequest(`${err.validationContext ?? 'request'}${err.message.replace(/^(body|querystring|params)/, '')}`);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TokenHubError('TOKENHUB_PAYLOAD_TOO_LARGE', 'request body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new TokenHubError('TOKENHUB_UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return badRequest('the body is not valid JSON');
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return badRequest(err.message);
  return new TokenHubError('TOKENHUB_INTERNAL', 'internal error', { cause: err });
}
