import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WeComProvider } from '../../src/providers/wecom.js';
import { WeComSim, type ScriptedAnswer, type WeComSimOptions } from '../../src/sim/index.js';
import { businessCall, getToken, invalidate, stackFor } from '../helpers/platform.js';
import { eventually, sleep, startStack, type Stack } from '../helpers/stack.js';

const CORP = 'ww0123456789abcdef';
const SECRET_A = 'wecom-secret-of-agent-a-0123456789';
const SECRET_B = 'wecom-secret-of-agent-b-0123456789';
const WRONG = 'wecom-secret-that-nobody-issued';
const CALLS = 'gettoken';

function sim(options: Partial<WeComSimOptions> = {}): WeComSim {
  return new WeComSim({
    apps: [
      { corpId: CORP, corpSecret: SECRET_A, agentId: 1000001 },
      { corpId: CORP, corpSecret: SECRET_B, agentId: 1000002 },
      { corpId: 'wwnoip', corpSecret: SECRET_A, ipAllowed: false },
    ],
    ...options,
  });
}

const app = (extra: Record<string, unknown> = {}) => ({ platform: 'wecom', appId: CORP, appSecret: SECRET_A, baseUrl: 'sim:wecom', ...extra });

describe('WeCom: one token per corp id + secret', () => {
  let stack: Stack;
  let wecom: WeComSim;
  before(async () => {
    wecom = sim();
    stack = await startStack({ sims: [wecom], apps: { 'agent-a': app(), 'agent-b': app({ appSecret: SECRET_B }) } });
  });
  after(() => stack.close());

  it('two apps of one corp with different secrets get different tokens, one call each, each good for its own app', async () => {
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => getToken(stack, i % 2 === 0 ? 'agent-a' : 'agent-b')));
    const a = new Set(results.filter((_, i) => i % 2 === 0).map((r) => (assert.equal(r.status, 200), r.body.token)));
    const b = new Set(results.filter((_, i) => i % 2 === 1).map((r) => r.body.token));
    assert.equal(a.size, 1);
    assert.equal(b.size, 1);
    const [ta] = a;
    const [tb] = b;
    assert.notEqual(ta, tb);
    assert.equal(wecom.counters.count(CALLS), 2);
    assert.equal(wecom.tokensIssued(CORP, SECRET_A), 1);
    assert.equal(wecom.tokensIssued(CORP, SECRET_B), 1);
    const asA = await businessCall(stack, 'agent-a', '/cgi-bin/user/get?userid=zhangsan', ta!);
    assert.deepEqual([asA.body.errcode, asA.body.agentid, asA.body.query], [0, 1000001, { userid: 'zhangsan' }]);
    assert.equal((await businessCall(stack, 'agent-b', '/cgi-bin/user/get', tb!)).body.agentid, 1000002);
  });

  it('WeCom may invalidate a token early: the business call says 40014, invalidate fetches once, the new token works', async () => {
    const token = (await getToken(stack, 'agent-a')).body.token;
    assert.ok(wecom.revoke(token));
    const refused = await businessCall(stack, 'agent-a', '/cgi-bin/message/send', token, { method: 'POST', body: { touser: '@all' } });
    assert.deepEqual([refused.body.errcode, refused.rejected], [40014, true]);
    const before = wecom.counters.count(CALLS);
    const fresh = await Promise.all(Array.from({ length: 20 }, () => invalidate(stack, 'agent-a', token)));
    assert.equal(wecom.counters.count(CALLS), before + 1);
    const value = fresh[0]!.body.token;
    for (const r of fresh) assert.equal(r.body.token, value);
    assert.notEqual(value, token);
    const sent = await businessCall(stack, 'agent-a', '/cgi-bin/message/send', value, { method: 'POST', body: { touser: '@all' } });
    assert.deepEqual([sent.body.errcode, sent.rejected], [0, false]);
    // The other app's token was not touched.
    assert.equal((await getToken(stack, 'agent-b')).body.token, (await getToken(stack, 'agent-b')).body.token);
    assert.equal(wecom.counters.count(CALLS), before + 1);
  });

  it('through the proxy: ?access_token= for the app’s own token; a dropped token is refreshed and the call sent once more', async () => {
    const res = await stack.call('GET', '/v1/proxy/agent-b/cgi-bin/user/get?userid=lisi');
    assert.deepEqual([res.status, res.body.errcode, res.body.agentid, res.body.query], [200, 0, 1000002, { userid: 'lisi' }]);
    wecom.revoke((await getToken(stack, 'agent-b')).body.token);
    const before = wecom.counters.count(CALLS);
    const again = await stack.call('POST', '/v1/proxy/agent-b/cgi-bin/message/send', { body: { touser: '@all' } });
    assert.deepEqual([again.status, again.body.errcode, again.body.body], [200, 0, { touser: '@all' }]);
    assert.equal(wecom.counters.count(CALLS), before + 1);
  });
});

