import type { FastifyPluginAsync } from 'fastify';
import type { TokenStore } from '../../core/types.js';
import type { Metrics } from '../metrics.js';

export const healthRoutes: FastifyPluginAsync<{ store: TokenStore; metrics: Metrics }> = async (app, { store, metrics }) => {
  app.get('/healthz', { config: { public: true } }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    try {
      await store.ping();
      return { status: 'ready', store: store.name };
    } catch {
      return reply.code(503).send({ status: 'not ready', store: store.name, error: { code: 'TOKENHUB_STORE_UNAVAILABLE', message: `the ${store.name} store does not answer` } });
    }
  });

  app.get('/metrics', { config: { public: true } }, async (_req, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
