import type { FastifyPluginAsync } from 'fastify';
import type { Broker } from '../../core/broker.js';
import { TokenHubError } from '../../core/errors.js';
import { EventRejected } from '../../providers/feishu-events.js';
import { takesEvents } from '../../providers/feishu-store.js';
import { bodyDeadline } from '../limits.js';

/** Largest event accepted. An app_ticket event is about 300 bytes; other events are acknowledged unread. */
export const EVENT_BODY_LIMIT = 64 * 1024;

const REFUSED = { 400: 'TOKENHUB_BAD_REQUEST', 401: 'TOKENHUB_UNAUTHORIZED', 409: 'TOKENHUB_EVENT_REPLAYED' } as const;

interface EventParams {
  app: string;
}

/**
 * `POST /v1/apps/{app}/events`: a Feishu/Lark store app's event URL. No client key: the platform
 * cannot send one. Each event is checked by its verification token, signature and decryption
 * against the raw body, and is refused (4xx, nothing kept) when anything is off; a replay is
 * a 409 that changes nothing.
 */
export const eventRoutes: FastifyPluginAsync<{ broker: Broker; timeoutMs: number }> = async (app, { broker, timeoutMs }) => {
  // The signature covers the exact bytes sent, so the body stays raw (in this plugin only).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: EVENT_BODY_LIMIT }, (_req, body, done) => done(null, body));

  app.post<{ Params: EventParams }>(
    '/v1/apps/:app/events',
    {
      bodyLimit: EVENT_BODY_LIMIT,
      config: { public: true },
      // Anyone may call this URL: a body trickled in holds a connection only this long.
      onRequest: bodyDeadline(timeoutMs),
      schema: { params: { type: 'object', required: ['app'], properties: { app: { type: 'string', maxLength: 64 } } } },
    },
    async (req) => {
      const id = req.params.app;
      const { provider } = broker.app(id);
      if (!takesEvents(provider)) {
        throw new TokenHubError('TOKENHUB_NOT_FOUND', 404, `app ${JSON.stringify(id)} takes no events: only Feishu/Lark store apps (appType: store) have an events URL`);
      }
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      let opened;
      try {
        opened = await provider.acceptEvent(raw, req.headers, broker.state(id), Date.now());
      } catch (err) {
        if (err instanceof EventRejected) {
          req.log.warn({ app: id, reason: err.message }, 'event refused');
          throw new TokenHubError(REFUSED[err.status], err.status, `event refused: ${err.message}`);
        }
        // The platform pushes again when it hears no 200.
        throw new TokenHubError('TOKENHUB_STORE_UNAVAILABLE', 503, 'the store does not answer: the event was not kept', { cause: err, retryAfterSeconds: 1 });
      }
      switch (opened.type) {
        case 'url_verification':
          return { challenge: opened.challenge };
        case 'app_ticket':
          // Only a new ticket may end a wait or a backoff: a duplicate or an older one leaves them as they are.
          if (opened.outcome !== 'new') {
            req.log.info({ app: id, outcome: opened.outcome }, 'app_ticket not newer than the one kept: ignored');
            return { ok: true, ignored: 'app_ticket', reason: opened.outcome };
          }
          req.log.info({ app: id }, 'app_ticket received');
          broker.wake(id);
          return { ok: true, kept: 'app_ticket' };
        case 'other':
          return { ok: true, ignored: opened.eventType };
      }
    },
  );
};
