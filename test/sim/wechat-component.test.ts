import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { getSignature } from '@wecom/crypto';
import { WECHAT_COMPONENT_ENDPOINTS as E, WeChatComponentSim, jsapiSignature, plainSignature, startSimulators, type WeChatComponentSimOptions } from '../../src/sim/index.js';
import { eventually } from '../helpers/stack.js';
import { wxReceiver, type ReceiverOptions } from './wx-receiver.js';

const COMPONENT = { appId: 'wxcomponent0000001', appSecret: 'component-secret', token: 'comp-token', encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' };
const OTHER = { appId: 'wxcomponent0000002', appSecret: 'other-secret', token: 'other-token', encodingAESKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C' };
const AUTHORIZER = 'wxauthorizer000001';
const T0 = Date.UTC(2026, 0, 10, 4, 0, 0); // noon in China
const C = '/cgi-bin/component';

async function start(t: TestContext, options: Partial<WeChatComponentSimOptions> = {}, receiver: ReceiverOptions = {}) {
  let clock = T0;
  const { url, received } = await wxReceiver(t, COMPONENT, receiver);
  const sim = new WeChatComponentSim({ apps: [{ ...COMPONENT, eventUrl: url }, OTHER], ticketPushIntervalSeconds: 0, now: () => clock, ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  const base = sims.baseUrl('wechat-open');
  const post = async (path: string, body: unknown, query: Record<string, string> = {}): Promise<any> => {
    const qs = Object.keys(query).length === 0 ? '' : `?${new URLSearchParams(query)}`;
    return (await fetch(`${base}${path}${qs}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  };
  const get = async (path: string, query: Record<string, string>): Promise<any> => (await fetch(`${base}${path}?${new URLSearchParams(query)}`)).json();
  const control = async (path: string, body: unknown = {}): Promise<{ status: number; body: any }> => {
    const res = await fetch(`${sims.url}/_sim/wechat-open/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  const componentToken = async (ticket: string, app = COMPONENT): Promise<any> =>
    post(`${C}/api_component_token`, { component_appid: app.appId, component_appsecret: app.appSecret, component_verify_ticket: ticket });
  /** A component token from a freshly pushed ticket. */
  const chain = async (): Promise<string> => (await componentToken((await sim.pushTicket()).ticket)).component_access_token;
  const queryAuth = (token: string, code: string) => post(`${C}/api_query_auth`, { component_appid: COMPONENT.appId, authorization_code: code }, { component_access_token: token });
  const refresh = (token: string, refreshToken: string, authorizer = AUTHORIZER) =>
    post(`${C}/api_authorizer_token`, { component_appid: COMPONENT.appId, authorizer_appid: authorizer, authorizer_refresh_token: refreshToken }, { component_access_token: token });
  /** Authorize, exchange the pushed code: the authorization_info. */
  const grant = async (token: string, authorizer = AUTHORIZER): Promise<any> => {
    await sim.authorize(authorizer);
    const code = received.at(-1)!.message.AuthorizationCode!;
    return (await queryAuth(token, code)).authorization_info;
  };
  return { sim, sims, base, url, received, post, get, control, componentToken, chain, queryAuth, refresh, grant, tick: (ms: number) => void (clock += ms) };
}

describe('WeChatComponentSim component_verify_ticket and component token', () => {
  it('checks its options, naming the bad one', () => {
    assert.throws(() => new WeChatComponentSim({ apps: [{ ...COMPONENT, encodingAESKey: 'short' }] }), /^TypeError: apps\[0\]\.encodingAESKey: /);
    assert.throws(() => new WeChatComponentSim({ apps: [COMPONENT, COMPONENT] }), /apps\[1\]\.appId: duplicate/);
    assert.throws(() => new WeChatComponentSim({ apps: [COMPONENT], refreshTokenRotateProbability: 2 }), /^TypeError: refreshTokenRotateProbability: /);
    assert.throws(() => new WeChatComponentSim({ apps: [COMPONENT], tokenLifetimeSeconds: 0 }), /^TypeError: tokenLifetimeSeconds: /);
    assert.equal(new WeChatComponentSim({ apps: [COMPONENT], platform: 'wechat' }).platform, 'wechat');
  });

  it('pushes the ticket encrypted and signed as the platform does; the ticket buys a component token', async (t) => {
    const { sim, received, componentToken, tick } = await start(t);
    const pushed = await sim.pushTicket();
    assert.equal(pushed.delivered, true);
    assert.equal(received.length, 1);
    const push = received[0]!;
    assert.equal(push.method, 'POST');
    assert.equal(push.query.get('from'), 'sim', 'the URL keeps its own query');
    assert.equal(push.query.get('encrypt_type'), 'aes');
    assert.equal(push.query.get('timestamp'), String(T0 / 1000));
    assert.match(push.query.get('nonce')!, /^\d{9,10}$/);
    assert.equal(push.signed, true);
    assert.equal(push.query.get('msg_signature'), getSignature(COMPONENT.token, push.query.get('timestamp')!, push.query.get('nonce')!, push.outer.Encrypt!));
    assert.equal(push.query.get('signature'), plainSignature(COMPONENT.token, push.query.get('timestamp')!, push.query.get('nonce')!));
    assert.deepEqual(Object.keys(push.outer), ['AppId', 'Encrypt']);
    assert.equal(push.outer.AppId, COMPONENT.appId);
    assert.equal(push.receiveId, COMPONENT.appId);
    assert.deepEqual(push.message, { AppId: COMPONENT.appId, CreateTime: String(T0 / 1000), InfoType: 'component_verify_ticket', ComponentVerifyTicket: pushed.ticket });

    const answer = await componentToken(pushed.ticket);
    assert.deepEqual(Object.keys(answer), ['component_access_token', 'expires_in']);
    assert.equal(answer.expires_in, 7200);
    assert.equal(sim.isValid(answer.component_access_token), true);
    tick(11 * 3600_000);
    assert.ok((await componentToken(pushed.ticket)).component_access_token, 'an older ticket works within its 12 hours');
    tick(3600_000);
    assert.equal((await componentToken(pushed.ticket)).errcode, 61005);
    assert.equal(sim.counters.count(E.componentToken, COMPONENT.appId), 3);
    assert.equal(sim.counters.count(E.pushDelivered, 'component_verify_ticket'), 1);
  });

  it('refuses bad credentials, tickets and callers with the documented codes', async (t) => {
    const { sim, post, componentToken } = await start(t);
    const { ticket } = await sim.pushTicket();
    const { ticket: othersTicket } = await sim.pushTicket(OTHER.appId);
    const ask = (body: Record<string, unknown>) => post(`${C}/api_component_token`, { component_appid: COMPONENT.appId, component_appsecret: COMPONENT.appSecret, component_verify_ticket: ticket, ...body });
    assert.equal((await ask({ component_appid: 'wxnobody' })).errcode, 40013);
    assert.equal((await ask({ component_appsecret: 'wrong' })).errcode, 40125);
    assert.equal((await ask({ component_appsecret: undefined })).errcode, 41004);
    assert.equal((await ask({ component_verify_ticket: 'made-up' })).errcode, 61006);
    assert.equal((await ask({ component_verify_ticket: othersTicket })).errcode, 61006, "another component's ticket");
    sim.revoke(ticket);
    assert.equal((await componentToken(ticket)).errcode, 61006);
    sim.setIpAllowed(false);
    const fresh = (await sim.pushTicket()).ticket;
    const refused = await componentToken(fresh);
    assert.equal(refused.errcode, 61004);
    assert.match(refused.errmsg, /^access clientip is not registered rid: /);
  });

  it('only the newest ticket when told so', async (t) => {
    const { sim, componentToken } = await start(t, { onlyLatestTicket: true });
    const { ticket: older } = await sim.pushTicket();
    const { ticket: newer } = await sim.pushTicket();
    assert.equal((await componentToken(older)).errcode, 61006);
    assert.ok((await componentToken(newer)).component_access_token);
  });

  it('retires the previous component token after the overlap: "not latest" (40001), then 42001 when expired', async (t) => {
    const { post, chain, tick } = await start(t, { tokenOverlapSeconds: 60, tokenLifetimeSeconds: 600 });
    const preauth = (token: string) => post(`${C}/api_create_preauthcode`, { component_appid: COMPONENT.appId }, { component_access_token: token });
    const first = await chain();
    const second = await chain();
    assert.notEqual(first, second);
    const code = await preauth(first);
    assert.match(code.pre_auth_code, /^preauthcode@@@/);
    assert.equal(code.expires_in, 1800);
    tick(60_000);
    assert.equal((await preauth(first)).errcode, 40001);
    assert.equal((await preauth(second)).pre_auth_code !== undefined, true);
    tick(540_000);
    assert.equal((await preauth(second)).errcode, 42001);
    assert.equal((await preauth('bogus')).errcode, 40001);
    assert.equal((await post(`${C}/api_create_preauthcode`, { component_appid: COMPONENT.appId })).errcode, 41001);
  });

  it('counts a daily quota of component tokens (45009) that resets with the China day', async (t) => {
    const { sim, componentToken, tick } = await start(t, { componentTokenDailyQuota: 1 });
    const { ticket } = await sim.pushTicket();
    assert.ok((await componentToken(ticket)).component_access_token);
    assert.equal((await componentToken(ticket)).errcode, 45009);
    tick(20 * 3600_000);
    assert.equal((await componentToken((await sim.pushTicket()).ticket)).errcode, undefined);
  });
});

describe('WeChatComponentSim ticket pushes', () => {
  it('pushes periodically, stops, and api_start_push_ticket restarts (45011 when called too often)', async (t) => {
    const { sim, post, received, tick } = await start(t, { ticketPushIntervalSeconds: 0.05, startPushDelayMs: 1 });
    await eventually(() => received.length >= 2, 3000);
    sim.stopTicketPushes();
    await new Promise((resolve) => setTimeout(resolve, 120));
    const stopped = received.length;
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(received.length, stopped, 'no pushes once stopped');

    const startPush = (body: Record<string, unknown> = {}) => post(`${C}/api_start_push_ticket`, { component_appid: COMPONENT.appId, component_secret: COMPONENT.appSecret, ...body });
    assert.deepEqual(await startPush(), { errcode: 0, errmsg: 'ok' });
    await eventually(() => received.length > stopped, 3000);
    assert.equal((await startPush()).errcode, 45011);
    tick(60_000);
    assert.deepEqual(await startPush(), { errcode: 0, errmsg: 'in a normal state' });
    assert.equal((await startPush({ component_secret: 'wrong' })).errcode, 40125);
    assert.equal((await startPush({ component_appid: 'wxnobody' })).errcode, 40013);
    assert.equal(sim.counters.count(E.startPushTicket, COMPONENT.appId), 4);
  });

  it('counts a push answered otherwise than "success", or not answered, as failed', async (t) => {
    const { sim } = await start(t, {}, { reply: () => ({ body: 'fail' }) });
    const failed = await sim.pushTicket();
    assert.deepEqual([failed.status, failed.body, failed.delivered], [200, 'fail', false]);
    sim.setEventUrl('http://127.0.0.1:1/events');
    const unreachable = await sim.pushTicket();
    assert.equal(unreachable.status, 0);
    sim.setEventUrl(undefined);
    assert.equal((await sim.pushTicket()).body, 'no event URL set');
    assert.equal(sim.counters.count(E.pushFailed, 'component_verify_ticket'), 3);
    assert.equal(sim.counters.count(E.pushDelivered), 0);
    assert.equal(sim.pushes.list('component_verify_ticket').length, 3);
  });
});

describe('WeChatComponentSim authorizations', () => {
  it('the token chain: ticket → component token → pushed authorization code → authorizer tokens → business calls and JS-SDK ticket', async (t) => {
    const { sim, received, get, chain, queryAuth, refresh } = await start(t);
    const token = await chain();
    const event = await sim.authorize(AUTHORIZER, { funcInfo: [1, 15] });
    assert.equal(event.delivered, true);
    const push = received.at(-1)!;
    assert.equal(push.signed, true);
    assert.deepEqual(push.message, {
      AppId: COMPONENT.appId,
      CreateTime: String(T0 / 1000),
      InfoType: 'authorized',
      AuthorizerAppid: AUTHORIZER,
      AuthorizationCode: event.authorizationCode,
      AuthorizationCodeExpiredTime: String(T0 / 1000 + 3600),
      PreAuthCode: event.preAuthCode,
    });

    const { authorization_info: info } = await queryAuth(token, event.authorizationCode);
    assert.deepEqual(Object.keys(info), ['authorizer_appid', 'authorizer_access_token', 'expires_in', 'authorizer_refresh_token', 'func_info']);
    assert.equal(info.authorizer_appid, AUTHORIZER);
    assert.equal(info.expires_in, 7200);
    assert.deepEqual(info.func_info, [{ funcscope_category: { id: 1 } }, { funcscope_category: { id: 15 } }]);
    assert.equal(sim.refreshTokenOf(AUTHORIZER), info.authorizer_refresh_token);
    assert.equal((await queryAuth(token, event.authorizationCode)).errcode, 61009, 'a code is exchanged once');

    const business = await get('/cgi-bin/user/info', { access_token: info.authorizer_access_token, openid: 'o1' });
    assert.deepEqual(business, { errcode: 0, errmsg: 'ok', appid: AUTHORIZER, component_appid: COMPONENT.appId, method: 'GET', path: '/cgi-bin/user/info', query: { openid: 'o1' } });
    const ticket = await get('/cgi-bin/ticket/getticket', { access_token: info.authorizer_access_token, type: 'jsapi' });
    assert.deepEqual([ticket.errcode, ticket.expires_in], [0, 7200]);
    assert.equal((await get('/cgi-bin/ticket/getticket', { access_token: info.authorizer_access_token, type: 'jsapi' })).ticket, ticket.ticket);
    assert.equal(sim.ticketsIssued(AUTHORIZER), 1);

    const refreshed = await refresh(token, info.authorizer_refresh_token);
    assert.deepEqual(Object.keys(refreshed), ['authorizer_access_token', 'expires_in', 'authorizer_refresh_token']);
    assert.equal(refreshed.authorizer_refresh_token, info.authorizer_refresh_token, 'the same refresh token by default');
    assert.notEqual(refreshed.authorizer_access_token, info.authorizer_access_token);
    assert.equal(sim.authorizerTokensIssued(AUTHORIZER), 2);
    assert.equal(sim.counters.count(E.queryAuth, AUTHORIZER), 1);
    assert.equal(sim.counters.count(E.authorizerToken, AUTHORIZER), 1);
    assert.equal(sim.counters.count(E.ticket, AUTHORIZER), 2);
    assert.equal(sim.counters.count(E.business, AUTHORIZER), 1);
  });

  it('ties each token to what issued it: 61014, 40001, 40013, 61009, 61010, 61003, 61023', async (t) => {
    const { sim, post, get, chain, queryAuth, refresh, grant, componentToken, tick } = await start(t, { authorizationCodeLifetimeSeconds: 60 });
    const token = await chain();
    const info = await grant(token);
    const preauth = (access: string) => post(`${C}/api_create_preauthcode`, { component_appid: COMPONENT.appId }, { component_access_token: access });
    assert.equal((await preauth(info.authorizer_access_token)).errcode, 61014, 'an authorizer token on a component API');
    assert.equal((await get('/cgi-bin/user/info', { access_token: token })).errcode, 40001, 'a component token on a business API');
    assert.equal((await post(`${C}/api_create_preauthcode`, { component_appid: OTHER.appId }, { access_token: token })).errcode, 40013, "another component's appid (the token also read from access_token)");
    const othersToken = (await componentToken((await sim.pushTicket(OTHER.appId)).ticket, OTHER)).component_access_token;
    const othersCode = (await sim.authorize(AUTHORIZER, { componentAppId: OTHER.appId })).authorizationCode;
    assert.equal((await queryAuth(token, othersCode)).errcode, 61009, "another component's code");
    const othersRefresh = (await post(`${C}/api_query_auth`, { component_appid: OTHER.appId, authorization_code: othersCode }, { component_access_token: othersToken })).authorization_info.authorizer_refresh_token;
    assert.equal((await refresh(token, othersRefresh)).errcode, 61023, "the same authorizer's refresh token of another component");
    assert.equal((await refresh(token, info.authorizer_refresh_token, 'wxsomeoneelse')).errcode, 61003);
    assert.equal((await refresh(token, 'made-up')).errcode, 61023);
    const late = await sim.reauthorize(AUTHORIZER);
    tick(60_000);
    assert.equal((await queryAuth(await chain(), late.authorizationCode)).errcode, 61010);
  });

  it('re-authorization: the old refresh token answers 61023 at once; the updateauthorized code brings the new one', async (t) => {
    const { sim, received, chain, queryAuth, refresh, grant, get } = await start(t);
    const token = await chain();
    const info = await grant(token);
    const event = await sim.reauthorize(AUTHORIZER, { funcInfo: [1] });
    assert.equal(event.infoType, 'updateauthorized');
    assert.equal(received.at(-1)!.message.InfoType, 'updateauthorized');
    const stale = await refresh(token, info.authorizer_refresh_token);
    assert.equal(stale.errcode, 61023);
    assert.match(stale.errmsg, /^refresh_token is invalid rid: /);
    assert.equal(sim.refreshTokenOf(AUTHORIZER), undefined, 'no grant until the new code is exchanged');
    const renewed = (await queryAuth(token, event.authorizationCode)).authorization_info;
    assert.notEqual(renewed.authorizer_refresh_token, info.authorizer_refresh_token);
    assert.deepEqual(renewed.func_info, [{ funcscope_category: { id: 1 } }]);
    assert.ok((await refresh(token, renewed.authorizer_refresh_token)).authorizer_access_token);
    assert.equal((await get('/cgi-bin/user/info', { access_token: info.authorizer_access_token })).errcode, 0, 'issued access tokens live on');
    assert.equal((await sim.authorize(AUTHORIZER)).infoType, 'updateauthorized', 'authorizing again is a re-authorization');
  });

  it('unauthorized: pushed, refresh answers 61003, the access tokens and tickets die; authorizing again starts anew', async (t) => {
    const { sim, received, chain, refresh, grant, get, queryAuth } = await start(t);
    const token = await chain();
    const info = await grant(token);
    const ticket = (await get('/cgi-bin/ticket/getticket', { access_token: info.authorizer_access_token, type: 'jsapi' })).ticket;
    const pushed = await sim.unauthorize(AUTHORIZER);
    assert.equal(pushed.delivered, true);
    assert.deepEqual(received.at(-1)!.message, { AppId: COMPONENT.appId, CreateTime: String(T0 / 1000), InfoType: 'unauthorized', AuthorizerAppid: AUTHORIZER });
    assert.equal((await refresh(token, info.authorizer_refresh_token)).errcode, 61003);
    assert.equal((await get('/cgi-bin/user/info', { access_token: info.authorizer_access_token })).errcode, 40001);
    assert.equal(sim.isValid(ticket), false);
    await assert.rejects(sim.unauthorize(AUTHORIZER), RangeError);
    const again = await sim.authorize(AUTHORIZER);
    assert.equal(again.infoType, 'authorized');
    assert.ok((await queryAuth(token, again.authorizationCode)).authorization_info.authorizer_refresh_token);
  });

  it('hands out a new refresh token every Nth refresh; the old one then answers 61023', async (t) => {
    const { chain, refresh, grant } = await start(t, { refreshTokenRotateEvery: 3 });
    const token = await chain();
    let current = (await grant(token)).authorizer_refresh_token;
    const seen = [current];
    for (let i = 1; i <= 6; i++) {
      const answer = await refresh(token, current);
      assert.ok(answer.authorizer_access_token, `refresh ${i}`);
      if (i % 3 === 0) {
        assert.notEqual(answer.authorizer_refresh_token, current, `refresh ${i} rotates`);
        assert.equal((await refresh(token, current)).errcode, 61023, 'the previous one is dead');
      } else {
        assert.equal(answer.authorizer_refresh_token, current);
      }
      current = answer.authorizer_refresh_token;
      if (!seen.includes(current)) seen.push(current);
    }
    assert.equal(seen.length, 3);
  });

  it('rotates by a seeded chance, the same sequence for the same seed', async (t) => {
    const rotations = async (seed: number): Promise<boolean[]> => {
      const { chain, refresh, grant } = await start(t, { refreshTokenRotateProbability: 0.5, seed });
      const token = await chain();
      let current = (await grant(token)).authorizer_refresh_token;
      const out: boolean[] = [];
      for (let i = 0; i < 12; i++) {
        const next = (await refresh(token, current)).authorizer_refresh_token;
        out.push(next !== current);
        current = next;
      }
      return out;
    };
    const a = await rotations(7);
    assert.deepEqual(await rotations(7), a);
    assert.ok(a.includes(true) && a.includes(false), `a mix of rotations: ${a.join(',')}`);
  });

  it('answers api_get_authorizer_info with the grant, 61003 for an authorizer that has not authorized', async (t) => {
    const { post, chain, grant } = await start(t);
    const token = await chain();
    const info = await grant(token);
    const answer = await post(`${C}/api_get_authorizer_info`, { component_appid: COMPONENT.appId, authorizer_appid: AUTHORIZER }, { component_access_token: token });
    assert.equal(answer.authorizer_info.service_type_info.id, 2);
    assert.deepEqual(answer.authorization_info, { authorizer_appid: AUTHORIZER, authorizer_refresh_token: info.authorizer_refresh_token, func_info: info.func_info });
    assert.equal((await post(`${C}/api_get_authorizer_info`, { component_appid: COMPONENT.appId, authorizer_appid: 'wxnobody' }, { component_access_token: token })).errcode, 61003);
  });

  it('authorizer access tokens: a refresh retires the previous after the overlap; 42001 once expired; a daily refresh quota', async (t) => {
    const { get, chain, refresh, grant, tick } = await start(t, { tokenOverlapSeconds: 30, tokenLifetimeSeconds: 600, authorizerTokenDailyQuota: 2 });
    const call = (access: string) => get('/cgi-bin/user/info', { access_token: access });
    const token = await chain();
    const info = await grant(token);
    const next = (await refresh(token, info.authorizer_refresh_token)).authorizer_access_token;
    assert.equal((await call(info.authorizer_access_token)).errcode, 0);
    tick(30_000);
    assert.equal((await call(info.authorizer_access_token)).errcode, 40001);
    assert.ok((await refresh(token, info.authorizer_refresh_token)).authorizer_access_token);
    assert.equal((await refresh(token, info.authorizer_refresh_token)).errcode, 45009);
    tick(600_000);
    assert.equal((await call(next)).errcode, 40001, 'superseded, so "not latest"');
    const last = (await grant(await chain(), 'wxauthorizer000002')).authorizer_access_token;
    tick(600_000);
    assert.equal((await call(last)).errcode, 42001);
    assert.equal((await call('')).errcode, 41001);
  });
});

describe('WeChatComponentSim JS-SDK tickets, faults, control', () => {
  it('counts the ticket quotas (45009 daily, 45011 per minute) and verifies signed pages', async (t) => {
    const { sims, get, chain, grant, tick } = await start(t, { jsapiTicketDailyQuota: 3, jsapiTicketMinuteQuota: 2 });
    const info = await grant(await chain());
    const ticket = (type = 'jsapi') => get('/cgi-bin/ticket/getticket', { access_token: info.authorizer_access_token, type });
    const first = await ticket();
    assert.equal((await ticket('wx_card')).errcode, 0);
    assert.notEqual((await ticket('nope')).errcode, 0);
    assert.equal((await ticket()).errcode, 45011);
    tick(60_000);
    assert.equal((await ticket()).errcode, 0);
    assert.equal((await ticket()).errcode, 45009);

    const timestamp = Math.floor((T0 + 60_000) / 1000);
    const url = 'https://example.com/page?x=1';
    const verify = async (config: unknown): Promise<any> =>
      (await fetch(`${sims.url}/_sim/wechat-open/jsapi/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) })).json();
    assert.deepEqual(await verify({ appId: AUTHORIZER, timestamp, nonceStr: 'n', signature: jsapiSignature(first.ticket, 'n', timestamp, url), url }), { ok: true });
    assert.equal((await verify({ appId: 'wxnobody', timestamp, nonceStr: 'n', signature: 'x', url })).ok, false);
  });

  it('applies faults to the token endpoints and ticket faults to getticket', async (t) => {
    const { sim, base, post, get, chain, grant, componentToken } = await start(t);
    const token = await chain();
    const info = await grant(token);
    const { ticket } = await sim.pushTicket();
    const raw = async (path: string, query: Record<string, string> = {}): Promise<{ status: number; type: string | null; text: string }> => {
      const res = await fetch(`${base}${path}?${new URLSearchParams(query)}`, { method: 'POST', body: '{}' });
      return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
    };
    sim.faults.set('status500');
    assert.equal((await raw(`${C}/api_component_token`)).status, 500);
    sim.faults.set('html');
    assert.match((await raw(`${C}/api_authorizer_token`, { component_access_token: token })).type!, /^text\/html/);
    sim.faults.set('garbage');
    const garbage = await raw(`${C}/api_query_auth`, { component_access_token: token });
    assert.throws(() => JSON.parse(garbage.text), SyntaxError);
    sim.faults.set('missing-fields');
    assert.deepEqual(await componentToken(ticket), { expires_in: 7200 });
    sim.faults.set('ratelimit');
    assert.equal((await post(`${C}/api_start_push_ticket`, {})).errcode, 45011);
    sim.faults.set('down');
    await assert.rejects(componentToken(ticket));
    assert.ok((await post(`${C}/api_create_preauthcode`, { component_appid: COMPONENT.appId }, { component_access_token: token })).pre_auth_code, 'not a token endpoint');
    sim.faults.set('slow', { delayMs: 60 });
    const started = Date.now();
    assert.ok((await componentToken(ticket)).component_access_token);
    assert.ok(Date.now() - started >= 55, 'answered after the delay');
    sim.faults.set('none');
    sim.ticketFaults.set('status500');
    await assert.rejects(get('/cgi-bin/ticket/getticket', { access_token: info.authorizer_access_token, type: 'jsapi' }), SyntaxError);
    sim.script.push({ body: { errcode: -1, errmsg: 'system error' } });
    assert.equal((await componentToken(ticket)).errcode, -1);
    assert.ok((await componentToken(ticket)).component_access_token);
  });

  it('drives pushes and authorizations through /_sim/wechat-open/…', async (t) => {
    const { sim, sims, received, control, chain, queryAuth } = await start(t);
    const pushed = await control('push-ticket');
    assert.equal(pushed.status, 200);
    assert.equal(pushed.body.delivered, true);
    assert.equal(received.at(-1)!.message.ComponentVerifyTicket, pushed.body.ticket);
    const authorized = await control('authorize', { authorizerAppId: AUTHORIZER, funcInfo: [2] });
    assert.equal(authorized.body.infoType, 'authorized');
    const info = (await queryAuth(await chain(), authorized.body.authorizationCode)).authorization_info;
    assert.deepEqual(info.func_info, [{ funcscope_category: { id: 2 } }]);
    assert.equal((await control('reauthorize', { authorizerAppId: AUTHORIZER })).body.infoType, 'updateauthorized');
    assert.equal((await control('unauthorize', { authorizerAppId: AUTHORIZER })).body.infoType, 'unauthorized');
    assert.equal((await control('unauthorize', { authorizerAppId: AUTHORIZER })).status, 400);
    assert.equal((await control('authorize', {})).status, 400);
    assert.equal((await control('push-ticket', { componentAppId: 'wxnobody' })).status, 400);
    assert.equal((await control('stop-ticket-pushes')).body.pushing, false);
    assert.deepEqual((await control('event-url', { url: null })).body, { componentAppId: COMPONENT.appId, eventUrl: null });
    const log: any = await (await fetch(`${sims.url}/_sim/wechat-open/pushes`)).json();
    assert.deepEqual(
      log.pushes.map((p: any) => p.infoType),
      ['component_verify_ticket', 'authorized', 'component_verify_ticket', 'updateauthorized', 'unauthorized'],
    );
    const stats: any = await (await fetch(`${sims.url}/_sim/wechat-open/stats`)).json();
    assert.equal(stats.counters.endpoints[E.pushDelivered].total, 5);
    assert.equal((await control('revoke', { token: sim.refreshTokenOf(AUTHORIZER) ?? 'none' })).body.revoked, false);
  });
});
