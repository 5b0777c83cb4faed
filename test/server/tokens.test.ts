import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it, mock } from 'node:test';
import { FeishuSim } from '../../src/sim/index.js';
import { eventually, sleep, startStack, type Stack } from '../helpers/stack.js';

const TENANT = '/tokens/tenant_access_token';
const CALLS = 'tenant_access_token/internal';

function feishuApps(n: number, extra: Record<string, unknown> = {}): { sim: FeishuSim; apps: Record<string, Record<string, unknown>> } {
  const creds = Array.from({ length: n }, (_, i) => ({ appId: `cli_app${i}`, appSecret: `secret-${i}-${'x'.repeat(20)}` }));
  return {
    sim: new FeishuSim({ apps: creds, ...extra }),
    apps: Object.fromEntries(creds.map((c, i) => [`app${i}`, { platform: 'feishu', appId: c.appId, appSecret: c.appSecret, baseUrl: 'sim:feishu' }])),
  };
}

/** The simulator and tokenhub for one describe block; `app` options apply to every app. */
async function feishuStack(
  n: number,
  options: { sim?: Record<string, unknown>; app?: Record<string, unknown>; config?: Record<string, unknown>; now?: () => number } = {},
): Promise<{ stack: Stack; sim: FeishuSim }> {
  const clock = options.now ? { now: options.now } : {};
  const { sim, apps } = feishuApps(n, { ...options.sim, ...clock });
  for (const app of Object.values(apps)) Object.assign(app, options.app);
  const stack = await startStack({ sims: [sim], apps, ...(options.config ? { config: options.config } : {}), ...clock });
  return { stack, sim };
}

describe('cold start', () => {
  let stack: Stack;
  let sim: FeishuSim;
  before(async () => ({ stack, sim } = await feishuStack(3)));
  after(() => stack.close());

  it('300 concurrent cold requests over 3 apps make 3 upstream calls and hand out one token per app', async () => {
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => stack.call('GET', `/v1/apps/app${i % 3}${TENANT}`)));
    assert.equal(sim.counters.count(CALLS), 3);
    for (let app = 0; app < 3; app++) {
      const tokens = new Set(results.filter((_, i) => i % 3 === app).map((r) => (assert.equal(r.status, 200), r.body.token)));
      assert.equal(tokens.size, 1, `app${app} got ${tokens.size} different tokens`);
      const [token] = tokens;
      assert.ok(sim.isValid(token!), 'the platform accepts the token');
    }
    const body = results[0]!.body;
    assert.equal(body.app, 'app0');
    assert.equal(body.platform, 'feishu');
    assert.equal(body.kind, 'tenant_access_token');
    assert.ok(body.expiresIn > 7100 && body.expiresIn <= 7200);
    assert.ok(Math.abs(Date.parse(body.expiresAt) - (Date.now() + body.expiresIn * 1000)) < 2000);
  });

  it('serves the cached token without calling the platform again', async () => {
    const before = sim.counters.count(CALLS);
    const a = await stack.call('GET', `/v1/apps/app0${TENANT}`);
    const b = await stack.call('GET', `/v1/apps/app0${TENANT}?min_ttl=600`);
    assert.equal(a.body.token, b.body.token);
    assert.equal(sim.counters.count(CALLS), before);
  });

  it('app_access_token is a kind of its own', async () => {
    const res = await stack.call('GET', '/v1/apps/app1/tokens/app_access_token');
    assert.equal(res.status, 200);
    assert.match(res.body.token, /^a-/);
    assert.ok(sim.isValid(res.body.token));
  });

  it('GET /v1/apps lists the apps with their token state and no token values', async () => {
    const res = await stack.call('GET', '/v1/apps');
    assert.equal(res.status, 200);
    const app0 = res.body.apps.find((a: { id: string }) => a.id === 'app0');
    assert.deepEqual(app0.kinds, ['tenant_access_token', 'app_access_token', 'jsapi_ticket']);
    const state = app0.tokens.find((t: { kind: string }) => t.kind === 'tenant_access_token');
    assert.ok(Date.parse(state.expiresAt) > Date.now());
    assert.ok(Date.parse(state.nextRefreshAt) < Date.parse(state.expiresAt));
    const token = (await stack.call('GET', `/v1/apps/app0${TENANT}`)).body.token;
    assert.ok(!JSON.stringify(res.body).includes(token));
  });
});

