import { z } from 'zod';
import { ERRORS, type ErrorCode } from '../../core/errors.js';
import { ATTENTION_REASONS } from '../attention.js';

/**
 * The bodies tokenhub answers with, as zod schemas: each becomes a named schema of the OpenAPI
 * document (`#/components/schemas/<name>`). Only the token answer is also the route's serializer
 * (src/server/routes/tokens.ts); the others describe answers the routes build themselves, and the
 * tests validate real answers against them (test/server/openapi-answers.test.ts). An object whose
 * fields are fixed is strict: a field added to an answer and not here fails those tests.
 */
export const COMPONENTS = z.registry<{ id: string }>();

function named<T extends z.ZodType>(id: string, schema: T, description?: string): T {
  const described = description === undefined ? schema : schema.describe(description);
  COMPONENTS.add(described, { id });
  return described;
}

/** An ISO 8601 time in UTC, as `Date.prototype.toISOString` writes it. */
const time = (): z.ZodISODateTime => z.iso.datetime();
const count = (): z.ZodInt => z.int().min(0);

const LastError = z.strictObject({
  code: z.string().describe('The error code the last fetch failed with (TOKENHUB_…)'),
  message: z.string(),
  platformCode: z.union([z.int(), z.string()]).optional().describe("The platform's own code, where it answered one"),
  at: time(),
  retryAt: time().optional().describe('When the next attempt is due (the end of the backoff)'),
});

const SlotState = named(
  'TokenState',
  z.strictObject({
    kind: z.string(),
    expiresAt: time().optional(),
    lastRefreshAt: time().optional(),
    nextRefreshAt: time().optional(),
    refreshing: z.boolean(),
    reported: z.boolean().optional().describe('A caller reported the token as rejected; it is served on, marked, until a replacement is had'),
    lastError: LastError.optional(),
  }),
  'One token (app + kind): its times and last error, never its value.',
);

const TenantKindState = named(
  'TenantKindState',
  z.strictObject({
    kind: z.string(),
    tenantScoped: z.literal(true),
    tenants: count().describe('Tenants with a slot in memory'),
    valid: count(),
    refreshing: count(),
    failing: count(),
    nextExpiresAt: time().optional(),
  }),
  "The tokens of one tenant-scoped kind, counted: tenant keys are not shown to other clients.",
);

const PushTicket = named(
  'PushTicket',
  z.strictObject({
    name: z.string().describe("The platform's name for the ticket it pushes"),
    present: z.boolean(),
    ageSeconds: z.number().min(0).optional(),
    refused: z.boolean().optional(),
    stale: z.boolean().optional().describe('Older than pushes should ever let it become: they no longer arrive'),
  }),
  'A ticket the platform pushes to the app, described: never the ticket itself.',
);

const appFields = {
  id: z.string(),
  platform: z.string(),
  kinds: z.array(z.string()),
  defaultKind: z.string().describe("The kind a business call uses unless told otherwise (the proxy's default)"),
  tenantScopedKinds: z.array(z.string()),
};

export const AppList = named(
  'AppList',
  z.strictObject({
    apps: z.array(
      z.strictObject({
        ...appFields,
        tokens: z.array(z.union([SlotState, TenantKindState])),
        pushTicket: PushTicket.optional(),
      }),
    ),
  }),
  'The apps the calling client may use, with the state of each token fetched so far.',
);

export const TokenAnswer = named(
  'Token',
  z.strictObject({
    app: z.string(),
    platform: z.string(),
    kind: z.string(),
    tenantKey: z.string().optional(),
    token: z.string().describe("The token, or the ticket's value for a ticket kind"),
    expiresAt: time(),
    expiresIn: count().describe('Whole seconds left'),
  }),
  'A token, with its expiry.',
);

export const PageSignature = named(
  'PageSignature',
  z
    .object({
      app: z.string(),
      platform: z.string(),
      kind: z.string().describe('The ticket kind the page was signed with'),
      tenantKey: z.string().optional(),
      appId: z.string().optional(),
      agentId: z.string().optional(),
      corpId: z.string().optional(),
      url: z.string().describe('The URL signed: as sent, without its #… part'),
      timestamp: count().describe("In the platform's unit (milliseconds on some, seconds on the others)"),
      nonceStr: z.string(),
      signature: z.string().regex(/^[0-9a-f]{40}$/),
      call: z.string().describe('The JS-SDK call the page makes with `config`'),
      config: z.record(z.string(), z.union([z.string(), z.number()])).describe("That call's argument, in the platform's field names"),
    })
    .catchall(z.string()),
  "What a page's JS-SDK config needs, signed with the cached ticket (which never leaves tokenhub); the ids the page names are strings under the contract's names (appId, agentId, corpId).",
);

export const CardSignature = named(
  'CardSignature',
  z
    .object({
      app: z.string(),
      platform: z.string(),
      kind: z.string(),
      for: z.enum(['addCard', 'chooseCard']),
      timestamp: count(),
      nonceStr: z.string(),
      cardSign: z.string().regex(/^[0-9a-f]{40}$/),
    })
    .catchall(z.union([z.string(), z.number()])),
  'A card signature (`wx.addCard`: cardId, cardExt; `wx.chooseCard`: signType, shopId, cardId, cardType as sent).',
);

const AuthorizationDetail = z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number()]))]);

export const Authorization = named(
  'Authorization',
  z
    .object({
      tenantKey: z.string().describe('As `?tenant_key=` takes it: the authorizer appid, the corp id'),
      authorizedAt: time(),
      state: z.string().optional().describe('`active`, or `rejected` once the platform refused the grant'),
    })
    .catchall(AuthorizationDetail),
  "One tenant's authorization: the provider's public details (a name, the scopes granted), never a grant or a token.",
);

