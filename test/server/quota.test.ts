// Issue 8: no one client can spend an app's quota or take the app down for the others. Each test
// reproduces what was seen on main and counts the upstream calls, over HTTP against the simulators.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { FEISHU_ENDPOINTS, FeishuSim, WeChatSim } from '../../src/sim/index.js';
import { BusinessSim } from '../helpers/upstream.js';
import { getToken, invalidate, stackFor } from '../helpers/platform.js';
import { eventually, sleep } from '../helpers/stack.js';

const SECRET = 'quota-secret-0123456789abcdef';
const TENANT = '/tokens/tenant_access_token';
const FEISHU_TENANT_CALLS = 'tenant_access_token/internal';

const wechatClassic = (sim: Record<string, unknown> = {}) => ({
  sim: new WeChatSim({ apps: [{ appId: 'wx_quota', appSecret: SECRET }], ...sim }),
  app: { platform: 'wechat', tokenApi: 'classic', appId: 'wx_quota', appSecret: SECRET, baseUrl: 'sim:wechat' },
});
const feishu = (sim: Record<string, unknown> = {}) => ({
  sim: new FeishuSim({ apps: [{ appId: 'cli_quota', appSecret: SECRET }], ...sim }),
  app: { platform: 'feishu', appId: 'cli_quota', appSecret: SECRET, baseUrl: 'sim:feishu' },
});
const tenantToken = (stack: Awaited<ReturnType<typeof stackFor>>, app: string, query = '') => stack.call('GET', `/v1/apps/${app}${TENANT}${query}`);

describe('min_ttl: no upstream call for what cannot be met', () => {
  it('a min_ttl above what the platform ever issues is 400 without a call (25 requests on WeChat classic: 0 calls)', async (t) => {
    const { sim, app } = wechatClassic();
    const stack = await stackFor(t, { sims: [sim], apps: { a: app } });
    for (let i = 0; i < 25; i++) {
      const res = await getToken(stack, 'a', '?min_ttl=86400');
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'TOKENHUB_BAD_REQUEST');
      assert.match(res.body.error.message, /at most 7200 s/);
    }
    assert.equal(sim.counters.count(), 0);
  });

  it('with a 60-s token lifetime plain GETs are served: 20 GETs, 1 call', async (t) => {
    const { sim, app } = wechatClassic({ tokenLifetimeSeconds: 60, renewWindowSeconds: 10 });
    const stack = await stackFor(t, { sims: [sim], apps: { a: app } });
    for (let i = 0; i < 20; i++) assert.equal((await getToken(stack, 'a')).status, 200);
    assert.equal(sim.counters.count(), 1);
  });

  it('a min_ttl a fresh token cannot meet is a failure backed off: 50 requests over 2 s cost 1 call', async (t) => {
    const { sim, app } = wechatClassic({ tokenLifetimeSeconds: 100, renewWindowSeconds: 10 });
    const stack = await stackFor(t, { sims: [sim], apps: { a: app } });
    const until = Date.now() + 2_000;
    let n = 0;
    while (Date.now() < until || n < 50) {
      const res = await getToken(stack, 'a', '?min_ttl=3000');
      assert.equal(res.status, 400, JSON.stringify(res.body));
      assert.match(res.body.error.message, /cannot be met/);
      assert.ok(Number(res.headers['retry-after']) >= 1);
      n++;
      await sleep(2_000 / 50);
    }
    assert.equal(sim.counters.count(), 1);
    // The token that fetch brought is good for everybody else.
    assert.equal((await getToken(stack, 'a')).status, 200);
    assert.equal(sim.counters.count(), 1);
  });
});

