import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import type { RouteOptions } from 'fastify';
import { OPENAPI_FILE, generateOpenapi } from '../../scripts/openapi.js';
import { demoConfig } from '../../src/cli/sim.js';
import { ERRORS, statusesOf, type ErrorCode } from '../../src/core/errors.js';
import { createHub, type Hub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { OPENAPI_METHODS } from '../../src/server/openapi/document.js';
import { startHub } from '../helpers/hubs.js';

/**
 * Registered routes (method and Fastify path) the document leaves out, each with its reason.
 * Nothing else may be missing from it.
 */
const INTERNAL: readonly { test: (method: string, route: RouteOptions, all: readonly RouteOptions[]) => boolean; reason: string }[] = [
  {
    test: (method, route, all) => route.method === 'HEAD' && all.some((r) => r !== route && r.url === route.url && methodsOf(r).includes('GET')),
    reason: "the HEAD Fastify adds to each GET route: answered as the GET without a body, so the GET's operation says it",
  },
  {
    test: (method, route) => route.url === '/v1/proxy/:app/*' && !(OPENAPI_METHODS as readonly string[]).includes(method.toLowerCase()),
    reason: "the proxy takes every method, but an OpenAPI 3.1 Path Item has no field for WebDAV's (PROPFIND, …); the operation's description says they are taken",
  },
];

const methodsOf = (route: RouteOptions): string[] => (Array.isArray(route.method) ? [...route.method] : [route.method as string]);

/** A Fastify path as the document names it: `:name` → `{name}`, a final `*` → `{path}`. */
const documentPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}');

type Doc = any;