export const AuthorizationList = named('AuthorizationList', z.strictObject({ authorizations: z.array(Authorization) }));

export const PreAuthCode = named(
  'PreAuthCode',
  z.strictObject({ preAuthCode: z.string(), expiresIn: count() }),
  "A pre-authorization code for the platform's install link, and its seconds left.",
);

const UpstreamCount = z.strictObject({
  calls: count(),
  failures: count(),
  lastAt: time().optional(),
  lastOutcome: z.string().optional().describe('`ok` or the failure class'),
});

const Attention = named(
  'Attention',
  z.strictObject({ reason: z.enum(ATTENTION_REASONS), level: z.enum(['error', 'warning']), message: z.string() }),
  'Why a token or an app needs an operator; the reasons are the alerts’ events.',
);

const adminToken = { upstream: UpstreamCount, attention: z.array(Attention) };

export const AdminStatus = named(
  'AdminStatus',
  z.strictObject({
    version: z.string(),
    startedAt: time(),
    uptimeSeconds: count(),
    now: time().describe("The server's clock when this was made"),
    store: z.strictObject({
      type: z.string(),
      reachable: z.boolean(),
      checkedAt: time(),
      latencyMs: z.number().min(0),
      lastError: z.strictObject({ message: z.string(), at: time() }).optional(),
    }),
    apps: z.array(
      z.strictObject({
        ...appFields,
        tokens: z.array(z.union([SlotState.extend(adminToken), TenantKindState.extend(adminToken)])),
        upstream: z.strictObject({ calls: count(), failures: count() }),
        budgets: z.array(z.strictObject({ window: z.string(), used: count(), limit: count() })),
        health: z.strictObject({ ticket: PushTicket.optional(), grants: z.strictObject({ count: count(), rejected: count() }).optional() }).optional(),
        attention: z.array(Attention),
      }),
    ),
    attention: z.strictObject({ errors: count(), warnings: count() }),
  }),
  'The whole of one tokenhub instance, for operators.',
);

export const ReloadResult = named(
  'ReloadResult',
  z.strictObject({
    added: z.array(z.string()),
    changed: z.array(z.string()),
    removed: z.array(z.string()),
    unchanged: z.array(z.string()),
    restartNeeded: z.array(z.string()).describe('Top-level keys that changed but take effect only on a restart'),
    clients: count(),
  }),
);

/** Every code an answer may carry (the startup ones are never answered). */
const ANSWER_CODES = (Object.keys(ERRORS) as ErrorCode[]).filter((code) => ERRORS[code].startup !== true) as [ErrorCode, ...ErrorCode[]];

export const ErrorBody = named(
  'Error',
  z.strictObject({
    error: z.strictObject({
      code: z.enum(ANSWER_CODES),
      message: z.string(),
      platform: z.string().optional(),
      platformCode: z.union([z.int(), z.string()]).optional().describe("The platform's own code, where it answered one"),
      retryAfter: z.int().min(1).optional().describe('Seconds to wait, as the Retry-After header says'),
      issues: z.array(z.string()).optional().describe('TOKENHUB_RELOAD_REFUSED: every problem of the config'),
    }),
  }),
  "tokenhub's error answer; the X-Tokenhub-Error header carries the code too.",
);

export const Health = named('Health', z.strictObject({ status: z.literal('ok') }));

export const Readiness = named(
  'Readiness',
  z.union([
    z.strictObject({ status: z.literal('ready'), store: z.string() }),
    z.strictObject({ status: z.literal('not ready'), store: z.string(), error: z.strictObject({ code: z.literal('TOKENHUB_STORE_UNAVAILABLE'), message: z.string() }) }),
  ]),
);

/** The JSON Schema of a zod schema: a reference where it is one of the components, else inline. */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  const id = COMPONENTS.get(schema)?.id;
  return id === undefined ? standaloneSchema(schema, io) : { $ref: `#/components/schemas/${id}` };
}

/** The JSON Schema of a zod schema, whole (a route's serializer, which knows no components). */
export function standaloneSchema(schema: z.ZodType, io: 'input' | 'output' = 'output'): Record<string, unknown> {
  return clean(z.toJSONSchema(schema, { ...OPTIONS, io }) as Record<string, unknown>);
}

let components: string | undefined;

/** Every component, by name, each referring to the others by `#/components/schemas/<name>`: a copy of its own for each server. */
export function componentSchemas(): Record<string, Record<string, unknown>> {
  // Made once: every server of the process has the same, and tests build hundreds.
  components ??= JSON.stringify(
    Object.fromEntries(Object.entries(z.toJSONSchema(COMPONENTS, { ...OPTIONS, uri: (id) => `#/components/schemas/${id}` }).schemas).map(([id, schema]) => [id, clean(schema as Record<string, unknown>)])),
  );
  return JSON.parse(components) as Record<string, Record<string, unknown>>;
}

const OPTIONS = {
  target: 'draft-2020-12',
  // `format: date-time` says it; zod's own pattern for it is two hundred characters of noise.
  override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => {
    if (jsonSchema.format === 'date-time') delete jsonSchema.pattern;
    // `z.int()` bounds itself to the safe integers, which any number we answer is.
    if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
    if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
  },
} as const;

/** Without the keywords of a standalone document: in the OpenAPI document each is a part. */
function clean(schema: Record<string, unknown>): Record<string, unknown> {
  const { $schema: _, $id: __, ...rest } = schema;
  return rest;
}
