import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { dingtalkPlatform } from '../../src/platforms/dingtalk.js';
import { DINGTALK_ENDPOINTS, DingTalkSim, jsapiSignature, startSimulators, type DingTalkSimApp, type DingTalkSimOptions } from '../../src/sim/index.js';

const APP = { appKey: 'dingabc123', appSecret: 'secret-1', corpId: 'ding0corp', agentId: '3000001' };
const LOOSE = { appKey: 'dingloose', appSecret: 'secret-2' };
const T0 = 1_800_000_000_000;
const HOUR = 3600_000;
const URL_ = 'https://example.com/dd/page';

async function start(t: TestContext, options: Partial<DingTalkSimOptions> = {}, apps: DingTalkSimApp[] = [APP, LOOSE]) {
  let clock = T0;
  const sim = new DingTalkSim({ apps, now: () => clock, ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  const verify = async (body: unknown): Promise<any> =>
    (await fetch(`${sims.url}/_sim/dingtalk/jsapi/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  return { sim, base: sims.baseUrl('dingtalk'), verify, tick: (ms: number) => void (clock += ms), seconds: () => Math.floor(clock / 1000) };
}

async function token(base: string, app: { appKey: string; appSecret: string } = APP): Promise<string> {
  const res = await fetch(`${base}/v1.0/oauth2/accessToken`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ appKey: app.appKey, appSecret: app.appSecret }) });
  return ((await res.json()) as any).accessToken;
}

async function v1Ticket(base: string, accessToken?: string): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/v1.0/oauth2/jsapiTickets`, { method: 'POST', headers: accessToken === undefined ? {} : { 'x-acs-dingtalk-access-token': accessToken } });
  return { status: res.status, body: await res.json() };
}

async function legacyTicket(base: string, accessToken?: string): Promise<any> {
  const query = accessToken === undefined ? '' : `?access_token=${encodeURIComponent(accessToken)}`;
  return (await fetch(`${base}/get_jsapi_ticket${query}`)).json();
}

function ddConfig(ticket: string, timeStamp: number, ids: { corpId: string; agentId: string } = APP) {
  return { agentId: ids.agentId, corpId: ids.corpId, timeStamp, nonceStr: 'dd-nonce', signature: jsapiSignature(ticket, 'dd-nonce', timeStamp, URL_), url: URL_ };
}

describe('DingTalkSim JS-SDK tickets', () => {
  it('one ticket per app on both APIs, in each API’s shape, counted under its own names', async (t) => {
    const { sim, base } = await start(t);
    const access = await token(base);
    const v1 = await v1Ticket(base, access);
    assert.equal(v1.status, 200);
    assert.deepEqual(Object.keys(v1.body).sort(), ['expireIn', 'jsapiTicket']);
    assert.equal(v1.body.expireIn, 7200);
    const legacy = await legacyTicket(base, access);
    assert.deepEqual(legacy, { errcode: 0, errmsg: 'ok', ticket: v1.body.jsapiTicket, expires_in: 7200 });
    assert.notEqual((await v1Ticket(base, await token(base, LOOSE))).body.jsapiTicket, v1.body.jsapiTicket);
    assert.equal(sim.counters.count(DINGTALK_ENDPOINTS.v1, APP.appKey), 1);
    assert.equal(sim.counters.count(DINGTALK_ENDPOINTS.v1Ticket, APP.appKey), 1);
    assert.equal(sim.counters.count(DINGTALK_ENDPOINTS.legacyTicket, APP.appKey), 1);
    assert.equal(sim.ticketsIssued(APP.appKey), 1);
  });

  it('a repeat fetch within validity renews the same ticket to 2 h from now, never past 24 h from its creation', async (t) => {
    const { sim, base, tick } = await start(t);
    let access = await token(base);
    const first = (await v1Ticket(base, access)).body.jsapiTicket;
    for (let hour = 1; hour <= 22; hour++) {
      tick(HOUR);
      access = await token(base);
      const again = (await v1Ticket(base, access)).body;
      assert.deepEqual([again.jsapiTicket, again.expireIn], [first, 7200], `after ${hour} h`);
    }
    tick(HOUR); // 23 h: one hour left to the cap
    access = await token(base);
    assert.deepEqual((await legacyTicket(base, access)).expires_in, 3600);
    tick(HOUR - 1000);
    assert.equal(sim.isValid(first), true);
    tick(1000);
    assert.equal(sim.isValid(first), false, '24 h after its creation');
    const next = (await v1Ticket(base, access)).body;
    assert.notEqual(next.jsapiTicket, first);
    assert.equal(next.expireIn, 7200);
  });

  it('an unrenewed ticket expires after 2 h; a revoked one is replaced', async (t) => {
    const { sim, base, tick } = await start(t);
    const first = (await v1Ticket(base, await token(base))).body.jsapiTicket;
    tick(2 * HOUR);
    const second = (await v1Ticket(base, await token(base))).body.jsapiTicket;
    assert.notEqual(second, first);
    assert.equal(sim.revoke(second), true);
    assert.notEqual((await v1Ticket(base, await token(base))).body.jsapiTicket, second);
  });

  it('refuses a bad token: v1 HTTP 401 InvalidAuthentication (400 MissingParameter without one), legacy 40014 / 42001', async (t) => {
    const { sim, base, tick } = await start(t);
    const missing = await v1Ticket(base);
    assert.deepEqual([missing.status, missing.body.code], [400, 'MissingParameter']);
    const bogus = await v1Ticket(base, 'bogus');
    assert.deepEqual([bogus.status, bogus.body.code], [401, 'InvalidAuthentication']);
    assert.match(bogus.body.requestid, /^[0-9A-F-]{36}$/);
    assert.equal((await legacyTicket(base)).errcode, 40014);
    assert.equal((await legacyTicket(base, 'bogus')).errcode, 40014);

    const revoked = await token(base);
    sim.revoke(revoked);
    assert.equal((await v1Ticket(base, revoked)).status, 401);
    assert.equal((await legacyTicket(base, revoked)).errcode, 40014);
    const old = await token(base, LOOSE);
    tick(7200_000);
    assert.equal((await legacyTicket(base, old)).errcode, 42001);
    assert.equal((await v1Ticket(base, old)).status, 401);
    assert.equal(sim.ticketsIssued(), 0);
  });

  it('ticket faults (control API modes) and the QPS limit apply to the ticket endpoints', async (t) => {
    const { sim, base } = await start(t, { qpsPerApi: 2 });
    const access = await token(base);
    sim.ticketFaults.set('ratelimit');
    const limited = await v1Ticket(base, access);
    assert.deepEqual([limited.status, limited.body.code], [403, 'Forbidden.AccessDenied.QpsLimitForAppkeyAndApi']);
    assert.equal((await legacyTicket(base, access)).errcode, 90018);
    sim.ticketFaults.set('status500');
    assert.equal((await fetch(`${base}/get_jsapi_ticket?access_token=${access}`)).status, 500);
    sim.ticketFaults.set('none');
    assert.equal((await v1Ticket(base, access)).status, 200);
    assert.equal((await v1Ticket(base, access)).status, 200);
    assert.equal((await v1Ticket(base, access)).status, 403, 'a third call within the second');
  });
});

describe('DingTalkSim verifyJsapi', () => {
  it('checks dd.config against the valid tickets of the apps its corpId and agentId fit', async (t) => {
    const { sim, base, verify, tick, seconds } = await start(t);
    const ticket = (await v1Ticket(base, await token(base))).body.jsapiTicket;
    assert.deepEqual(await verify(ddConfig(ticket, seconds())), { ok: true });
    assert.match((await verify({ ...ddConfig(ticket, seconds()), signature: '0'.repeat(40) })).reason, /does not match/);
    assert.match((await verify({ ...ddConfig(ticket, seconds()), timestamp: seconds(), timeStamp: undefined })).reason, /^timeStamp: missing/);
    assert.match((await verify(ddConfig(ticket, seconds() - 601))).reason, /^timeStamp: .*600 s allowed/);
    // Agent 999 is not APP's; only LOOSE (no ids configured) fits, and it has no ticket yet.
    assert.match((await verify(ddConfig(ticket, seconds(), { corpId: APP.corpId, agentId: '999' }))).reason, /^no valid ticket/);

    // An app without configured ids takes the values it is given.
    const loose = (await v1Ticket(base, await token(base, LOOSE))).body.jsapiTicket;
    assert.deepEqual(await verify(ddConfig(loose, seconds(), { corpId: 'any-corp', agentId: '1' })), { ok: true });
    assert.equal((await verify(ddConfig(ticket, seconds(), { corpId: 'any-corp', agentId: '1' }))).ok, false, 'but not another app’s ticket with ids that fit only it');

    sim.revoke(ticket);
    assert.match((await verify(ddConfig(ticket, seconds()))).reason, /no longer valid \(revoked\)/);
    tick(2 * HOUR);
    assert.match((await verify(ddConfig(loose, seconds(), { corpId: 'x', agentId: '1' }))).reason, /no longer valid \(expired\)/);
  });

  it('the platform descriptor passes configured corpId and agentId, and scales the ticket lifetime', async (t) => {
    const app = { platform: 'dingtalk', appId: 'dingk', appSecret: 's', api: 'v1', corpId: 'dingcorp', agentId: '42' } as Parameters<typeof dingtalkPlatform.createSimulator>[1][number];
    const sim = dingtalkPlatform.createSimulator('dingtalk', [app], { lifetime: 60 }) as DingTalkSim;
    const sims = await startSimulators({ sims: [sim] });
    t.after(() => sims.close());
    const base = sims.baseUrl('dingtalk');
    const { body } = await v1Ticket(base, await token(base, { appKey: 'dingk', appSecret: 's' }));
    assert.ok(body.expireIn === 60 || body.expireIn === 59, `expireIn ${body.expireIn}: the lifetime, less a second boundary crossed on the way`);
    const now = Math.floor(Date.now() / 1000);
    assert.match((sim.verifyJsapi(ddConfig(body.jsapiTicket, now, { corpId: 'other', agentId: '42' })) as { reason: string }).reason, /no app of corp other/);
    assert.deepEqual(sim.verifyJsapi(ddConfig(body.jsapiTicket, now, { corpId: 'dingcorp', agentId: '42' })), { ok: true });
  });

  it('rejects bad ticket options', () => {
    assert.throws(() => new DingTalkSim({ apps: [LOOSE], jsapiTicketLifetimeSeconds: 100, jsapiTicketMaxLifetimeSeconds: 50 }), /jsapiTicketMaxLifetimeSeconds/);
    assert.throws(() => new DingTalkSim({ apps: [{ ...LOOSE, corpId: '' }] }), /apps\[0\]\.corpId/);
  });
});
