import type { SwaggerOptions } from '@fastify/swagger';
import { VERSION } from '../version.js';
import { OPTIONAL_BODY, operationOf } from './operation.js';
import { componentSchemas } from './schemas.js';

/** The methods an OpenAPI 3.1 Path Item has a field for; a route's other methods (WebDAV's, on the proxy) cannot be described. */
export const OPENAPI_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

const TAGS = [
  { name: 'tokens', description: 'Tokens and tickets of the configured apps: cached, refreshed ahead, fetched once however many ask.' },
  { name: 'signatures', description: "JS-SDK signatures of web pages, made with the cached ticket, which never leaves tokenhub." },
  { name: 'third-party', description: "Third-party apps: the events URL the platform pushes to, the tenants' authorizations." },
  { name: 'proxy', description: "Platform calls sent on with the app's token, and sent again with a new one when the platform rejects it." },
  { name: 'operations', description: 'For admin clients (`clients[].admin: true`) and the web console.' },
  { name: 'health', description: 'Unauthenticated: liveness, readiness, metrics and this document.' },
];

/**
 * The options of @fastify/swagger that make tokenhub's OpenAPI 3.1 document from its routes:
 * each route's operation (`operationOf`), the answer schemas as components, the client key as
 * the security scheme. The document is the same for any config: the routes are.
 */
export function openapiOptions(): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'tokenhub',
        version: VERSION,
        summary: "A central access-token server (中控服务器) for the platforms' apps.",
        description:
          "tokenhub alone holds the apps' secrets, fetches each token once, refreshes it ahead of expiry and serves it to every service that asks. " +
          'Every `/v1` route takes a client key (`Authorization: Bearer <key>` or `X-Tokenhub-Key`) but the events URL, which the platform calls. ' +
          'Errors are `{"error": {"code": "TOKENHUB_…", "message": "…"}}` with the code in the `X-Tokenhub-Error` header too; docs/errors.md lists every code.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      tags: TAGS,
      components: {
        securitySchemes: {
          clientKey: { type: 'http', scheme: 'bearer', description: "A client's key from the config (`clients[].key`)." },
          clientKeyHeader: { type: 'apiKey', in: 'header', name: 'X-Tokenhub-Key', description: 'The same key in a header of its own, for callers whose Authorization header carries something else.' },
        },
        schemas: componentSchemas() as never,
      },
      security: [{ clientKey: [] }, { clientKeyHeader: [] }],
    },
    // HEAD of a GET route answers as the GET without a body: not an operation of its own.
    exposeHeadRoutes: false,
    // `const` is valid in 3.1; keep it as it is rather than as a one-value enum.
    convertConstToEnum: false,
    transform: operationOf,
    transformObject: ({ openapiObject }: { openapiObject: Record<string, unknown> }) => finish(openapiObject),
  } as SwaggerOptions;
}

/**
 * The document as served: only the methods OpenAPI 3.1 can describe; operation ids made unique
 * per method where one route takes several (the events URL, the proxy); and each error answer
 * written once, in `components.responses`, named by its status and codes, where operations refer to it.
 */
function finish(document: Record<string, unknown>): Record<string, unknown> {
  const paths = (document.paths ?? {}) as Record<string, Record<string, Operation>>;
  const errors: Record<string, unknown> = {};
  for (const [path, item] of Object.entries(paths)) {
    const methods = OPENAPI_METHODS.filter((m) => item[m] !== undefined);
    const kept: Record<string, Operation> = {};
    // One route of several methods gave each the same id.
    const shared = (id: string): boolean => methods.filter((m) => item[m]!.operationId === id).length > 1;
    for (const method of methods) {
      const operation = item[method]!;
      const id = operation.operationId;
      const responses = Object.fromEntries(
        Object.entries(operation.responses).map(([status, response]) => {
          const codes = response.headers?.['X-Tokenhub-Error']?.schema?.enum;
          if (codes === undefined) return [status, response];
          const name = `Error${status}.${codes.map((c) => c.replace(/^TOKENHUB_/, '')).join('.')}`;
          errors[name] = response;
          return [status, { $ref: `#/components/responses/${name}` }];
        }),
      );
      const { [OPTIONAL_BODY]: optional, requestBody, ...rest } = operation;
      // A GET or HEAD body means nothing in HTTP; elsewhere a body may be optional.
      const body = requestBody === undefined || method === 'get' || method === 'head' ? {} : { requestBody: optional === true ? { ...requestBody, required: false } : requestBody };
      kept[method] = { ...rest, ...(id !== undefined && shared(id) ? { operationId: `${id}${method[0]!.toUpperCase()}${method.slice(1)}` } : {}), ...body, responses };
    }
    paths[path] = kept;
  }
  const components = (document.components ?? {}) as Record<string, unknown>;
  document.components = { ...components, responses: Object.fromEntries(Object.entries(errors).sort(([a], [b]) => a.localeCompare(b))) };
  return document;
}

interface Operation {
  operationId?: string;
  requestBody?: Record<string, unknown>;
  [OPTIONAL_BODY]?: boolean;
  responses: Record<string, { headers?: Record<string, { schema?: { enum?: string[] } }> }>;
}
