import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { DingTalkProvider } from '../../src/providers/dingtalk.js';
import { DingTalkSim, type DingTalkSimOptions } from '../../src/sim/index.js';
import { businessCall, getToken, invalidate, stackFor } from '../helpers/platform.js';
import { eventually, sleep, startStack, type Stack } from '../helpers/stack.js';

const KEY = 'dingkey0main';
// Apps with the same key and secret share one token whatever their `api`, so each API gets its own app here.
const LKEY = 'dingkey0legacy';
const SECRET = 'dingtalk-secret-of-the-main-app';
const WRONG = 'dingtalk-secret-that-is-wrong';
const V1 = 'oauth2/accessToken';
const LEGACY = 'gettoken';

function sim(options: Partial<DingTalkSimOptions> = {}): DingTalkSim {
  return new DingTalkSim({
    apps: [
      { appKey: KEY, appSecret: SECRET },
      { appKey: LKEY, appSecret: SECRET },
      { appKey: 'dingkey0noip', appSecret: SECRET, ipAllowed: false },
      { appKey: 'dingkey1noip', appSecret: SECRET, ipAllowed: false },
    ],
    ...options,
  });
}

const app = (extra: Record<string, unknown> = {}) => ({ platform: 'dingtalk', appId: KEY, appSecret: SECRET, baseUrl: 'sim:dingtalk', ...extra });

describe('DingTalk: tokens from either endpoint', () => {
  let stack: Stack;
  let dingtalk: DingTalkSim;
  before(async () => {
    dingtalk = sim();
    // Tokens are revoked again and again within seconds here: reports are not spaced out.
    stack = await startStack({ sims: [dingtalk], apps: { v1: app({ reportIntervalSeconds: 0 }), legacy: app({ appId: LKEY, api: 'legacy', reportIntervalSeconds: 0 }) } });
  });
  after(() => stack.close());

  it('v1 (the default): 100 concurrent cold requests make one POST /v1.0/oauth2/accessToken', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, () => getToken(stack, 'v1')));
    const tokens = new Set(results.map((r) => (assert.equal(r.status, 200, JSON.stringify(r.body)), r.body.token)));
    assert.equal(tokens.size, 1);
    assert.equal(dingtalk.counters.count(V1, KEY), 1);
    assert.equal(dingtalk.counters.count(LEGACY), 0);
    const body = results[0]!.body;
    assert.deepEqual([body.platform, body.kind], ['dingtalk', 'access_token']);
    assert.ok(body.expiresIn > 7100 && body.expiresIn <= 7200);
    assert.ok(dingtalk.isValid(body.token));
  });

  it('legacy: GET /gettoken', async () => {
    const res = await getToken(stack, 'legacy');
    assert.equal(res.status, 200);
    assert.equal(dingtalk.counters.count(LEGACY, LKEY), 1);
    assert.ok(dingtalk.isValid(res.body.token));
  });

  it('puts the token in the header on /v1.0/ paths and in the query elsewhere, as the platform checks it', async () => {
    const token = (await getToken(stack, 'v1')).body.token;
    const current = await businessCall(stack, 'v1', '/v1.0/contact/users/me', token);
    assert.equal(current.status, 200, JSON.stringify(current.body));
    assert.equal(current.body.result.appKey, KEY);
    assert.equal(current.call.url.searchParams.get('access_token'), null);
    assert.equal(current.rejected, false);
    const old = await businessCall(stack, 'v1', '/topapi/v2/user/get', token, { method: 'POST', body: { userid: 'u1' } });
    assert.equal(old.body.errcode, 0);
    assert.equal(old.call.headers['x-acs-dingtalk-access-token'], undefined);
    assert.equal(old.rejected, false);
  });

  it('a token the platform dropped is rejected on both APIs; invalidate fetches once and the new token works', async () => {
    const token = (await getToken(stack, 'v1')).body.token;
    dingtalk.revoke(token);
    const current = await businessCall(stack, 'v1', '/v1.0/contact/users/me', token);
    assert.deepEqual([current.status, current.body.code, current.rejected], [400, 'InvalidAuthentication', true]);
    const old = await businessCall(stack, 'v1', '/topapi/v2/user/get', token);
    assert.deepEqual([old.body.errcode, old.rejected], [40014, true]);

    const calls = dingtalk.counters.count(V1);
    const fresh = await Promise.all(Array.from({ length: 20 }, () => invalidate(stack, 'v1', token)));
    assert.equal(dingtalk.counters.count(V1), calls + 1);
    const values = new Set(fresh.map((r) => r.body.token));
    assert.equal(values.size, 1);
    const [value] = values;
    assert.notEqual(value, token);
    assert.equal((await businessCall(stack, 'v1', '/v1.0/contact/users/me', value!)).status, 200);
  });

  it('through the proxy: the token goes where each API wants it; a dropped token is refreshed and the call sent once more', async () => {
    const v1 = await stack.call('GET', '/v1/proxy/v1/v1.0/contact/users/me?language=zh_CN');
    assert.equal(v1.status, 200, JSON.stringify(v1.body));
    assert.deepEqual([v1.body.result.appKey, v1.body.result.path, v1.body.result.query], [KEY, '/v1.0/contact/users/me', { language: 'zh_CN' }]);
    const legacy = await stack.call('POST', '/v1/proxy/legacy/topapi/v2/user/get', { body: { userid: 'u1' } });
    assert.deepEqual([legacy.status, legacy.body.errcode, legacy.body.result.appKey, legacy.body.result.body], [200, 0, LKEY, { userid: 'u1' }]);

    dingtalk.revoke((await getToken(stack, 'v1')).body.token);
    dingtalk.revoke((await getToken(stack, 'legacy')).body.token);
    const tokenCalls = [dingtalk.counters.count(V1), dingtalk.counters.count(LEGACY)];
    assert.equal((await stack.call('GET', '/v1/proxy/v1/v1.0/contact/users/me')).status, 200);
    assert.equal((await stack.call('POST', '/v1/proxy/legacy/topapi/v2/user/get', { body: {} })).body.errcode, 0);
    assert.deepEqual([dingtalk.counters.count(V1), dingtalk.counters.count(LEGACY)], [tokenCalls[0]! + 1, tokenCalls[1]! + 1]);
  });
});

