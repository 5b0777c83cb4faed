import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../../src/config.js';
import { DEFAULT_BROKER_OPTIONS } from '../../src/core/broker.js';
import type { FetchContext } from '../../src/core/types.js';
import { grantAccess } from '../../src/core/grants.js';
import { createHub } from '../../src/hub.js';
import { createProvider } from '../../src/providers/index.js';
import { WECHAT_FORCE_STATE, WeChatProvider } from '../../src/providers/wechat.js';
import { WeChatSim, startSimulators, type WeChatSimOptions } from '../../src/sim/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { businessCall, getToken, invalidate, stackFor } from '../helpers/platform.js';
import { eventually, sleep, startStack, type Stack } from '../helpers/stack.js';

const STABLE_ID = 'wx0stable0account';
// Apps with the same id and secret share one token whatever their tokenApi, so each API gets its own account here.
const CLASSIC_ID = 'wx0classic0account';
const SECRET = 'wechat-secret-of-the-account-0123';
const WRONG = 'wechat-secret-that-is-not-it-0123';
const STABLE = 'stable_token';
const CLASSIC = 'token';

function sim(options: Partial<WeChatSimOptions> = {}): WeChatSim {
  return new WeChatSim({
    apps: [
      { appId: STABLE_ID, appSecret: SECRET },
      { appId: CLASSIC_ID, appSecret: SECRET },
      { appId: 'wx0noip', appSecret: SECRET, ipAllowed: false },
    ],
    ...options,
  });
}

const stableApp = (extra: Record<string, unknown> = {}) => ({ platform: 'wechat', appId: STABLE_ID, appSecret: SECRET, baseUrl: 'sim:wechat', ...extra });
const classicApp = (extra: Record<string, unknown> = {}) => stableApp({ appId: CLASSIC_ID, tokenApi: 'classic', ...extra });

/**
 * With 8-s tokens refreshed 2 s (plus jitter) ahead, rotations come about every 6 s; the load stops
 * halfway between the second and the third, so that no fetched token goes unserved at the end.
 */
const LOAD_MS = 15_000;

const chinaDay = (ms: number): string => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 10);

