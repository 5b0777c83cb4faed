import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { decrypt, getSignature } from '@wecom/crypto';
import { WECOM_SUITE_ENDPOINTS as E, WeComSuiteSim, jsapiSignature, startSimulators, type WeComSuiteSimOptions } from '../../src/sim/index.js';
import { eventually } from '../helpers/stack.js';
import { wxReceiver, type ReceiverOptions } from './wx-receiver.js';

// The official WeCom vector: its key and token as the suite's, its receive id as the provider's corp id.
const VECTOR = {
  echostr: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
  timestamp: '1409659589',
  nonce: '263014780',
  signature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
  plaintext: '1616140317555161061',
  providerCorpId: 'wx5823bf96d3bd56c7',
};
const SUITE = { suiteId: 'wwsuite00000000001', suiteSecret: 'suite-secret', token: 'QDG6eK', encodingAESKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C' };
const OTHER = { suiteId: 'wwsuite00000000002', suiteSecret: 'other-secret', token: 'other-token', encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' };
const CORP = 'wwcorp000000000001';
const T0 = 1_800_000_000_000;
const S = '/cgi-bin/service';

async function start(t: TestContext, options: Partial<WeComSuiteSimOptions> = {}, receiver: ReceiverOptions = {}) {
  let clock = T0;
  const { url, received } = await wxReceiver(t, SUITE, receiver);
  const sim = new WeComSuiteSim({ apps: [{ ...SUITE, eventUrl: url }, OTHER], providerCorpId: VECTOR.providerCorpId, ticketPushIntervalSeconds: 0, now: () => clock, ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  const base = sims.baseUrl('wecom-suite');
  const post = async (path: string, body: unknown, query: Record<string, string> = {}): Promise<any> =>
    (await fetch(`${base}${path}?${new URLSearchParams(query)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  const get = async (path: string, query: Record<string, string>): Promise<any> => (await fetch(`${base}${path}?${new URLSearchParams(query)}`)).json();
  const control = async (path: string, body: unknown = {}): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${sims.url}/_sim/wecom-suite/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const suiteToken = (ticket: string, app = SUITE): Promise<any> => post(`${S}/get_suite_token`, { suite_id: app.suiteId, suite_secret: app.suiteSecret, suite_ticket: ticket });
  /** A suite token from a freshly pushed suite_ticket. */
  const chain = async (): Promise<string> => (await suiteToken((await sim.pushTicket()).ticket)).suite_access_token;
  const permanent = (token: string, code: string, version = '') => post(`${S}${version}/get_permanent_code`, { auth_code: code }, { suite_access_token: token });
  const corpToken = (token: string, code: string, corpId = CORP) => post(`${S}/get_corp_token`, { auth_corpid: corpId, permanent_code: code }, { suite_access_token: token });
  /** Install in a corp, exchange the pushed AuthCode: the get_permanent_code answer. */
  const install = async (token: string, corpId = CORP): Promise<any> => {
    await sim.createAuth(corpId);
    return permanent(token, received.at(-1)!.message.AuthCode!);
  };
  return { sim, sims, base, received, post, get, control, suiteToken, chain, permanent, corpToken, install, tick: (ms: number) => void (clock += ms) };
}

describe('WeComSuiteSim URL check and suite_ticket', () => {
  it('checks its options, naming the bad one', () => {
    assert.throws(() => new WeComSuiteSim({ apps: [SUITE, SUITE] }), /^TypeError: apps\[1\]\.suiteId: duplicate/);
    assert.throws(() => new WeComSuiteSim({ apps: [{ ...SUITE, token: '' }] }), /^TypeError: apps\[0\]\.token: /);
    assert.throws(() => new WeComSuiteSim({ apps: [SUITE], jsapiTicketAppQuota: -1 }), /^TypeError: jsapiTicketAppQuota: /);
    assert.equal(new WeComSuiteSim({ apps: [SUITE] }).platform, 'wecom-suite');
  });

  it('sends the GET URL check exactly as the official vector, and takes the plaintext back', async (t) => {
    const { sim, received } = await start(t);
    const { random } = decrypt(SUITE.encodingAESKey, VECTOR.echostr);
    const check = await sim.verifyEventUrl(undefined, { timestamp: VECTOR.timestamp, nonce: VECTOR.nonce, random, plaintext: VECTOR.plaintext });
    assert.equal(check.delivered, true);
    const got = received[0]!;
    assert.equal(got.method, 'GET');
    assert.equal(got.query.get('echostr'), VECTOR.echostr);
    assert.equal(got.query.get('msg_signature'), VECTOR.signature);
    assert.equal(got.query.get('timestamp'), VECTOR.timestamp);
    assert.equal(got.query.get('nonce'), VECTOR.nonce);
    assert.equal(got.receiveId, VECTOR.providerCorpId);
    assert.equal(got.body, '');

    const fresh = await sim.verifyEventUrl();
    assert.equal(fresh.delivered, true);
    assert.equal(received[1]!.plaintext, fresh.plaintext);
    assert.equal(sim.counters.count(E.pushDelivered, 'echostr'), 2);
  });

  it('fails a URL check answered with anything but the plaintext', async (t) => {
    const { sim } = await start(t, {}, { reply: (r) => ({ body: `"${r.plaintext}"` }) });
    const check = await sim.verifyEventUrl();
    assert.equal(check.delivered, false);
    assert.equal(sim.counters.count(E.pushFailed, 'echostr'), 1);
  });

  it('pushes suite_ticket encrypted for the suite id; the newest or any unexpired ticket buys a suite token', async (t) => {
    const { sim, received, suiteToken, tick } = await start(t);
    const pushed = await sim.pushTicket();
    assert.equal(pushed.delivered, true);
    const push = received[0]!;
    assert.equal(push.method, 'POST');
    assert.deepEqual([...push.query.keys()].sort(), ['from', 'msg_signature', 'nonce', 'timestamp']);
    assert.equal(push.query.get('msg_signature'), getSignature(SUITE.token, push.query.get('timestamp')!, push.query.get('nonce')!, push.outer.Encrypt!));
    assert.deepEqual(push.outer, { ToUserName: SUITE.suiteId, Encrypt: push.outer.Encrypt, AgentID: '' });
    assert.equal(push.receiveId, SUITE.suiteId);
    assert.deepEqual(push.message, { SuiteId: SUITE.suiteId, InfoType: 'suite_ticket', TimeStamp: String(T0 / 1000), SuiteTicket: pushed.ticket });

    const answer = await suiteToken(pushed.ticket);
    assert.deepEqual(Object.keys(answer), ['suite_access_token', 'expires_in'], 'no errcode on success');
    assert.equal(answer.expires_in, 7200);
    tick(1_799_000);
    assert.ok((await suiteToken(pushed.ticket)).suite_access_token);
    tick(1000);
    assert.equal((await suiteToken(pushed.ticket)).errcode, 40085, 'a ticket lives 30 minutes');
    assert.equal(sim.suiteTokensIssued(SUITE.suiteId), 2);
    assert.equal(sim.counters.count(E.suiteToken, SUITE.suiteId), 3);
  });

  it('refuses bad suite ids (40083), secrets (40080) and tickets (40085)', async (t) => {
    const { sim, post, suiteToken } = await start(t, { onlyLatestTicket: true });
    const { ticket } = await sim.pushTicket();
    const { ticket: othersTicket } = await sim.pushTicket(OTHER.suiteId);
    const ask = (body: Record<string, unknown>) => post(`${S}/get_suite_token`, { suite_id: SUITE.suiteId, suite_secret: SUITE.suiteSecret, suite_ticket: ticket, ...body });
    assert.equal((await ask({ suite_id: 'wwnobody' })).errcode, 40083);
    const wrongSecret = await ask({ suite_secret: 'wrong' });
    assert.equal(wrongSecret.errcode, 40080);
    assert.match(wrongSecret.errmsg, /more info at https:\/\/open\.work\.weixin\.qq\.com\/devtool\/query\?e=40080$/);
    assert.equal((await ask({ suite_ticket: othersTicket })).errcode, 40085);
    assert.equal((await ask({ suite_ticket: undefined })).errcode, 40085);
    const { ticket: newer } = await sim.pushTicket();
    assert.equal((await suiteToken(ticket)).errcode, 40085, 'only the newest when told so');
    assert.ok((await suiteToken(newer)).suite_access_token);
  });

  it('pushes periodically while an event URL is set', async (t) => {
    const { sim, received } = await start(t, { ticketPushIntervalSeconds: 0.05 });
    await eventually(() => received.length >= 2, 3000);
    sim.setEventUrl(undefined);
    const count = received.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.ok(received.length <= count + 1, 'none after the URL is cleared (one may have been in flight)');
  });
});

describe('WeComSuiteSim authorizations', () => {
  it('the token chain: suite_ticket → suite token → create_auth → permanent code → corp token → tickets and business calls', async (t) => {
    const { sim, received, get, chain, permanent, corpToken } = await start(t);
    const token = await chain();
    const pre = await get(`${S}/get_pre_auth_code`, { suite_access_token: token });
    assert.deepEqual([pre.errcode, pre.expires_in, typeof pre.pre_auth_code], [0, 1200, 'string']);
    const created = await sim.createAuth(CORP, { corpName: 'Acme', state: 's1' });
    assert.equal(created.delivered, true);
    assert.deepEqual(received.at(-1)!.message, { SuiteId: SUITE.suiteId, AuthCode: created.authCode, InfoType: 'create_auth', TimeStamp: String(T0 / 1000), State: 's1' });

    const answer = await permanent(token, created.authCode);
    assert.equal(answer.errcode, 0);
    assert.equal(typeof answer.permanent_code, 'string');
    assert.equal(answer.expires_in, 7200);
    assert.deepEqual([answer.auth_corp_info.corpid, answer.auth_corp_info.corp_name], [CORP, 'Acme']);
    assert.equal(answer.auth_info.agent[0].agentid, 1000001);
    assert.equal(answer.state, 's1');
    assert.equal(sim.permanentCodeOf(CORP), answer.permanent_code);
    assert.equal((await permanent(token, created.authCode)).errcode, 40078, 'an AuthCode is single use');

    const corp = await corpToken(token, answer.permanent_code);
    assert.deepEqual(Object.keys(corp), ['errcode', 'errmsg', 'access_token', 'expires_in']);
    const business = await get('/cgi-bin/user/get', { access_token: corp.access_token, userid: 'u1' });
    assert.deepEqual(business, { errcode: 0, errmsg: 'ok', corpid: CORP, agentid: 1000001, suite_id: SUITE.suiteId, method: 'GET', path: '/cgi-bin/user/get', query: { userid: 'u1' } });
    const corpTicket = await get('/cgi-bin/get_jsapi_ticket', { access_token: corp.access_token });
    const agentTicket = await get('/cgi-bin/ticket/get', { access_token: answer.access_token, type: 'agent_config' });
    assert.deepEqual([corpTicket.errcode, agentTicket.errcode, corpTicket.expires_in], [0, 0, 7200]);
    assert.notEqual(corpTicket.ticket, agentTicket.ticket);
    assert.equal((await get('/cgi-bin/ticket/get', { access_token: corp.access_token, type: 'jsapi' })).errcode, 40097);
    assert.equal(sim.corpTokensIssued(CORP), 2, "get_permanent_code's token and get_corp_token's");
    assert.equal(sim.ticketsIssued(CORP), 2);
    for (const [name, n] of [[E.permanentCode, 2], [E.corpToken, 1], [E.ticket, 1], [E.agentTicket, 2], [E.business, 1]] as const) {
      assert.equal(sim.counters.count(name, name === E.permanentCode ? undefined : CORP), n, name);
    }

    const v2 = await sim.createAuth('wwcorp000000000002');
    const answer2 = await permanent(token, v2.authCode, '/v2');
    assert.equal(answer2.access_token, undefined, 'v2 answers without a corp token');
    assert.equal(answer2.auth_info.agent[0].agentid, 1000001);
  });

  it('ties tokens and codes to their suite and corp: 40082, 42009, 40078, 40084, 40014, 42001', async (t) => {
    const { sim, get, chain, permanent, corpToken, install, suiteToken, tick } = await start(t, { tokenLifetimeSeconds: 600, authCodeLifetimeSeconds: 60 });
    const token = await chain();
    const granted = await install(token);
    assert.equal((await get(`${S}/get_pre_auth_code`, { suite_access_token: granted.access_token })).errcode, 40082, 'a corp token is no suite token');
    assert.equal((await get(`${S}/get_pre_auth_code`, {})).errcode, 41022);
    assert.equal((await get('/cgi-bin/user/get', { access_token: token })).errcode, 40014, 'a suite token is no corp token');
    const othersToken = (await suiteToken((await sim.pushTicket(OTHER.suiteId)).ticket, OTHER)).suite_access_token;
    assert.equal((await corpToken(othersToken, granted.permanent_code)).errcode, 40084, "another suite's permanent code");
    const othersCode = (await sim.createAuth(CORP, { suiteId: OTHER.suiteId })).authCode;
    assert.equal((await permanent(token, othersCode)).errcode, 40078, "another suite's AuthCode");
    assert.equal((await corpToken(token, granted.permanent_code, 'wwcorp000000000009')).errcode, 40084);
    const late = (await sim.createAuth('wwcorp000000000003')).authCode;
    tick(60_000);
    assert.equal((await permanent(token, late)).errcode, 40078, 'an AuthCode lives 10 minutes (here 60 s)');
    tick(540_000);
    assert.equal((await get(`${S}/get_pre_auth_code`, { suite_access_token: token })).errcode, 42009);
    assert.equal((await get('/cgi-bin/user/get', { access_token: granted.access_token })).errcode, 42001);
  });

  it('cancel_auth: pushed; the permanent code answers 40084, the corp tokens 48004; installing again starts anew', async (t) => {
    const { sim, received, get, chain, corpToken, install } = await start(t);
    const token = await chain();
    const granted = await install(token);
    const corp = (await corpToken(token, granted.permanent_code)).access_token;
    const cancelled = await sim.cancelAuth(CORP);
    assert.equal(cancelled.delivered, true);
    assert.deepEqual(received.at(-1)!.message, { SuiteId: SUITE.suiteId, InfoType: 'cancel_auth', TimeStamp: String(T0 / 1000), AuthCorpId: CORP });
    assert.equal((await corpToken(token, granted.permanent_code)).errcode, 40084);
    assert.equal((await get('/cgi-bin/user/get', { access_token: corp })).errcode, 48004);
    assert.equal((await get('/cgi-bin/get_jsapi_ticket', { access_token: granted.access_token })).errcode, 48004);
    assert.equal(sim.isValid(corp), false);
    assert.equal(sim.permanentCodeOf(CORP), undefined);
    await assert.rejects(sim.cancelAuth(CORP), RangeError);
    const again = await install(token);
    assert.notEqual(again.permanent_code, granted.permanent_code);
    assert.equal((await corpToken(token, again.permanent_code)).errcode, 0);
  });

  it('reset_permanent_code: the old code answers 40084 at once; the pushed AuthCode brings the new one', async (t) => {
    const { sim, received, chain, permanent, corpToken, install } = await start(t);
    const token = await chain();
    const granted = await install(token);
    const reset = await sim.resetPermanentCode(CORP);
    assert.deepEqual(received.at(-1)!.message, { SuiteId: SUITE.suiteId, AuthCode: reset.authCode, InfoType: 'reset_permanent_code', TimeStamp: String(T0 / 1000) });
    assert.equal((await corpToken(token, granted.permanent_code)).errcode, 40084);
    const renewed = await permanent(token, reset.authCode);
    assert.notEqual(renewed.permanent_code, granted.permanent_code);
    assert.equal((await corpToken(token, renewed.permanent_code)).errcode, 0);
    assert.equal(sim.permanentCodeOf(CORP), renewed.permanent_code);
  });

  it('change_auth: pushed, the permanent code unchanged; get_auth_info answers with it', async (t) => {
    const { sim, received, post, chain, corpToken, install } = await start(t);
    const token = await chain();
    const granted = await install(token);
    await sim.changeAuth(CORP, { state: 's2' });
    assert.deepEqual(received.at(-1)!.message, { SuiteId: SUITE.suiteId, InfoType: 'change_auth', TimeStamp: String(T0 / 1000), AuthCorpId: CORP, State: 's2' });
    assert.equal((await corpToken(token, granted.permanent_code)).errcode, 0);
    const info = await post(`${S}/get_auth_info`, { auth_corpid: CORP, permanent_code: granted.permanent_code }, { suite_access_token: token });
    assert.deepEqual([info.errcode, info.auth_corp_info.corpid, info.auth_info.agent[0].agentid], [0, CORP, 1000001]);
    await assert.rejects(sim.createAuth(CORP), RangeError, 'an active authorization is changed, not created');
  });
});

describe('WeComSuiteSim tickets, faults, control', () => {
  it("counts the corp's and the app's hourly ticket quotas (45009) and verifies signed pages", async (t) => {
    const { sims, get, chain, install, tick } = await start(t, { jsapiTicketCorpQuota: 3, jsapiTicketAppQuota: 2 });
    const granted = await install(await chain());
    const ticket = (path: string) => get(path, { access_token: granted.access_token, type: 'agent_config' });
    const corp = await ticket('/cgi-bin/get_jsapi_ticket');
    const agent = await ticket('/cgi-bin/ticket/get');
    assert.equal((await ticket('/cgi-bin/get_jsapi_ticket')).errcode, 45009, "the app's 2");
    tick(3600_000);
    assert.equal((await ticket('/cgi-bin/get_jsapi_ticket')).errcode, 0);

    const timestamp = Math.floor((T0 + 3600_000) / 1000);
    const url = 'https://example.com/page';
    const verify = async (config: Record<string, unknown>): Promise<any> =>
      (await fetch(`${sims.url}/_sim/wecom-suite/jsapi/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) })).json();
    const sign = (t: string) => ({ timestamp, nonceStr: 'n', signature: jsapiSignature(t, 'n', timestamp, url), url });
    assert.deepEqual(await verify({ appId: CORP, ...sign(corp.ticket) }), { ok: true });
    assert.deepEqual(await verify({ api: 'agentConfig', corpid: CORP, agentid: 1000001, ...sign(agent.ticket) }), { ok: true });
    assert.equal((await verify({ api: 'agentConfig', corpid: CORP, agentid: 1000001, ...sign(corp.ticket) })).ok, false);
  });

  it('applies faults to the token endpoints and ticket faults to the ticket endpoints', async (t) => {
    const { sim, base, get, chain, install, suiteToken, corpToken } = await start(t);
    const { ticket } = await sim.pushTicket();
    const token = await chain();
    const granted = await install(token);
    const raw = async (path: string): Promise<{ status: number; type: string | null; text: string }> => {
      const res = await fetch(`${base}${path}`, { method: 'POST', body: '{}' });
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    };
    sim.faults.set('status500');
    assert.equal((await raw(`${S}/get_suite_token`)).status, 500);
    sim.faults.set('html');
    assert.match((await raw(`${S}/get_corp_token`)).type!, /^text\/html/);
    sim.faults.set('garbage');
    const garbage = await raw(`${S}/get_permanent_code`);
    assert.throws(() => JSON.parse(garbage.text), SyntaxError);
    sim.faults.set('missing-fields');
    assert.deepEqual(await corpToken(token, granted.permanent_code), { errcode: 0, errmsg: 'ok', expires_in: 7200 });
    sim.faults.set('ratelimit');
    assert.equal((await suiteToken(ticket)).errcode, 45009);
    sim.faults.set('down');
    await assert.rejects(suiteToken(ticket));
    assert.equal((await get('/cgi-bin/get_jsapi_ticket', { access_token: granted.access_token })).errcode, 0, 'not a token endpoint');
    sim.faults.set('slow', { delayMs: 60 });
    const started = Date.now();
    assert.ok((await suiteToken(ticket)).suite_access_token);
    assert.ok(Date.now() - started >= 55);
    sim.faults.set('none');
    sim.ticketFaults.set('html');
    await assert.rejects(get('/cgi-bin/get_jsapi_ticket', { access_token: granted.access_token }), SyntaxError);
    sim.ticketFaults.set('none');
    sim.script.push({ body: { errcode: -1, errmsg: 'system busy' } });
    assert.equal((await corpToken(token, granted.permanent_code)).errcode, -1);
    assert.equal((await corpToken(token, granted.permanent_code)).errcode, 0);
  });

  it('counts a push answered otherwise than "success" as failed', async (t) => {
    const { sim } = await start(t, {}, { reply: () => ({ status: 500, body: 'error' }) });
    assert.equal((await sim.pushTicket()).delivered, false);
    assert.equal((await sim.createAuth(CORP)).delivered, false);
    assert.equal(sim.counters.count(E.pushFailed), 2);
    assert.deepEqual(sim.pushes.list().map((p) => [p.infoType, p.status]), [['suite_ticket', 500], ['create_auth', 500]]);
  });

  it('drives pushes and authorizations through /_sim/wecom-suite/…', async (t) => {
    const { sims, received, control, chain, permanent } = await start(t);
    assert.equal((await control('verify-url')).body.delivered, true);
    assert.equal((await control('verify-url', { receiveId: SUITE.suiteId })).body.delivered, true, 'any receive id decrypts; the receiver sees which');
    assert.equal(received.at(-1)!.receiveId, SUITE.suiteId);
    assert.equal((await control('push-ticket')).body.infoType, 'suite_ticket');
    const created = await control('create-auth', { corpId: CORP, agentId: 1000042 });
    const granted = await permanent(await chain(), created.body.authCode);
    assert.equal(granted.auth_info.agent[0].agentid, 1000042);
    assert.equal((await control('change-auth', { corpId: CORP })).body.infoType, 'change_auth');
    const reset = await control('reset-permanent-code', { corpId: CORP });
    assert.equal(typeof reset.body.authCode, 'string');
    assert.equal((await control('cancel-auth', { corpId: CORP })).body.infoType, 'cancel_auth');
    assert.equal((await control('cancel-auth', { corpId: CORP })).status, 400);
    assert.equal((await control('create-auth', { corpId: CORP, agentId: 'x' })).status, 400);
    assert.equal((await control('push-ticket', { suiteId: 'wwnobody' })).status, 400);
    assert.deepEqual((await control('event-url', { suiteId: OTHER.suiteId, url: 'http://127.0.0.1:1/' })).body, { suiteId: OTHER.suiteId, eventUrl: 'http://127.0.0.1:1/' });
    const log: any = await (await fetch(`${sims.url}/_sim/wecom-suite/pushes`)).json();
    assert.deepEqual(
      log.pushes.map((p: any) => p.infoType),
      ['echostr', 'echostr', 'suite_ticket', 'create_auth', 'suite_ticket', 'change_auth', 'reset_permanent_code', 'cancel_auth'],
    );
    const stats: any = await (await fetch(`${sims.url}/_sim/wecom-suite/reset`, { method: 'POST' })).json();
    assert.equal(stats.counters.total, 0);
    assert.deepEqual((await (await fetch(`${sims.url}/_sim/wecom-suite/pushes`)).json()), { pushes: [] });
  });
});