describe('DingTalk: refusals', () => {
  let stack: Stack;
  let dingtalk: DingTalkSim;
  before(async () => {
    dingtalk = sim();
    stack = await startStack({
      sims: [dingtalk],
      apps: {
        'bad-v1': app({ appSecret: WRONG }),
        'bad-legacy': app({ appId: LKEY, appSecret: WRONG, api: 'legacy' }),
        'noip-v1': app({ appId: 'dingkey0noip' }),
        'noip-legacy': app({ appId: 'dingkey1noip', api: 'legacy' }),
      },
    });
  });
  after(() => stack.close());

  for (const [id, appKey, code] of [
    ['bad-v1', KEY, 'invalidClientIdOrSecret'],
    ['bad-legacy', LKEY, 40089],
    ['noip-v1', 'dingkey0noip', 'Forbidden.AccessDenied.IpNotInWhiteList'],
    ['noip-legacy', 'dingkey1noip', 60020],
  ] as const) {
    it(`${id}: 502 with platformCode ${code}, and no call per request`, async () => {
      const results = await Promise.all(Array.from({ length: 50 }, () => getToken(stack, id)));
      for (const res of results) {
        assert.equal(res.status, 502, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_REFUSED');
        assert.equal(res.body.error.platform, 'dingtalk');
        assert.equal(res.body.error.platformCode, code);
      }
      assert.equal(dingtalk.counters.count(id.endsWith('v1') ? V1 : LEGACY, appKey), 1);
    });
  }

  it('the secret from the legacy URL reaches no log line or answer', async () => {
    const res = await getToken(stack, 'bad-legacy');
    assert.ok(!JSON.stringify(res.body).includes(WRONG));
    assert.ok(stack.logs.text.includes('token fetch failed'));
    assert.ok(!stack.logs.text.includes(WRONG));
    assert.ok(!stack.logs.text.includes(SECRET));
  });
});

describe('DingTalk: rate limits and the ban', () => {
  it('an HTML ban page is a rate limit: one call, no token, Retry-After of the 5-minute ban', async (t) => {
    for (const api of ['v1', 'legacy']) {
      const dingtalk = sim();
      const stack = await stackFor(t, { sims: [dingtalk], apps: { a: app({ api }) } });
      dingtalk.faults.set('html');
      const res = await getToken(stack, 'a');
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'TOKENHUB_RATE_LIMITED', api);
      assert.ok(Number(res.headers['retry-after']) >= 240, `Retry-After ${String(res.headers['retry-after'])}`);
      await Promise.all(Array.from({ length: 20 }, () => getToken(stack, 'a')));
      assert.equal(dingtalk.counters.count(), 1, 'asked again during the ban');
      assert.ok(!stack.logs.text.includes('<html'), 'the page is not logged');
    }
  });

  it('the platform’s own per-IP ban (modelled) is recognised the same way', async (t) => {
    const dingtalk = sim({ ipBan: { calls: 5, windowSeconds: 60, banSeconds: 300 } });
    const stack = await stackFor(t, { sims: [dingtalk], apps: { a: app() } });
    const base = stack.sims.baseUrl('dingtalk');
    for (let i = 0; i < 5; i++) await fetch(`${base}/topapi/v2/user/get`).then((r) => r.text());
    const res = await getToken(stack, 'a');
    assert.equal(res.body.error.code, 'TOKENHUB_RATE_LIMITED');
    assert.equal(dingtalk.counters.count(V1), 1);
  });

  it('the gateway’s JSON verdict {"punish":"deny",…} is the ban too', async (t) => {
    const dingtalk = sim();
    const stack = await stackFor(t, { sims: [dingtalk], apps: { a: app() } });
    dingtalk.script.push({ body: { status: 1111, wait: 5, source: 'x5', punish: 'deny', uuid: 'u-1' } });
    const res = await getToken(stack, 'a');
    assert.equal(res.body.error.code, 'TOKENHUB_RATE_LIMITED');
    assert.ok(Number(res.headers['retry-after']) >= 240);
  });

  for (const [name, api, answer, code] of [
    ['v1 QpsLimitForAppkeyAndApi (403)', 'v1', undefined, 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi'],
    ['v1 QpsLimitForApi (403)', 'v1', { status: 403, body: { code: 'Forbidden.AccessDenied.QpsLimitForApi', message: 'x' } }, 'Forbidden.AccessDenied.QpsLimitForApi'],
    ['legacy 90018', 'legacy', undefined, 90018],
    ['legacy 90002', 'legacy', { body: { errcode: 90002, errmsg: 'x' } }, 90002],
  ] as const) {
    it(`${name}: 503 TOKENHUB_RATE_LIMITED after one call`, async (t) => {
      const dingtalk = sim();
      const stack = await stackFor(t, { sims: [dingtalk], apps: { a: app({ api }) } });
      if (answer === undefined) dingtalk.faults.set('ratelimit');
      else dingtalk.script.push(answer, Infinity);
      const res = await getToken(stack, 'a');
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'TOKENHUB_RATE_LIMITED');
      assert.equal(res.body.error.platformCode, code);
      assert.ok(Number(res.headers['retry-after']) >= 1);
      assert.equal(dingtalk.counters.count(), 1);
    });
  }
});

