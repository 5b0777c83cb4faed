import type { FastifyBaseLogger, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Broker } from '../../core/broker.js';
import { TokenHubError, badRequest, toCallerError } from '../../core/errors.js';
import type { Authorization, AuthorizationApi } from '../../core/types.js';
import type { ClientAuth } from '../auth.js';
import { clientOf } from '../auth.js';
import type { ClientBudget } from '../client-budget.js';
import { APP_ERRORS, JSON_BODY_ERRORS, OVER_BUDGET, PLATFORM_CALL_ERRORS } from '../openapi/errors.js';
import type { OperationDocs } from '../openapi/operation.js';
import { Authorization as AuthorizationAnswer, AuthorizationList, PreAuthCode } from '../openapi/schemas.js';
import { TENANT_KEY_PATTERN } from './tokens.js';

const codeBody = z.strictObject({ code: z.string().min(1).max(1024) }, 'must be {"code": "<the authorization code of the install redirect>"}');
const noBody = z.strictObject({}, 'takes no body (or {})');

/** Names of details that look like secrets: never answered, whatever a provider returns. */
const SECRET_NAME = /token|secret|ticket|code|password/i;
const FIXED = new Set(['tenantKey', 'authorizedAt', 'state']);

interface AppParams {
  app: string;
}

interface TenantParams extends AppParams {
  tenantKey: string;
}

const appParams = { type: 'object', required: ['app'], properties: { app: { type: 'string', maxLength: 64, description: "The third-party app's id in the config" } } } as const;
const tenantParams = {
  type: 'object',
  required: ['app', 'tenantKey'],
  properties: { app: appParams.properties.app, tenantKey: { type: 'string', pattern: TENANT_KEY_PATTERN, description: 'The tenant, as GET …/authorizations lists it' } },
} as const;

/** Every authorizations route names an app, which must be a third-party one (404 `TOKENHUB_NOT_FOUND` otherwise). */
const THIRD_PARTY_ERRORS = [...APP_ERRORS, 'TOKENHUB_NOT_FOUND'] as const;

const tags = ['third-party'];

const schemas = {
  authorize: {
    params: appParams,
    tags,
    operationId: 'authorize',
    summary: "Exchange an install redirect's code for the tenant's grant",
    description: 'The grant is kept durably before the answer. A code the platform refuses counts against the client\'s budget.',
    docs: {
      body: codeBody,
      answers: { 201: { description: 'The authorization kept (never the grant)', body: AuthorizationAnswer } },
      errors: [...THIRD_PARTY_ERRORS, ...JSON_BODY_ERRORS, ...PLATFORM_CALL_ERRORS, OVER_BUDGET],
    } satisfies OperationDocs,
  },
  list: {
    params: appParams,
    tags,
    operationId: 'listAuthorizations',
    summary: "The tenants' authorizations kept",
    docs: {
      answers: { 200: { description: 'Every authorization kept, never a grant or a token', body: AuthorizationList } },
      errors: [...THIRD_PARTY_ERRORS, 'TOKENHUB_STORE_UNAVAILABLE'],
    } satisfies OperationDocs,
  },
  revoke: {
    params: tenantParams,
    tags,
    operationId: 'deleteAuthorization',
    summary: "Delete a tenant's authorization, and forget its tokens",
    docs: {
      answers: { 204: { description: 'Deleted' } },
      errors: [...THIRD_PARTY_ERRORS, 'TOKENHUB_GRANT_NOT_FOUND', 'TOKENHUB_STORE_UNAVAILABLE', 'TOKENHUB_GRANT_CONFLICT'],
    } satisfies OperationDocs,
  },
  preAuthCode: {
    params: appParams,
    tags,
    operationId: 'preAuthCode',
    summary: "A pre-authorization code for the platform's install link",
    description: 'Takes no body (or `{}`). Each code counts against the client\'s budget. 404 `TOKENHUB_NOT_FOUND` where the platform has none.',
    docs: {
      answers: { 200: { description: 'The code and its seconds left', body: PreAuthCode } },
      errors: [...THIRD_PARTY_ERRORS, ...JSON_BODY_ERRORS, ...PLATFORM_CALL_ERRORS, OVER_BUDGET],
    } satisfies OperationDocs,
  },
};

export interface AuthorizationRouteOptions {
  broker: Broker;
  auth: ClientAuth;
  /** Each client's budget of calls it makes the platform answer on its word: a refused code and a pre-auth code cost one. */
  budget: ClientBudget;
}

/**
 * The authorizations of a third-party app (its provider has `authorizations`), by tenant:
 * - `POST /v1/apps/{app}/authorizations {"code"}` → 201 and the authorization: the code of an
 *   install redirect exchanged for the tenant's grant, which is kept before the answer;
 * - `GET /v1/apps/{app}/authorizations` → `{"authorizations": [{tenantKey, authorizedAt, state?, …}]}`;
 * - `DELETE /v1/apps/{app}/authorizations/{tenantKey}` → 204 (404 when none is kept);
 * - `POST /v1/apps/{app}/pre-auth-code` → `{preAuthCode, expiresIn}`, for the install link.
 * Every answer is without a grant or a token. The caller needs a client key allowed the app; an
 * app whose provider has no authorizations is a 404.
 */
