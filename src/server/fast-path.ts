import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuditLog } from '../audit/audit-log.js';
import type { Broker } from '../core/broker.js';
import type { ClientAuth } from './auth.js';
import type { TokenAnswers } from './token-answers.js';

const PREFIX = '/v1/apps/';
/** `peek`'s options of a plain read, shared: a cached read allocates none. */
const NO_OPTIONS = Object.freeze({});
const TOKENS = '/tokens/';

/**
 * Cached token reads answered before the framework. A read of a cached token is the one request
 * tokenhub serves at volume, and the framework's routing, hooks and serialization cost more than
 * the read itself (see docs/benchmarks.md). Only the plainest form is taken here: `GET
 * /v1/apps/{app}/tokens/{kind}` without a query string, from a known client allowed the app, with
 * a cached token. Anything else (and every error) returns `false` and goes through Fastify, which
 * stays the one place that validates, refuses and explains. With an audit log, each read answered
 * here writes its line as the route would.
 */
export function cachedReadFastPath(broker: Broker, auth: ClientAuth, answers: TokenAnswers, audit?: AuditLog): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = req.url;
    if (req.method !== 'GET' || url === undefined || !url.startsWith(PREFIX) || url.includes('?')) return false;
    const split = url.indexOf(TOKENS, PREFIX.length);
    if (split === -1) return false;
    const appId = url.slice(PREFIX.length, split);
    const kind = url.slice(split + TOKENS.length);
    if (appId === '' || kind === '' || appId.includes('/') || kind.includes('/') || appId.includes('%')) return false;
    const client = auth.identifyOn(req.socket, req.headers);
    if (client === undefined || !auth.allows(client, appId) || !broker.has(appId)) return false;
    let token;
    try {
      token = broker.peek(appId, kind, NO_OPTIONS);
    } catch {
      return false; // an unknown kind, a missing tenant key: Fastify answers it
    }
    // A reported token carries a warning header: Fastify's route adds it.
    if (token === undefined || token.reported) return false;
    answers.countOk(appId);
    const answer = answers.serialized(token);
    res.writeHead(200, answer.headers);
    res.end(answer.text);
    audit?.tokenRead(client, appId, kind, token);
    return true;
  };
}
