import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { wecomPlatform } from '../../src/platforms/wecom.js';
import { WECOM_ENDPOINTS, WeComSim, jsapiSignature, startSimulators, type WeComSimApp, type WeComSimOptions } from '../../src/sim/index.js';

const CORP = 'ww0123456789abcdef';
const AGENT_A = { corpId: CORP, corpSecret: 'secret-of-agent-a' };
const AGENT_B = { corpId: CORP, corpSecret: 'secret-of-agent-b', agentId: 1000042 };
const OTHER = { corpId: 'wwother', corpSecret: 'secret-other' };
const T0 = 1_800_000_000_000;
const URL_ = 'https://example.com/wecom/page?x=1';

async function start(t: TestContext, options: Partial<WeComSimOptions> = {}, apps: WeComSimApp[] = [AGENT_A, AGENT_B, OTHER]) {
  let clock = T0;
  const sim = new WeComSim({ apps, now: () => clock, ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  const verify = async (body: unknown): Promise<any> =>
    (await fetch(`${sims.url}/_sim/wecom/jsapi/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  return { sim, base: sims.baseUrl('wecom'), verify, tick: (ms: number) => void (clock += ms), seconds: () => Math.floor(clock / 1000) };
}

async function token(base: string, app: { corpId: string; corpSecret: string } = AGENT_A): Promise<string> {
  return ((await (await fetch(`${base}/cgi-bin/gettoken?${new URLSearchParams({ corpid: app.corpId, corpsecret: app.corpSecret })}`)).json()) as any).access_token;
}

async function corpTicket(base: string, accessToken?: string): Promise<any> {
  const query = accessToken === undefined ? '' : `?access_token=${encodeURIComponent(accessToken)}`;
  return (await fetch(`${base}/cgi-bin/get_jsapi_ticket${query}`)).json();
}

async function agentTicket(base: string, accessToken: string, type = 'agent_config'): Promise<any> {
  return (await fetch(`${base}/cgi-bin/ticket/get?${new URLSearchParams({ access_token: accessToken, type })}`)).json();
}

function signed(ticket: string, timestamp: number, extra: Record<string, unknown>) {
  return { ...extra, timestamp, nonceStr: 'abc', signature: jsapiSignature(ticket, 'abc', timestamp, URL_), url: URL_ };
}

describe('WeComSim JS-SDK tickets', () => {
  it('corp and agent tickets for a valid token, the same while valid, counted under their own names', async (t) => {
    const { sim, base, tick } = await start(t);
    const access = await token(base);
    const corp = await corpTicket(base, access);
    assert.deepEqual([corp.errcode, corp.errmsg, corp.expires_in], [0, 'ok', 7200]);
    const agent = await agentTicket(base, access);
    assert.equal(agent.errcode, 0);
    assert.notEqual(agent.ticket, corp.ticket);
    tick(3600_000);
    const again = await corpTicket(base, access);
    assert.deepEqual([again.ticket, again.expires_in], [corp.ticket, 3600], 'the same ticket, not renewed');
    assert.notEqual((await corpTicket(base, await token(base, AGENT_B))).ticket, corp.ticket, 'each app has its own');

    assert.equal(sim.counters.count(WECOM_ENDPOINTS.token, CORP), 2);
    assert.equal(sim.counters.count(WECOM_ENDPOINTS.ticket, CORP), 3);
    assert.equal(sim.counters.count(WECOM_ENDPOINTS.agentTicket, CORP), 1);
    assert.equal(sim.ticketsIssued(CORP, AGENT_A.corpSecret), 2);
    assert.equal(sim.ticketsIssued(CORP, undefined, 'corp'), 2);

    tick(3600_000);
    assert.equal(sim.isValid(corp.ticket), false);
    assert.notEqual((await corpTicket(base, await token(base))).ticket, corp.ticket);
  });

  it('refuses a missing (41001), unknown or revoked (40014) and expired (42001) token; 40097 for another type', async (t) => {
    const { sim, base, tick } = await start(t);
    assert.equal((await corpTicket(base)).errcode, 41001);
    assert.equal((await corpTicket(base, 'bogus')).errcode, 40014);
    const revoked = await token(base);
    sim.revoke(revoked);
    assert.equal((await corpTicket(base, revoked)).errcode, 40014);
    assert.equal((await agentTicket(base, revoked)).errcode, 40014);
    const old = await token(base, OTHER);
    tick(7200_000);
    const expired = await agentTicket(base, old);
    assert.equal(expired.errcode, 42001);
    assert.match(expired.errmsg, /more info at https:\/\/open\.work\.weixin\.qq\.com\/devtool\/query\?e=42001$/);
    assert.equal((await agentTicket(base, await token(base), 'jsapi')).errcode, 40097);
    assert.equal(sim.ticketsIssued(), 0);
  });

  it('at most 100 fetches per app and 400 per corp an hour (both types together): 45009, reset an hour after the first', async (t) => {
    const agents = [1, 2, 3, 4, 5].map((n) => ({ corpId: CORP, corpSecret: `s${n}` }));
    const { base, tick } = await start(t, {}, [...agents, OTHER]);
    const tokens = await Promise.all(agents.map((a) => token(base, a)));
    const fetchAs = (i: number, n: number) => Promise.all(Array.from({ length: n }, (_, k) => (k % 2 === 0 ? corpTicket(base, tokens[i]) : agentTicket(base, tokens[i]!))));
    const codes = (answers: any[]) => answers.map((a) => a.errcode as number);

    assert.ok(codes(await fetchAs(0, 100)).every((c) => c === 0));
    tick(1000);
    assert.deepEqual(codes(await fetchAs(0, 2)), [45009, 45009], 'the app has had its 100');
    for (const i of [1, 2, 3]) assert.ok(codes(await fetchAs(i, 100)).every((c) => c === 0));
    assert.deepEqual(codes(await fetchAs(4, 1)), [45009], 'the corp has had its 400');
    assert.equal((await corpTicket(base, await token(base, OTHER))).errcode, 0, 'another corp has its own');

    tick(3600_000 - 1001);
    assert.deepEqual(codes(await fetchAs(4, 1)), [45009]);
    tick(1);
    assert.deepEqual(codes(await fetchAs(4, 1)), [0], 'an hour after the corp window opened');
    assert.deepEqual(codes(await fetchAs(0, 1)), [0]);
  });

  it('quotas are options', async (t) => {
    const { base } = await start(t, { jsapiTicketAppQuota: 1 });
    const access = await token(base);
    assert.equal((await corpTicket(base, access)).errcode, 0);
    assert.equal((await agentTicket(base, access)).errcode, 45009);
    assert.throws(() => new WeComSim({ apps: [AGENT_A], jsapiTicketCorpQuota: -1 }), /jsapiTicketCorpQuota/);
  });

  it('ticket faults come apart from the token faults', async (t) => {
    const { sim, base } = await start(t);
    sim.ticketFaults.set('ratelimit');
    const access = await token(base);
    assert.equal((await corpTicket(base, access)).errcode, 45009);
    sim.ticketFaults.set('missing-fields');
    assert.deepEqual(await corpTicket(base, access), { errcode: 0, errmsg: 'ok', expires_in: 7200 });
    sim.reset();
    assert.equal((await corpTicket(base, access)).errcode, 0);
  });
});

describe('WeComSim verifyJsapi', () => {
  it('wx.config against the corp ticket, wx.agentConfig against that agent’s ticket', async (t) => {
    const { sim, base, verify, tick, seconds } = await start(t);
    const accessB = await token(base, AGENT_B);
    const corp = (await corpTicket(base, accessB)).ticket;
    const agent = (await agentTicket(base, accessB)).ticket;

    assert.deepEqual(await verify(signed(corp, seconds(), { appId: CORP })), { ok: true });
    assert.deepEqual(await verify(signed(agent, seconds(), { api: 'agentConfig', corpid: CORP, agentid: AGENT_B.agentId })), { ok: true });
    assert.deepEqual(await verify(signed(agent, seconds(), { api: 'agentConfig', corpid: CORP, agentid: String(AGENT_B.agentId) })), { ok: true });

    assert.equal((await verify(signed(agent, seconds(), { appId: CORP }))).ok, false, 'the agent ticket does not sign wx.config');
    assert.equal((await verify(signed(corp, seconds(), { api: 'agentConfig', corpid: CORP, agentid: AGENT_B.agentId }))).ok, false);
    const otherAgent = await verify(signed(agent, seconds(), { api: 'agentConfig', corpid: CORP, agentid: 1000001 }));
    assert.match(otherAgent.reason, /no valid ticket|does not match/);
    assert.match((await verify(signed(agent, seconds(), { api: 'agentConfig', corpid: CORP, agentid: 7 }))).reason, /no app 7/);
    assert.match((await verify({ ...signed(corp, seconds(), { appId: CORP }), signature: 'f'.repeat(40) })).reason, /does not match/);
    assert.match((await verify(signed(corp, seconds() - 700, { appId: CORP }))).reason, /^timestamp:/);
    assert.match((await verify(signed(corp, seconds(), { api: 'chooseImage', appId: CORP }))).reason, /^api:/);

    sim.revoke(agent);
    assert.match((await verify(signed(agent, seconds(), { api: 'agentConfig', corpid: CORP, agentid: AGENT_B.agentId }))).reason, /no longer valid \(revoked\)/);
    tick(7200_000);
    assert.match((await verify(signed(corp, seconds(), { appId: CORP }))).reason, /no longer valid \(expired\)/);
  });

  it('the platform descriptor passes a configured agentId to the simulator', () => {
    const app = { platform: 'wecom', appId: CORP, appSecret: 's', agentId: '1000777' } as Parameters<typeof wecomPlatform.createSimulator>[1][number];
    const sim = wecomPlatform.createSimulator('wecom', [app], {}) as WeComSim;
    const verdict = sim.verifyJsapi({ api: 'agentConfig', corpid: CORP, agentid: '1000777', timestamp: Math.floor(Date.now() / 1000), nonceStr: 'n', signature: 'f'.repeat(40), url: URL_ });
    assert.deepEqual(verdict, { ok: false, reason: 'no valid ticket: the app has fetched none, or they expired or were revoked' }, 'the agent is known');
    const unnamed = wecomPlatform.createSimulator('wecom', [{ ...app, agentId: undefined } as typeof app], {}) as WeComSim;
    assert.match((unnamed.verifyJsapi({ api: 'agentConfig', corpid: CORP, agentid: '1000001', timestamp: 1, nonceStr: 'n', signature: 'x', url: URL_ }) as { reason: string }).reason, /^timestamp/, 'the default agent id');
  });
});
