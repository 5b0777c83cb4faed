import type { FastifySchema, RouteOptions } from 'fastify';
import { z } from 'zod';
import { errorResponses, type ErrorRef, type ResponseDoc } from './errors.js';
import { jsonSchema } from './schemas.js';

declare module 'fastify' {
  interface FastifySchema {
    /**
     * What the OpenAPI document says of the route beyond the parts Fastify validates and
     * serializes (`params`, `querystring`, `response`): read by the document only, never by
     * Fastify, so that describing an answer can neither drop a field of it nor change how a bad
     * request is refused.
     */
    docs?: OperationDocs;
  }
}

/** A JSON Schema, as the OpenAPI document holds it. */
export type JsonSchema = Record<string, unknown>;

/** One answer of a route: its body (a zod schema, a named one becoming a reference) and content types. */
export interface AnswerDoc {
  description: string;
  /** The body's schema; with no `body`, `type` or `content`, the answer has none. */
  body?: z.ZodType | JsonSchema;
  /** Content types of the body; default `application/json`. */
  type?: string | readonly string[];
  /** Instead of `body` and `type`: a schema for each content type. */
  content?: Readonly<Record<string, z.ZodType | JsonSchema>>;
  /** Headers of the answer, as JSON Schemas with a description. */
  headers?: Record<string, JsonSchema & { description: string }>;
}

export interface OperationDocs {
  /** The request body the route checks itself (zod, as the route parses it), and its content types (default `application/json`). */
  body?: z.ZodType | { schema: z.ZodType | JsonSchema; type: readonly string[]; description?: string; required?: false };
  /** Path parameters the route checks itself (Fastify validates none of them), as an object schema. */
  params?: JsonSchema;
  /** Request headers the route reads, as an object schema. */
  headers?: JsonSchema;
  /** The answers that are not errors, by status (or `default`). */
  answers: Readonly<Record<string, AnswerDoc>>;
  /**
   * The errors the route may answer. Those that follow from the route's config are added by
   * `operationOf`: 401 on every route that takes a client key, 403 on admin routes, 400 where
   * Fastify validates a part of the request, 500 everywhere.
   */
  errors?: readonly ErrorRef[];
}

/**
 * A route's operation as @fastify/swagger reads it (its `transform`): the parts Fastify validates,
 * the route's docs, its error answers from the ERRORS table, and its security from the route's
 * config (`public`, `admin`), the same config the key check is attached by. A path ending in `*`
 * names the rest of the path `{path}`, which the docs' `params` describe.
 */
export function operationOf({ schema, url, route }: { schema: FastifySchema | undefined; url: string; route: RouteOptions }): { schema: FastifySchema; url: string } {
  const { docs = UNDESCRIBED, response: _serializers, ...rest } = schema ?? {};
  const open = route.config?.public === true && route.config?.admin !== true;
  const validated = rest.params !== undefined || rest.querystring !== undefined || rest.headers !== undefined || rest.body !== undefined;
  const errors = errorResponses([
    ...(validated ? (['TOKENHUB_BAD_REQUEST'] as const) : []),
    ...(open ? [] : (['TOKENHUB_UNAUTHORIZED'] as const)),
    ...(route.config?.admin === true ? (['TOKENHUB_FORBIDDEN'] as const) : []),
    ...(docs.errors ?? []),
    'TOKENHUB_INTERNAL',
  ]);
  const answers = Object.fromEntries(Object.entries(docs.answers).map(([status, answer]) => [status, responseOf(answer)]));
  for (const status of Object.keys(answers)) {
    if (status in errors) throw new TypeError(`route ${url}: ${status} is both an answer and an error`);
  }
  const body = docs.body === undefined ? undefined : docs.body instanceof z.ZodType ? { schema: docs.body, type: ['application/json'] } : docs.body;
  return {
    url: url.endsWith('*') ? `${url.slice(0, -1)}{path}` : url,
    schema: {
      ...rest,
      // A route added without docs is still in the document, marked (the tests refuse it), rather than breaking it.
      ...(docs === UNDESCRIBED ? { 'x-undescribed': true } : {}),
      ...(docs.params === undefined ? {} : { params: docs.params }),
      ...(docs.headers === undefined ? {} : { headers: docs.headers }),
      ...(body === undefined
        ? {}
        : { body: { ...schemaOf(body.schema, 'input'), ...(body.description === undefined ? {} : { description: body.description }) }, consumes: body.type }),
      // @fastify/swagger makes every body required; the document's last step reads this mark.
      ...(body !== undefined && 'required' in body ? { [OPTIONAL_BODY]: true } : {}),
      ...(open ? { security: [] } : {}),
      response: { ...answers, ...errors },
    },
  };
}

/** The mark of an operation whose body may be left out, on its way through @fastify/swagger. */
export const OPTIONAL_BODY = 'x-optional-body';

const UNDESCRIBED: OperationDocs = { answers: { default: { description: 'Not described yet', type: '*/*' } } };

function responseOf(answer: AnswerDoc): ResponseDoc {
  const headers = answer.headers === undefined ? {} : { headers: answer.headers };
  if (answer.content !== undefined) {
    const content = Object.fromEntries(Object.entries(answer.content).map(([type, schema]) => [type, { schema: schemaOf(schema, 'output') }]));
    return { description: answer.description, ...headers, content };
  }
  if (answer.body === undefined && answer.type === undefined) return { description: answer.description, ...headers, type: 'null' };
  const schema = answer.body === undefined ? {} : schemaOf(answer.body, 'output');
  const types = answer.type === undefined ? ['application/json'] : typeof answer.type === 'string' ? [answer.type] : answer.type;
  return { description: answer.description, ...headers, content: Object.fromEntries(types.map((type) => [type, { schema }])) };
}

function schemaOf(schema: z.ZodType | JsonSchema, io: 'input' | 'output'): JsonSchema {
  return schema instanceof z.ZodType ? jsonSchema(schema, io) : schema;
}
