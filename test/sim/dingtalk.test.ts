import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { DingTalkSim, startSimulators, type DingTalkSimOptions } from '../../src/sim/index.js';

const APP = { appKey: 'dingabc123', appSecret: 'secret-1' };
const APPS = [APP, { appKey: 'dingnoip', appSecret: 'secret-2', ipAllowed: false }];

interface Answer {
  status: number;
  type: string;
  body: any;
}

async function start(t: TestContext, options: Partial<DingTalkSimOptions> = {}) {
  const sim = new DingTalkSim({ apps: APPS, ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  return { sim, base: sims.baseUrl('dingtalk') };
}

async function answer(response: Response): Promise<Answer> {
  const type = response.headers.get('content-type') ?? '';
  const text = await response.text();
  return { status: response.status, type, body: type.includes('json') ? JSON.parse(text) : text };
}

function v1Token(base: string, body: unknown = { appKey: APP.appKey, appSecret: APP.appSecret }): Promise<Answer> {
  return fetch(`${base}/v1.0/oauth2/accessToken`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  }).then(answer);
}

function legacyToken(base: string, appkey = APP.appKey, appsecret = APP.appSecret): Promise<Answer> {
  return fetch(`${base}/gettoken?${new URLSearchParams({ appkey, appsecret })}`).then(answer);
}

function v1Business(base: string, token: string | undefined, path = '/v1.0/contact/users/me?language=zh_CN'): Promise<Answer> {
  return fetch(base + path, { headers: token === undefined ? {} : { 'x-acs-dingtalk-access-token': token } }).then(answer);
}

function legacyBusiness(base: string, token: string | undefined, path = '/topapi/v2/user/get'): Promise<Answer> {
  const query = token === undefined ? '' : `?access_token=${encodeURIComponent(token)}`;
  return fetch(base + path + query, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ userid: 'u1' }) }).then(answer);
}

