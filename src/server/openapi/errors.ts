import { ERRORS, statusesOf, type ErrorCode } from '../../core/errors.js';

/**
 * An error a route may answer: a code of the ERRORS table, answered with the code's own status;
 * or `{ code, status }` for one of the further statuses the table lists under its `also`.
 */
export type ErrorRef = ErrorCode | { readonly code: ErrorCode; readonly status: number };

/** This client is over its budget (reports, signatures, refused tenant keys): 429, not the platform's 503. */
export const OVER_BUDGET = { code: 'TOKENHUB_RATE_LIMITED', status: 429 } as const satisfies ErrorRef;

/** What a route that parses a JSON body may answer for the body itself: not JSON, too large, not application/json. */
export const JSON_BODY_ERRORS = ['TOKENHUB_BAD_REQUEST', 'TOKENHUB_PAYLOAD_TOO_LARGE', 'TOKENHUB_UNSUPPORTED_MEDIA_TYPE'] as const satisfies readonly ErrorRef[];

/** What a route naming an app answers when there is no such app, or the client may not use it. */
export const APP_ERRORS = ['TOKENHUB_APP_NOT_FOUND', 'TOKENHUB_FORBIDDEN'] as const satisfies readonly ErrorRef[];

/** What a call tokenhub makes to the platform may fail with: the platform's answers (toCallerError) and the store's. */
export const PLATFORM_CALL_ERRORS = [
  'TOKENHUB_PLATFORM_REFUSED',
  'TOKENHUB_PLATFORM_UNAVAILABLE',
  'TOKENHUB_RATE_LIMITED',
  'TOKENHUB_TICKET_PENDING',
  'TOKENHUB_REFRESH_LIMITED',
  'TOKENHUB_STORE_UNAVAILABLE',
  'TOKENHUB_GRANT_CONFLICT',
] as const satisfies readonly ErrorRef[];

/** What an app's token (or ticket) may fail with, wherever a route needs one: the broker's and the providers' errors. */
export const TOKEN_ERRORS = [
  'TOKENHUB_BAD_REQUEST',
  'TOKENHUB_UNKNOWN_KIND',
  'TOKENHUB_GRANT_NOT_FOUND',
  ...PLATFORM_CALL_ERRORS,
] as const satisfies readonly ErrorRef[];

/**
 * One response as @fastify/swagger reads it from a route's `schema.response`: the content by type,
 * each header as a JSON Schema with its description; `type: 'null'` for a response without a body.
 */
export interface ResponseDoc {
  description: string;
  headers?: Record<string, Record<string, unknown>>;
  content?: Record<string, { schema: Record<string, unknown> }>;
  type?: 'null';
}

/**
 * The error answers of a route, one per status, from the ERRORS table: each lists its codes and
 * what they mean, and its body is the Error schema with `error.code` one of those codes.
 */
export function errorResponses(refs: Iterable<ErrorRef>): Record<string, ResponseDoc> {
  const byStatus = new Map<number, Set<ErrorCode>>();
  for (const ref of refs) {
    const { code, status } = typeof ref === 'string' ? { code: ref, status: ERRORS[ref].status } : ref;
    if (!statusesOf(code).includes(status)) throw new TypeError(`${code} is never answered with ${status}: ERRORS gives ${statusesOf(code).join(', ')}`);
    if (!byStatus.has(status)) byStatus.set(status, new Set());
    byStatus.get(status)!.add(code);
  }
  const out: Record<string, ResponseDoc> = {};
  for (const [status, set] of [...byStatus].sort(([a], [b]) => a - b)) {
    const codes = [...set].sort();
    const meaning = (code: ErrorCode): string => (status === ERRORS[code].status ? ERRORS[code].meaning : ERRORS[code].also?.[status]?.meaning ?? ERRORS[code].meaning);
    out[String(status)] = {
      description: codes.map((code) => `\`${code}\`: ${meaning(code)}`).join('\n\n'),
      headers: {
        'X-Tokenhub-Error': { description: "The error code, as in the body: tells tokenhub's own errors from answers it relays", type: 'string', enum: codes },
        ...(status === 429 || status === 503 ? { 'Retry-After': { description: 'Seconds to wait before asking again', type: 'integer', minimum: 1 } } : {}),
      },
      content: {
        'application/json': {
          schema: { allOf: [{ $ref: '#/components/schemas/Error' }, { type: 'object', properties: { error: { type: 'object', properties: { code: { enum: codes } } } } }] },
        },
      },
    };
  }
  return out;
}
