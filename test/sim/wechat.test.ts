import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { WeChatSim, startSimulators, type WeChatSimOptions } from '../../src/sim/index.js';

const APP = { appId: 'wx0123456789abcdef', appSecret: 'secret-1' };
const NO_IP = { appId: 'wxnoip', appSecret: 'secret-2', ipAllowed: false };
const T0 = Date.UTC(2026, 0, 10, 4, 0, 0); // noon in China

async function start(t: TestContext, options: Partial<WeChatSimOptions> = {}) {
  const sim = new WeChatSim({ apps: [APP, NO_IP], ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  return { sim, base: sims.baseUrl('wechat') };
}

async function classic(base: string, query: Record<string, string> = { grant_type: 'client_credential', appid: APP.appId, secret: APP.appSecret }): Promise<any> {
  return (await fetch(`${base}/cgi-bin/token?${new URLSearchParams(query)}`)).json();
}

async function stable(base: string, body: unknown = {}): Promise<any> {
  const payload = typeof body === 'string' ? body : JSON.stringify({ grant_type: 'client_credential', appid: APP.appId, secret: APP.appSecret, ...(body as object) });
  return (await fetch(`${base}/cgi-bin/stable_token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: payload })).json();
}

async function business(base: string, token?: string): Promise<any> {
  const query = token === undefined ? '' : `&access_token=${encodeURIComponent(token)}`;
  return (await fetch(`${base}/cgi-bin/user/info?openid=o1${query}`)).json();
}

describe('WeChatSim cgi-bin/token (classic)', () => {
  it('issues a new token on every fetch and retires the previous one after the overlap', async (t) => {
    let clock = T0;
    const { sim, base } = await start(t, { now: () => clock, rotationOverlapSeconds: 300 });
    const first = await classic(base);
    assert.equal(first.expires_in, 7200);
    assert.match(first.access_token, /^\d+_[\w-]{100,}$/);
    assert.equal(first.errcode, undefined, 'success carries no errcode');
    const ok = await business(base, first.access_token);
    assert.deepEqual(ok, { errcode: 0, errmsg: 'ok', appid: APP.appId, method: 'GET', path: '/cgi-bin/user/info', query: { openid: 'o1' } });

    clock += 1000;
    const second = await classic(base);
    assert.notEqual(second.access_token, first.access_token);
    clock += 299_000;
    assert.equal(sim.isValid(first.access_token), true, 'the old token works during the overlap');
    clock += 1000;
    assert.equal(sim.isValid(first.access_token), false);
    const stale = await business(base, first.access_token);
    assert.equal(stale.errcode, 40001);
    assert.match(stale.errmsg, /not latest/);
    assert.equal((await business(base, second.access_token)).errcode, 0);
    assert.equal(sim.tokensIssued(APP.appId, 'classic'), 2);
  });

  it('counts a daily quota (45009) that resets with the China day', async (t) => {
    let clock = T0;
    const { base } = await start(t, { now: () => clock, classicDailyQuota: 2 });
    assert.ok((await classic(base)).access_token);
    assert.ok((await classic(base)).access_token);
    assert.equal((await classic(base)).errcode, 45009);
    clock = Date.UTC(2026, 0, 10, 16, 0, 0); // midnight in China
    assert.ok((await classic(base)).access_token);
  });

  it('refuses with WeChat codes under HTTP 200', async (t) => {
    const { base } = await start(t);
    const ok = { grant_type: 'client_credential', appid: APP.appId, secret: APP.appSecret };
    const cases: Array<[Record<string, string>, number]> = [
      [{ ...ok, grant_type: 'password' }, 40002],
      [{ grant_type: 'client_credential', secret: 'x' }, 41002],
      [{ grant_type: 'client_credential', appid: APP.appId }, 41004],
      [{ ...ok, appid: 'wxnobody' }, 40013],
      [{ ...ok, secret: 'wrong' }, 40001],
      [{ grant_type: 'client_credential', appid: NO_IP.appId, secret: NO_IP.appSecret }, 40164],
    ];
    for (const [query, code] of cases) {
      const res = await fetch(`${base}/cgi-bin/token?${new URLSearchParams(query)}`);
      assert.equal(res.status, 200);
      const body: any = await res.json();
      assert.equal(body.errcode, code, JSON.stringify(query));
      assert.match(body.errmsg, / rid: [0-9a-f-]+$/);
    }
  });
});

describe('WeChatSim cgi-bin/stable_token', () => {
  it('returns the same token with the time left until the renewal window, then a new one; the old lives to its expiry', async (t) => {
    let clock = T0;
    const { sim, base } = await start(t, { now: () => clock });
    const first = await stable(base, { force_refresh: false });
    assert.equal(first.expires_in, 7200);
    clock += 6_900_000; // exactly 5 minutes left
    assert.deepEqual(await stable(base), { access_token: first.access_token, expires_in: 300 });
    clock += 1;
    const second = await stable(base);
    assert.notEqual(second.access_token, first.access_token);
    assert.equal(second.expires_in, 7200);
    assert.equal(sim.isValid(first.access_token), true);
    clock += 299_999;
    assert.equal(sim.isValid(first.access_token), false);
    assert.equal((await business(base, first.access_token)).errcode, 42001);
    assert.equal((await business(base, second.access_token)).errcode, 0);
  });

  it('is independent of cgi-bin/token', async (t) => {
    const { sim, base } = await start(t);
    const s = (await stable(base)).access_token;
    const c = (await classic(base)).access_token;
    await classic(base);
    assert.equal((await stable(base)).access_token, s);
    assert.equal(sim.isValid(s), true);
    assert.equal(sim.isValid(c), true, 'within the overlap');
    assert.deepEqual([sim.tokensIssued(APP.appId, 'stable'), sim.tokensIssued(APP.appId, 'classic')], [1, 2]);
  });

  it('force_refresh replaces the token at once, not twice within 30 s, at most N a day', async (t) => {
    let clock = T0;
    const { sim, base } = await start(t, { now: () => clock, forceRefreshPerDay: 3 });
    const first = (await stable(base)).access_token;
    const forced = await stable(base, { force_refresh: true });
    assert.notEqual(forced.access_token, first);
    assert.equal(forced.expires_in, 7200);
    assert.equal(sim.isValid(first), false, 'a forced refresh kills the old token at once');
    assert.equal((await business(base, first)).errcode, 40001);

    clock += 29_000;
    const tooSoon = await stable(base, { force_refresh: true });
    assert.equal(tooSoon.access_token, forced.access_token, 'within 30 s a forced call does not refresh');
    clock += 1000;
    const third = (await stable(base, { force_refresh: true })).access_token;
    assert.notEqual(third, forced.access_token);
    clock += 30_000;
    const limited = await stable(base, { force_refresh: true });
    assert.equal(limited.errcode, 45009, 'the third forced call of the day (the one too soon counts)');
    assert.equal((await stable(base)).access_token, third, 'plain calls still answer');
    assert.equal(sim.forcedRefreshes(APP.appId), 2);

    clock = Date.UTC(2026, 0, 10, 16, 0, 1); // a new China day
    assert.notEqual((await stable(base, { force_refresh: true })).access_token, third);
  });

  it('revoke with stillCurrent: plain calls keep handing out the dead token, a forced one replaces it', async (t) => {
    const { sim, base } = await start(t);
    const token = (await stable(base)).access_token;
    assert.equal(sim.revoke(token, { stillCurrent: true }), true);
    assert.equal((await business(base, token)).errcode, 40001);
    assert.equal((await stable(base)).access_token, token);
    const fresh = (await stable(base, { force_refresh: true })).access_token;
    assert.notEqual(fresh, token);
    assert.equal((await business(base, fresh)).errcode, 0);
  });

  it('refuses with WeChat codes: 40125 for a wrong secret, 47001 for a malformed body', async (t) => {
    const { base } = await start(t);
    assert.equal((await stable(base, { secret: 'wrong' })).errcode, 40125);
    assert.equal((await stable(base, { appid: 'wxnobody' })).errcode, 40013);
    assert.equal((await stable(base, { appid: NO_IP.appId, secret: NO_IP.appSecret })).errcode, 40164);
    assert.equal((await stable(base, '{"grant_type":')).errcode, 47001);
    assert.equal((await stable(base, { force_refresh: 'yes' })).errcode, 47001);
  });
});

describe('WeChatSim business endpoints and faults', () => {
  it('41001 without a token, 40001 for an unknown or revoked one', async (t) => {
    const { sim, base } = await start(t);
    assert.equal((await business(base)).errcode, 41001);
    assert.equal((await business(base, 'bogus')).errcode, 40001);
    const token = (await classic(base)).access_token;
    sim.revoke(token);
    assert.equal((await business(base, token)).errcode, 40001);
    assert.notEqual((await classic(base)).access_token, token);
  });

  it('ratelimit answers 45011; scripted answers come first', async (t) => {
    const { sim, base } = await start(t);
    sim.faults.set('ratelimit');
    assert.equal((await stable(base)).errcode, 45011);
    assert.equal((await classic(base)).errcode, 45011);
    sim.reset();
    sim.script.push({ body: { errcode: -1, errmsg: 'system error' } });
    assert.equal((await stable(base)).errcode, -1);
    assert.ok((await stable(base)).access_token);
  });

  it('rejects bad options', () => {
    assert.throws(() => new WeChatSim({ apps: [APP], tokenLifetimeSeconds: 10, renewWindowSeconds: 10 }), /renewWindowSeconds/);
    assert.throws(() => new WeChatSim({ apps: [APP], rotationOverlapSeconds: -1 }), /rotationOverlapSeconds/);
    assert.throws(() => new WeChatSim({ apps: [APP, APP] }), /duplicate/);
  });
});