describe('the OpenAPI document', () => {
  let hub: Hub;
  const routes: RouteOptions[] = [];
  let doc: Doc;

  before(async () => {
    // A config with an app of every platform and app type: the document must not depend on it, but every route is there.
    hub = createHub(demoConfig('openapi-test-key-000000000000000', 'http://127.0.0.1:9'), { logger: createLogger('silent') });
    hub.server.addHook('onRoute', (route) => void routes.push(route));
    await hub.server.ready();
    doc = hub.server.swagger();
  });
  after(() => hub.close());

  it('describes every route Fastify registered, with its methods, and nothing else', () => {
    const missing: string[] = [];
    const expected = new Set<string>();
    for (const route of routes) {
      for (const method of methodsOf(route)) {
        if (INTERNAL.some((i) => i.test(method, route, routes))) continue;
        const key = `${method.toLowerCase()} ${documentPath(route.url)}`;
        expected.add(key);
        if (doc.paths[documentPath(route.url)]?.[method.toLowerCase()] === undefined) missing.push(key);
      }
    }
    assert.deepEqual(missing, [], 'routes missing from the document');
    const undescribed = Object.entries<Record<string, any>>(doc.paths).flatMap(([path, item]) => Object.entries<any>(item).filter(([, op]) => op['x-undescribed']).map(([m]) => `${m} ${path}`));
    assert.deepEqual(undescribed, [], 'routes without docs (schema.docs): give them their answers and errors');
    const described = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) => Object.keys(item).map((m) => `${m} ${path}`));
    assert.deepEqual(described.filter((k) => !expected.has(k)), [], 'operations of no route');
    // The routes the brief names are all there (a route dropped from the server would pass the check above).
    for (const path of ['/v1/apps', '/v1/apps/{app}/tokens/{kind}', '/v1/apps/{app}/tokens/{kind}/invalidate', '/v1/apps/{app}/jsapi/signature', '/v1/apps/{app}/jsapi/card-signature',
      '/v1/apps/{app}/events', '/v1/apps/{app}/authorizations', '/v1/apps/{app}/authorizations/{tenantKey}', '/v1/apps/{app}/pre-auth-code', '/v1/proxy/{app}/{path}',
      '/v1/admin/status', '/v1/admin/events', '/v1/admin/reload', '/healthz', '/readyz', '/metrics', '/openapi.json', '/console', '/console/{file}']) {
      assert.ok(doc.paths[path], `${path} is not described`);
    }
    assert.deepEqual(Object.keys(doc.paths['/v1/proxy/{app}/{path}']), [...OPENAPI_METHODS]);
    assert.deepEqual(Object.keys(doc.paths['/v1/apps/{app}/events']).sort(), ['get', 'post']);
    console.log(`# ${routes.length} routes, ${described.length} operations in ${Object.keys(doc.paths).length} paths`);
  });

  it('is valid OpenAPI 3.1: the official schema, every $ref resolves, operation ids are unique, path parameters are declared', async () => {
    assert.equal(doc.openapi, '3.1.0');
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    assert.deepEqual(result, { valid: true });
    assert.equal(validator.version, '3.1');

    const refs: string[] = [];
    const walk = (node: unknown): void => {
      if (Array.isArray(node)) node.forEach(walk);
      else if (node !== null && typeof node === 'object') {
        for (const [k, v] of Object.entries(node)) if (k === '$ref' && typeof v === 'string') refs.push(v); else walk(v);
      }
    };
    walk(doc);
    assert.ok(refs.length > 50, `${refs.length} refs`);
    const unresolved = refs.filter((ref) => ref.slice(2).split('/').reduce<any>((node, part) => node?.[part], doc) === undefined);
    assert.deepEqual([...new Set(unresolved)], []);

    const ids: string[] = [];
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      const named = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
      for (const [method, operation] of Object.entries<any>(item)) {
        ids.push(operation.operationId);
        const declared = (operation.parameters ?? []).filter((p: any) => p.in === 'path').map((p: any) => p.name).sort();
        assert.deepEqual(declared, named, `${method} ${path}: path parameters`);
      }
    }
    assert.equal(ids.filter((id) => typeof id === 'string').length, ids.length, 'an operation without an id');
    assert.equal(new Set(ids).size, ids.length, `duplicate operation ids: ${ids.join(', ')}`);
  });

  it("gives each operation its error answers from the ERRORS table: codes answered with that status, the contract's error body", () => {
    const answerCodes = (Object.keys(ERRORS) as ErrorCode[]).filter((c) => ERRORS[c].startup !== true);
    assert.deepEqual(doc.components.schemas.Error.properties.error.properties.code.enum, answerCodes);
    assert.deepEqual(doc.components.schemas.Error.properties.error.required, ['code', 'message']);
    for (const [path, item] of Object.entries<Record<string, any>>(doc.paths)) {
      for (const [method, operation] of Object.entries<any>(item)) {
        const where = `${method} ${path}`;
        const errors = Object.entries<any>(operation.responses).filter(([status]) => Number(status) >= 400);
        const isPublic = Array.isArray(operation.security) && operation.security.length === 0;
        assert.ok(operation.responses['500'], `${where}: no 500`);
        if (!isPublic) assert.ok(operation.responses['401'], `${where}: takes a key but has no 401`);
        for (const [status, ref] of errors) {
          // A relayed platform answer is the proxy's default; every status of tokenhub's own is an error answer.
          const response = ref.$ref ? doc.components.responses[ref.$ref.split('/').pop()] : ref;
          if (path === '/readyz' && status === '503') continue;
          const codes: ErrorCode[] = response.headers['X-Tokenhub-Error'].schema.enum;
          assert.ok(codes.length > 0, where);
          for (const code of codes) assert.ok(statusesOf(code).includes(Number(status)), `${where}: ${code} is never ${status}`);
          const schema = response.content['application/json'].schema;
          assert.deepEqual(schema.allOf[0], { $ref: '#/components/schemas/Error' });
          assert.deepEqual(schema.allOf[1].properties.error.properties.code.enum, codes);
          for (const code of codes) assert.ok(response.description.includes(`\`${code}\`: ${status === String(ERRORS[code].status) ? ERRORS[code].meaning : ERRORS[code].also![Number(status)]!.meaning}`), `${where} ${status}: ${code}'s meaning`);
        }
      }
    }
    // Spot checks of what the routes answer.
    const codesOf = (path: string, method: string, status: string): string[] => {
      const ref = doc.paths[path][method].responses[status];
      return doc.components.responses[ref.$ref.split('/').pop()].headers['X-Tokenhub-Error'].schema.enum;
    };
    assert.deepEqual(codesOf('/v1/apps/{app}/tokens/{kind}', 'get', '400'), ['TOKENHUB_BAD_REQUEST', 'TOKENHUB_UNKNOWN_KIND']);
    assert.deepEqual(codesOf('/v1/apps/{app}/tokens/{kind}/invalidate', 'post', '429'), ['TOKENHUB_RATE_LIMITED']);
    assert.deepEqual(codesOf('/v1/apps/{app}/jsapi/signature', 'post', '403'), ['TOKENHUB_FORBIDDEN', 'TOKENHUB_URL_NOT_ALLOWED']);
    assert.deepEqual(codesOf('/v1/admin/status', 'get', '403'), ['TOKENHUB_FORBIDDEN']);
    assert.deepEqual(codesOf('/v1/admin/reload', 'post', '400'), ['TOKENHUB_BAD_REQUEST', 'TOKENHUB_RELOAD_REFUSED']);
    assert.equal(doc.paths['/v1/proxy/{app}/{path}'].get.responses['429'], undefined, 'the proxy answers no 429 of its own');
  });

  it('asks for the client key on every route but the public ones, by bearer or X-Tokenhub-Key', () => {
    assert.deepEqual(doc.security, [{ clientKey: [] }, { clientKeyHeader: [] }]);
    assert.deepEqual(doc.components.securitySchemes.clientKey, { type: 'http', scheme: 'bearer', description: doc.components.securitySchemes.clientKey.description });
    assert.equal(doc.components.securitySchemes.clientKeyHeader.name, 'X-Tokenhub-Key');
    const open = Object.entries<Record<string, any>>(doc.paths).flatMap(([path, item]) => Object.entries<any>(item).filter(([, op]) => op.security?.length === 0).map(([m]) => `${m} ${path}`));
    assert.deepEqual(open.sort(), ['get /console', 'get /console/', 'get /console/{file}', 'get /healthz', 'get /metrics', 'get /openapi.json', 'get /readyz', 'get /v1/apps/{app}/events', 'post /v1/apps/{app}/events'].sort());
    // The public routes are exactly those the server lets through without a key.
    const publicRoutes = routes.filter((r) => r.config?.public === true && r.method !== 'HEAD').map((r) => documentPath(r.url));
    assert.deepEqual([...new Set(publicRoutes)].sort(), [...new Set(open.map((o) => o.split(' ')[1]))].sort());
  });

  it('docs/openapi.json is what the code makes (npm run openapi writes it)', async () => {
    const file = await readFile(OPENAPI_FILE, 'utf8');
    const made = await generateOpenapi();
    assert.ok(file === made, 'docs/openapi.json is out of date: run `npm run openapi`');
    assert.deepEqual(JSON.parse(file), doc);
  });

  it('GET /openapi.json serves the same document without a key, whatever the config', async () => {
    const running = await startHub({ key: 'openapi-other-config-key-00000000', apps: { solo: { platform: 'qingtui', appId: 'qt_x', appSecret: 'secret-x', baseUrl: 'http://127.0.0.1:9' } } });
    try {
      const res = await fetch(`${running.url}/openapi.json`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
      assert.deepEqual(await res.json(), JSON.parse(await readFile(OPENAPI_FILE, 'utf8')));
      const again = await fetch(`${running.url}/openapi.json`, { headers: { authorization: 'Bearer not-a-known-key-at-all' } });
      assert.equal(again.status, 200, 'a bad key does not matter on a public route');
    } finally {
      await running.close();
    }
  });
});
