import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { FEISHU_ENDPOINTS, FeishuSim, jsapiSignature, startSimulators, type FeishuSimOptions } from '../../src/sim/index.js';

const APP = { appId: 'cli_a1b2c3', appSecret: 'secret-1' };
const OTHER = { appId: 'cli_other', appSecret: 'secret-2' };
const STORE = { appId: 'cli_store', appSecret: 'store-secret', verificationToken: 'vt-1' };
const AUTH = '/open-apis/auth/v3';
const TICKET = '/open-apis/jssdk/ticket/get';
const T0 = 1_800_000_000_000;
const URL_ = 'https://example.com/lark/page?x=1';

async function start(t: TestContext, options: Partial<FeishuSimOptions> = {}) {
  let clock = T0;
  const sim = new FeishuSim({ apps: [APP, OTHER], storeApps: [STORE], now: () => clock, ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  const base = sims.baseUrl(sim.platform);
  const post = async (path: string, body: unknown): Promise<any> =>
    (await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(body) })).json();
  const verify = async (body: unknown): Promise<any> =>
    (await fetch(`${sims.url}/_sim/${sim.platform}/jsapi/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  const tenantToken = async (app = APP): Promise<string> => (await post(`${AUTH}/tenant_access_token/internal`, { app_id: app.appId, app_secret: app.appSecret })).tenant_access_token;
  return { sim, base, post, verify, tenantToken, tick: (ms: number) => void (clock += ms), now: () => clock };
}

async function ticket(base: string, authorization?: string): Promise<{ status: number; headers: Headers; body: any }> {
  const res = await fetch(base + TICKET, { method: 'POST', headers: authorization === undefined ? {} : { authorization } });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

function h5Config(jsTicket: string, timestampMs: number, appId = APP.appId) {
  const timestamp = String(timestampMs);
  return { appId, timestamp, nonceStr: 'lark-nonce', signature: jsapiSignature(jsTicket, 'lark-nonce', timestamp, URL_), url: URL_ };
}

describe('FeishuSim jssdk/ticket/get', () => {
  it('hands out a ticket for a tenant token, counted under its own name', async (t) => {
    const { sim, base, tenantToken } = await start(t);
    const { status, body } = await ticket(base, `Bearer ${await tenantToken()}`);
    assert.equal(status, 200);
    assert.equal(body.code, 0);
    assert.equal(body.msg, 'ok');
    assert.deepEqual(Object.keys(body.data).sort(), ['expire_in', 'ticket']);
    assert.equal(body.data.expire_in, 7200);
    assert.equal(sim.isValid(body.data.ticket), true);
    assert.equal(sim.counters.count(FEISHU_ENDPOINTS.tenant, APP.appId), 1);
    assert.equal(sim.counters.count(FEISHU_ENDPOINTS.ticket, APP.appId), 1);
    assert.equal(sim.ticketsIssued(APP.appId), 1);
  });

  it('follows the 30-minute rule: the same ticket while 30 min or more are left, then a new one (the old lives on)', async (t) => {
    const { sim, base, tenantToken, tick } = await start(t);
    const first = (await ticket(base, `Bearer ${await tenantToken()}`)).body.data;
    tick(5400_000);
    const same = (await ticket(base, `Bearer ${await tenantToken()}`)).body.data;
    assert.deepEqual([same.ticket, same.expire_in], [first.ticket, 1800]);
    tick(1000);
    const next = (await ticket(base, `Bearer ${await tenantToken()}`)).body.data;
    assert.notEqual(next.ticket, first.ticket);
    assert.equal(next.expire_in, 7200);
    assert.equal(sim.isValid(first.ticket), true, 'the old ticket stays valid to its expiry');
    assert.equal(sim.revoke(next.ticket), true);
    assert.equal(sim.isValid(next.ticket), false);
  });

  it('refuses a missing (99991661), non-tenant (99991671) and invalid, revoked or expired (99991663) token with HTTP 400', async (t) => {
    const { sim, base, post, tenantToken, tick } = await start(t);
    const expect = async (authorization: string | undefined, code: number) => {
      const res = await ticket(base, authorization);
      assert.equal(res.status, 400, String(authorization));
      assert.equal(res.body.code, code, String(authorization));
      assert.equal(res.body.data, undefined);
    };
    await expect(undefined, 99991661);
    await expect('Basic abc', 99991661);
    await expect('Bearer not-a-token', 99991671);
    const { app_access_token: appToken } = await post(`${AUTH}/app_access_token/internal`, { app_id: APP.appId, app_secret: APP.appSecret });
    await expect(`Bearer ${appToken}`, 99991671);
    await expect('Bearer t-g104UNKNOWN', 99991663);
    const revoked = await tenantToken(OTHER);
    sim.revoke(revoked);
    await expect(`Bearer ${revoked}`, 99991663);
    const old = await tenantToken(APP);
    tick(7200_000);
    await expect(`Bearer ${old}`, 99991663);
    assert.equal(sim.ticketsIssued(), 0);
  });

  it('store apps: the ticket belongs to the tenant of the tenant token', async (t) => {
    const { sim, base, post, verify, now } = await start(t);
    const { ticket: appTicket } = await sim.pushTicket(STORE.appId);
    const { app_access_token: appToken } = await post(`${AUTH}/app_access_token`, { app_id: STORE.appId, app_secret: STORE.appSecret, app_ticket: appTicket });
    const tenant = async (key: string) => (await post(`${AUTH}/tenant_access_token`, { app_access_token: appToken, tenant_key: key })).tenant_access_token;
    const a = (await ticket(base, `Bearer ${await tenant('tenant-a')}`)).body.data.ticket;
    const b = (await ticket(base, `Bearer ${await tenant('tenant-b')}`)).body.data.ticket;
    assert.notEqual(a, b);
    assert.equal((await ticket(base, `Bearer ${await tenant('tenant-a')}`)).body.data.ticket, a);
    assert.deepEqual([sim.ticketsIssued(STORE.appId), sim.ticketsIssued(STORE.appId, 'tenant-a')], [2, 1]);

    const config = h5Config(a, now(), STORE.appId);
    assert.deepEqual(await verify(config), { ok: true });
    assert.deepEqual(await verify({ ...config, tenantKey: 'tenant-a' }), { ok: true });
    assert.equal((await verify({ ...config, tenantKey: 'tenant-b' })).ok, false, "tenant b's tickets do not sign for tenant a");
  });

  it('rate limited through the ticket faults: 99991400, HTTP 429 and x-ogw-ratelimit-reset', async (t) => {
    const { sim, base, tenantToken } = await start(t);
    const access = await tenantToken();
    sim.ticketFaults.set('ratelimit', { retryAfterSeconds: 7 });
    const limited = await ticket(base, `Bearer ${access}`);
    assert.deepEqual([limited.status, limited.body.code, limited.headers.get('x-ogw-ratelimit-reset')], [429, 99991400, '7']);
    assert.ok(await tenantToken(), 'the token endpoint is not limited');
    sim.ticketFaults.set('missing-fields');
    assert.deepEqual((await ticket(base, `Bearer ${access}`)).body, { code: 0, msg: 'ok', data: { expire_in: 7200 } });
    sim.reset();
    assert.equal((await ticket(base, `Bearer ${access}`)).status, 200);
  });
});

describe('FeishuSim verifyJsapi', () => {
  it('checks h5sdk.config with a timestamp in milliseconds against the app’s valid tickets', async (t) => {
    const { sim, base, verify, tenantToken, tick, now } = await start(t, { platform: 'lark' });
    const jsTicket = (await ticket(base, `Bearer ${await tenantToken()}`)).body.data.ticket;
    assert.deepEqual(await verify(h5Config(jsTicket, now())), { ok: true });
    assert.match((await verify(h5Config(jsTicket, Math.floor(now() / 1000)))).reason, /looks like seconds/);
    assert.match((await verify({ ...h5Config(jsTicket, now()), signature: 'a'.repeat(40) })).reason, /does not match/);
    assert.match((await verify(h5Config(jsTicket, now() - 600_001))).reason, /^timestamp: /);
    assert.equal((await verify(h5Config(jsTicket, now(), OTHER.appId))).ok, false, "another app's ticket");
    assert.match((await verify(h5Config(jsTicket, now(), 'cli_nobody'))).reason, /unknown app/);
    sim.revoke(jsTicket);
    assert.match((await verify(h5Config(jsTicket, now()))).reason, /no longer valid \(revoked\)/);
    const fresh = (await ticket(base, `Bearer ${await tenantToken()}`)).body.data.ticket;
    tick(7200_000);
    assert.match((await verify(h5Config(fresh, now()))).reason, /no longer valid \(expired\)/);
  });
});
