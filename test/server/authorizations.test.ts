import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { Broker } from '../../src/core/broker.js';
import { grantScope } from '../../src/core/keys.js';
import { buildServer } from '../../src/server/app.js';
import { Metrics } from '../../src/server/metrics.js';
import { FileStore } from '../../src/stores/file.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { ALL_APPS_KEY, FAKE_APP, FakeThirdPartyProvider, PLAIN_ONLY_KEY, clientEntry as client, fakeServer } from '../helpers/third-party.js';

const KEY = ALL_APPS_KEY;
const OTHER_KEY = PLAIN_ONLY_KEY;
const FAKE = FAKE_APP;

type Fake = ReturnType<typeof fakeServer>;

async function call(server: FastifyInstance, method: 'GET' | 'POST' | 'DELETE', url: string, body?: unknown, key: string | null = KEY) {
  const res = await server.inject({
    method,
    url,
    headers: { ...(key === null ? {} : { authorization: `Bearer ${key}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: res.statusCode, body: res.body === '' ? undefined : (res.json() as any), headers: res.headers };
}

/** A pushed ticket, so that the fake's app token can be had. */
async function withTicket(fake: Fake): Promise<void> {
  await fake.broker.state('tp').set('ticket', 'ticket-1');
}

describe('authorizations routes', () => {
  const open: Fake[] = [];
  const fresh = async (...args: Parameters<typeof fakeServer>): Promise<Fake> => {
    const fake = fakeServer(...args);
    open.push(fake);
    await withTicket(fake);
    return fake;
  };
  afterEach(async () => {
    for (const fake of open.splice(0)) await fake.close();
  });

  it('POST exchanges the code: 201 with the authorization, the grant kept; then GET lists it, never a grant', async () => {
    const fake = await fresh();
    const code = fake.provider.issueCode('wx_authorizer_1', 'First Corp');
    const before = Date.now();
    const created = await call(fake.server, 'POST', '/v1/apps/tp/authorizations', { code });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.tenantKey, 'wx_authorizer_1');
    assert.equal(created.body.state, 'active');
    assert.equal(created.body.name, 'First Corp');
    assert.ok(Date.parse(created.body.authorizedAt) >= before - 1000, created.body.authorizedAt);
    const grant = await fake.broker.grants('tp').get('tenant:wx_authorizer_1');
    assert.ok(grant, 'the grant was not kept');
    const refresh = (JSON.parse(grant.value) as { refresh: string }).refresh;

    await call(fake.server, 'POST', '/v1/apps/tp/authorizations', { code: fake.provider.issueCode('wx_authorizer_0') });
    const listed = await call(fake.server, 'GET', '/v1/apps/tp/authorizations');
    assert.equal(listed.status, 200);
    assert.deepEqual(
      listed.body.authorizations.map((a: any) => a.tenantKey),
      ['wx_authorizer_0', 'wx_authorizer_1'],
    );
    assert.deepEqual(Object.keys(listed.body.authorizations[1]).sort(), ['authorizedAt', 'name', 'scopes', 'state', 'tenantKey']);
    assert.ok(!JSON.stringify(listed.body).includes(refresh), 'a grant was answered');
  });

  it("the routes drop a provider's details whose names look like secrets", async () => {
    const fake = await fresh();
    await call(fake.server, 'POST', '/v1/apps/tp/authorizations', { code: fake.provider.issueCode('wx_a') });
    fake.provider.leakDetails = true;
    const listed = await call(fake.server, 'GET', '/v1/apps/tp/authorizations');
    assert.equal(listed.status, 200);
    assert.deepEqual(Object.keys(listed.body.authorizations[0]).sort(), ['authorizedAt', 'name', 'scopes', 'state', 'tenantKey']);
    const refresh = (JSON.parse((await fake.broker.grants('tp').get('tenant:wx_a'))!.value) as { refresh: string }).refresh;
    assert.ok(!JSON.stringify(listed.body).includes(refresh));
  });

  it("a tenant's token is had from its grant once authorized, 404 TOKENHUB_GRANT_NOT_FOUND before and after a DELETE", async () => {
    const fake = await fresh();
    const before = await call(fake.server, 'GET', '/v1/apps/tp/tokens/tenant_token?tenant_key=wx_t');
    assert.equal(before.status, 404);
    assert.equal(before.body.error.code, 'TOKENHUB_GRANT_NOT_FOUND');
    assert.equal((await call(fake.server, 'POST', '/v1/apps/tp/authorizations', { code: fake.provider.issueCode('wx_t') })).status, 201);
    // Authorized: served at once, not after the backoff of the refusal.
    const token = await call(fake.server, 'GET', '/v1/apps/tp/tokens/tenant_token?tenant_key=wx_t');
    assert.equal(token.status, 200, JSON.stringify(token.body));
    assert.match(token.body.token, /^tenant-wx_t-/);

    const deleted = await call(fake.server, 'DELETE', '/v1/apps/tp/authorizations/wx_t');
    assert.equal(deleted.status, 204);
    assert.equal(deleted.body, undefined);
    assert.equal(await fake.broker.grants('tp').get('tenant:wx_t'), undefined);
    // Its token, cached a moment ago, is forgotten with it.
    const after = await call(fake.server, 'GET', '/v1/apps/tp/tokens/tenant_token?tenant_key=wx_t');
    assert.equal(after.status, 404);
    assert.equal(after.body.error.code, 'TOKENHUB_GRANT_NOT_FOUND');
    const again = await call(fake.server, 'DELETE', '/v1/apps/tp/authorizations/wx_t');
    assert.equal(again.status, 404);
    assert.equal(again.body.error.code, 'TOKENHUB_GRANT_NOT_FOUND');
    assert.deepEqual((await call(fake.server, 'GET', '/v1/apps/tp/authorizations')).body, { authorizations: [] });
  });

  it('POST /pre-auth-code answers the code and its lifetime in seconds', async () => {
    const fake = await fresh();
    const res = await call(fake.server, 'POST', '/v1/apps/tp/pre-auth-code');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.match(res.body.preAuthCode, /^pre-/);
    assert.equal(res.body.expiresIn, 1200);
    assert.equal((await call(fake.server, 'POST', '/v1/apps/tp/pre-auth-code', {})).status, 200, 'an empty JSON object is no body');
    assert.equal((await call(fake.server, 'POST', '/v1/apps/tp/pre-auth-code', { x: 1 })).status, 400);
  });

  it('an app without authorizations: 404 TOKENHUB_NOT_FOUND on every route; an unknown app 404 TOKENHUB_APP_NOT_FOUND', async () => {
    const fake = await fresh();
    for (const [method, url, body] of [
      ['POST', '/v1/apps/plain/authorizations', { code: 'c' }],
      ['GET', '/v1/apps/plain/authorizations', undefined],
      ['DELETE', '/v1/apps/plain/authorizations/wx_t', undefined],
      ['POST', '/v1/apps/plain/pre-auth-code', undefined],
    ] as const) {
      const res = await call(fake.server, method, url, body);
      assert.equal(res.status, 404, `${method} ${url}`);
      assert.equal(res.body.error.code, 'TOKENHUB_NOT_FOUND');
    }
    const unknown = await call(fake.server, 'GET', '/v1/apps/nope/authorizations');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'TOKENHUB_APP_NOT_FOUND');
  });

  it('every route needs a client key (401) allowed the app (403); nothing is exchanged or deleted for them', async () => {
    const fake = await fresh();
    await call(fake.server, 'POST', '/v1/apps/tp/authorizations', { code: fake.provider.issueCode('wx_kept') });
    const code = fake.provider.issueCode('wx_new');
    for (const [method, url, body] of [
      ['POST', '/v1/apps/tp/authorizations', { code }],
      ['GET', '/v1/apps/tp/authorizations', undefined],
      ['DELETE', '/v1/apps/tp/authorizations/wx_kept', undefined],
      ['POST', '/v1/apps/tp/pre-auth-code', undefined],
    ] as const) {
      assert.equal((await call(fake.server, method, url, body, null)).status, 401, `${method} ${url} without a key`);
      assert.equal((await call(fake.server, method, url, body, 'not-a-client-key-0123456789')).status, 401, `${method} ${url} with an unknown key`);
      const forbidden = await call(fake.server, method, url, body, OTHER_KEY);
      assert.equal(forbidden.status, 403, `${method} ${url} by a client not allowed the app`);
      assert.equal(forbidden.body.error.code, 'TOKENHUB_FORBIDDEN');
    }
    assert.ok(fake.provider.codes.has(code), 'the code was exchanged');
    assert.ok(await fake.broker.grants('tp').get('tenant:wx_kept'), 'the grant was deleted');
    assert.ok(!fake.provider.calls.includes('pre_auth_code'));
  });

  it('bad bodies and parameters: 400, and the platform is not asked', async () => {
    const fake = await fresh();
    for (const body of [{}, { code: '' }, { code: 1 }, { code: 'c', extra: true }, 'not json', [], { code: 'x'.repeat(1025) }]) {
      const res = await call(fake.server, 'POST', '/v1/apps/tp/authorizations', body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(res.body.error.code, 'TOKENHUB_BAD_REQUEST');
    }
    assert.equal((await call(fake.server, 'DELETE', '/v1/apps/tp/authorizations/not%20a%20tenant')).status, 400);
    assert.equal((await call(fake.server, 'DELETE', `/v1/apps/tp/authorizations/${'t'.repeat(129)}`)).status, 400);
    assert.deepEqual(fake.provider.calls, []);
  });

  it("a code the platform refuses is the provider's 400 with its platform code, and costs the client a report", async () => {
    const fake = await fresh(new MemoryStore(), new FakeThirdPartyProvider(FAKE), { reportsPerMinute: 3 });
    for (let i = 0; i < 3; i++) {
      const res = await call(fake.server, 'POST', '/v1/apps/tp/authorizations', { code: `made-up-${i}` });
      assert.equal(res.status, 400);
      assert.equal(res.body.error.platformCode, 61009);
    }
    const over = await call(fake.server, 'POST', '/v1/apps/tp/authorizations', { code: fake.provider.issueCode('wx_late') });
    assert.equal(over.status, 429);
    assert.ok(over.headers['retry-after']);
    assert.equal(fake.provider.calls.filter((c) => c.startsWith('exchange:')).length, 3, 'the client over its budget made the platform look at a code');
  });

  it('the platform failing mid-exchange is a 503 with Retry-After, no 500, and nothing half-kept', async () => {
    const fake = await fresh();
    fake.provider.failNextExchange = true;
    const res = await call(fake.server, 'POST', '/v1/apps/tp/authorizations', { code: fake.provider.issueCode('wx_half') });
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
    assert.ok(res.headers['retry-after']);
    assert.deepEqual((await call(fake.server, 'GET', '/v1/apps/tp/authorizations')).body, { authorizations: [] });
  });

  it('a pending app token (no ticket pushed yet) is the 503 TOKENHUB_TICKET_PENDING of the token route', async () => {
    const fake = fakeServer();
    open.push(fake);
    const res = await call(fake.server, 'POST', '/v1/apps/tp/authorizations', { code: fake.provider.issueCode('wx_p') });
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, 'TOKENHUB_TICKET_PENDING');
    assert.ok(fake.provider.codes.size === 1, 'the code was spent');
  });

  it("two instances on one store refreshing one tenant's grant at once: each refresh token the platform gave is used once, none lost", async () => {
    const store = new MemoryStore();
    const one = await fresh(store);
    const provider = new FakeThirdPartyProvider(FAKE);
    const two = fakeServer(store, provider);
    await call(one.server, 'POST', '/v1/apps/tp/authorizations', { code: one.provider.issueCode('wx_shared') });
    // As when two holders' leases overlap: fetches of both instances race on the grant itself.
    const fetch = (fake: Fake) => fake.provider.fetch({ kind: 'tenant_token', tenantKey: 'wx_shared', reason: 'refresh' }, fake.broker.context('tp'));
    for (let round = 0; round < 5; round++) {
      const tokens = await Promise.all([fetch(one), fetch(two), fetch(one), fetch(two)]);
      assert.equal(new Set(tokens.map((t) => t.value)).size, 4);
    }
    const used = [...one.provider.calls, ...provider.calls].filter((c) => c.startsWith('tenant_token:wx_shared:')).map((c) => c.split(':')[2]);
    const grant = await one.broker.grants('tp').get('tenant:wx_shared');
    // 20 fetches; a loser of a race called the platform with the value it read, then again with the winner's.
    assert.equal(grant!.version, 21, 'a refresh token the platform gave was lost');
    assert.equal(new Set(used).size, 21 - 1, `the refresh tokens used: ${used.join(', ')}`);
    await two.close();
  });
});

describe('authorizations on a file store', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('survive a restart, and a new app secret (the grants are the app id’s, not the secret’s)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-authorizations-'));
    dirs.push(dir);
    const keys = { current: randomBytes(32), previous: [] };
    const first = fakeServer(new FileStore({ path: dir, encryption: keys }));
    await first.store.open?.();
    await withTicket(first);
    assert.equal((await call(first.server, 'POST', '/v1/apps/tp/authorizations', { code: first.provider.issueCode('wx_durable') })).status, 201);
    await first.close();

    const store = new FileStore({ path: dir, encryption: keys });
    await store.open();
    const broker = new Broker({ store });
    const provider = new FakeThirdPartyProvider(FAKE);
    broker.register({ id: 'tp', provider, fingerprint: `fake3p:${FAKE.appId}:a-new-secret`, grantScope: grantScope('fake3p', FAKE.appId) });
    const server = buildServer({ broker, store, clients: [client('all', KEY, ['*'])], metrics: new Metrics(() => broker), logger: false });
    try {
      const listed = await call(server, 'GET', '/v1/apps/tp/authorizations');
      assert.deepEqual(listed.body.authorizations.map((a: any) => a.tenantKey), ['wx_durable']);
    } finally {
      await server.close();
      broker.close();
      await store.close();
    }
  });
});