describe('WeCom: refusals are reported and backed off, never retried per request', () => {
  for (const [name, extra, code] of [
    ['40001 (wrong secret)', { appSecret: WRONG }, 40001],
    ['40013 (unknown corp id)', { appId: 'wwnobody' }, 40013],
    ['60020 (IP not trusted)', { appId: 'wwnoip' }, 60020],
  ] as const) {
    it(`${name}: 502 with platformCode ${code}; 200 requests make one call`, async (t) => {
      const wecom = sim();
      const stack = await stackFor(t, { sims: [wecom], apps: { a: app(extra) } });
      const results = await Promise.all(Array.from({ length: 200 }, () => getToken(stack, 'a')));
      for (const res of results) {
        assert.equal(res.status, 502, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_REFUSED');
        assert.equal(res.body.error.platform, 'wecom');
        assert.equal(res.body.error.platformCode, code);
      }
      assert.equal(wecom.counters.count(CALLS), 1);
      await sleep(300);
      for (let i = 0; i < 20; i++) assert.equal((await getToken(stack, 'a')).status, 502);
      assert.equal(wecom.counters.count(CALLS), 1, 'a refusal is backed off for seconds');
      assert.ok(!stack.logs.text.includes(WRONG) && !stack.logs.text.includes(SECRET_A), 'a secret reached the logs');
    });
  }
});

describe('WeCom: busy, rate limits and broken answers', () => {
  it('-1 (busy) costs at most 3 calls per fetch, then 503', async (t) => {
    const wecom = sim();
    const stack = await stackFor(t, { sims: [wecom], apps: { a: app() } });
    wecom.script.push({ body: { errcode: -1, errmsg: 'system busy' } }, Infinity);
    const results = await Promise.all(Array.from({ length: 50 }, () => getToken(stack, 'a')));
    for (const res of results) {
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
      assert.equal(res.body.error.platformCode, -1);
    }
    assert.equal(wecom.counters.count(CALLS), 3);
    // After the backoff, the next fetch again costs at most 3.
    await sleep(400);
    assert.equal((await getToken(stack, 'a')).status, 503);
    assert.equal(wecom.counters.count(CALLS), 6);
    wecom.script.clear();
    await eventually(async () => (await getToken(stack, 'a')).status === 200, 10_000, 100);
    assert.equal(wecom.counters.count(CALLS), 7);
  });

  it('busy twice, then a token: one fetch of 3 calls', async (t) => {
    const wecom = sim();
    const stack = await stackFor(t, { sims: [wecom], apps: { a: app() } });
    wecom.script.push({ body: { errcode: -1, errmsg: 'system busy' } }, 2);
    const res = await getToken(stack, 'a');
    assert.equal(res.status, 200);
    assert.equal(wecom.counters.count(CALLS), 3);
    assert.ok(wecom.isValid(res.body.token));
  });

  for (const [name, answer, code] of [
    ['45009 (the fault mode)', undefined, 45009],
    ['45033 (too many concurrent calls)', { body: { errcode: 45033, errmsg: 'api concurrent out of limit' } }, 45033],
  ] as const) {
    it(`${name}: 503 TOKENHUB_RATE_LIMITED after one call`, async (t) => {
      const wecom = sim();
      const stack = await stackFor(t, { sims: [wecom], apps: { a: app() } });
      if (answer === undefined) wecom.faults.set('ratelimit');
      else wecom.script.push(answer as ScriptedAnswer, Infinity);
      const res = await getToken(stack, 'a');
      assert.equal(res.status, 503);
      assert.equal(res.body.error.code, 'TOKENHUB_RATE_LIMITED');
      assert.equal(res.body.error.platformCode, code);
      assert.ok(Number(res.headers['retry-after']) >= 1);
      assert.equal(wecom.counters.count(CALLS), 1);
    });
  }

  it('40014 / 42001 in a token answer: 503, not retried at once', async (t) => {
    const wecom = sim();
    const stack = await stackFor(t, { sims: [wecom], apps: { a: app() } });
    wecom.script.push({ body: { errcode: 42001, errmsg: 'access_token expired' } });
    const res = await getToken(stack, 'a');
    assert.deepEqual([res.status, res.body.error.code, res.body.error.platformCode], [503, 'TOKENHUB_PLATFORM_UNAVAILABLE', 42001]);
    assert.equal(wecom.counters.count(CALLS), 1);
  });

  for (const mode of ['html', 'garbage', 'truncated', 'missing-fields', 'status500', 'down', 'hang'] as const) {
    it(`${mode}: 503 with Retry-After, at most 3 calls, then a token once the platform heals`, async (t) => {
      const wecom = sim();
      const stack = await stackFor(t, { sims: [wecom], apps: { a: app() }, config: { upstream: { timeoutMs: 300 } } });
      wecom.faults.set(mode);
      const res = await getToken(stack, 'a');
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
      assert.ok(Number(res.headers['retry-after']) >= 1);
      const calls = wecom.counters.count(CALLS);
      assert.ok(calls >= 1 && calls <= 3, `${calls} calls`);
      wecom.faults.set('none');
      await eventually(async () => (await getToken(stack, 'a')).status === 200, 10_000, 100);
      assert.ok(!stack.logs.text.includes(SECRET_A), 'the secret in the query reached the logs');
    });
  }
});

describe('WeCom: refresh ahead', () => {
  it('a refresh returns the same token with its expiry extended', async (t) => {
    const wecom = sim({ tokenLifetimeSeconds: 6 });
    const stack = await stackFor(t, { sims: [wecom], apps: { a: app({ refreshAheadSeconds: 3, minTtlSeconds: 1 }) } });
    const first = (await getToken(stack, 'a')).body;
    await getToken(stack, 'a');
    await eventually(() => wecom.counters.count(CALLS) === 2, 8_000, 50);
    await sleep(50);
    const second = (await getToken(stack, 'a')).body;
    assert.equal(second.token, first.token);
    assert.ok(Date.parse(second.expiresAt) - Date.parse(first.expiresAt) >= 2_000);
  });
});

describe('WeComProvider business hooks', () => {
  const provider = new WeComProvider({ corpId: CORP, corpSecret: SECRET_A });

  it('puts the token in the query', () => {
    const call = { url: new URL('https://qyapi.weixin.qq.com/cgi-bin/user/get?userid=a&access_token=old'), headers: {} };
    provider.attachToken(call, 'tok');
    assert.equal(call.url.href, 'https://qyapi.weixin.qq.com/cgi-bin/user/get?userid=a&access_token=tok');
  });

  it('40014 and 42001 mean a rejected token; 40001 (a wrong secret on WeCom) and the rest do not', () => {
    for (const errcode of [40014, 42001, '42001']) assert.equal(provider.isTokenRejected({ status: 200, body: { errcode } }), true);
    for (const errcode of [0, 40001, 41001, 45009, -1]) assert.equal(provider.isTokenRejected({ status: 200, body: { errcode } }), false);
    assert.equal(provider.isTokenRejected({ status: 502, body: '<html>' }), false);
  });
});
