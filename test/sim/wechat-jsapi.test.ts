import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { WECHAT_ENDPOINTS, WeChatSim, cardSignature, jsapiSignature, startSimulators, type WeChatSimOptions } from '../../src/sim/index.js';

const APP = { appId: 'wx0123456789abcdef', appSecret: 'secret-1' };
const OTHER = { appId: 'wxother', appSecret: 'secret-2' };
const T0 = Date.UTC(2026, 0, 10, 4, 0, 0); // noon in China
const URL_ = 'https://example.com/page?x=1';

async function start(t: TestContext, options: Partial<WeChatSimOptions> = {}) {
  let clock = T0;
  const sim = new WeChatSim({ apps: [APP, OTHER], now: () => clock, ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  const base = sims.baseUrl('wechat');
  const control = async (path: string, body: unknown): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${sims.url}/_sim/wechat/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  return { sim, base, control, tick: (ms: number) => void (clock += ms), now: () => clock };
}

async function token(base: string, app = APP, classic = false): Promise<string> {
  const res = classic
    ? await fetch(`${base}/cgi-bin/token?${new URLSearchParams({ grant_type: 'client_credential', appid: app.appId, secret: app.appSecret })}`)
    : await fetch(`${base}/cgi-bin/stable_token`, { method: 'POST', body: JSON.stringify({ grant_type: 'client_credential', appid: app.appId, secret: app.appSecret }) });
  return ((await res.json()) as any).access_token;
}

/** `type: null` leaves the type out. */
async function ticket(base: string, accessToken?: string, type: string | null = 'jsapi'): Promise<any> {
  const query = new URLSearchParams();
  if (accessToken !== undefined) query.set('access_token', accessToken);
  if (type !== null) query.set('type', type);
  const res = await fetch(`${base}/cgi-bin/ticket/getticket?${query}`);
  assert.equal(res.status, 200);
  return res.json();
}

function page(jsapiTicket: string, timestampSeconds: number, url = URL_) {
  const nonceStr = 'n0nce';
  return { appId: APP.appId, timestamp: timestampSeconds, nonceStr, signature: jsapiSignature(jsapiTicket, nonceStr, timestampSeconds, url), url };
}

describe('WeChatSim ticket/getticket', () => {
  it('hands out a ticket for a valid token, the same one while it is valid, counted apart from tokens', async (t) => {
    const { sim, base, tick } = await start(t);
    const access = await token(base);
    const first = await ticket(base, access);
    assert.equal(first.errcode, 0);
    assert.equal(first.errmsg, 'ok');
    assert.equal(first.expires_in, 7200);
    assert.match(first.ticket, /^[\w-]{80,}$/);
    assert.equal(sim.isValid(first.ticket), true);

    tick(1000_000);
    const again = await ticket(base, access);
    assert.deepEqual([again.ticket, again.expires_in], [first.ticket, 6200]);
    const card = await ticket(base, access, 'wx_card');
    assert.notEqual(card.ticket, first.ticket, 'the card api_ticket is a ticket of its own');

    assert.equal(sim.counters.count(WECHAT_ENDPOINTS.stable, APP.appId), 1);
    assert.equal(sim.counters.count(WECHAT_ENDPOINTS.ticket, APP.appId), 2);
    assert.equal(sim.counters.count(WECHAT_ENDPOINTS.cardTicket, APP.appId), 1);
    assert.deepEqual([sim.ticketsIssued(APP.appId, 'jsapi'), sim.ticketsIssued(APP.appId, 'wx_card')], [1, 1]);

    tick(6200_000);
    assert.equal(sim.isValid(first.ticket), false);
    const renewed = await ticket(base, await token(base));
    assert.notEqual(renewed.ticket, first.ticket, 'a new ticket after expiry');
    assert.equal(sim.revoke(renewed.ticket), true);
    assert.notEqual((await ticket(base, await token(base))).ticket, renewed.ticket, 'a new ticket after a revocation');
  });

  it('refuses a missing (41001), revoked or superseded (40001) and expired (42001) token; 40097 for a bad type', async (t) => {
    const { sim, base, tick } = await start(t, { rotationOverlapSeconds: 10 });
    assert.equal((await ticket(base)).errcode, 41001);
    assert.equal((await ticket(base, 'bogus')).errcode, 40001);
    const revoked = await token(base);
    sim.revoke(revoked);
    assert.equal((await ticket(base, revoked)).errcode, 40001);

    const classic = await token(base, APP, true);
    await token(base, APP, true);
    tick(11_000);
    assert.equal((await ticket(base, classic)).errcode, 40001, 'a classic token past its overlap is "not latest"');
    const expiring = await token(base, OTHER);
    tick(7200_000);
    const expired = await ticket(base, expiring);
    assert.equal(expired.errcode, 42001);
    assert.equal(expired.ticket, undefined);

    const fresh = await token(base);
    assert.equal((await ticket(base, fresh, null)).errcode, 40097);
    assert.equal((await ticket(base, fresh, 'jsapi2')).errcode, 40097);
    assert.equal(sim.ticketsIssued(), 0);
    assert.equal(sim.counters.count(WECHAT_ENDPOINTS.ticket, ''), 5, 'calls with a bad token count under no app');
  });

  it('a daily quota (45009) per account for both types together, reset the next China day', async (t) => {
    const { base, tick, now } = await start(t, { jsapiTicketDailyQuota: 3 });
    const access = await token(base);
    for (const type of ['jsapi', 'wx_card', 'jsapi']) assert.equal((await ticket(base, access, type)).errcode, 0);
    assert.equal((await ticket(base, access)).errcode, 45009);
    assert.equal((await ticket(base, await token(base, OTHER))).errcode, 0, 'the quota is per account');
    const midnightChina = Math.ceil((now() + 8 * 3_600_000) / 86_400_000) * 86_400_000 - 8 * 3_600_000;
    tick(midnightChina - now() - 1);
    assert.equal((await ticket(base, await token(base))).errcode, 45009);
    tick(1);
    assert.equal((await ticket(base, await token(base))).errcode, 0);
  });

  it('an optional per-minute limit (45011), on the clock minute', async (t) => {
    const { base, tick } = await start(t, { jsapiTicketMinuteQuota: 2 });
    const access = await token(base);
    assert.equal((await ticket(base, access)).errcode, 0);
    assert.equal((await ticket(base, access)).errcode, 0);
    assert.equal((await ticket(base, access)).errcode, 45011);
    tick(60_000);
    assert.equal((await ticket(base, access)).errcode, 0);
  });

  it('ticket faults are set apart from the token faults, by the control API', async (t) => {
    const { sim, base, control } = await start(t);
    const access = await token(base);
    assert.equal((await control('jsapi/fault', { mode: 'status500' })).body.ticketFault.mode, 'status500');
    assert.equal((await fetch(`${base}/cgi-bin/ticket/getticket?access_token=${access}&type=jsapi`)).status, 500);
    assert.ok(await token(base), 'tokens still come');
    await control('jsapi/fault', { mode: 'html' });
    assert.match((await fetch(`${base}/cgi-bin/ticket/getticket?access_token=${access}&type=jsapi`)).headers.get('content-type')!, /text\/html/);
    await control('jsapi/fault', { mode: 'garbage' });
    await assert.rejects((await fetch(`${base}/cgi-bin/ticket/getticket?access_token=${access}&type=jsapi`)).json());
    await control('jsapi/fault', { mode: 'down' });
    await assert.rejects(fetch(`${base}/cgi-bin/ticket/getticket?access_token=${access}&type=jsapi`));
    await control('jsapi/fault', { mode: 'ratelimit' });
    assert.equal((await ticket(base, access)).errcode, 45011);
    await control('jsapi/fault', { mode: 'slow', delayMs: 50 });
    const started = performance.now();
    assert.equal((await ticket(base, access)).errcode, 0);
    assert.ok(performance.now() - started >= 45);
    sim.ticketScript.push({ body: { errcode: -1, errmsg: 'system busy' } });
    assert.equal((await ticket(base, access)).errcode, -1);
    await control('reset', {});
    assert.equal(sim.ticketFaults.mode, 'none');
    assert.equal((await control('jsapi/fault', { mode: 'nope' })).status, 400);
  });
});

describe('WeChatSim verifyJsapi', () => {
  it('accepts a wx.config signed with a valid jsapi ticket; refuses a wrong signature, a stale timestamp, a revoked ticket, another account', async (t) => {
    const { sim, base, control, tick, now } = await start(t);
    const { ticket: jsapi } = await ticket(base, await token(base));
    const seconds = () => Math.floor(now() / 1000);
    assert.deepEqual((await control('jsapi/verify', page(jsapi, seconds()))).body, { ok: true });
    assert.deepEqual((await control('jsapi/verify', { ...page(jsapi, seconds()), jsApiList: ['scanQRCode'], debug: false, url: `${URL_}#top` })).body, { ok: true }, 'the fragment is not signed');

    const wrong = await control('jsapi/verify', { ...page(jsapi, seconds()), nonceStr: 'other' });
    assert.equal(wrong.status, 200);
    assert.equal(wrong.body.ok, false);
    assert.match(wrong.body.reason, /signature: does not match/);
    const signedAt = seconds();
    tick(601_000);
    assert.match((await control('jsapi/verify', page(jsapi, signedAt))).body.reason, /^timestamp: .*more than the 600 s allowed/);
    assert.deepEqual((await control('jsapi/verify', page(jsapi, seconds()))).body, { ok: true });

    const { ticket: otherTicket } = await ticket(base, await token(base, OTHER));
    assert.equal((await control('jsapi/verify', page(otherTicket, seconds()))).body.ok, false, "another account's ticket signs nothing for this one");
    assert.deepEqual(sim.verifyJsapi({ ...page(otherTicket, seconds()), appId: OTHER.appId }), { ok: true });
    assert.match((await control('jsapi/verify', { ...page(jsapi, seconds()), appId: 'wxnobody' })).body.reason, /unknown account/);

    sim.revoke(jsapi);
    assert.match((await control('jsapi/verify', page(jsapi, seconds()))).body.reason, /no longer valid \(revoked\)/);
  });

  it('checks a card signature made with the wx_card api_ticket', async (t) => {
    const { sim, base, now } = await start(t);
    const access = await token(base);
    const { ticket: apiTicket } = await ticket(base, access, 'wx_card');
    const { ticket: jsapi } = await ticket(base, access);
    const timestamp = String(Math.floor(now() / 1000));
    const card = { api: 'cardSign', appId: APP.appId, timestamp, nonceStr: 'n1', cardId: 'pDF3iY9tv9zCGCj4jTXFOo1DxHdo', code: '123', openid: 'o1' };
    const sign = (t1: string) => cardSignature([t1, timestamp, 'n1', card.cardId, card.code, card.openid]);
    assert.deepEqual(sim.verifyJsapi({ ...card, cardSign: sign(apiTicket) }), { ok: true });
    assert.equal(sim.verifyJsapi({ ...card, cardSign: sign(jsapi) }).ok, false, 'the jsapi ticket does not sign cards');
    assert.equal(sim.verifyJsapi({ ...card, code: '124', cardSign: sign(apiTicket) }).ok, false);
  });
});