describe('reports are hints, not verdicts', () => {
  it('40 reports, each of the token the previous one returned: 1 call on WeChat classic, the token then served marked', async (t) => {
    const { sim, app } = wechatClassic();
    const stack = await stackFor(t, { sims: [sim], apps: { a: app } });
    let token = (await getToken(stack, 'a')).body.token as string;
    const before = sim.counters.count();
    const answers = [];
    for (let i = 0; i < 40; i++) {
      const res = await invalidate(stack, 'a', token);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      answers.push(res);
      token = res.body.token;
    }
    assert.equal(sim.counters.count() - before, 1, 'one fetch for 40 reports');
    assert.equal(answers[0]!.headers['x-tokenhub-warning'], undefined, 'the first report got a new token');
    for (const res of answers.slice(1)) assert.equal(res.headers['x-tokenhub-warning'], 'reported-token');
    const state = (await stack.call('GET', '/v1/apps')).body.apps[0].tokens[0];
    assert.equal(state.reported, true);
  });

  it('30 reports of a token Feishu keeps handing back: 1 call', async (t) => {
    const { sim, app } = feishu();
    const stack = await stackFor(t, { sims: [sim], apps: { a: app } });
    const token = (await tenantToken(stack, 'a')).body.token as string;
    for (let i = 0; i < 30; i++) {
      const res = await stack.call('POST', `/v1/apps/a${TENANT}/invalidate`, { body: { token } });
      assert.deepEqual([res.status, res.body.token], [200, token]);
    }
    assert.equal(sim.counters.count(FEISHU_TENANT_CALLS), 2, 'the cold fetch and one for the reports');
  });

  it('a report while the platform is down: every caller keeps the token (marked), not a 503, until it is replaced', async (t) => {
    const { sim, app } = feishu();
    const stack = await stackFor(t, { sims: [sim], apps: { a: app }, config: { upstream: { timeoutMs: 300 } } });
    const token = (await tenantToken(stack, 'a')).body.token as string;
    sim.faults.set('down');
    const reported = await stack.call('POST', `/v1/apps/a${TENANT}/invalidate`, { body: { token } });
    assert.deepEqual([reported.status, reported.body.token, reported.headers['x-tokenhub-warning']], [200, token, 'reported-token']);
    const reads = await Promise.all(Array.from({ length: 20 }, () => tenantToken(stack, 'a')));
    for (const r of reads) assert.deepEqual([r.status, r.body.token, r.headers['x-tokenhub-warning']], [200, token, 'reported-token']);
    const state = (await stack.call('GET', '/v1/apps')).body.apps[0].tokens[0];
    assert.deepEqual([state.reported, state.lastError.code], [true, 'TOKENHUB_PLATFORM_UNAVAILABLE']);
    sim.faults.set('none');
    // Tried again in the background: the platform vouches for the token, and the mark goes.
    await eventually(async () => (await tenantToken(stack, 'a')).headers['x-tokenhub-warning'] === undefined, 12_000, 100);
  });

  it('each client has a budget of reports: the 6th of 5 a minute is 429 with Retry-After; the other clients are not touched', async (t) => {
    const { sim, app } = feishu();
    const tight = 'tight-client-key-0123456789';
    const stack = await stackFor(t, { sims: [sim], apps: { a: app }, config: { clients: [{ name: 'tight', key: tight, apps: ['*'], reportsPerMinute: 5 }] } });
    const token = (await tenantToken(stack, 'a')).body.token as string;
    const report = (key?: string) => stack.call('POST', `/v1/apps/a${TENANT}/invalidate`, { body: { token }, ...(key ? { key } : {}) });
    for (let i = 0; i < 5; i++) assert.equal((await report(tight)).status, 200);
    const over = await report(tight);
    assert.equal(over.status, 429, JSON.stringify(over.body));
    assert.equal(over.body.error.code, 'TOKENHUB_RATE_LIMITED');
    const retryAfter = Number(over.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
    assert.equal((await report()).status, 200, 'another client reports as before');
    assert.equal((await tenantToken(stack, 'a')).status, 200, 'and reads as before');
    assert.ok(sim.counters.count(FEISHU_TENANT_CALLS) <= 2);
  });

  it("the proxy's retry is a report too: 20 proxied calls answered token-invalid cost 1 token fetch", async (t) => {
    const sim = new BusinessSim({ apps: [{ appId: 'cli_quota', appSecret: SECRET }] });
    const stack = await stackFor(t, { sims: [sim], apps: { a: { platform: 'feishu', appId: 'cli_quota', appSecret: SECRET, baseUrl: 'sim:feishu' } } });
    await tenantToken(stack, 'a');
    const before = sim.counters.count(FEISHU_TENANT_CALLS);
    for (let i = 0; i < 20; i++) {
      const res = await stack.call('POST', '/v1/proxy/a/open-apis/test/status/400?code=99991663', { body: {} });
      assert.deepEqual([res.status, res.body.code], [400, 99991663]);
    }
    assert.equal(sim.counters.count(FEISHU_TENANT_CALLS) - before, 1);
    assert.equal(sim.calls.length, 20, 'the platform handed back the same token: nothing was sent twice');
  });
});

describe('bounded state: tenants', () => {
  const VT = 'verification-token-quota-0123';
  const store = (tenants?: string[]) => {
    const sim = new FeishuSim({ apps: [], storeApps: [{ appId: 'cli_isv', appSecret: SECRET, verificationToken: VT, ...(tenants ? { tenants } : {}) }] });
    const app = { platform: 'feishu', appType: 'store', appId: 'cli_isv', appSecret: SECRET, verificationToken: VT, baseUrl: 'sim:feishu' };
    return { sim, app };
  };
  const withTicket = async (t: Parameters<typeof stackFor>[0], sim: FeishuSim, app: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const stack = await stackFor(t, { sims: [sim], apps: { isv: { ...app, ...extra } } });
    sim.setEventUrl('cli_isv', `${stack.url}/v1/apps/isv/events`);
    assert.equal((await sim.pushTicket('cli_isv')).status, 200);
    return stack;
  };

  it('300 random tenant keys with maxTenants 50: 50 tenants kept; /v1/apps counts them and names none', async (t) => {
    const { sim, app } = store();
    const stack = await withTicket(t, sim, app, { maxTenants: 50 });
    const keys = Array.from({ length: 300 }, () => `tenant_${randomBytes(6).toString('hex')}`);
    for (let i = 0; i < keys.length; i += 20) {
      const batch = await Promise.all(keys.slice(i, i + 20).map((k) => tenantToken(stack, 'isv', `?tenant_key=${k}`)));
      for (const r of batch) assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const res = await stack.call('GET', '/v1/apps');
    const text = JSON.stringify(res.body);
    assert.ok(text.length < 2048, `/v1/apps is ${text.length} bytes`);
    for (const k of keys) assert.ok(!text.includes(k), 'a tenant key is listed');
    const tenants = res.body.apps[0].tokens.find((s: { kind: string }) => s.kind === 'tenant_access_token');
    assert.deepEqual([tenants.tenantScoped, tenants.tenants, tenants.valid], [true, 50, 50]);
    assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeTenant), 300);
    // A tenant dropped from memory comes back from the store (where its token lives to its end), with no call.
    const again = await tenantToken(stack, 'isv', `?tenant_key=${keys[0]}`);
    assert.equal(again.status, 200);
    assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeTenant), 300);
    const after = (await stack.call('GET', '/v1/apps')).body.apps[0].tokens.find((s: { kind: string }) => s.kind === 'tenant_access_token');
    assert.equal(after.tenants, 50);
  });

  it('a tenant key the platform refuses leaves no slot, and asking again costs no call', async (t) => {
    const { sim, app } = store(['tenant_ok']);
    const stack = await withTicket(t, sim, app);
    assert.equal((await tenantToken(stack, 'isv', '?tenant_key=tenant_ok')).status, 200);
    const before = sim.counters.count(FEISHU_ENDPOINTS.storeTenant);
    const keys = Array.from({ length: 30 }, (_, i) => `tenant_not_${i}`);
    for (const round of [1, 2]) {
      for (const k of keys) {
        const res = await tenantToken(stack, 'isv', `?tenant_key=${k}`);
        assert.deepEqual([res.status, res.body.error?.code, res.body.error?.platformCode], [502, 'TOKENHUB_PLATFORM_REFUSED', 99991673], `round ${round}`);
      }
    }
    assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeTenant) - before, 30, 'one call per refused key, not two');
    const tenants = (await stack.call('GET', '/v1/apps')).body.apps[0].tokens.find((s: { kind: string }) => s.kind === 'tenant_access_token');
    assert.equal(tenants.tenants, 1);
  });

  it('refused tenant keys spend the client\'s budget: then its new tenant keys are 429 without a call', async (t) => {
    const { sim, app } = store(['tenant_ok']);
    const tight = 'tight-tenant-key-0123456789';
    const stack = await stackFor(t, { sims: [sim], apps: { isv: app }, config: { clients: [{ name: 'tight', key: tight, apps: ['*'], reportsPerMinute: 5 }] } });
    sim.setEventUrl('cli_isv', `${stack.url}/v1/apps/isv/events`);
    await sim.pushTicket('cli_isv');
    const as = (key: string) => stack.call('GET', `/v1/apps/isv${TENANT}?tenant_key=${key}`, { key: tight });
    for (let i = 0; i < 5; i++) assert.equal((await as(`bad_${i}`)).status, 502);
    // The budget is counted once the answer is in: give the last count a moment.
    await sleep(20);
    const before = sim.counters.count(FEISHU_ENDPOINTS.storeTenant);
    const over = await as('bad_more');
    assert.deepEqual([over.status, over.body.error.code], [429, 'TOKENHUB_RATE_LIMITED']);
    assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeTenant), before);
    assert.equal((await tenantToken(stack, 'isv', '?tenant_key=tenant_ok')).status, 200, 'other clients are not touched');
  });
});

describe('refresh ahead strictly inside the window', () => {
  it("Feishu's rule scaled to 3 s of an 8-s token, refreshAheadSeconds 3: one call per new token under load", async (t) => {
    const { sim, app } = feishu({ tokenLifetimeSeconds: 8, sameTokenWindowSeconds: 3 });
    const stack = await stackFor(t, { sims: [sim], apps: { a: { ...app, refreshAheadSeconds: 3, minTtlSeconds: 1 } } });
    const seen = new Set<string>();
    const until = Date.now() + 20_000;
    const worker = async (): Promise<void> => {
      while (Date.now() < until) {
        const res = await tenantToken(stack, 'a');
        assert.equal(res.status, 200, JSON.stringify(res.body));
        seen.add(res.body.token);
        await sleep(25);
      }
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    const calls = sim.counters.count(FEISHU_TENANT_CALLS);
    assert.ok(seen.size >= 3, `${seen.size} tokens in 20 s`);
    assert.equal(calls, sim.tokensIssued('cli_quota', 'tenant_access_token'), `${calls} calls for ${sim.tokensIssued()} tokens: a refresh got the same token back`);
    assert.ok(!stack.logs.text.includes('refresh returned the same token'));
  });
});