/** 8 callers asking for `app`'s token for `ms`: every token served must be valid at the platform when served. */
async function underLoad(stack: Stack, wechat: WeChatSim, app: string, ms: number): Promise<Set<string>> {
  const seen = new Set<string>();
  let served = 0;
  const until = Date.now() + ms;
  const worker = async (): Promise<void> => {
    while (Date.now() < until) {
      const res = await getToken(stack, app);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(wechat.isValid(res.body.token), 'served a token the platform rejects');
      assert.ok(res.body.expiresIn >= 1, `served a token with ${res.body.expiresIn} s left`);
      seen.add(res.body.token);
      served++;
      await sleep(5);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  assert.ok(served > 500, `only ${served} requests served`);
  return seen;
}

describe('WeChat stable_token (the default)', () => {
  it('fetches with POST /cgi-bin/stable_token, once for many callers; the token works on business calls', async (t) => {
    const wechat = sim();
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp() } });
    const results = await Promise.all(Array.from({ length: 50 }, () => getToken(stack, 'a')));
    assert.equal(new Set(results.map((r) => (assert.equal(r.status, 200), r.body.token))).size, 1);
    assert.deepEqual([wechat.counters.count(STABLE), wechat.counters.count(CLASSIC)], [1, 0]);
    const call = await businessCall(stack, 'a', '/cgi-bin/user/info?openid=o1', results[0]!.body.token);
    assert.deepEqual([call.body.errcode, call.body.appid, call.rejected], [0, STABLE_ID, false]);
  });

  it('through the proxy: ?access_token=; a token the platform still hands out after rejecting it is forced anew, the call sent once more', async (t) => {
    const wechat = sim();
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp() } });
    const res = await stack.call('GET', '/v1/proxy/a/cgi-bin/user/info?openid=o1');
    assert.deepEqual([res.status, res.body.errcode, res.body.appid, res.body.query], [200, 0, STABLE_ID, { openid: 'o1' }]);
    wechat.revoke((await getToken(stack, 'a')).body.token, { stillCurrent: true });
    const again = await stack.call('GET', '/v1/proxy/a/cgi-bin/user/info?openid=o1');
    assert.deepEqual([again.status, again.body.errcode], [200, 0]);
    assert.equal(wechat.forcedRefreshes(), 1);
  });

  it('rotates under load with a compressed lifetime: one call per token, every served token valid', async (t) => {
    const wechat = sim({ tokenLifetimeSeconds: 8, renewWindowSeconds: 3 });
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp({ refreshAheadSeconds: 2, minTtlSeconds: 1 }) } });
    const seen = await underLoad(stack, wechat, 'a', LOAD_MS);
    assert.ok(seen.size >= 2, `only ${seen.size} tokens`);
    assert.equal(wechat.counters.count(STABLE), seen.size, 'a refresh got the same token back, or a token was fetched and never served');
    assert.equal(wechat.tokensIssued(STABLE_ID, 'stable'), seen.size);
    assert.ok(!stack.logs.text.includes('refresh returned the same token'));
  });

  it('the default refresh-ahead window asks inside the platform’s 5-minute renewal window, jitter included', async (t) => {
    const provider = new WeChatProvider({ appId: STABLE_ID, appSecret: SECRET });
    // The earliest a refresh can start (the window plus the broker's full jitter) and the latest.
    for (const ahead of [provider.refreshAheadMs * (1 + DEFAULT_BROKER_OPTIONS.refreshJitter), provider.refreshAheadMs]) {
      let clock = Date.UTC(2026, 0, 10, 4);
      const wechat = sim({ now: () => clock });
      const sims = await startSimulators({ sims: [wechat] });
      t.after(() => sims.close());
      const config = validateConfig({ clients: [{ name: 'x', key: 'k'.repeat(16), apps: ['*'] }], apps: { a: { ...stableApp(), baseUrl: sims.baseUrl('wechat') } } });
      const configured = createProvider('a', config.apps.a!);
      assert.equal(configured.refreshAheadMs, provider.refreshAheadMs);
      const context: FetchContext = {
        signal: AbortSignal.timeout(5000),
        now: () => clock,
        token: () => Promise.reject(new Error('unused')),
        invalidate: () => Promise.reject(new Error('unused')),
        state: { get: async () => undefined, set: async () => {}, add: async () => true, delete: async () => {} },
      grants: grantAccess(new MemoryStore(), 'unused'),
      };
      const first = await configured.fetch({ kind: 'access_token', tenantKey: undefined, reason: 'cold' }, context);
      clock = clock + first.expiresInMs - ahead;
      const next = await configured.fetch({ kind: 'access_token', tenantKey: undefined, reason: 'refresh' }, context);
      assert.notEqual(next.value, first.value, `a refresh ${ahead / 1000} s before expiry got the same token`);
      assert.equal(next.expiresInMs, 7_200_000);
    }
  });

  it('config refuses a stable refresh-ahead window that would get the same token back; classic takes any', () => {
    const config = (app: Record<string, unknown>) =>
      validateConfig({ clients: [{ name: 'x', key: 'k'.repeat(16), apps: ['*'] }], apps: { a: { ...app, baseUrl: 'http://127.0.0.1:9' } } });
    assert.throws(() => createHub(config(stableApp({ refreshAheadSeconds: 301 }))), /apps\.a\.refreshAheadSeconds: at most 300 for wechat/);
    // Refreshes fall strictly inside the window, so the platform's own 5 minutes is a valid one.
    const ok = createHub(config(stableApp({ refreshAheadSeconds: 300 })));
    void ok.close();
    const classic = createHub(config(classicApp({ refreshAheadSeconds: 3600 })));
    void classic.close();
  });
});

/**
 * What every caller gets while a reported token cannot be replaced: that token, marked, to its end
 * (not a 503 for everyone), with the reason in the app's state.
 */
