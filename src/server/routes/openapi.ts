import type { FastifyPluginAsync } from 'fastify';

/**
 * `GET /openapi.json`: this document, made by @fastify/swagger from the routes' own schemas and
 * docs (src/server/openapi). Public, like /healthz: it describes the API and holds no secret nor
 * anything of the config (it is the same for every config; docs/openapi.json is a copy).
 */
export const openapiRoutes: FastifyPluginAsync = async (app) => {
  let text: string | undefined;
  const schema = {
    tags: ['health'],
    operationId: 'openapi',
    summary: 'This OpenAPI 3.1 document',
    docs: { answers: { 200: { description: 'The document', body: { type: 'object', description: 'An OpenAPI 3.1 document' } } } },
  };
  app.get('/openapi.json', { config: { public: true }, schema }, (_req, reply) => {
    // Made once, at the first request: the routes do not change while the server runs.
    text ??= JSON.stringify(app.swagger());
    return reply.type('application/json; charset=utf-8').send(text);
  });
};
