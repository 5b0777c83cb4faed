import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'undici';
import { FeishuSim } from '../../src/sim/index.js';
import { startStack, type Stack } from '../helpers/stack.js';

const SECRET = 'the-real-secret-of-app-main';
const WRONG = 'a-wrong-secret-for-app-bad';

describe('the contract error table', () => {
  let stack: Stack;
  let sim: FeishuSim;
  const limitedKey = 'limited-client-key-0123456789';
  before(async () => {
    sim = new FeishuSim({ apps: [{ appId: 'cli_main', appSecret: SECRET }, { appId: 'cli_bad', appSecret: 'the-secret-the-platform-knows' }, { appId: 'cli_off', appSecret: SECRET, disabled: true }] });
    stack = await startStack({
      sims: [sim],
      apps: {
        main: { platform: 'feishu', appId: 'cli_main', appSecret: SECRET, baseUrl: 'sim:feishu' },
        other: { platform: 'feishu', appId: 'cli_main', appSecret: SECRET, baseUrl: 'sim:feishu' },
        bad: { platform: 'feishu', appId: 'cli_bad', appSecret: WRONG, baseUrl: 'sim:feishu' },
        unknown: { platform: 'feishu', appId: 'cli_nobody', appSecret: SECRET, baseUrl: 'sim:feishu' },
        off: { platform: 'feishu', appId: 'cli_off', appSecret: SECRET, baseUrl: 'sim:feishu' },
      },
      config: { clients: [{ name: 'limited', key: limitedKey, apps: ['main'] }] },
    });
  });
  after(() => stack.close());

  const expectError = (res: Awaited<ReturnType<Stack['call']>>, status: number, code: string): void => {
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.error.code, code);
    assert.equal(typeof res.body.error.message, 'string');
  };

  it('401 without a key, with an unknown key, with a malformed header', async () => {
    expectError(await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token', { key: null }), 401, 'TOKENHUB_UNAUTHORIZED');
    expectError(await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token', { key: 'not-a-key-of-anyone' }), 401, 'TOKENHUB_UNAUTHORIZED');
    expectError(await stack.call('GET', '/v1/apps', { key: null, headers: { authorization: 'Basic abc' } }), 401, 'TOKENHUB_UNAUTHORIZED');
  });

  it('accepts the key in X-Tokenhub-Key as well', async () => {
    const res = await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token', { key: null, headers: { 'x-tokenhub-key': limitedKey } });
    assert.equal(res.status, 200);
  });

  it('on one keep-alive connection, every request is judged by its own key (cached reads included)', async () => {
    const conn = new Client(stack.url, { pipelining: 1 });
    try {
      const get = async (authorization: string | undefined, app = 'main'): Promise<number> => {
        const res = await conn.request({ method: 'GET', path: `/v1/apps/${app}/tokens/tenant_access_token`, headers: authorization === undefined ? {} : { authorization } });
        await res.body.dump();
        return res.statusCode;
      };
      assert.equal(await get(`Bearer ${stack.key}`), 200);
      assert.equal(await get(`Bearer ${stack.key}`), 200); // a cached read
      assert.equal(await get('Bearer not-a-key-of-anyone'), 401);
      assert.equal(await get(undefined), 401);
      assert.equal(await get(`Bearer ${limitedKey}`, 'main'), 200);
      assert.equal(await get(`Bearer ${limitedKey}`, 'other'), 403);
      assert.equal(await get(`Bearer ${stack.key}`, 'other'), 200);
      assert.equal(await get(`Bearer ${stack.key}x`, 'other'), 401);
    } finally {
      await conn.close();
    }
  });

  it('403 for an app the client may not use; /v1/apps lists only its apps', async () => {
    expectError(await stack.call('GET', '/v1/apps/other/tokens/tenant_access_token', { key: limitedKey }), 403, 'TOKENHUB_FORBIDDEN');
    expectError(await stack.call('POST', '/v1/apps/other/tokens/tenant_access_token/invalidate', { key: limitedKey, body: { token: 'x' } }), 403, 'TOKENHUB_FORBIDDEN');
    const list = await stack.call('GET', '/v1/apps', { key: limitedKey });
    assert.deepEqual(list.body.apps.map((a: { id: string }) => a.id), ['main']);
  });

  it('404 for no such app and no such route', async () => {
    expectError(await stack.call('GET', '/v1/apps/nope/tokens/tenant_access_token'), 404, 'TOKENHUB_APP_NOT_FOUND');
    expectError(await stack.call('GET', '/v1/nothing-here'), 404, 'TOKENHUB_NOT_FOUND');
  });

  it('400 for an unknown kind, a bad parameter, a tenant key on a custom app, a bad body', async () => {
    expectError(await stack.call('GET', '/v1/apps/main/tokens/access_token'), 400, 'TOKENHUB_UNKNOWN_KIND');
    expectError(await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token?min_ttl=abc'), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token?min_ttl=-5'), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token?surprise=1'), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token?tenant_key=abc'), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token?tenant_key=a%20b'), 400, 'TOKENHUB_BAD_REQUEST');
    const inv = '/v1/apps/main/tokens/tenant_access_token/invalidate';
    expectError(await stack.call('POST', inv, { body: '{not json' }), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('POST', inv, { body: {} }), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('POST', inv, { body: { token: 42 } }), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('POST', inv, { body: { token: '' } }), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('POST', inv, { body: [] }), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('POST', inv), 400, 'TOKENHUB_BAD_REQUEST');
    expectError(await stack.call('POST', inv, { body: 'token=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'TOKENHUB_UNSUPPORTED_MEDIA_TYPE');
  });

  it('413 for a body over the limit', async () => {
    const res = await stack.call('POST', '/v1/apps/main/tokens/tenant_access_token/invalidate', { body: { token: 'x'.repeat(64 * 1024) } });
    expectError(res, 413, 'TOKENHUB_PAYLOAD_TOO_LARGE');
  });

  it('400 when min_ttl exceeds what the platform can give', async () => {
    const res = await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token?min_ttl=9000');
    expectError(res, 400, 'TOKENHUB_BAD_REQUEST');
    assert.match(res.body.error.message, /min_ttl/);
  });

  it('502 with platformCode for a wrong secret, an unknown app, a disabled app', async () => {
    const bad = await stack.call('GET', '/v1/apps/bad/tokens/tenant_access_token');
    expectError(bad, 502, 'TOKENHUB_PLATFORM_REFUSED');
    assert.equal(bad.body.error.platform, 'feishu');
    assert.equal(bad.body.error.platformCode, 10014);
    const unknown = await stack.call('GET', '/v1/apps/unknown/tokens/tenant_access_token');
    expectError(unknown, 502, 'TOKENHUB_PLATFORM_REFUSED');
    assert.equal(unknown.body.error.platformCode, 10003);
    const off = await stack.call('GET', '/v1/apps/off/tokens/tenant_access_token');
    assert.equal(off.body.error.platformCode, 99991662);
  });

  it('a misconfigured app costs a handful of upstream calls however many requests arrive', async () => {
    sim.counters.reset();
    const results = await Promise.all(Array.from({ length: 200 }, () => stack.call('GET', '/v1/apps/bad/tokens/tenant_access_token')));
    for (const r of results) assert.equal(r.status, 502);
    assert.ok(sim.counters.count('tenant_access_token/internal', 'cli_bad') <= 1, 'requests during backoff reached the platform');
  });

  it('the apps list shows the last error with its platform code, and never a secret', async () => {
    const res = await stack.call('GET', '/v1/apps');
    const bad = res.body.apps.find((a: { id: string }) => a.id === 'bad');
    assert.equal(bad.tokens[0].lastError.code, 'TOKENHUB_PLATFORM_REFUSED');
    assert.equal(bad.tokens[0].lastError.platformCode, 10014);
    assert.ok(!JSON.stringify(res.body).includes(WRONG));
  });

  it('health, readiness and metrics need no key', async () => {
    assert.equal((await stack.call('GET', '/healthz', { key: null })).status, 200);
    const ready = await stack.call('GET', '/readyz', { key: null });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.store, 'memory');
    const metrics = await stack.call('GET', '/metrics', { key: null });
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /tokenhub_token_requests_total\{app="main",outcome="ok"\} \d+/);
    assert.match(metrics.body, /tokenhub_token_requests_total\{app="bad",outcome="TOKENHUB_PLATFORM_REFUSED"\} \d+/);
    assert.match(metrics.body, /tokenhub_upstream_requests_total\{app="bad",platform="feishu",kind="tenant_access_token",reason="cold",outcome="credentials"\} \d+/);
    assert.match(metrics.body, /tokenhub_token_seconds_left\{app="main",platform="feishu",kind="tenant_access_token"\} \d+/);
    assert.match(metrics.body, /tokenhub_upstream_duration_seconds_count/);
  });

  it('logs hold no secret, client key or token', async () => {
    const token = (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token;
    sim.revoke(token);
    await stack.call('POST', '/v1/apps/main/tokens/tenant_access_token/invalidate', { body: { token } });
    const logs = stack.logs.text;
    assert.ok(logs.length > 0, 'nothing was logged');
    assert.match(logs, /token reported as rejected/);
    assert.match(logs, /token fetch failed/);
    for (const secret of [SECRET, WRONG, stack.key, limitedKey, token]) assert.ok(!logs.includes(secret), 'a secret reached the logs');
  });
});