async function assertReportedServed(stack: Awaited<ReturnType<typeof stackFor>>, res: Awaited<ReturnType<typeof invalidate>>, token: string, message: RegExp): Promise<void> {
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.token, token);
  assert.equal(res.headers['x-tokenhub-warning'], 'reported-token');
  const get = await getToken(stack, 'a');
  assert.deepEqual([get.status, get.body.token, get.headers['x-tokenhub-warning']], [200, token, 'reported-token']);
  const state = (await stack.call('GET', '/v1/apps')).body.apps[0].tokens[0];
  assert.equal(state.reported, true);
  assert.equal(state.lastError.code, 'TOKENHUB_REFRESH_LIMITED');
  assert.match(state.lastError.message, message);
}

// The provider's own limits are the subject here: the broker's spacing of reports is turned off.
const reportsNotSpaced = { reportIntervalSeconds: 0 };

describe('WeChat stable_token: replacing a rejected token', () => {
  it('when another server already forced a new token, a plain call finds it: no force from tokenhub', async (t) => {
    const wechat = sim();
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp() } });
    const old = (await getToken(stack, 'a')).body.token;
    const other = await fetch(`${stack.sims.baseUrl('wechat')}/cgi-bin/stable_token`, {
      method: 'POST',
      body: JSON.stringify({ grant_type: 'client_credential', appid: STABLE_ID, secret: SECRET, force_refresh: true }),
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const refused = await businessCall(stack, 'a', '/cgi-bin/user/info', old);
    assert.deepEqual([refused.body.errcode, refused.rejected], [40001, true]);

    const results = await Promise.all(Array.from({ length: 10 }, () => invalidate(stack, 'a', old)));
    for (const r of results) assert.equal(r.body.token, other.access_token);
    assert.equal(wechat.counters.count(STABLE, STABLE_ID), 3, 'cold + the other server + one plain call');
    assert.equal(wechat.forcedRefreshes(), 1, 'tokenhub forced nothing');
    assert.equal(await stack.hub.broker.state('a').get(WECHAT_FORCE_STATE), undefined);
  });

  it('when the platform still hands out the rejected token, tokenhub forces once; again within 30 s it serves the reported token, marked', async (t) => {
    const wechat = sim();
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp(reportsNotSpaced) } });
    const old = (await getToken(stack, 'a')).body.token;
    wechat.revoke(old, { stillCurrent: true });
    const results = await Promise.all(Array.from({ length: 10 }, () => invalidate(stack, 'a', old)));
    const fresh = results[0]!.body.token;
    for (const r of results) assert.deepEqual([r.status, r.body.token], [200, fresh]);
    assert.notEqual(fresh, old);
    assert.equal((await businessCall(stack, 'a', '/cgi-bin/user/info', fresh)).body.errcode, 0);
    assert.equal(wechat.counters.count(STABLE), 3, 'cold + plain + forced');
    assert.equal(wechat.forcedRefreshes(), 1);
    const state = JSON.parse((await stack.hub.broker.state('a').get(WECHAT_FORCE_STATE))!);
    assert.equal(state.count, 1);
    assert.equal(state.day, chinaDay(Date.now()));

    wechat.revoke(fresh, { stillCurrent: true });
    const limited = await invalidate(stack, 'a', fresh);
    await assertReportedServed(stack, limited, fresh, /30 s/);
    const retryAt = Date.parse((await stack.call('GET', '/v1/apps')).body.apps[0].tokens[0].lastError.retryAt);
    assert.ok(retryAt - Date.now() <= 30_000, 'tries again when the 30 s are over');
    assert.equal(wechat.counters.count(STABLE), 4, 'one plain call, no force');
    assert.equal(wechat.forcedRefreshes(), 1);
    // More reports and reads meanwhile cost nothing.
    await Promise.all(Array.from({ length: 10 }, () => invalidate(stack, 'a', fresh)));
    assert.equal(wechat.counters.count(STABLE), 4);
  });

  it('with today’s 20 forced refreshes used, it does not ask: the reported token is served on, tried again within 5 minutes', async (t) => {
    const wechat = sim();
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp() } });
    await stack.hub.broker.state('a').set(WECHAT_FORCE_STATE, JSON.stringify({ day: chinaDay(Date.now()), count: 20, lastAt: Date.now() - 3_600_000 }));
    const old = (await getToken(stack, 'a')).body.token;
    wechat.revoke(old, { stillCurrent: true });
    const res = await invalidate(stack, 'a', old);
    await assertReportedServed(stack, res, old, /20 forced refreshes/);
    const retryIn = Date.parse((await stack.call('GET', '/v1/apps')).body.apps[0].tokens[0].lastError.retryAt) - Date.now();
    assert.ok(retryIn >= 239_000 && retryIn <= 300_000, `retried in ${retryIn} ms`);
    assert.equal(wechat.counters.count(STABLE), 2, 'cold + plain');
    assert.equal(wechat.forcedRefreshes(), 0);
  });

  it('when the platform refuses the force (45009), it says so and counts the day as used up', async (t) => {
    const wechat = sim({ forceRefreshPerDay: 0 });
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp() } });
    const old = (await getToken(stack, 'a')).body.token;
    wechat.revoke(old, { stillCurrent: true });
    const res = await invalidate(stack, 'a', old);
    await assertReportedServed(stack, res, old, /errcode 45009/);
    assert.equal(wechat.counters.count(STABLE), 3);
    assert.equal(JSON.parse((await stack.hub.broker.state('a').get(WECHAT_FORCE_STATE))!).count, 20);
  });

  it('a busy answer to the force does not count against the limits', async (t) => {
    const wechat = sim();
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp() } });
    const old = (await getToken(stack, 'a')).body.token;
    wechat.revoke(old, { stillCurrent: true });
    // plain (ok), force (busy); the broker tries again: plain (ok), force (ok).
    wechat.script.push(null);
    wechat.script.push({ body: { errcode: -1, errmsg: 'system error' } });
    const res = await invalidate(stack, 'a', old);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.notEqual(res.body.token, old);
    assert.equal(wechat.forcedRefreshes(), 1);
    assert.equal(JSON.parse((await stack.hub.broker.state('a').get(WECHAT_FORCE_STATE))!).count, 1);
  });

  it('a restart does not reset the counters: they live in the app’s durable state', async (t) => {
    const wechat = sim();
    const store = new MemoryStore();
    // MemoryStore.close() keeps its data, so a second hub on it is a restarted one on a durable store.
    const first = await startStack({ sims: [wechat], apps: { a: stableApp(reportsNotSpaced) }, store });
    const old = (await getToken(first, 'a')).body.token;
    wechat.revoke(old, { stillCurrent: true });
    const forced = (await invalidate(first, 'a', old)).body.token;
    assert.equal(wechat.forcedRefreshes(), 1);
    await first.close();

    const second = await stackFor(t, { sims: [wechat], apps: { a: stableApp(reportsNotSpaced) }, store });
    assert.equal((await getToken(second, 'a')).body.token, forced);
    wechat.revoke(forced, { stillCurrent: true });
    const res = await invalidate(second, 'a', forced);
    await assertReportedServed(second, res, forced, /30 s/);
    assert.equal(wechat.forcedRefreshes(), 1);
  });
});