describe('compare-and-refresh invalidation', () => {
  let stack: Stack;
  let sim: FeishuSim;
  before(async () => ({ stack, sim } = await feishuStack(1)));
  after(() => stack.close());

  it('50 concurrent reports of a revoked token make 1 upstream call and yield one new token', async () => {
    const old = (await stack.call('GET', `/v1/apps/app0${TENANT}`)).body.token;
    assert.ok(sim.revoke(old));
    const before = sim.counters.count(CALLS);
    const results = await Promise.all(Array.from({ length: 50 }, () => stack.call('POST', `/v1/apps/app0${TENANT}/invalidate`, { body: { token: old } })));
    assert.equal(sim.counters.count(CALLS) - before, 1);
    const fresh = new Set(results.map((r) => (assert.equal(r.status, 200), r.body.token)));
    assert.equal(fresh.size, 1);
    const [token] = fresh;
    assert.notEqual(token, old);
    assert.ok(sim.isValid(token!));
    // The GET now serves the new token.
    assert.equal((await stack.call('GET', `/v1/apps/app0${TENANT}`)).body.token, token);
  });

  it('reports of an already replaced token answer the current one and call nobody', async () => {
    const current = (await stack.call('GET', `/v1/apps/app0${TENANT}`)).body.token;
    const before = sim.counters.count(CALLS);
    const results = await Promise.all(Array.from({ length: 20 }, () => stack.call('POST', `/v1/apps/app0${TENANT}/invalidate`, { body: { token: 't-some-old-token' } })));
    for (const r of results) assert.equal(r.body.token, current);
    assert.equal(sim.counters.count(CALLS), before);
  });
});