export const authorizationRoutes: FastifyPluginAsync<AuthorizationRouteOptions> = async (app, { broker, auth, budget }) => {
  /** The app's authorizations, once the caller may use the app. */
  const authorizations = (req: FastifyRequest<{ Params: AppParams }>): AuthorizationApi => {
    const definition = broker.app(req.params.app); // 404 before 403: the app must exist
    auth.authorize(clientOf(req), req.params.app);
    const api = definition.provider.authorizations;
    if (api === undefined) {
      throw new TokenHubError('TOKENHUB_NOT_FOUND', `app ${req.params.app} takes no authorizations: only third-party apps, which tenants authorize, have them`);
    }
    return api;
  };

  // The context's signal ends with the hub or a timeout, never with the request: a code the
  // platform already took is single-use, and its grant must be kept though the caller left.
  const context = (req: FastifyRequest<{ Params: AppParams }>) => broker.context(req.params.app);

  app.post<{ Params: AppParams; Body: unknown }>('/v1/apps/:app/authorizations', { schema: schemas.authorize }, async (req, reply) => {
    const api = authorizations(req);
    const { code } = parse(codeBody, req.body);
    const client = clientOf(req);
    // A client whose codes the platform kept refusing may not make it look at more for a while.
    await budget.check(client);
    let authorization: Authorization;
    try {
      authorization = await api.authorize(code, context(req));
    } catch (err) {
      const error = callerError(err);
      if (error.statusCode === 400 || error.code === 'TOKENHUB_PLATFORM_REFUSED') void budget.tryTake(client);
      throw error;
    }
    req.log.info({ app: req.params.app, tenantKey: authorization.tenantKey }, 'authorization kept');
    // A tenant refused a moment ago for want of a grant is served at once, not after the refusal's backoff.
    await broker.authorized(req.params.app, authorization.tenantKey);
    return reply.code(201).send(answer(authorization, req.log));
  });

  app.get<{ Params: AppParams }>('/v1/apps/:app/authorizations', { schema: schemas.list }, async (req) => {
    const api = authorizations(req);
    const list = await api.list(context(req)).catch((err: unknown) => {
      throw callerError(err);
    });
    return { authorizations: list.map((a) => answer(a, req.log)) };
  });

  app.delete<{ Params: TenantParams }>('/v1/apps/:app/authorizations/:tenantKey', { schema: schemas.revoke }, async (req, reply) => {
    const api = authorizations(req);
    const revoked = await api.revoke(req.params.tenantKey, context(req)).catch((err: unknown) => {
      throw callerError(err);
    });
    if (!revoked) throw new TokenHubError('TOKENHUB_GRANT_NOT_FOUND', `app ${req.params.app} keeps no authorization of tenant ${req.params.tenantKey}`);
    await broker.forgetTenant(req.params.app, req.params.tenantKey);
    req.log.info({ app: req.params.app, tenantKey: req.params.tenantKey, client: clientOf(req).name }, 'authorization deleted');
    return reply.code(204).send();
  });

  app.post<{ Params: AppParams; Body: unknown }>('/v1/apps/:app/pre-auth-code', { schema: schemas.preAuthCode }, async (req) => {
    const api = authorizations(req);
    if (req.body !== undefined) parse(noBody, req.body);
    if (api.preAuthCode === undefined) throw new TokenHubError('TOKENHUB_NOT_FOUND', `app ${req.params.app} has no pre-authorization codes`);
    await budget.take(clientOf(req));
    const { preAuthCode, expiresInMs } = await api.preAuthCode(context(req)).catch((err: unknown) => {
      throw callerError(err);
    });
    return { preAuthCode, expiresIn: Math.max(0, Math.floor(expiresInMs / 1000)) };
  });
};

/** What a caller is told of a provider's failure (a platform's refusal, an unreachable platform, the store). */
function callerError(err: unknown): TokenHubError {
  return toCallerError(err, 1_000);
}

/**
 * An authorization as answered: the fixed fields, then the provider's details but those whose
 * names look like secrets (a provider's bug, logged by name, never by value).
 */
function answer(authorization: Authorization, log: FastifyBaseLogger): Record<string, unknown> {
  const { tenantKey, authorizedAt, state } = authorization;
  if (typeof tenantKey !== 'string' || tenantKey === '' || !Number.isFinite(authorizedAt)) {
    throw new TokenHubError('TOKENHUB_INTERNAL', 'the provider answered an authorization without a tenant key or a time');
  }
  const out: Record<string, unknown> = { tenantKey, authorizedAt: new Date(authorizedAt).toISOString() };
  if (state !== undefined) out.state = state;
  for (const [name, value] of Object.entries(authorization)) {
    if (FIXED.has(name) || value === undefined) continue;
    if (SECRET_NAME.test(name)) {
      log.warn({ tenantKey, field: name }, 'an authorization detail whose name looks like a secret was left out of the answer');
      continue;
    }
    out[name] = value;
  }
  return out;
}

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) throw badRequest(`body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}
