import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Broker } from '../core/broker.js';
import { TokenHubError, badRequest } from '../core/errors.js';
import type { TokenStore } from '../core/types.js';
import type { ClientEntry } from '../config.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { ClientAuth } from './auth.js';
import { ClientBudget } from './client-budget.js';
import { cachedReadFastPath } from './fast-path.js';
import { TokenAnswers } from './token-answers.js';
import type { Metrics } from './metrics.js';
import { eventRoutes } from './routes/events.js';
import { healthRoutes } from './routes/health.js';
import { DEFAULT_PROXY_OPTIONS, proxyRoutes, type ProxyOptions } from './routes/proxy.js';
import { tokenRoutes } from './routes/tokens.js';

export interface ServerOptions {
  broker: Broker;
  store: TokenStore;
  clients: readonly ClientEntry[];
  metrics: Metrics;
  logger: FastifyBaseLogger | false;
  /** Largest request body accepted by the JSON API, in bytes (the proxy streams bodies instead). */
  bodyLimit?: number;
  proxy?: ProxyOptions;
  /** The clock token answers count `expiresIn` by (the broker's). */
  now?: () => number;
}

declare module 'fastify' {
  interface FastifyRequest {
    client: ClientEntry | undefined;
  }
  interface FastifyContextConfig {
    /** `false` on the few `/v1` routes that a platform calls (store apps' events URL): they check their own credentials. */
    clientKey?: boolean;
  }
}

/** The Fastify app: routes, authentication and the JSON error format. Does not listen. */
export function buildServer(options: ServerOptions): FastifyInstance {
  const auth = new ClientAuth(options.clients);
  const answers = new TokenAnswers(options.metrics, options.now);
  const budget = new ClientBudget();
  const fastPath = cachedReadFastPath(options.broker, auth, answers);
  const app = Fastify({
    // Cached token reads are answered before Fastify sees them; everything else is Fastify's.
    serverFactory: (handler: (req: IncomingMessage, res: ServerResponse) => void) =>
      createServer((req, res) => {
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
    frameworkErrors: (err: FastifyError, _req: FastifyRequest, reply: FastifyReply) => {
      sendError(reply, err.code === 'FST_ERR_BAD_URL' ? badRequest('the URL is not valid percent-encoding') : toHttpError(err));
    },
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance;

  app.decorateRequest('client', undefined);
  // A callback hook rather than an async one: it runs on every cached read.
  app.addHook('onRequest', (req, _reply, done) => {
    if (!req.url.startsWith('/v1/')) return done();
    // `routeOptions` builds an object on each read: only looked at for the events URL, off the cached-read path.
    if (req.url.includes('/events') && req.routeOptions.config.clientKey === false) return done();
    try {
      req.client = auth.authenticate(req.headers);
      done();
    } catch (err) {
      done(err as Error);
    }
  });

  app.setErrorHandler((err: FastifyError | TokenHubError, req, reply) => {
    const error = toHttpError(err);
    if (error.statusCode >= 500 && error.code === 'TOKENHUB_INTERNAL') req.log.error({ err, reqId: req.id, url: req.url.split('?')[0] }, 'request failed');
    sendError(reply, error);
  });
  app.setNotFoundHandler((req, reply) => {
    sendError(reply, new TokenHubError('TOKENHUB_NOT_FOUND', 404, `no route ${req.method} ${req.url.split('?')[0]}`));
  });

  app.register(healthRoutes, { store: options.store, metrics: options.metrics });
  app.register(tokenRoutes, { broker: options.broker, auth, answers, budget });
  app.register(eventRoutes, { broker: options.broker });
  app.register(proxyRoutes, { broker: options.broker, auth, budget, metrics: options.metrics, options: options.proxy ?? DEFAULT_PROXY_OPTIONS });
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
      return new TokenHubError('TOKENHUB_PAYLOAD_TOO_LARGE', 413, 'request body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new TokenHubError('TOKENHUB_UNSUPPORTED_MEDIA_TYPE', 415, 'send the body as application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return badRequest('the body is not valid JSON');
  }
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return badRequest(err.message);
  return new TokenHubError('TOKENHUB_INTERNAL', 500, 'internal error', { cause: err });
}
