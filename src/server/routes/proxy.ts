import type { IncomingHttpHeaders } from 'node:http';
import { Readable } from 'node:stream';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Agent, request, type Dispatcher } from 'undici';
import type { Broker } from '../../core/broker.js';
import { TokenHubError, badRequest } from '../../core/errors.js';
import type { BusinessCall } from '../../core/types.js';
import type { AuditRecord } from '../audit.js';
import { clientOf, type ClientAuth } from '../auth.js';
import type { ClientBudget } from '../client-budget.js';
import type { Metrics } from '../metrics.js';
import { APP_ERRORS, TOKEN_ERRORS } from '../openapi/errors.js';
import type { OperationDocs } from '../openapi/operation.js';
import { TENANT_KEY_PATTERN } from './tokens.js';
import { WITHHELD_HEADERS, type ProxyOptions } from '../proxy-options.js';

/** Segments of a proxy URL's path before the platform path: '', 'v1', 'proxy', the app. */
const ROUTE_SEGMENTS = 4;
/** Percent-decoding rounds tried on a segment; one still encoded after that many is refused. */
const DECODE_ROUNDS = 4;
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);
const TENANT_KEY = new RegExp(TENANT_KEY_PATTERN);
const KIND = /^[A-Za-z0-9_.-]{1,64}$/;

const docs: OperationDocs = {
  params: {
    type: 'object',
    required: ['app', 'path'],
    properties: {
      app: { type: 'string', description: "The app's id in the config" },
      path: { type: 'string', description: "The platform's path, slashes and all (its query string is kept)" },
    },
  },
  headers: {
    type: 'object',
    properties: {
      'x-tokenhub-token-kind': { type: 'string', pattern: KIND.source, description: "The kind of token to send; default the app's defaultKind" },
      'x-tokenhub-tenant-key': { type: 'string', pattern: TENANT_KEY_PATTERN, description: 'The tenant whose token to send, for a tenant-scoped kind' },
    },
  },
  body: { schema: { description: 'Any body, streamed to the platform as it is' }, type: ['*/*'], required: false },
  answers: {
    default: {
      description: "The platform's answer, unchanged (its X-Tokenhub-* headers removed). An answer of tokenhub's own carries X-Tokenhub-Error; without it, any status is the platform's.",
      type: '*/*',
    },
  },
  errors: ['TOKENHUB_BAD_REQUEST', ...APP_ERRORS, ...TOKEN_ERRORS, 'TOKENHUB_UPSTREAM_UNREACHABLE', 'TOKENHUB_UPSTREAM_TIMEOUT'],
};

const schema = {
  tags: ['proxy'],
  operationId: 'proxy',
  summary: "A platform call, sent on with the app's token",
  description:
    "The client key is taken out and the platform's token put where the platform wants it (a header or the query). " +
    'When the platform answers that the token is invalid, tokenhub replaces it (compare-and-refresh) and sends the call once more. ' +
    'Every method is taken, also those OpenAPI 3.1 has no field for (WebDAV’s).',
  docs,
};

/** A request body: held in memory (so it can be sent twice), or streaming through once. */
type OutgoingBody = { replayable: true; data: Buffer | undefined } | { replayable: false; data: Readable };

/**
 * `ANY /v1/proxy/{app}/{path…}`: the call goes to the app's platform with the platform's token
 * in place of the client key; on the platform's token-invalid answer the token is invalidated
 * (compare-and-refresh) and the call is sent once more. Knows no platform: the provider says
 * where the call goes, where the token goes and what a token-invalid answer looks like.
 */
