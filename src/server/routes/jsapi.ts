import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Broker, IssuedToken } from '../../core/broker.js';
import { TokenHubError, badRequest } from '../../core/errors.js';
import type { PageSigning } from '../../core/types.js';
import type { AuditRecord } from '../audit.js';
import type { ClientAuth } from '../auth.js';
import { clientOf } from '../auth.js';
import type { ClientBudget } from '../client-budget.js';
import { APP_ERRORS, JSON_BODY_ERRORS, OVER_BUDGET, TOKEN_ERRORS } from '../openapi/errors.js';
import type { OperationDocs } from '../openapi/operation.js';
import { CardSignature, PageSignature } from '../openapi/schemas.js';
import { TENANT_KEY_PATTERN } from './tokens.js';

const tenantKey = z.string().regex(new RegExp(TENANT_KEY_PATTERN), 'must be 1-128 letters, digits, _ . or -');
const cardField = z.string().max(128);

const signatureBody = z.strictObject(
  {
    url: z.string().min(1).max(4096),
    kind: z.string().max(64).optional(),
    tenant_key: tenantKey.optional(),
  },
  'must be {"url": "<the page URL>", "kind"?: "…", "tenant_key"?: "…"}',
);

const cardBody = z.strictObject({
  for: z.enum(['addCard', 'chooseCard']).optional(),
  cardId: cardField.optional(),
  cardType: cardField.optional(),
  code: cardField.optional(),
  openid: cardField.optional(),
  shopId: cardField.optional(),
  locationId: cardField.optional(),
  fixedBeginTimestamp: z
    .union([z.number().int().nonnegative().max(1e12), z.string().regex(/^\d{1,12}$/)], 'must be seconds since the epoch')
    .transform(String)
    .optional(),
  outerStr: cardField.optional(),
});

interface AppParams {
  app: string;
}

const params = { type: 'object', required: ['app'], properties: { app: { type: 'string', maxLength: 64, description: "The app's id in the config" } } } as const;

/** A signature needs the app's ticket: what a token may fail with, and the signature's own refusals. */
const SIGNATURE_ERRORS = [...APP_ERRORS, ...TOKEN_ERRORS, ...JSON_BODY_ERRORS, OVER_BUDGET] as const;

const signatureDocs: OperationDocs = {
  body: signatureBody,
  answers: { 200: { description: "What the page's JS-SDK config call needs (`call` and its argument `config`)", body: PageSignature } },
  errors: [...SIGNATURE_ERRORS, 'TOKENHUB_URL_NOT_ALLOWED'],
};

const cardDocs: OperationDocs = {
  body: cardBody,
  answers: { 200: { description: 'The card signature and the fields the page passes on', body: CardSignature } },
  errors: SIGNATURE_ERRORS,
};

const signatureSchema = {
  params,
  tags: ['signatures'],
  operationId: 'signPage',
  summary: "Sign a web page's JS-SDK config",
  description:
    "The URL loses its #… part and is otherwise signed as written: not http(s) is a 400, outside the app's jsapiUrls a 403. " +
    "Each signature counts against the client's budget (clients[].signaturesPerMinute).",
  docs: signatureDocs,
};

const cardSchema = { params, tags: ['signatures'], operationId: 'signCard', summary: 'Sign a card call of the page (`wx.addCard`, `wx.chooseCard`)', docs: cardDocs };

export interface JsapiRouteOptions {
  broker: Broker;
  auth: ClientAuth;
  /** Each client's budget of signatures. */
  budget: ClientBudget;
  /** The pages each app signs for (`apps.<id>.jsapiUrls`); an app left out signs any http(s) URL. A function when a reload may replace them. */
  jsapiUrls: ReadonlyMap<string, readonly string[]> | (() => ReadonlyMap<string, readonly string[]>);
  now: () => number;
}

/**
 * `POST /v1/apps/{app}/jsapi/signature` and `…/jsapi/card-signature`: what a page's JS-SDK config
 * needs, signed with the cached ticket, which never leaves tokenhub. A signature costs no upstream
 * call while the ticket is cached; on a cold app every concurrent request waits for one fetch.
 */
