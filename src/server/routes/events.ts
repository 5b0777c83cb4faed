import type { FastifyPluginAsync } from 'fastify';
import type { Broker } from '../../core/broker.js';
import { TokenHubError, UpstreamError, toCallerError } from '../../core/errors.js';
import { EventRejected } from '../../core/events.js';
import { bodyDeadline } from '../limits.js';
import { PLATFORM_CALL_ERRORS } from '../openapi/errors.js';
import type { OperationDocs } from '../openapi/operation.js';

/** Largest event accepted. An app_ticket event is about 300 bytes; other events are acknowledged unread. */
export const EVENT_BODY_LIMIT = 64 * 1024;

const REFUSED = { 400: 'TOKENHUB_BAD_REQUEST', 401: 'TOKENHUB_UNAUTHORIZED', 409: 'TOKENHUB_EVENT_REPLAYED' } as const;

interface EventParams {
  app: string;
}

const docs: OperationDocs = {
  body: {
    schema: { description: "The event as the platform sends it (JSON, or encrypted XML), checked against these exact bytes" },
    type: ['application/json', 'text/xml', 'application/xml', 'text/plain'],
  },
  answers: {
    200: {
      description: 'Taken (or acknowledged and dropped): JSON such as `{"challenge": "…"}` or `{"ok": true, "kept": "app_ticket"}`, or text (`success`, a URL check\'s plaintext)',
      content: { 'application/json': { type: 'object' }, 'text/plain': { type: 'string' } },
    },
  },
  errors: [
    'TOKENHUB_BAD_REQUEST',
    'TOKENHUB_UNAUTHORIZED',
    'TOKENHUB_APP_NOT_FOUND',
    'TOKENHUB_NOT_FOUND',
    'TOKENHUB_EVENT_REPLAYED',
    'TOKENHUB_REQUEST_TIMEOUT',
    'TOKENHUB_PAYLOAD_TOO_LARGE',
    ...PLATFORM_CALL_ERRORS,
  ],
};

/**
 * `POST /v1/apps/{app}/events` (and `GET`, where the receiver lists it: a URL check such as
 * WeCom's `echostr`): the events URL of an app whose platform pushes events (its provider has an
 * event receiver). No client key: the platform cannot send one. The receiver checks each event
 * against the raw body, whatever its content type (JSON, XML), and the query (verification token,
 * signature, decryption) and refuses it (4xx, nothing kept) when anything is off; a replay is a
 * 409 that changes nothing. Its answer is JSON, or text (`success`) with the content type it names.
 */
export const eventRoutes: FastifyPluginAsync<{ broker: Broker; timeoutMs: number; now: () => number }> = async (app, { broker, timeoutMs, now }) => {
  // The signature covers the exact bytes sent, so the body stays raw (in this plugin only).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: EVENT_BODY_LIMIT }, (_req, body, done) => done(null, body));

  app.route<{ Params: EventParams; Querystring: Record<string, string | undefined> }>({
    // Each receiver says which of these it takes; the others are a 404 for its app.
    method: ['GET', 'POST'],
    url: '/v1/apps/:app/events',
    bodyLimit: EVENT_BODY_LIMIT,
    config: { public: true },
    // Anyone may call this URL: a body trickled in holds a connection only this long.
    onRequest: bodyDeadline(timeoutMs),
    schema: {
      params: { type: 'object', required: ['app'], properties: { app: { type: 'string', maxLength: 64, description: "The app's id in the config" } } },
      tags: ['third-party'],
      operationId: 'receiveEvent',
      summary: 'The events URL the platform pushes to (no client key)',
      description:
        "Checked by the app's own event settings (verification token, signature, decryption) instead of a client key; a forged, stale or undecryptable event is refused and changes nothing, a replay is a 409. " +
        "The whole request must arrive within server.eventsTimeoutMs. Each app's platform takes POST, and GET for a URL check where it has one; the other method is a 404.",
      docs,
    },
    handler: async (req, reply) => {
      const id = req.params.app;
      const receiver = broker.app(id).provider.events;
      if (receiver === undefined || !receiver.methods.includes(req.method as 'GET' | 'POST')) {
        throw new TokenHubError('TOKENHUB_NOT_FOUND', `app ${JSON.stringify(id)} takes no events${receiver === undefined ? '' : ` by ${req.method}`}: only apps whose platform pushes events (store apps, for one) have an events URL`);
      }
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const log = req.log.child({ app: id });
      try {
        const answer = await receiver.receive(
          { method: req.method, raw, headers: req.headers, query: req.query },
          {
            state: broker.state(id),
            grants: broker.grants(id),
            fetchContext: () => broker.context(id),
            forgetTenant: (tenantKey) => broker.forgetTenant(id, tenantKey),
            authorized: (tenantKey) => broker.authorized(id, tenantKey),
            // The hub's clock: a push's signed time is checked against it, a ticket's age counted by it.
            now,
            wake: () => broker.wake(id),
            log,
          },
        );
        if (answer.status !== undefined) reply.code(answer.status);
        if (answer.contentType !== undefined) reply.type(answer.contentType);
        return answer.body;
      } catch (err) {
        if (err instanceof EventRejected) {
          log.warn({ reason: err.message }, 'event refused');
          throw new TokenHubError(REFUSED[err.status], `event refused: ${err.message}`);
        }
        // A call the event led to (a pushed code exchanged) failed: its caller's error; the platform pushes again on a 5xx.
        if (err instanceof TokenHubError || err instanceof UpstreamError) throw toCallerError(err, 1_000);
        // The platform pushes again when it hears no 200.
        throw new TokenHubError('TOKENHUB_STORE_UNAVAILABLE', 'the store does not answer: the event was not kept', { cause: err, retryAfterSeconds: 1 });
      }
    },
  });
};
