import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../../src/config.js';
import { ConfigError } from '../../src/core/errors.js';
import type { AdminStatus, AppState, TokenState } from '../../src/server/admin-status.js';
import { FeishuSim } from '../../src/sim/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { rawRequest } from '../helpers/raw.js';
import { eventually, sleep, startStack, type Stack } from '../helpers/stack.js';

const ADMIN_KEY = 'admin-key-0123456789abcdef';
const PLAIN_KEY = 'plain-key-0123456789abcdef';
const CLIENTS = [
  { name: 'ops', key: ADMIN_KEY, apps: ['*'], admin: true },
  { name: 'billing', key: PLAIN_KEY, apps: ['*'] },
];
const STORE_APP = { appId: 'cli_admin_store', appSecret: 'store-secret-xxxxxxxxxxxx', verificationToken: 'vt-admin-store-0123456789', encryptKey: 'ek-admin-store-0123456789' };
const PKG = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const appOf = (status: AdminStatus, id: string): AppState => status.apps.find((a) => a.id === id)!;
const tokenOf = (status: AdminStatus, id: string, kind: string): TokenState & Record<string, any> => appOf(status, id).tokens.find((t) => t.kind === kind)!;

describe('GET /v1/admin/status', () => {
  let stack: Stack;
  let sim: FeishuSim;
  const status = async (): Promise<AdminStatus> => {
    const res = await stack.call('GET', '/v1/admin/status', { key: ADMIN_KEY });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body as AdminStatus;
  };

  before(async () => {
    sim = new FeishuSim({ apps: [{ appId: 'cli_admin_main', appSecret: 'main-secret-xxxxxxxxxxxx' }], storeApps: [STORE_APP] });
    stack = await startStack({
      sims: [sim],
      config: { clients: CLIENTS },
      apps: {
        main: { platform: 'feishu', appId: 'cli_admin_main', appSecret: 'main-secret-xxxxxxxxxxxx', baseUrl: 'sim:feishu' },
        broken: { platform: 'feishu', appId: 'cli_admin_main', appSecret: 'not-the-secret-xxxxxxxxx', baseUrl: 'sim:feishu' },
        store: { platform: 'feishu', appType: 'store', ...STORE_APP, baseUrl: 'sim:feishu' },
      },
    });
  });
  after(() => stack.close());

  it('is 401 without a known key and 403 TOKENHUB_FORBIDDEN for a client that is not an admin, on both admin routes', async () => {
    for (const path of ['/v1/admin/status', '/v1/admin/events']) {
      const none = await stack.call('GET', path, { key: null });
      assert.equal(none.status, 401);
      const unknown = await stack.call('GET', path, { key: 'no-such-key-0123456789' });
      assert.equal(unknown.status, 401);
      const plain = await stack.call('GET', path, { key: PLAIN_KEY });
      assert.equal(plain.status, 403);
      assert.equal(plain.body.error.code, 'TOKENHUB_FORBIDDEN');
      assert.equal(plain.headers['x-tokenhub-error'], 'TOKENHUB_FORBIDDEN');
      assert.match(plain.body.error.message, /billing is not an admin/);
    }
    // However the path is spelled, the route decides: the admin check comes with it.
    const raw = (path: string, key: string | null) =>
      rawRequest(stack.url, `GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n${key === null ? '' : `authorization: Bearer ${key}\r\n`}\r\n`);
    for (const path of ['/v1/%61dmin/status', '/%76%31/admin/status', '/v1/admin/%73tatus', 'http://127.0.0.1/v1/admin/status']) {
      assert.deepEqual([(await raw(path, null)).status, (await raw(path, PLAIN_KEY)).status, (await raw(path, ADMIN_KEY)).status], [401, 403, 200], path);
    }
    // The admin client is still a client: it gets tokens like any other.
    assert.equal((await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token', { key: ADMIN_KEY })).status, 200);
  });

  it('shows every app and every kind, the version, uptime and the store; a kind never asked for is listed without state', async () => {
    const s = await status();
    assert.equal(s.version, PKG.version);
    assert.ok(s.uptimeSeconds >= 0 && Date.parse(s.startedAt) <= Date.parse(s.now));
    assert.equal(s.store.type, 'memory');
    assert.equal(s.store.reachable, true);
    assert.deepEqual(s.apps.map((a) => a.id), ['main', 'broken', 'store']);
    const main = appOf(s, 'main');
    assert.equal(main.platform, 'feishu');
    assert.deepEqual(main.tokens.map((t) => t.kind), main.kinds);
    const app = tokenOf(s, 'main', 'app_access_token');
    assert.deepEqual({ ...app }, { kind: 'app_access_token', refreshing: false, upstream: { calls: 0, failures: 0 }, attention: [] });
    // Tenant-scoped kinds are counted, as /v1/apps counts them.
    const tenant = tokenOf(s, 'store', 'tenant_access_token');
    assert.equal(tenant.tenantScoped, true);
    assert.equal(tenant.tenants, 0);
  });

  it('a fetched token: expiry, last and next refresh, upstream calls; never a token value', async () => {
    const before = Date.now();
    const { token } = (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body;
    const s = await status();
    const t = tokenOf(s, 'main', 'tenant_access_token');
    assert.ok(Date.parse(t.expiresAt!) > Date.now() + 7000_000);
    assert.ok(Date.parse(t.lastRefreshAt!) >= before - 1000);
    assert.ok(Date.parse(t.nextRefreshAt!) < Date.parse(t.expiresAt!));
    assert.equal(t.refreshing, false);
    assert.equal(t.upstream.calls, 1);
    assert.equal(t.upstream.failures, 0);
    assert.equal(t.upstream.lastOutcome, 'ok');
    assert.deepEqual(t.attention, []);
    assert.deepEqual(appOf(s, 'main').upstream, { calls: 1, failures: 0 });
    assert.ok(!JSON.stringify(s).includes(token), 'the status holds a token value');

    // Revoked and reported: a new fetch, counted.
    sim.revoke(token);
    const fresh = await stack.call('POST', '/v1/apps/main/tokens/tenant_access_token/invalidate', { body: { token } });
    assert.notEqual(fresh.body.token, token);
    const after = tokenOf(await status(), 'main', 'tenant_access_token');
    assert.equal(after.upstream.calls, 2);
    assert.ok(Date.parse(after.lastRefreshAt!) >= Date.parse(t.lastRefreshAt!));
  });

  it('refused credentials: the last error, the failures counted, and the token marked credentials.rejected', async () => {
    const res = await stack.call('GET', '/v1/apps/broken/tokens/tenant_access_token');
    assert.equal(res.status, 502);
    const s = await status();
    const t = tokenOf(s, 'broken', 'tenant_access_token');
    assert.equal(t.lastError?.code, 'TOKENHUB_PLATFORM_REFUSED');
    assert.equal(t.expiresAt, undefined);
    assert.equal(t.upstream.failures, t.upstream.calls);
    assert.ok(t.upstream.calls >= 1);
    assert.equal(t.upstream.lastOutcome, 'credentials');
    assert.deepEqual(t.attention.map((a) => [a.reason, a.level]), [['credentials.rejected', 'error']]);
    assert.ok(s.attention.errors >= 1);
  });

  it("a store app's app_ticket: missing until pushed, then its age; never the ticket", async () => {
    const before = appOf(await status(), 'store');
    assert.deepEqual(before.health, { ticket: { name: 'app_ticket', present: false } });
    assert.deepEqual(before.attention.map((a) => a.reason), ['ticket.missing']);

    sim.setEventUrl(STORE_APP.appId, `${stack.url}/v1/apps/store/events`);
    const { ticket } = await sim.pushTicket(STORE_APP.appId);
    const store = appOf(await status(), 'store');
    assert.equal(store.health?.ticket?.present, true);
    assert.ok(store.health!.ticket!.ageSeconds! <= 2);
    assert.equal(store.health?.ticket?.stale, false);
    assert.deepEqual(store.attention, []);
    assert.ok(!JSON.stringify(store).includes(ticket));

    const tenant = await stack.call('GET', '/v1/apps/store/tokens/tenant_access_token?tenant_key=t1');
    assert.equal(tenant.status, 200, JSON.stringify(tenant.body));
    const s = await status();
    const counted = tokenOf(s, 'store', 'tenant_access_token');
    assert.deepEqual([counted.tenants, counted.valid, counted.failing], [1, 1, 0]);
    assert.equal(counted.upstream.calls, 1);
    assert.equal(tokenOf(s, 'store', 'app_access_token').upstream.calls, 1);
    assert.ok(!JSON.stringify(s).includes('t1'), 'the status names a tenant');
  });

  it('a platform that is down: the token that needs fetching is marked token.unavailable', async () => {
    sim.faults.set('down');
    try {
      const res = await stack.call('GET', '/v1/apps/main/tokens/app_access_token');
      assert.equal(res.status, 503);
      const t = tokenOf(await status(), 'main', 'app_access_token');
      assert.equal(t.lastError?.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
      assert.ok(t.lastError?.retryAt);
      assert.deepEqual(t.attention.map((a) => [a.reason, a.level]), [['token.unavailable', 'error']]);
      assert.ok(t.upstream.failures >= 1);
    } finally {
      sim.faults.set('none');
    }
  });
});

describe('GET /v1/admin/events', () => {
  let stack: Stack;
  before(async () => {
    const sim = new FeishuSim({ apps: [{ appId: 'cli_events', appSecret: 'events-secret-xxxxxxxxxx' }] });
    stack = await startStack({ sims: [sim], config: { clients: CLIENTS }, apps: { main: { platform: 'feishu', appId: 'cli_events', appSecret: 'events-secret-xxxxxxxxxx', baseUrl: 'sim:feishu' } } });
  });

  it('streams the status as server-sent events, at once and then every second; closing the hub ends the stream', async () => {
    const res = await fetch(`${stack.url}/v1/admin/events`, { headers: { authorization: `Bearer ${ADMIN_KEY}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/event-stream/);
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    const frames = async (n: number): Promise<AdminStatus[]> => {
      for (;;) {
        const found = [...text.matchAll(/^event: status\ndata: (.*)\n\n/gm)].map((m) => JSON.parse(m[1]!) as AdminStatus);
        if (found.length >= n) return found;
        const { value, done } = await reader.read();
        if (done) throw new Error(`the stream ended after ${found.length} frames`);
        text += value;
      }
    };
    const started = Date.now();
    const [first] = await frames(1);
    assert.ok(Date.now() - started < 500, 'the first frame waits for the interval');
    assert.deepEqual(first!.apps.map((a) => a.id), ['main']);
    // A token fetched meanwhile shows up in a later frame.
    await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token');
    const later = await frames(3);
    const fetched = later.at(-1)!.apps[0]!.tokens.find((t) => t.kind === 'tenant_access_token')!;
    assert.ok('expiresAt' in fetched && fetched.expiresAt !== undefined);

    const closing = Date.now();
    await stack.close();
    assert.ok(Date.now() - closing < 3000, `closing waited ${Date.now() - closing} ms for the stream`);
    for (;;) if ((await reader.read()).done) break;
  });
});

describe('the store in the status', () => {
  class FlakyStore extends MemoryStore {
    down = false;
    override async ping(): Promise<void> {
      if (this.down) throw new Error('connect ECONNREFUSED redis://ops:hunter2@10.0.0.9:6379');
    }
  }
  let stack: Stack;
  const store = new FlakyStore();
  before(async () => {
    const sim = new FeishuSim({ apps: [{ appId: 'cli_flaky', appSecret: 'flaky-secret-xxxxxxxxxxx' }] });
    stack = await startStack({ sims: [sim], store, config: { clients: CLIENTS }, apps: { main: { platform: 'feishu', appId: 'cli_flaky', appSecret: 'flaky-secret-xxxxxxxxxxx', baseUrl: 'sim:feishu' } } });
  });
  after(() => stack.close());

  it('unreachable while its ping fails, with the last error kept after it recovers; no credentials of a URL in it', async () => {
    const get = async (): Promise<AdminStatus['store']> => (await stack.call('GET', '/v1/admin/status', { key: ADMIN_KEY })).body.store;
    assert.equal((await get()).reachable, true);
    store.down = true;
    let state!: AdminStatus['store'];
    // Pings are reused for a second.
    await eventually(async () => !(state = await get()).reachable, 3000, 100);
    assert.match(state.lastError!.message, /ECONNREFUSED/);
    assert.ok(!state.lastError!.message.includes('hunter2'));
    store.down = false;
    await sleep(1100);
    const back = await get();
    assert.equal(back.reachable, true);
    assert.equal(back.lastError?.at, state.lastError!.at);
  });
});

describe('clients[].admin in the config', () => {
  const base = { apps: { a: { platform: 'feishu', appId: 'cli_a', appSecret: 's' } } };
  it('is a boolean, false when left out', () => {
    const config = validateConfig({ ...base, clients: [...CLIENTS] });
    assert.deepEqual(config.clientEntries.map((c) => c.admin === true), [true, false]);
    assert.throws(() => validateConfig({ ...base, clients: [{ ...CLIENTS[0], admin: 'yes' }] }), (err: unknown) => err instanceof ConfigError && /clients\[0\]\.admin: expected boolean/.test(err.message));
  });
});