export const proxyRoutes: FastifyPluginAsync<{ broker: Broker; auth: ClientAuth; budget: ClientBudget; metrics: Metrics; options: ProxyOptions }> = async (
  app,
  { broker, auth, budget, metrics, options },
) => {
  const withheld = new Set<string>(WITHHELD_HEADERS.filter((h) => !options.forwardHeaders.includes(h)));
  const agent = new Agent({
    connect: { timeout: options.connectTimeoutMs },
    headersTimeout: options.headersTimeoutMs,
    bodyTimeout: options.bodyTimeoutMs,
    keepAliveTimeout: 30_000,
  });
  app.addHook('onClose', async () => {
    await agent.destroy();
  });

  // Bodies stream to the platform untouched: no parsing, and the JSON API's body limit does not apply.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null));

  app.all<{ Params: { app: string } }>('/v1/proxy/:app/*', { schema }, async (req, reply) => {
    const appId = req.params.app;
    const audit: AuditRecord = (req.audit = { action: 'proxy', app: appId });
    const { provider } = broker.app(appId);
    auth.authorize(clientOf(req), appId);

    // ok, retried, rejected, client_closed, or the error code (see the metric's help).
    let outcome = 'ok';
    const abort = new AbortController();
    // The caller went away: stop talking to the platform on its behalf.
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abort.abort();
    });
    try {
      const target = upstreamTarget(req.raw.url ?? req.url);
      const kind = optionalHeader(req.headers, 'x-tokenhub-token-kind', KIND);
      const tenantKey = optionalHeader(req.headers, 'x-tokenhub-tenant-key', TENANT_KEY);
      const tokenKind = kind ?? provider.businessKind;
      Object.assign(audit, { kind: tokenKind, tenantKey });
      const token = await broker.getToken(appId, tokenKind, { tenantKey });
      audit.token = token.value;
      const body = await takeBody(req.raw, req.headers, options.bufferLimitBytes);

      const send = async (value: string, data: Buffer | Readable | undefined): Promise<Dispatcher.ResponseData> => {
        const call: BusinessCall = { url: provider.businessUrl(target.path), headers: forwardHeaders(req.headers, withheld) };
        call.url.search = target.search;
        provider.attachToken(call, value);
        const started = performance.now();
        try {
          const res = await request(call.url, {
            method: req.method as Dispatcher.HttpMethod,
            headers: call.headers,
            body: data ?? null,
            dispatcher: agent,
            signal: abort.signal,
          });
          metrics.proxyDuration.observe({ app: appId }, (performance.now() - started) / 1000);
          return res;
        } catch (err) {
          throw upstreamFailure(err, provider.platform);
        }
      };

      const first = await send(token.value, body.data);
      const answer = mayBeTokenAnswer(req.method, first, options.bufferLimitBytes)
        ? await readUpTo(first.body, options.bufferLimitBytes).catch((err: unknown) => {
            throw upstreamFailure(err, provider.platform);
          })
        : { partial: first.body };
      if ('complete' in answer && provider.isTokenRejected({ status: first.statusCode, body: parseAnswer(answer.complete, first.headers, options.bufferLimitBytes) })) {
        // The retry is a report like any other: it spends the client's budget, and a token that
        // cannot be replaced yet is not sent again.
        outcome = 'rejected';
        if (!(await budget.tryTake(clientOf(req)))) {
          // Over budget: the platform's answer goes back as it is.
        } else if (!body.replayable) {
          // The body streamed through and is gone: no retry, but the caller's own retry finds a new token.
          broker.invalidate(appId, tokenKind, token.value, { tenantKey }).catch(() => {});
        } else {
          const fresh = await broker.invalidate(appId, tokenKind, token.value, { tenantKey });
          if (fresh.value !== token.value) {
            metrics.proxyRetries.inc({ app: appId });
            req.log.info({ app: appId, kind: tokenKind }, 'the platform rejected the token: sending the call again with a new one');
            audit.token = fresh.value;
            const second = await send(fresh.value, body.data);
            outcome = 'retried';
            return relay(reply, second, second.body);
          }
        }
      }
      return relay(reply, first, 'complete' in answer ? Readable.from([answer.complete]) : answer.partial);
    } catch (err) {
      outcome = abort.signal.aborted ? 'client_closed' : err instanceof TokenHubError ? err.code : 'TOKENHUB_INTERNAL';
      if (err instanceof TokenHubError && err.code.startsWith('TOKENHUB_UPSTREAM_')) {
        req.log.warn({ app: appId, method: req.method, err: err.message }, 'proxy: the platform could not be reached');
      }
      throw err;
    } finally {
      metrics.proxyRequests.inc({ app: appId, outcome });
      audit.outcome = outcome;
    }
  });
};

/**
 * The platform path (still percent-encoded) and query string of a proxy URL, in whatever form the
 * router matched it (absolute-form, percent-encoded route segments). A path that could climb out
 * of the base URL's own path, in any decoding (`..`, `%2e%2e`, `%252e%252e`, `a%2f..`, `..\`),
 * is refused: the platform, or a proxy in front of it, may decode more than once.
 */
function upstreamTarget(url: string): { path: string; search: string } {
  const q = url.indexOf('?');
  const pathname = (q === -1 ? url : url.slice(0, q)).replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '');
  const segments = pathname.split('/').slice(ROUTE_SEGMENTS);
  for (const segment of segments) {
    for (const piece of decodedPieces(segment)) {
      if (piece === '.' || piece === '..') throw badRequest('the proxied path may not hold . or .. segments, in any encoding');
    }
  }
  return { path: `/${segments.join('/')}`, search: q === -1 ? '' : url.slice(q) };
}

/** The pieces a segment falls into, split at `/` and `\\`, after each round of percent-decoding. */
function decodedPieces(segment: string): string[] {
  const pieces: string[] = [];
  let current = segment;
  for (let round = 0; ; round++) {
    if (current.includes('\\')) throw badRequest('the proxied path may not hold backslashes, in any encoding');
    pieces.push(...current.split('/'));
    if (!current.includes('%')) return pieces;
    if (round === DECODE_ROUNDS) throw badRequest('the proxied path is percent-encoded too many times over');
    try {
      current = decodeURIComponent(current);
    } catch {
      // Bad percent-encoding on the first round is the caller's; on a later one it is a literal '%' sequence.
      if (round === 0) throw badRequest('the proxied path is not valid percent-encoding');
      return pieces;
    }
  }
}