describe('WeChat cgi-bin/token (classic)', () => {
  it('rotates under load with a compressed lifetime: exactly one fetch per rotation, every served token valid', async (t) => {
    const wechat = sim({ tokenLifetimeSeconds: 8, rotationOverlapSeconds: 3, renewWindowSeconds: 3 });
    const stack = await stackFor(t, { sims: [wechat], apps: { c: classicApp({ refreshAheadSeconds: 2, minTtlSeconds: 1 }) } });
    const seen = await underLoad(stack, wechat, 'c', LOAD_MS);
    assert.ok(seen.size >= 2, `only ${seen.size} tokens`);
    assert.equal(wechat.counters.count(CLASSIC), seen.size, 'a fetch whose token was never served killed its predecessor for nothing');
    assert.equal(wechat.counters.count(STABLE), 0);
  });

  it('another server fetching knocks the token out after the overlap; the caller’s 40001 leads to one new fetch', async (t) => {
    const wechat = sim({ rotationOverlapSeconds: 1 });
    const stack = await stackFor(t, { sims: [wechat], apps: { c: classicApp() } });
    const ours = (await getToken(stack, 'c')).body.token;
    await fetch(`${stack.sims.baseUrl('wechat')}/cgi-bin/token?grant_type=client_credential&appid=${CLASSIC_ID}&secret=${SECRET}`).then((r) => r.text());
    assert.equal((await businessCall(stack, 'c', '/cgi-bin/user/info', ours)).body.errcode, 0, 'within the overlap');
    await sleep(1100);
    const refused = await businessCall(stack, 'c', '/cgi-bin/user/info', ours);
    assert.deepEqual([refused.body.errcode, refused.rejected], [40001, true]);
    const results = await Promise.all(Array.from({ length: 10 }, () => invalidate(stack, 'c', ours)));
    const fresh = results[0]!.body.token;
    for (const r of results) assert.equal(r.body.token, fresh);
    assert.equal((await businessCall(stack, 'c', '/cgi-bin/user/info', fresh)).body.errcode, 0);
    assert.equal(wechat.counters.count(CLASSIC, CLASSIC_ID), 3);
    assert.equal(await stack.hub.broker.state('c').get(WECHAT_FORCE_STATE), undefined);
  });
});

