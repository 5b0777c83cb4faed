import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Broker, GetTokenOptions, IssuedToken } from '../../core/broker.js';
import { z } from 'zod';
import { TokenHubError, badRequest } from '../../core/errors.js';
import type { ClientBudget } from '../client-budget.js';
import type { ClientAuth } from '../auth.js';
import { clientOf, mayUse } from '../auth.js';
import type { TokenAnswers } from '../token-answers.js';
import { APP_ERRORS, JSON_BODY_ERRORS, OVER_BUDGET, TOKEN_ERRORS } from '../openapi/errors.js';
import type { OperationDocs } from '../openapi/operation.js';
import { AppList, TokenAnswer, standaloneSchema } from '../openapi/schemas.js';

// Validated with zod rather than the route schema: query parameters need type coercion, the body must not get it.
const invalidateBody = z.strictObject({ token: z.string().min(1).max(4096) }, 'must be {"token": "<the rejected token>"}');

/** What a tenant key may look like, wherever a caller passes one. */
export const TENANT_KEY_PATTERN = '^[A-Za-z0-9_.-]{1,128}$';

interface TokenParams {
  app: string;
  kind: string;
}

interface TokenQuery {
  tenant_key?: string;
  min_ttl?: number;
}

const params = {
  type: 'object',
  required: ['app', 'kind'],
  properties: {
    app: { type: 'string', maxLength: 64, description: "The app's id in the config" },
    kind: { type: 'string', maxLength: 64, description: "One of the app's kinds (GET /v1/apps lists them); for a ticket kind the token is the ticket" },
  },
} as const;

const querystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tenant_key: { type: 'string', pattern: TENANT_KEY_PATTERN, description: "The tenant of a tenant-scoped kind (a store app's tenant, an authorizer's appid, a corp id)" },
    min_ttl: { type: 'integer', minimum: 0, maximum: 86_400, description: "Seconds the token must still live; default the app's minTtlSeconds" },
  },
} as const;

/** The token answer's serializer: the same schema the OpenAPI document gives it, so neither can drop a field of the other. */
const tokenResponse = standaloneSchema(TokenAnswer);

const tokenAnswer = {
  description: 'The token, with at least min_ttl seconds left',
  body: TokenAnswer,
  headers: {
    'X-Tokenhub-Warning': { type: 'string', enum: ['reported-token'], description: 'A caller reported this token as rejected and no replacement could be had yet: it is served on to its end' },
  },
};

const tokenDocs: OperationDocs = {
  answers: { 200: tokenAnswer },
  errors: [...APP_ERRORS, ...TOKEN_ERRORS, OVER_BUDGET],
};

const invalidateDocs: OperationDocs = {
  body: invalidateBody,
  answers: { 200: { ...tokenAnswer, description: 'The current token: a new one if the reported token was still current (one fetch however many report it), else the one that replaced it' } },
  errors: [...APP_ERRORS, ...TOKEN_ERRORS, ...JSON_BODY_ERRORS, OVER_BUDGET],
};

const appsDocs: OperationDocs = { answers: { 200: { description: 'The apps this client may use, each with its token state', body: AppList } } };

/** Sent with a token a caller reported as rejected, served on because no replacement could be had yet. */
export const REPORTED_WARNING = 'reported-token';

