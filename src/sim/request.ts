import type { FastifyInstance } from 'fastify';

/** Small request helpers shared by the simulators. */

/** Leaves request bodies as text for the handlers to parse, so that malformed JSON gets the platform's answer, not Fastify's. */
export function keepBodiesRaw(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
}

/** The path of a request URL, without its query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** A raw body parsed as JSON; the text itself when it is not JSON; `undefined` when empty. */
export function parseJson(body: unknown): unknown {
  if (typeof body !== 'string' || body === '') return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return body;
  }
}

/** A plain object (not null, not an array). */
/** A non-empty string field of a JSON body, if there is one. */
export function stringField(body: unknown, name: string): string | undefined {
  const value = isRecord(body) ? body[name] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A query string value, when given once and non-empty. */
export function queryString(query: unknown, name: string): string | undefined {
  const value = isRecord(query) ? query[name] : undefined;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A query without its `access_token`, for echoing a business call back. */
export function withoutToken(query: unknown): Record<string, unknown> {
  const { access_token: _omit, ...rest } = isRecord(query) ? query : {};
  return rest;
}
