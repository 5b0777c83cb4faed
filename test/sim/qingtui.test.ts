import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { QingtuiSim, startSimulators, type QingtuiSimOptions } from '../../src/sim/index.js';

const APP = { appId: 'qt_1', appSecret: 'secret-1' };

async function start(t: TestContext, options: Partial<QingtuiSimOptions> = {}) {
  let clock = 1_800_000_000_000;
  const sim = new QingtuiSim({ apps: [APP, { appId: 'qt_small', appSecret: 's', dailyQuota: 2 }], now: () => clock, ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  const base = sims.baseUrl('qingtui');
  const get = async (path: string): Promise<any> => (await fetch(base + path)).json();
  return {
    sim,
    get,
    issue: (appId = APP.appId, secret = APP.appSecret) => get(`/v1/token?grant_type=client_credential&appid=${appId}&secret=${secret}`),
    refresh: (rt: string) => get(`/auth/autoRefreshToken?refresh_token=${rt}`),
    tick: (ms: number) => void (clock += ms),
    now: () => clock,
  };
}

describe('QingtuiSim', () => {
  it('issues a JWT access token whose payload expires_in is epoch milliseconds, and a refresh token', async (t) => {
    const { issue, get, now } = await start(t);
    const body = await issue();
    assert.equal(body.expires_in, 7200);
    assert.equal(typeof body.refresh_token, 'string');
    const [, payload] = body.access_token.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
    assert.equal(claims.expires_in, now() + 7_200_000);
    assert.equal(claims.dispatch, now());
    assert.equal(claims.appid, APP.appId);
    const answer = await get(`/message/send?access_token=${body.access_token}&x=1`);
    assert.deepEqual(answer, { errcode: 0, errmsg: 'ok', data: { method: 'GET', path: '/message/send', query: { x: '1' }, appid: APP.appId } });
  });

  it('refuses a second /v1/token within 2 s, and a later one kills the refresh token but not the access tokens', async (t) => {
    const { issue, refresh, tick, sim } = await start(t);
    const first = await issue();
    tick(1999);
    assert.equal((await issue()).errcode, 45011);
    tick(1);
    const second = await issue();
    assert.equal(typeof second.access_token, 'string');
    assert.equal((await refresh(first.refresh_token)).errcode, 40402);
    assert.ok(sim.isValid(first.access_token));
    assert.equal(typeof (await refresh(second.refresh_token)).access_token, 'string');
  });

  it('refreshes with a new token each time, the old ones staying valid; an expired refresh token is 42002', async (t) => {
    const { issue, refresh, tick, sim } = await start(t, { refreshTokenLifetimeSeconds: 100 });
    const { access_token: first, refresh_token: rt } = await issue();
    const next = await refresh(rt);
    assert.equal(next.expires_in, 7200);
    assert.equal(next.refresh_token, undefined);
    assert.notEqual(next.access_token, first);
    assert.ok(sim.isValid(first) && sim.isValid(next.access_token));
    tick(100_000);
    assert.equal((await refresh(rt)).errcode, 42002);
    assert.equal((await refresh('')).errcode, 41003);
    assert.equal((await refresh('nonsense')).errcode, 40402);
  });

  it('refuses bad credentials (40401) and a spent daily quota (45009), which the next day restores', async (t) => {
    const { issue, tick } = await start(t);
    assert.deepEqual(await issue(APP.appId, 'wrong'), { errcode: 40401, errmsg: 'appid or secret is unauthenticated' });
    assert.equal((await issue('qt_small', 's')).errcode, undefined);
    tick(2000);
    assert.equal((await issue('qt_small', 's')).errcode, undefined);
    tick(2000);
    assert.equal((await issue('qt_small', 's')).errcode, 45009);
    tick(86_400_000);
    assert.equal(typeof (await issue('qt_small', 's')).access_token, 'string');
  });

  it('tells a business call its token is missing (41001), expired (42001) or invalid (40001)', async (t) => {
    const { issue, get, tick, sim } = await start(t, { tokenLifetimeSeconds: 10 });
    const { access_token: token } = await issue();
    assert.equal((await get('/x')).errcode, 41001);
    assert.equal((await get('/x?access_token=made-up')).errcode, 40001);
    tick(10_000);
    assert.equal((await get(`/x?access_token=${token}`)).errcode, 42001);
    tick(2000);
    const { access_token: other } = await issue();
    sim.revoke(other);
    assert.equal((await get(`/x?access_token=${other}`)).errcode, 40001);
  });

  it('counts calls by endpoint and app, and answers the ratelimit fault with 45009', async (t) => {
    const { issue, refresh, sim } = await start(t);
    const { refresh_token: rt } = await issue();
    await refresh(rt);
    await refresh(rt);
    sim.faults.set('ratelimit');
    assert.equal((await refresh(rt)).errcode, 45009);
    assert.equal(sim.counters.count('v1/token', APP.appId), 1);
    assert.equal(sim.counters.count('autoRefreshToken', APP.appId), 3);
    assert.equal(sim.tokensIssued(APP.appId), 3);
  });

  it('issues opaque tokens when asked', async (t) => {
    const { issue } = await start(t, { tokenFormat: 'opaque', reportedLifetimeSeconds: 100 });
    const body = await issue();
    assert.match(body.access_token, /^[0-9a-f]{64}$/);
    assert.equal(body.expires_in, 100);
  });
});