export const tokenRoutes: FastifyPluginAsync<{ broker: Broker; auth: ClientAuth; answers: TokenAnswers; budget: ClientBudget }> = async (
  app,
  { broker, auth, answers, budget },
) => {
  /** The answer for `token`, marked when it is a reported one. */
  const answer = (reply: FastifyReply, token: IssuedToken, tenantKey: string | undefined): ReturnType<TokenAnswers['body']> => {
    if (reply.request.audit) reply.request.audit.token = token.value;
    if (token.reported) void reply.header('x-tokenhub-warning', REPORTED_WARNING);
    answers.countOk(token.app);
    return answers.body(token, tenantKey);
  };

  /** A tenant key the platform refused costs its client a report: random keys cannot spend the quota. */
  const refused = (req: FastifyRequest, options: GetTokenOptions, err: unknown): void => {
    if (options.tenantKey !== undefined && err instanceof TokenHubError && err.code === 'TOKENHUB_PLATFORM_REFUSED') void budget.tryTake(clientOf(req));
  };

  /** Options of a token request, once the caller is known to exist and be allowed. */
  const tokenRequest = (req: FastifyRequest<{ Params: TokenParams; Querystring: TokenQuery }>): GetTokenOptions => {
    broker.app(req.params.app); // 404 before 403: the app must exist
    auth.authorize(clientOf(req), req.params.app);
    const { tenant_key: tenantKey, min_ttl: minTtl } = req.query;
    return { tenantKey, minTtlMs: minTtl === undefined ? undefined : minTtl * 1000 };
  };

  app.get<{ Params: TokenParams; Querystring: TokenQuery }>(
    '/v1/apps/:app/tokens/:kind',
    {
      schema: {
        params,
        querystring,
        response: { 200: tokenResponse },
        tags: ['tokens'],
        operationId: 'getToken',
        summary: 'A token of the app',
        description:
          'Answered at once from the cache while the token has min_ttl left; otherwise fetched, one upstream call however many ask at once. ' +
          'The plainest form (no query string, a cached token) is answered before the framework, with the same body.',
        docs: tokenDocs,
      },
    },
    // Not async: a cached token is answered synchronously, with no promise on the way.
    (req, reply) => {
      const { app: appId, kind } = req.params;
      req.audit = { action: 'token', app: appId, kind, tenantKey: req.query.tenant_key };
      try {
        const options = tokenRequest(req);
        const cached = broker.peek(appId, kind, options);
        if (cached) return answer(reply, cached, options.tenantKey);
        // A client whose tenant keys the platform kept refusing may not make it ask about more for a while.
        const allowed = options.tenantKey === undefined ? Promise.resolve() : budget.check(clientOf(req));
        return allowed.then(() => broker.getToken(appId, kind, options)).then(
          (token) => answer(reply, token, options.tenantKey),
          (err: unknown) => {
            answers.countError(appId, err);
            refused(req, options, err);
            throw err;
          },
        );
      } catch (err) {
        answers.countError(appId, err);
        throw err;
      }
    },
  );

  app.post<{ Params: TokenParams; Querystring: TokenQuery; Body: unknown }>(
    '/v1/apps/:app/tokens/:kind/invalidate',
    {
      schema: {
        params,
        querystring,
        response: { 200: tokenResponse },
        tags: ['tokens'],
        operationId: 'invalidateToken',
        summary: 'Report a token the platform rejected (compare-and-refresh)',
        description:
          'If the token is still the current one it is fetched anew, at most once per report interval; otherwise the current token is answered and nobody is called. ' +
          "Each report counts against the client's budget (clients[].reportsPerMinute).",
        docs: invalidateDocs,
      },
    },
    async (req, reply) => {
      const { app: appId, kind } = req.params;
      req.audit = { action: 'report', app: appId, kind, tenantKey: req.query.tenant_key };
      try {
        const options = tokenRequest(req);
        const body = invalidateBody.safeParse(req.body);
        if (!body.success) throw badRequest(`body: ${body.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
        await budget.take(clientOf(req));
        const token = await broker.invalidate(appId, kind, body.data.token, options);
        return answer(reply, token, options.tenantKey);
      } catch (err) {
        answers.countError(appId, err);
        throw err;
      }
    },
  );

  app.get('/v1/apps', { schema: { tags: ['tokens'], operationId: 'listApps', summary: 'The apps this client may use', docs: appsDocs } }, async (req: FastifyRequest) => {
    const client = clientOf(req);
    const apps = broker.apps().filter((a) => mayUse(client, a.id));
    return {
      apps: await Promise.all(
        apps.map(async (a) => {
          // What the tokens depend on (a pushed ticket's age; stale when pushes stopped): never a ticket or grant.
          const health = await broker.health(a.id).catch(() => undefined);
          return {
            id: a.id,
            platform: a.provider.platform,
            kinds: a.provider.kinds,
            defaultKind: a.provider.businessKind,
            tenantScopedKinds: a.provider.kinds.filter((k) => a.provider.tenantScoped(k)),
            tokens: [...broker.status(a.id), ...broker.tenantStatus(a.id)],
            ...(health?.ticket === undefined ? {} : { pushTicket: health.ticket }),
          };
        }),
      ),
    };
  });
};