describe('WeChat: refusals, limits and broken answers', () => {
  for (const [name, app, answer, code] of [
    ['classic, wrong secret (40001)', classicApp({ appSecret: WRONG }), undefined, 40001],
    ['stable, wrong secret (40125)', stableApp({ appSecret: WRONG }), undefined, 40125],
    ['unknown appid (40013)', stableApp({ appId: 'wx0nobody' }), undefined, 40013],
    ['IP not in the allow list (40164)', stableApp({ appId: 'wx0noip' }), undefined, 40164],
    ['risky IP needs confirmation (89503)', stableApp(), { body: { errcode: 89503, errmsg: 'risky ip' } }, 89503],
    ['40001 on stable_token', stableApp(), { body: { errcode: 40001, errmsg: 'invalid credential' } }, 40001],
  ] as const) {
    it(`${name}: 502 with the platform code, one call for many requests`, async (t) => {
      const wechat = sim();
      const stack = await stackFor(t, { sims: [wechat], apps: { a: app } });
      if (answer !== undefined) wechat.script.push(answer, Infinity);
      const results = await Promise.all(Array.from({ length: 50 }, () => getToken(stack, 'a')));
      for (const res of results) {
        assert.equal(res.status, 502, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_REFUSED');
        assert.equal(res.body.error.platformCode, code);
      }
      assert.equal(wechat.counters.count(), 1);
      assert.ok(!stack.logs.text.includes(WRONG) && !stack.logs.text.includes(SECRET), 'a secret reached the logs');
    });
  }

  for (const [name, app, answer, code] of [
    ['45011 per-minute limit (the fault mode)', stableApp(), undefined, 45011],
    ['45009 daily quota', classicApp(), { body: { errcode: 45009, errmsg: 'reach max api daily quota limit' } }, 45009],
  ] as const) {
    it(`${name}: 503 TOKENHUB_RATE_LIMITED after one call`, async (t) => {
      const wechat = sim();
      const stack = await stackFor(t, { sims: [wechat], apps: { a: app } });
      if (answer === undefined) wechat.faults.set('ratelimit');
      else wechat.script.push(answer, Infinity);
      const res = await getToken(stack, 'a');
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'TOKENHUB_RATE_LIMITED');
      assert.equal(res.body.error.platformCode, code);
      const retryAfter = Number(res.headers['retry-after']);
      assert.ok(retryAfter >= 1 && retryAfter <= 61, `Retry-After ${retryAfter}`);
      await Promise.all(Array.from({ length: 10 }, () => getToken(stack, 'a')));
      assert.equal(wechat.counters.count(), 1);
    });
  }

  it('the classic daily quota of the simulator (45009) is a rate limit too: the reported token is served on, marked', async (t) => {
    const wechat = sim({ classicDailyQuota: 1 });
    const stack = await stackFor(t, { sims: [wechat], apps: { c: classicApp() } });
    const token = (await getToken(stack, 'c')).body.token;
    wechat.revoke(token);
    const res = await invalidate(stack, 'c', token);
    assert.deepEqual([res.status, res.body.token, res.headers['x-tokenhub-warning']], [200, token, 'reported-token']);
    const { lastError } = (await stack.call('GET', '/v1/apps')).body.apps[0].tokens[0];
    assert.deepEqual([lastError.code, lastError.platformCode], ['TOKENHUB_RATE_LIMITED', 45009]);
    assert.equal(wechat.counters.count(), 2, 'cold + the one refused');
  });

  it('-1 (busy): 3 calls per fetch, then 503', async (t) => {
    const wechat = sim();
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp() } });
    wechat.script.push({ body: { errcode: -1, errmsg: 'system error' } }, Infinity);
    const res = await getToken(stack, 'a');
    assert.deepEqual([res.status, res.body.error.code, res.body.error.platformCode], [503, 'TOKENHUB_PLATFORM_UNAVAILABLE', -1]);
    assert.equal(wechat.counters.count(), 3);
  });

  it('40014 / 42001 in a token answer: 503, not retried at once', async (t) => {
    const wechat = sim();
    const stack = await stackFor(t, { sims: [wechat], apps: { a: stableApp() } });
    wechat.script.push({ body: { errcode: 40014, errmsg: 'invalid access_token' } });
    const res = await getToken(stack, 'a');
    assert.deepEqual([res.status, res.body.error.code, res.body.error.platformCode], [503, 'TOKENHUB_PLATFORM_UNAVAILABLE', 40014]);
    assert.equal(wechat.counters.count(), 1);
  });

  for (const [api, modes] of [
    ['stable', ['html', 'garbage', 'truncated', 'missing-fields', 'status500', 'down', 'hang']],
    ['classic', ['html', 'garbage', 'status500']],
  ] as const) {
    for (const mode of modes) {
      it(`${api} ${mode}: 503 with Retry-After, at most 3 calls, then a token once the platform heals`, async (t) => {
        const wechat = sim();
        const stack = await stackFor(t, { sims: [wechat], apps: { a: api === 'stable' ? stableApp() : classicApp() }, config: { upstream: { timeoutMs: 300 } } });
        wechat.faults.set(mode);
        const res = await getToken(stack, 'a');
        assert.equal(res.status, 503, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
        assert.ok(Number(res.headers['retry-after']) >= 1);
        const calls = wechat.counters.count();
        assert.ok(calls >= 1 && calls <= 3, `${calls} calls`);
        wechat.faults.set('none');
        await eventually(async () => (await getToken(stack, 'a')).status === 200, 10_000, 100);
        assert.ok(!stack.logs.text.includes(SECRET));
      });
    }
  }
});

describe('WeChatProvider business hooks', () => {
  const provider = new WeChatProvider({ appId: STABLE_ID, appSecret: SECRET });

  it('puts the token in the query', () => {
    const call = { url: new URL('https://api.weixin.qq.com/cgi-bin/message/custom/send'), headers: {} };
    provider.attachToken(call, 'tok');
    assert.equal(call.url.search, '?access_token=tok');
  });

  it('40001, 40014 and 42001 mean a rejected token on a business call; the rest do not', () => {
    for (const errcode of [40001, 40014, 42001]) assert.equal(provider.isTokenRejected({ status: 200, body: { errcode, errmsg: 'x' } }), true);
    for (const errcode of [0, -1, 41001, 45009, 45011, 40164]) assert.equal(provider.isTokenRejected({ status: 200, body: { errcode } }), false);
    assert.equal(provider.isTokenRejected({ status: 200, body: { ip_list: ['1.2.3.4'] } }), false);
  });
});
