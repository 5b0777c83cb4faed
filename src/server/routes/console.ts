import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { TokenHubError } from '../../core/errors.js';

/**
 * The console's page may load only its own files and talk only to tokenhub: no inline script or
 * style, no other origin, no framing, no form posting anywhere.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The console's files (src/server/console, copied to dist/server/console by the build) and their types. */
const ASSETS = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
  'icon.svg': 'image/svg+xml',
} as const;

type AssetName = keyof typeof ASSETS;

const DIR = new URL('../console/', import.meta.url);

/**
 * `GET /console` and its files: the operators' web page. Public: the page holds no secret; the
 * data it shows comes from `/v1/admin/*` with the admin key the operator types in.
 */
export const consoleRoutes: FastifyPluginAsync = async (app) => {
  const files = new Map<AssetName, Buffer>();
  for (const name of Object.keys(ASSETS) as AssetName[]) {
    try {
      files.set(name, await readFile(new URL(name, DIR)));
    } catch {
      // A build that left the files behind still serves tokens; /console says what is missing.
      app.log.warn({ file: new URL(name, DIR).pathname }, 'console file missing: /console will answer 404');
    }
  }

  const send = (reply: FastifyReply, name: AssetName): FastifyReply => {
    const body = files.get(name);
    if (body === undefined) throw new TokenHubError('TOKENHUB_NOT_FOUND', `the console's ${name} is missing from this build`);
    return reply
      .header('content-type', ASSETS[name])
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'no-referrer')
      .header('cross-origin-opener-policy', 'same-origin')
      .header('cache-control', 'no-cache')
      .send(body);
  };

  const missing = { errors: ['TOKENHUB_NOT_FOUND'] } as const;
  const page = {
    tags: ['operations'],
    operationId: 'console',
    summary: "The operators' web page",
    description: 'Public: the page holds no secret; the data it shows comes from /v1/admin/* with the admin key the operator types in.',
    docs: { answers: { 200: { description: 'The page', type: ASSETS['index.html'] } }, ...missing },
  };
  const slash = {
    tags: ['operations'],
    operationId: 'consoleSlash',
    summary: 'Redirects to /console',
    docs: { answers: { 301: { description: 'To /console', headers: { Location: { type: 'string', description: '../console' } } } } },
  };
  const file = {
    tags: ['operations'],
    operationId: 'consoleFile',
    summary: "One of the console page's files",
    docs: {
      params: { type: 'object', required: ['file'], properties: { file: { type: 'string', enum: Object.keys(ASSETS) } } },
      answers: { 200: { description: 'The file', type: [...new Set(Object.values(ASSETS))] } },
      ...missing,
    },
  };

  app.get('/console', { config: { public: true }, schema: page }, (_req, reply) => send(reply, 'index.html'));
  // The page links its files relative to /console: /console/ would resolve them one level too deep.
  app.get('/console/', { config: { public: true }, schema: slash }, (_req, reply) => reply.redirect('../console', 301));
  app.get<{ Params: { file: string } }>('/console/:file', { config: { public: true }, schema: file }, (req, reply) => {
    const name = req.params.file;
    if (!Object.hasOwn(ASSETS, name)) throw new TokenHubError('TOKENHUB_NOT_FOUND', `no console file ${JSON.stringify(name)}`);
    return send(reply, name as AssetName);
  });
};