describe('DingTalkSim tokens', () => {
  it('issues one token per app on both endpoints, checked where each API expects it', async (t) => {
    const { sim, base } = await start(t);
    const v1 = await v1Token(base);
    assert.equal(v1.status, 200);
    assert.match(v1.body.accessToken, /^[0-9a-f]{32}$/);
    assert.equal(v1.body.expireIn, 7200);
    const legacy = await legacyToken(base);
    assert.deepEqual(legacy.body, { errcode: 0, access_token: v1.body.accessToken, errmsg: 'ok', expires_in: 7200 });

    const current = await v1Business(base, v1.body.accessToken);
    assert.equal(current.status, 200);
    assert.deepEqual(current.body.result, { appKey: APP.appKey, method: 'GET', path: '/v1.0/contact/users/me', query: { language: 'zh_CN' } });
    const old = await legacyBusiness(base, v1.body.accessToken);
    assert.equal(old.body.errcode, 0);
    assert.deepEqual(old.body.result.body, { userid: 'u1' });
    assert.equal(old.body.result.path, '/topapi/v2/user/get');

    // The token in the wrong place is no token.
    const inQuery = await fetch(`${base}/v1.0/contact/users/me?access_token=${v1.body.accessToken}`).then(answer);
    assert.equal(inQuery.status, 400);
    assert.equal(inQuery.body.code, 'MissingParameter');
    const inHeader = await fetch(`${base}/topapi/v2/user/get`, { headers: { 'x-acs-dingtalk-access-token': v1.body.accessToken } }).then(answer);
    assert.equal(inHeader.body.errcode, 40014);
    assert.equal(sim.tokensIssued(), 1);
  });

  it('renews the same token on a fetch within its lifetime, issues a new one after it', async (t) => {
    let clock = 1_700_000_000_000;
    const { sim, base } = await start(t, { now: () => clock });
    const first = (await legacyToken(base)).body.access_token;
    clock += 5000_000;
    const again = await legacyToken(base);
    assert.equal(again.body.access_token, first);
    assert.equal(again.body.expires_in, 7200, 'the lifetime is renewed, not what was left');
    clock += 7199_000; // 12,199 s after the first fetch: alive only thanks to the renewal
    assert.equal(sim.isValid(first), true);
    assert.equal((await v1Business(base, first)).status, 200);
    clock += 1000;
    assert.equal(sim.isValid(first), false);
    assert.equal((await legacyBusiness(base, first)).body.errcode, 42001);
    const v1 = await v1Business(base, first);
    assert.deepEqual([v1.status, v1.body.code], [400, 'InvalidAuthentication']);
    const next = (await v1Token(base)).body;
    assert.notEqual(next.accessToken, first);
    assert.equal(next.expireIn, 7200);
    assert.equal(sim.tokensIssued(APP.appKey), 2);
  });

  it('refuses bad credentials: v1 with HTTP 400 and a string code, legacy with errcode 40089 under HTTP 200', async (t) => {
    const { sim, base } = await start(t);
    for (const body of [{ appKey: APP.appKey, appSecret: 'wrong' }, { appKey: 'nobody', appSecret: 'x' }]) {
      const res = await v1Token(base, body);
      assert.equal(res.status, 400);
      assert.equal(res.body.code, 'invalidClientIdOrSecret');
      assert.match(res.body.requestid, /^[0-9A-F]{8}-/);
    }
    assert.deepEqual([(await v1Token(base, '{"appKey":')).body.code, (await v1Token(base, { appKey: APP.appKey })).body.code], ['MissingBody', 'MissingappSecret']);
    for (const res of [await legacyToken(base, APP.appKey, 'wrong'), await legacyToken(base, 'nobody', 'x')]) {
      assert.equal(res.status, 200);
      assert.equal(res.body.errcode, 40089);
    }
    const ip = await v1Token(base, { appKey: 'dingnoip', appSecret: 'secret-2' });
    assert.deepEqual([ip.status, ip.body.code], [403, 'Forbidden.AccessDenied.IpNotInWhiteList']);
    assert.equal((await legacyToken(base, 'dingnoip', 'secret-2')).body.errcode, 60020);
    sim.setSecret(APP.appKey, 'rotated');
    assert.equal((await legacyToken(base)).body.errcode, 40089);
    assert.equal((await legacyToken(base, APP.appKey, 'rotated')).body.errcode, 0);
    assert.equal(sim.tokensIssued(), 1);
  });

  it('answers the per-app QPS limit per endpoint', async (t) => {
    let clock = 1_700_000_000_000;
    const { base } = await start(t, { now: () => clock, qpsPerApi: 2 });
    assert.equal((await v1Token(base)).status, 200);
    assert.equal((await v1Token(base)).status, 200);
    const limited = await v1Token(base);
    assert.deepEqual([limited.status, limited.body.code], [403, 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi']);
    assert.equal((await legacyToken(base)).body.errcode, 0, 'another endpoint has its own limit');
    assert.equal((await legacyToken(base)).body.errcode, 0);
    assert.equal((await legacyToken(base)).body.errcode, 90018);
    clock += 1000;
    assert.equal((await v1Token(base)).status, 200);
  });

  it('bans an IP that calls too often with an HTML page on every endpoint, for the ban time', async (t) => {
    let clock = 1_700_000_000_000;
    const { sim, base } = await start(t, { now: () => clock, ipBan: { calls: 4, windowSeconds: 20, banSeconds: 300 } });
    const token = (await v1Token(base)).body.accessToken;
    for (let i = 0; i < 3; i++) assert.equal((await v1Business(base, token)).status, 200);
    for (const res of [await legacyToken(base), await v1Token(base), await legacyBusiness(base, token)]) {
      assert.equal(res.status, 200);
      assert.match(res.type, /^text\/html/);
      assert.match(res.body, /^<!DOCTYPE html>/);
    }
    clock += 299_000;
    assert.match((await v1Token(base)).type, /html/);
    clock += 1000;
    assert.equal((await v1Token(base)).body.accessToken, token);
    assert.equal(sim.counters.count('oauth2/accessToken'), 4, 'banned calls are counted too');
  });

  it('revoke invalidates a token at once and the next fetch issues a new one', async (t) => {
    const { sim, base } = await start(t);
    const token = (await v1Token(base)).body.accessToken;
    assert.equal(sim.revoke(token), true);
    assert.equal(sim.revoke(token), false);
    assert.equal((await v1Business(base, token)).body.code, 'InvalidAuthentication');
    assert.equal((await legacyBusiness(base, token)).body.errcode, 40014);
    assert.notEqual((await legacyToken(base)).body.access_token, token);
  });
});

describe('DingTalkSim faults and scripted answers', () => {
  it('ratelimit is a 403 Qps code on v1 and errcode 90018 on legacy', async (t) => {
    const { sim, base } = await start(t);
    sim.faults.set('ratelimit');
    const v1 = await v1Token(base);
    assert.deepEqual([v1.status, v1.body.code], [403, 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi']);
    const legacy = await legacyToken(base);
    assert.deepEqual([legacy.status, legacy.body.errcode], [200, 90018]);
  });

  it('html, missing-fields and truncated take their DingTalk shapes', async (t) => {
    const { sim, base } = await start(t);
    sim.faults.set('html');
    assert.match((await legacyToken(base)).type, /^text\/html/);
    sim.faults.set('missing-fields');
    assert.deepEqual((await v1Token(base)).body, { expireIn: 7200 });
    assert.deepEqual((await legacyToken(base)).body, { errcode: 0, errmsg: 'ok' });
    sim.faults.set('truncated');
    const cut = await fetch(`${base}/gettoken?appkey=${APP.appKey}&appsecret=${APP.appSecret}`).then((r) => r.text());
    assert.match(cut, /^\{"errcode":0/);
    assert.throws(() => JSON.parse(cut), SyntaxError);
    sim.reset();
    assert.equal((await legacyToken(base)).body.errcode, 0);
  });

  it('scripted answers come first, in order, then the rules again', async (t) => {
    const { sim, base } = await start(t);
    sim.script.push({ body: { errcode: -1, errmsg: '系统繁忙' } }, 2);
    sim.script.push({ status: 500, body: { code: 'ServiceUnavailable', message: 'busy' } });
    assert.equal((await legacyToken(base)).body.errcode, -1);
    assert.equal((await v1Token(base)).body.errcode, -1);
    assert.deepEqual((await v1Token(base)).status, 500);
    assert.equal((await v1Token(base)).status, 200);
    assert.throws(() => sim.script.push({ body: {} }, 0), /times/);
  });

  it('counts calls by endpoint and app key', async (t) => {
    const { sim, base } = await start(t);
    const token = (await v1Token(base)).body.accessToken;
    await legacyToken(base);
    await legacyToken(base, 'nobody', 'x');
    await v1Business(base, token);
    await legacyBusiness(base, 'bogus');
    assert.equal(sim.counters.count('oauth2/accessToken', APP.appKey), 1);
    assert.equal(sim.counters.count('gettoken'), 2);
    assert.equal(sim.counters.count('gettoken', 'nobody'), 1);
    assert.deepEqual(sim.counters.snapshot().endpoints.business, { total: 2, apps: { [APP.appKey]: 1, '': 1 } });
  });

  it('rejects bad options', () => {
    assert.throws(() => new DingTalkSim({ apps: [APP, APP] }), /duplicate/);
    assert.throws(() => new DingTalkSim({ apps: [], tokenLifetimeSeconds: 0 }), /tokenLifetimeSeconds/);
    assert.throws(() => new DingTalkSim({ apps: [], qpsPerApi: 1.5 }), /qpsPerApi/);
    assert.throws(() => new DingTalkSim({ apps: [], ipBan: { calls: 0, windowSeconds: 1, banSeconds: 1 } }), /ipBan.calls/);
  });
});