describe('rotation under steady load (token lifetime compressed to 12 s, on fake time)', () => {
  let stack: Stack;
  let sim: FeishuSim;
  // Fake setTimeout and Date: the broker's refresh timers, tokenhub's and the simulator's clocks
  // (read through Date.now at each call) and the load's pauses. HTTP stays real.
  const now = (): number => Date.now();
  // The 30-minute rule scaled down: with 3 s or more left the platform returns the same token.
  before(async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.now() });
    ({ stack, sim } = await feishuStack(1, { sim: { tokenLifetimeSeconds: 12, sameTokenWindowSeconds: 3 }, app: { refreshAheadSeconds: 2, minTtlSeconds: 1 }, now }));
  });
  after(async () => {
    await stack?.close();
    mock.timers.reset();
  });

  it('never serves an invalid or nearly expired token, and makes one upstream call per rotation', async () => {
    const seen = new Set<string>();
    let served = 0;
    const until = Date.now() + 32_000;
    // 8 readers pausing 40 to 47 ms: together a read every 5.5 ms of (fake) time on average, at times that
    // drift apart and meet again, so that reads come alone and together.
    const WORKERS = 8;
    let running = WORKERS;
    /** When each pausing reader wakes. */
    const wakes = new Set<{ at: number }>();
    const pause = async (ms: number): Promise<void> => {
      const wake = { at: Date.now() + ms };
      wakes.add(wake);
      await sleep(ms);
      wakes.delete(wake);
    };
    const worker = async (i: number): Promise<void> => {
      while (Date.now() < until) {
        const res = await stack.call('GET', `/v1/apps/app0${TENANT}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.ok(sim.isValid(res.body.token), 'served a token the platform rejects');
        assert.ok(res.body.expiresIn >= 1, `served a token with ${res.body.expiresIn} s left`);
        seen.add(res.body.token);
        served++;
        await pause(40 + i);
      }
      running--;
    };
    const workers = Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
    // Time moves only while nothing is under way: every reader in its pause and no refresh in flight;
    // then on to the next reader's wake (a refresh timer due before it fires on the way).
    const settled = (): boolean => wakes.size === running && stack.hub.broker.status('app0').every((s) => !s.refreshing);
    while (running > 0) {
      const deadline = performance.now() + 5_000;
      while (!settled()) {
        if (performance.now() > deadline) throw new Error(`no progress: ${wakes.size} of ${running} readers pausing`);
        await new Promise((r) => setImmediate(r));
      }
      if (running > 0) mock.timers.tick(Math.min(...[...wakes].map((w) => w.at)) - Date.now());
      await new Promise((r) => setImmediate(r));
    }
    await workers;
    // 32 s of 12-s tokens refreshed with ~2 s left: at least 3 rotations.
    assert.ok(seen.size >= 3, `only ${seen.size} tokens in 32 s`);
    assert.equal(sim.counters.count(CALLS), seen.size, 'upstream calls differ from the number of tokens');
    assert.ok(served > 1000);
  });
});

describe('platform down', () => {
  let stack: Stack;
  let sim: FeishuSim;
  before(async () => ({ stack, sim } = await feishuStack(1, { sim: { tokenLifetimeSeconds: 6, sameTokenWindowSeconds: 1 }, app: { refreshAheadSeconds: 3, minTtlSeconds: 1 }, config: { upstream: { timeoutMs: 500 } } })));
  after(() => stack.close());

  it('serves the still-valid token to its end, never an expired one, 503 after, and recovers when the platform returns', async () => {
    const first = (await stack.call('GET', `/v1/apps/app0${TENANT}`)).body;
    sim.faults.set('down');
    let lastOk = first;
    let unavailable: Awaited<ReturnType<Stack['call']>> | undefined;
    while (!unavailable) {
      const res = await stack.call('GET', `/v1/apps/app0${TENANT}`);
      if (res.status === 200) {
        assert.equal(res.body.token, first.token, 'a new token while the platform is down?');
        assert.ok(Date.parse(res.body.expiresAt) - Date.now() >= 900, 'served a token with less than min_ttl left');
        lastOk = res.body;
      } else {
        unavailable = res;
      }
      await sleep(50);
    }
    assert.equal(unavailable.status, 503);
    assert.equal(unavailable.body.error.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
    assert.equal(unavailable.body.error.platform, 'feishu');
    assert.ok(Number(unavailable.headers['retry-after']) >= 1);
    // Served until about min_ttl (1 s) before the end.
    assert.ok(Date.parse(lastOk.expiresAt) - Date.now() < 1500, 'stopped serving a valid token too early');

    sim.faults.set('none');
    const back = Date.now();
    let recovered: Awaited<ReturnType<Stack['call']>> | undefined;
    await eventually(async () => {
      recovered = await stack.call('GET', `/v1/apps/app0${TENANT}`);
      return recovered.status === 200;
    }, 10_000, 100);
    assert.ok(Date.now() - back < 10_000);
    assert.notEqual(recovered!.body.token, first.token);
    assert.ok(sim.isValid(recovered!.body.token));
  });
});

describe('a platform that answers garbage', () => {
  let stack: Stack;
  let sim: FeishuSim;
  const MODES = ['html', 'garbage', 'truncated', 'missing-fields', 'status500', 'down', 'hang'] as const;
  // An app per mode, so that each starts with no token at hand.
  before(async () => ({ stack, sim } = await feishuStack(MODES.length, { config: { upstream: { timeoutMs: 300 } } })));
  after(() => stack.close());

  for (const [i, mode] of MODES.entries()) {
    it(`${mode}: 503 with Retry-After, a few retries, no token, then a token once the platform heals`, async () => {
      sim.faults.set(mode);
      sim.counters.reset();
      const res = await stack.call('GET', `/v1/apps/app${i}${TENANT}`);
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
      assert.ok(Number(res.headers['retry-after']) >= 1);
      // Retried with backoff inside the fetch (3 attempts), then backed off: more requests do not reach the platform.
      const calls = sim.counters.count(CALLS);
      assert.ok(calls >= 1 && calls <= 6, `${calls} upstream calls`);
      await Promise.all(Array.from({ length: 20 }, () => stack.call('GET', `/v1/apps/app${i}${TENANT}`)));
      assert.equal(sim.counters.count(CALLS), calls, 'requests during backoff reached the platform');

      sim.faults.set('none');
      await eventually(async () => (await stack.call('GET', `/v1/apps/app${i}${TENANT}`)).status === 200, 10_000, 100);
    });
  }
});

describe('rate limiting', () => {
  let stack: Stack;
  let sim: FeishuSim;
  before(async () => ({ stack, sim } = await feishuStack(1)));
  after(() => stack.close());

  it('honours x-ogw-ratelimit-reset: no upstream call before it, a token after', async () => {
    sim.faults.set('ratelimit', { retryAfterSeconds: 2 });
    const res = await stack.call('GET', `/v1/apps/app0${TENANT}`);
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, 'TOKENHUB_RATE_LIMITED');
    assert.equal(res.body.error.platformCode, 99991400);
    assert.ok(Number(res.headers['retry-after']) >= 1);
    const calls = sim.counters.count(CALLS);
    assert.equal(calls, 1, 'a rate limit is not retried at once');
    sim.faults.set('none');
    await sleep(1000);
    assert.equal((await stack.call('GET', `/v1/apps/app0${TENANT}`)).status, 503, 'asked again before the reset');
    assert.equal(sim.counters.count(CALLS), 1);
    await sleep(1300);
    assert.equal((await stack.call('GET', `/v1/apps/app0${TENANT}`)).status, 200);
  });
});