describe('DingTalk: answers that are not a token', () => {
  it('-1 (busy) is retried within the fetch: 3 calls, then 503; busy twice then a token', async (t) => {
    const dingtalk = sim();
    const stack = await stackFor(t, { sims: [dingtalk], apps: { a: app({ api: 'legacy' }), b: app({ appId: 'dingkey0noip', api: 'legacy' }) } });
    dingtalk.script.push({ body: { errcode: -1, errmsg: '系统繁忙' } }, 3);
    const res = await getToken(stack, 'a');
    assert.equal(res.status, 503);
    assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
    assert.equal(res.body.error.platformCode, -1);
    assert.equal(dingtalk.counters.count(LEGACY), 3);

    dingtalk.setIpAllowed('dingkey0noip', true);
    dingtalk.script.push({ body: { errcode: -1, errmsg: '系统繁忙' } }, 2);
    const ok = await getToken(stack, 'b');
    assert.equal(ok.status, 200);
    assert.equal(dingtalk.counters.count(LEGACY, 'dingkey0noip'), 3);
  });

  it('a token-invalid code or a 5xx JSON answer: 503 PLATFORM_UNAVAILABLE', async (t) => {
    const dingtalk = sim();
    const stack = await stackFor(t, { sims: [dingtalk], apps: { a: app({ api: 'legacy' }), b: app({ appId: 'dingkey0noip' }) } });
    dingtalk.script.push({ body: { errcode: 42001, errmsg: 'access_token超时' } });
    const res = await getToken(stack, 'a');
    assert.deepEqual([res.status, res.body.error.code, res.body.error.platformCode], [503, 'TOKENHUB_PLATFORM_UNAVAILABLE', 42001]);
    assert.equal(dingtalk.counters.count(LEGACY), 1, 'not retried at once');

    dingtalk.script.push({ status: 503, body: { code: 'ServiceUnavailable', message: 'try later' } }, 3);
    const busy = await getToken(stack, 'b');
    assert.deepEqual([busy.status, busy.body.error.code, busy.body.error.platformCode], [503, 'TOKENHUB_PLATFORM_UNAVAILABLE', 'ServiceUnavailable']);
    assert.equal(dingtalk.counters.count(V1), 3);
  });

  for (const [api, modes] of [
    ['v1', ['garbage', 'truncated', 'missing-fields', 'status500', 'down', 'hang']],
    ['legacy', ['garbage', 'missing-fields', 'status500', 'down']],
  ] as const) {
    for (const mode of modes) {
      it(`${api} ${mode}: 503 with Retry-After, at most 3 calls, then a token once the platform heals`, async (t) => {
        const dingtalk = sim();
        const stack = await stackFor(t, { sims: [dingtalk], apps: { a: app({ api }) }, config: { upstream: { timeoutMs: 300 } } });
        dingtalk.faults.set(mode);
        const res = await getToken(stack, 'a');
        assert.equal(res.status, 503, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
        assert.ok(Number(res.headers['retry-after']) >= 1);
        const calls = dingtalk.counters.count();
        assert.ok(calls >= 1 && calls <= 3, `${calls} calls`);
        await Promise.all(Array.from({ length: 10 }, () => getToken(stack, 'a')));
        assert.equal(dingtalk.counters.count(), calls, 'requests during backoff reached the platform');
        dingtalk.faults.set('none');
        await eventually(async () => (await getToken(stack, 'a')).status === 200, 10_000, 100);
        assert.ok(!stack.logs.text.includes(SECRET));
      });
    }
  }
});

describe('DingTalk: refresh ahead', () => {
  it('legacy: a refresh within validity returns the same token with its expiry extended', async (t) => {
    const dingtalk = sim({ tokenLifetimeSeconds: 6 });
    const stack = await stackFor(t, { sims: [dingtalk], apps: { a: app({ api: 'legacy', refreshAheadSeconds: 3, minTtlSeconds: 1 }) } });
    const first = (await getToken(stack, 'a')).body;
    await getToken(stack, 'a'); // only tokens in use are refreshed
    await eventually(() => dingtalk.counters.count(LEGACY) === 2, 8_000, 50);
    await sleep(50);
    const second = (await getToken(stack, 'a')).body;
    assert.equal(second.token, first.token);
    assert.ok(Date.parse(second.expiresAt) - Date.parse(first.expiresAt) >= 2_000, `expiry moved by ${Date.parse(second.expiresAt) - Date.parse(first.expiresAt)} ms`);
    assert.equal(dingtalk.tokensIssued(), 1);
    assert.ok(!stack.logs.text.includes('refresh returned the same token'), 'an extended token is a successful refresh');
  });

  it('spreads the refreshes of apps fetched together (jitter), strictly inside the refresh window', async (t) => {
    const apps = Array.from({ length: 20 }, (_, i) => ({ appKey: `dingkey${i}`, appSecret: `secret-${i}` }));
    const dingtalk = new DingTalkSim({ apps });
    const stack = await stackFor(t, {
      sims: [dingtalk],
      apps: Object.fromEntries(apps.map((a, i) => [`app${i}`, { platform: 'dingtalk', appId: a.appKey, appSecret: a.appSecret, baseUrl: 'sim:dingtalk' }])),
    });
    await Promise.all(apps.map((_, i) => getToken(stack, `app${i}`)));
    const list = (await stack.call('GET', '/v1/apps')).body.apps;
    const ahead = list.map((a: any) => (Date.parse(a.tokens[0].expiresAt) - Date.parse(a.tokens[0].nextRefreshAt)) / 1000);
    // The 15-minute window, less the 1.5-s margin, less up to 10 % jitter: never earlier than 15 minutes before expiry.
    for (const s of ahead) assert.ok(s >= 900 - 1.5 - 90 - 1 && s < 900, `refresh ${s} s before expiry`);
    const at = list.map((a: any) => Date.parse(a.tokens[0].nextRefreshAt));
    assert.ok(Math.max(...at) - Math.min(...at) >= 10_000, 'refreshes not spread');
    assert.equal(new Set(at).size, at.length);
  });
});

describe('DingTalkProvider business hooks', () => {
  it('without a base URL, sends each path to the host that serves it, with the token where that host wants it', () => {
    const provider = new DingTalkProvider({ appKey: KEY, appSecret: SECRET });
    const v1 = { url: provider.businessUrl('/v1.0/contact/users/me'), headers: { 'X-Acs-Dingtalk-Access-Token': 'stale' } as Record<string, string> };
    provider.attachToken(v1, 'tok');
    assert.equal(v1.url.href, 'https://api.dingtalk.com/v1.0/contact/users/me');
    assert.deepEqual(v1.headers, { 'x-acs-dingtalk-access-token': 'tok' });
    const legacy = { url: provider.businessUrl('/topapi/v2/user/get'), headers: {} };
    legacy.url.search = 'access_token=stale&language=zh_CN';
    provider.attachToken(legacy, 'tok');
    assert.equal(legacy.url.href, 'https://oapi.dingtalk.com/topapi/v2/user/get?access_token=tok&language=zh_CN');
    assert.deepEqual(legacy.headers, {});
    assert.equal(provider.businessUrl('/v2.0/x%20y').href, 'https://api.dingtalk.com/v2.0/x%20y');
  });

  it('with a base URL, keeps the host and looks at the path below the base', () => {
    const provider = new DingTalkProvider({ appKey: KEY, appSecret: SECRET, baseUrl: 'http://127.0.0.1:9/dingtalk/' });
    const v1 = { url: provider.businessUrl('/v1.0/im/messages'), headers: {} as Record<string, string> };
    provider.attachToken(v1, 'tok');
    assert.deepEqual([v1.url.href, v1.headers['x-acs-dingtalk-access-token']], ['http://127.0.0.1:9/dingtalk/v1.0/im/messages', 'tok']);
    const legacy = { url: provider.businessUrl('/user/get'), headers: {} as Record<string, string> };
    provider.attachToken(legacy, 'tok');
    assert.equal(legacy.url.href, 'http://127.0.0.1:9/dingtalk/user/get?access_token=tok');
  });

  it('knows the token-invalid answers of both APIs and nothing else', () => {
    const provider = new DingTalkProvider({ appKey: KEY, appSecret: SECRET });
    const rejected = [
      { errcode: 40014, errmsg: '不合法的access_token' },
      { errcode: 42001, errmsg: 'access_token超时' },
      { errcode: 88, sub_code: '40014', sub_msg: '不合法的access_token', errmsg: 'ding talk error[subcode=40014]' },
      { code: 'InvalidAuthentication', message: '不合法的access_token' },
    ];
    for (const body of rejected) assert.equal(provider.isTokenRejected({ status: 200, body }), true, JSON.stringify(body));
    const other = [
      { errcode: 0 },
      { errcode: 60011, errmsg: 'no permission' },
      { errcode: 88, sub_code: '60011' },
      { code: 'Forbidden.AccessDenied.AccessTokenPermissionDenied' },
      '<html>',
      null,
    ];
    for (const body of other) assert.equal(provider.isTokenRejected({ status: 403, body }), false, JSON.stringify(body));
  });
});