function optionalHeader(headers: IncomingHttpHeaders, name: string, pattern: RegExp): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !pattern.test(value)) throw badRequest(`header ${name} must match ${pattern.source}`);
  return value;
}

/** Headers named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1). */
function hopByHop(headers: Record<string, string | string[] | undefined>): (name: string) => boolean {
  const listed = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  return (name) => HOP_BY_HOP.has(name) || name.startsWith('proxy-') || listed.has(name);
}

/**
 * The caller's headers minus hop-by-hop ones, Host (undici sets the platform's), tokenhub's own
 * (the client key above all), and the `withheld` ones (cookies, forwarding addresses).
 */
function forwardHeaders(headers: IncomingHttpHeaders, withheld: ReadonlySet<string>): Record<string, string> {
  const dropped = hopByHop(headers);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || dropped(name) || withheld.has(name)) continue;
    // `expect: 100-continue` was answered by Node already; undici refuses to send it.
    if (name === 'host' || name === 'authorization' || name === 'expect' || name.startsWith('x-tokenhub-')) continue;
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function relay(reply: FastifyReply, res: Dispatcher.ResponseData, body: Readable): FastifyReply {
  const dropped = hopByHop(res.headers);
  void reply.code(res.statusCode);
  for (const [name, value] of Object.entries(res.headers)) {
    // X-Tokenhub-* marks tokenhub's own errors: a platform answer may not pose as one.
    if (value !== undefined && !dropped(name) && !name.startsWith('x-tokenhub-')) void reply.header(name, value);
  }
  // Always a stream: Fastify would add a Content-Type of its own to a Buffer.
  return reply.send(body);
}

/** Reads the caller's body into memory up to `limit` bytes, so it can be sent twice; beyond that it streams once. */
async function takeBody(raw: Readable, headers: IncomingHttpHeaders, limit: number): Promise<OutgoingBody> {
  const declared = headers['content-length'];
  if (headers['transfer-encoding'] === undefined && (declared === undefined || declared === '0')) return { replayable: true, data: undefined };
  if (Number(declared) > limit) return { replayable: false, data: raw };
  const read = await readUpTo(raw, limit);
  return 'complete' in read ? { replayable: true, data: read.complete } : { replayable: false, data: read.partial };
}

/** The whole stream if it holds at most `limit` bytes; otherwise a stream of what was read followed by the rest. */
async function readUpTo(stream: Readable, limit: number): Promise<{ complete: Buffer } | { partial: Readable }> {
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await it.next();
    if (next.done) return { complete: Buffer.concat(chunks, size) };
    chunks.push(next.value);
    size += next.value.length;
    if (size > limit) return { partial: Readable.from(resume(chunks, it)) };
  }
}

async function* resume(head: Buffer[], rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* head;
    for (;;) {
      const next = await rest.next();
      if (next.done) return;
      yield next.value;
    }
  } finally {
    await rest.return?.();
  }
}

/**
 * Whether an answer could be a token-invalid one and is small enough to read first. Platforms
 * answer those with JSON under any status (WeCom and WeChat under 200, some as `text/plain`).
 */
function mayBeTokenAnswer(method: string, res: Dispatcher.ResponseData, limit: number): boolean {
  if (method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304 || limit === 0) return false;
  const type = String(res.headers['content-type'] ?? '');
  if (type !== '' && !/json|text\/plain/i.test(type)) return false;
  return !(Number(res.headers['content-length']) > limit);
}

/** The parsed JSON of a buffered answer, `undefined` when it is not JSON. */
function parseAnswer(raw: Buffer, headers: Record<string, string | string[] | undefined>, limit: number): unknown {
  try {
    const encoding = String(headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const opts = { maxOutputLength: Math.max(limit, 1) };
    const text =
      encoding === 'identity' ? raw
      : encoding === 'gzip' || encoding === 'x-gzip' ? gunzipSync(raw, opts)
      : encoding === 'deflate' ? inflateSync(raw, opts)
      : encoding === 'br' ? brotliDecompressSync(raw, opts)
      : undefined;
    return text === undefined ? undefined : (JSON.parse(text.toString('utf8')) as unknown);
  } catch {
    return undefined;
  }
}

/** A failed platform call as the caller is told: 504 for timeouts, 502 otherwise; never the URL (its query may hold a token). */
function upstreamFailure(err: unknown, platform: string): TokenHubError {
  if (err instanceof TokenHubError) return err;
  const code = (err as { code?: unknown } | undefined)?.code;
  const what = typeof code === 'string' ? code : err instanceof Error ? err.name : 'error';
  if (code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new TokenHubError('TOKENHUB_UPSTREAM_TIMEOUT', `${platform} did not answer the proxied call in time (${what})`, { platform, cause: err });
  }
  return new TokenHubError('TOKENHUB_UPSTREAM_UNREACHABLE', `${platform} could not be reached for the proxied call (${what})`, { platform, cause: err });
}