export const jsapiRoutes: FastifyPluginAsync<JsapiRouteOptions> = async (app, { broker, auth, budget, jsapiUrls, now }) => {
  // Compiled once per map: a reload brings a new one.
  const compiled = new WeakMap<ReadonlyMap<string, readonly string[]>, Map<string, RegExp[]>>();
  const allowed = (id: string): RegExp[] | undefined => {
    const urls = typeof jsapiUrls === 'function' ? jsapiUrls() : jsapiUrls;
    let patterns = compiled.get(urls);
    if (patterns === undefined) compiled.set(urls, (patterns = new Map([...urls].map(([app, list]) => [app, list.map(urlPattern)]))));
    return patterns.get(id);
  };

  /** The app's signing, once the caller may use it. */
  const signing = (req: FastifyRequest<{ Params: AppParams }>): PageSigning => {
    const definition = broker.app(req.params.app); // 404 before 403: the app must exist
    auth.authorize(clientOf(req), req.params.app);
    const pages = definition.provider.pages;
    if (pages === undefined) throw badRequest(`app ${req.params.app} is on ${definition.provider.platform}, whose pages take no JS-SDK signature`);
    return pages;
  };

  const definition = (id: string): string => broker.app(id).provider.platform;

  const ticket = (appId: string, kind: string, tenant: string | undefined): IssuedToken | Promise<IssuedToken> =>
    broker.peek(appId, kind, { tenantKey: tenant }) ?? broker.getToken(appId, kind, { tenantKey: tenant });

  app.post<{ Params: AppParams; Body: unknown }>('/v1/apps/:app/jsapi/signature', { schema: signatureSchema }, async (req) => {
    const audit: AuditRecord = (req.audit = { action: 'signature', app: req.params.app });
    const pages = signing(req);
    const body = parse(signatureBody, req.body);
    Object.assign(audit, { kind: body.kind ?? pages.kinds[0], tenantKey: body.tenant_key });
    const url = pageUrl(body.url);
    const patterns = allowed(req.params.app);
    if (patterns !== undefined && !patterns.some((p) => p.test(url))) {
      throw new TokenHubError('TOKENHUB_URL_NOT_ALLOWED', `url: not among the pages app ${req.params.app} signs for (apps.${req.params.app}.jsapiUrls)`);
    }
    const kind = body.kind ?? pages.kinds[0]!;
    if (!pages.kinds.includes(kind)) throw badRequest(`kind: ${kind} does not sign pages of app ${req.params.app} (one of ${pages.kinds.join(', ')})`);
    await budget.take(clientOf(req));
    const issued = await ticket(req.params.app, kind, body.tenant_key);
    audit.token = issued.value;
    const nonceStr = nonce();
    const ids = body.tenant_key === undefined || pages.tenantIds === undefined ? undefined : await pages.tenantIds(body.tenant_key, broker.grants(req.params.app));
    const signed = pages.sign(kind, issued.value, { url, nonceStr, now: now(), ...(ids === undefined ? {} : { ids }), ...(body.tenant_key === undefined ? {} : { tenantKey: body.tenant_key }) });
    return {
      app: issued.app,
      platform: issued.platform,
      kind,
      ...(body.tenant_key === undefined ? {} : { tenantKey: body.tenant_key }),
      ...signed.ids,
      url,
      timestamp: signed.timestamp,
      nonceStr,
      signature: signed.signature,
      call: signed.call,
      config: signed.config,
    };
  });

  app.post<{ Params: AppParams; Body: unknown }>('/v1/apps/:app/jsapi/card-signature', { schema: cardSchema }, async (req) => {
    const audit: AuditRecord = (req.audit = { action: 'card-signature', app: req.params.app });
    const cards = signing(req).cards;
    if (cards === undefined) throw badRequest(`app ${req.params.app} is on ${definition(req.params.app)}, which has no card signatures`);
    const fields = parse(cardBody, req.body);
    await budget.take(clientOf(req));
    audit.kind = cards.kind;
    const issued = await ticket(req.params.app, cards.kind, undefined);
    audit.token = issued.value;
    const signed = cards.sign(issued.value, withoutUndefined(fields), { nonceStr: nonce(), now: now() });
    return { app: issued.app, platform: issued.platform, kind: cards.kind, ...signed };
  });
};

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success) throw badRequest(`body: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ')}`);
  return parsed.data;
}

/**
 * The URL as the page has it, without its `#…` part: signed as written (no normalisation, which
 * would change what the page's JS-SDK signs, e.g. add a `/` before `?`). Only http(s) URLs.
 */
export function pageUrl(raw: string): string {
  const url = raw.split('#', 1)[0]!;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badRequest('url: not a URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw badRequest(`url: must be http(s), not ${parsed.protocol.replace(/:$/, '')}`);
  if (/\s/.test(url)) throw badRequest('url: must not contain white space');
  return url;
}

/** A `jsapiUrls` pattern: literal but for `*`, which matches any rest of the URL. */
export function urlPattern(pattern: string): RegExp {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\/]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`);
}

/** 16 random characters, as the platforms' own examples use. */
function nonce(): string {
  return randomBytes(12).toString('base64url');
}

function withoutUndefined(fields: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined));
}
