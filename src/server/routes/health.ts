import type { FastifyPluginAsync } from 'fastify';
import type { TokenStore } from '../../core/types.js';
import type { Metrics } from '../metrics.js';
import { Health, Readiness } from '../openapi/schemas.js';

const tags = ['health'];

export const healthRoutes: FastifyPluginAsync<{ store: TokenStore; metrics: Metrics }> = async (app, { store, metrics }) => {
  const live = { tags, operationId: 'healthz', summary: 'Liveness: 200 while the process lives', docs: { answers: { 200: { description: 'Alive', body: Health } } } };
  app.get('/healthz', { config: { public: true }, schema: live }, async () => ({ status: 'ok' }));

  const ready = {
    tags,
    operationId: 'readyz',
    summary: 'Readiness: the config is loaded and the store answers',
    docs: { answers: { 200: { description: 'Ready', body: Readiness }, 503: { description: 'The store does not answer', body: Readiness } } },
  };
  app.get('/readyz', { config: { public: true }, schema: ready }, async (_req, reply) => {
    try {
      await store.ping();
      return { status: 'ready', store: store.name };
    } catch {
      return reply.code(503).send({ status: 'not ready', store: store.name, error: { code: 'TOKENHUB_STORE_UNAVAILABLE', message: `the ${store.name} store does not answer` } });
    }
  });

  const scrape = {
    tags,
    operationId: 'metrics',
    summary: 'Prometheus metrics (text format)',
    description: 'Labels hold only configured names and fixed words, never what a caller sent. docs/api.md lists the metrics.',
    docs: { answers: { 200: { description: 'The metrics', body: { type: 'string' }, type: metrics.registry.contentType } } },
  };
  app.get('/metrics', { config: { public: true }, schema: scrape }, async (_req, reply) => {
    void reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
