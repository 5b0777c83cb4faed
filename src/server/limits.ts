import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TokenHubError } from '../core/errors.js';

/** What the HTTP server allows one connection and one request. */
export interface ServerLimits {
  /** Time allowed to receive a request's headers, from its first byte. */
  headersTimeoutMs: number;
  /** Time allowed to receive a whole request, body included (at least `headersTimeoutMs`). */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open after an answer. */
  keepAliveTimeoutMs: number;
  /** Open connections at most; more are closed as they arrive. */
  maxConnections: number;
  /** Time allowed to receive a whole request on the unauthenticated events URL. */
  eventsTimeoutMs: number;
}

export const DEFAULT_SERVER_LIMITS = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 10_000,
  eventsTimeoutMs: 5_000,
} as const;

/**
 * A `node:http` server with the limits applied: Fastify applies its own timeouts only to a
 * server it creates itself, so a custom server factory has to set them.
 */
export function limitedServer(limits: ServerLimits, handler: (req: IncomingMessage, res: ServerResponse) => void): Server {
  const server = createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks the two timeouts above on this interval (30 s by default), so a short limit needs a shorter check.
      connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    },
    handler,
  );
  server.maxConnections = limits.maxConnections;
  return server;
}

/**
 * A route's `onRequest` hook that ends the request with 408 and closes the connection unless its
 * body has arrived within `ms`: a shorter limit than the server's for routes anyone may call.
 */
export function bodyDeadline(ms: number): (req: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  return (req, reply, done) => {
    const raw = reply.raw;
    const timer = setTimeout(() => {
      if (raw.headersSent) return void req.raw.socket.destroy();
      const error = new TokenHubError('TOKENHUB_REQUEST_TIMEOUT', `the request did not arrive within ${ms} ms`);
      const body = JSON.stringify(error.toJSON());
      // Written on the raw response: Fastify is still waiting for the body and will not answer.
      raw.writeHead(error.statusCode, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'x-tokenhub-error': error.code, connection: 'close' });
      raw.end(body, () => req.raw.socket.destroy());
    }, ms);
    timer.unref();
    const stop = (): void => clearTimeout(timer);
    // Past parsing, the body is in: the route's own work is not timed here.
    req.raw.once('end', stop);
    raw.once('close', stop);
    done();
  };
}
