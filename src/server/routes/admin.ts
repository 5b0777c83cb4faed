import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import { TokenHubError } from '../../core/errors.js';
import type { AdminStatus } from '../admin-status.js';
import { AdminStatus as AdminStatusSchema } from '../openapi/schemas.js';

export const DEFAULT_ADMIN_EVENTS_INTERVAL_MS = 1_000;

/** A stream whose reader lets this much pile up unread is dropped: a stalled tab must not hold memory. */
const MAX_UNREAD_BYTES = 1024 * 1024;

/**
 * The operations routes, for admin clients only (`config.admin`: the key check, then the admin
 * check): `GET /v1/admin/status`, and `GET /v1/admin/events`, the same status as server-sent
 * events every interval, for pages that read it with fetch (the key goes in a header, which
 * `EventSource` cannot send).
 */
export const adminRoutes: FastifyPluginAsync<{ status: () => Promise<AdminStatus>; eventsIntervalMs: number }> = async (app, { status, eventsIntervalMs }) => {
  const statusSchema = {
    tags: ['operations'],
    operationId: 'adminStatus',
    summary: 'Every app and token, upstream calls, the store, what needs attention',
    docs: { answers: { 200: { description: "The instance's status (never a token value)", body: AdminStatusSchema } } },
  };
  app.get('/v1/admin/status', { config: { admin: true }, schema: statusSchema }, async (_req, reply) => {
    void reply.header('cache-control', 'no-store');
    return status();
  });

  const streams = new Set<ServerResponse>();
  // A stream never ends by itself: closing the server ends them, or it would wait for them.
  app.addHook('preClose', (done) => {
    for (const res of streams) res.end();
    done();
  });

  const eventsSchema = {
    tags: ['operations'],
    operationId: 'adminEvents',
    summary: 'The status as server-sent events, at once and then every interval',
    docs: {
      answers: {
        200: {
          description: 'A stream of `event: status` frames whose data is the JSON of GET /v1/admin/status (`event: error` with an error body when it fails)',
          body: { type: 'string' },
          type: 'text/event-stream',
        },
      },
    },
  };
  app.get('/v1/admin/events', { config: { admin: true }, schema: eventsSchema }, (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      // Proxies that buffer (nginx) would hold the events back.
      'x-accel-buffering': 'no',
    });
    streams.add(res);
    let sending = false;
    const send = async (): Promise<void> => {
      // One status at a time: a slow store ping skips ticks rather than piling them up.
      if (sending || res.writableEnded) return;
      sending = true;
      try {
        const frame = await status().then(
          (s) => `event: status\ndata: ${JSON.stringify(s)}\n\n`,
          (err: unknown) => {
            req.log.error({ err }, 'admin status failed');
            const error = err instanceof TokenHubError ? err : new TokenHubError('TOKENHUB_INTERNAL', 'internal error');
            return `event: error\ndata: ${JSON.stringify(error.toJSON())}\n\n`;
          },
        );
        if (res.writableEnded) return;
        if (res.writableLength > MAX_UNREAD_BYTES) return void res.destroy();
        res.write(frame);
      } finally {
        sending = false;
      }
    };
    void send();
    const timer = setInterval(() => void send(), eventsIntervalMs);
    res.once('close', () => {
      clearInterval(timer);
      streams.delete(res);
    });
  });
};
