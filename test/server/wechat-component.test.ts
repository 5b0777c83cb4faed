import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { request } from 'undici';
import { AUTHORIZER_GRANT_PREFIX, WECHAT_COMPONENT_STATE, readGrant, readTicket } from '../../src/providers/wechat-component.js';
import { WECHAT_COMPONENT_ENDPOINTS as E, WeChatComponentSim, startSimulators } from '../../src/sim/index.js';
import { startHub, type RunningHub } from '../helpers/hubs.js';
import { deletePrefix, sharedRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';
import { componentApp, componentConfig, sendPush as send, type ComponentApp } from '../helpers/third-party-apps.js';

const ID = 'open';
const EVENTS = `/v1/apps/${ID}/events`;
const token = (kind: string, tenant?: string): string => `/v1/apps/${ID}/tokens/${kind}${tenant === undefined ? '' : `?tenant_key=${tenant}`}`;

/**
 * An authorization made at the simulator without tokenhub (the event URL cleared meanwhile):
 * the code exchanged directly; answers the refresh token.
 */
async function installBehindTheBack(sim: WeChatComponentSim, baseUrl: string, app: ComponentApp, authorizer: string): Promise<string> {
  const eventUrl = sim.pushes.list().at(-1)?.url;
  sim.setEventUrl(undefined, app.appId);
  try {
    const { ticket } = await sim.pushTicket(app.appId);
    const post = async (path: string, body: unknown): Promise<any> => (await request(`${baseUrl}/cgi-bin/component/${path}`, { method: 'POST', body: JSON.stringify(body) })).body.json();
    const { component_access_token: componentToken } = await post('api_component_token', { component_appid: app.appId, component_appsecret: app.appSecret, component_verify_ticket: ticket });
    const { authorizationCode } = await sim.authorize(authorizer, { componentAppId: app.appId });
    const answer = await post(`api_query_auth?component_access_token=${componentToken}`, { component_appid: app.appId, authorization_code: authorizationCode });
    return answer.authorization_info.authorizer_refresh_token as string;
  } finally {
    sim.setEventUrl(eventUrl, app.appId);
  }
}

describe('wechat component (third-party platform)', () => {
  const app = componentApp();
  let sim: WeChatComponentSim;
  let stack: Stack;
  const storedTicket = async (): Promise<string | undefined> => readTicket(await stack.hub.broker.state(ID).get(WECHAT_COMPONENT_STATE.ticket))?.ticket;
  const grantOf = async (appid: string): Promise<string | undefined> => {
    const grant = await stack.hub.broker.grants(ID).get(AUTHORIZER_GRANT_PREFIX + appid);
    return grant === undefined ? undefined : readGrant(grant).refreshToken;
  };

  before(async () => {
    sim = new WeChatComponentSim({ apps: [app], ticketPushIntervalSeconds: 0, startPushTicketIntervalSeconds: 0 });
    stack = await startStack({ sims: [sim], apps: { [ID]: { ...componentConfig(app), reportIntervalSeconds: 0 } } });
    sim.setEventUrl(stack.url + EVENTS);
  });
  after(() => stack.close());
  beforeEach(() => sim.reset());

  it('with no ticket yet: 503 TOKENHUB_TICKET_PENDING, one api_start_push_ticket, and the pushed ticket then serves', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => stack.call('GET', token('component_access_token'))));
    for (const r of results) {
      assert.equal(r.status, 503, JSON.stringify(r.body));
      assert.equal(r.body.error.code, 'TOKENHUB_TICKET_PENDING');
      assert.ok(Number(r.headers['retry-after']) >= 1);
    }
    assert.equal(sim.counters.count(E.startPushTicket), 1);
    // The simulator pushes the ticket to the events URL in answer.
    await eventually(async () => (await storedTicket()) !== undefined);
    await eventually(async () => (await stack.call('GET', token('component_access_token'))).status === 200);
    assert.equal(sim.counters.count(E.startPushTicket), 1, 'asked again though a ticket came');
  });

  it('ticket → component token → authorizer tokens: N concurrent cold requests over M authorizers cost 1 + M token calls', async () => {
    const fresh = componentApp();
    const own = new WeChatComponentSim({ apps: [fresh], ticketPushIntervalSeconds: 0 });
    const s = await startStack({ sims: [own], apps: { c: componentConfig(fresh) } });
    try {
      own.setEventUrl(`${s.url}/v1/apps/c/events`);
      assert.equal((await own.pushTicket()).delivered, true);
      // Authorized behind tokenhub's back, so that nothing is cached: the grants are put in its store as an install would.
      const authorizers = ['wxauth_a', 'wxauth_b', 'wxauth_c', 'wxauth_d'];
      for (const a of authorizers) await s.hub.broker.grants('c').put(AUTHORIZER_GRANT_PREFIX + a, JSON.stringify({ refreshToken: await installBehindTheBack(own, s.sims.baseUrl('wechat-open'), fresh, a), authorizedAt: Date.now(), funcInfo: [1] }), 0);
      own.reset();
      const n = 200;
      const results = await Promise.all(Array.from({ length: n }, (_, i) => s.call('GET', `/v1/apps/c/tokens/authorizer_access_token?tenant_key=${authorizers[i % authorizers.length]}`)));
      for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
      const componentCalls = own.counters.count(E.componentToken);
      const authorizerCalls = own.counters.count(E.authorizerToken);
      assert.equal(componentCalls, 1, 'api_component_token calls');
      assert.equal(authorizerCalls, authorizers.length, 'api_authorizer_token calls');
      console.log(`# ${n} concurrent cold requests over ${authorizers.length} authorizers: ${componentCalls} api_component_token + ${authorizerCalls} api_authorizer_token calls`);
      for (const a of authorizers) {
        const tokens = new Set(results.filter((_, i) => authorizers[i % authorizers.length] === a).map((r) => r.body.token));
        assert.equal(tokens.size, 1);
        assert.ok(own.isValid([...tokens][0]!));
      }
    } finally {
      await s.close();
    }
  });

  it('an authorization pushed as `authorized` is exchanged at once and its grant kept; tokens follow', async () => {
    await sim.pushTicket();
    const before = sim.counters.count(E.queryAuth);
    const pushed = await sim.authorize('wxauthorizer_event');
    assert.equal(pushed.delivered, true, pushed.body);
    assert.equal(sim.counters.count(E.queryAuth), before + 1);
    assert.equal(await grantOf('wxauthorizer_event'), sim.refreshTokenOf('wxauthorizer_event'));
    const res = await stack.call('GET', token('authorizer_access_token', 'wxauthorizer_event'));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(sim.isValid(res.body.token));
    const listed = await stack.call('GET', `/v1/apps/${ID}/authorizations`);
    const mine = listed.body.authorizations.find((a: { tenantKey: string }) => a.tenantKey === 'wxauthorizer_event');
    assert.equal(mine.state, 'active');
    assert.deepEqual(mine.funcInfo, [1, 2, 3]);
    assert.ok(!JSON.stringify(listed.body).includes(sim.refreshTokenOf('wxauthorizer_event')!), 'a grant was answered');
  });

  it('install by redirect: the code POSTed to /authorizations → 201, the grant kept; a used code → 400 with its platform code', async () => {
    await sim.pushTicket();
    const pre = await stack.call('POST', `/v1/apps/${ID}/pre-auth-code`);
    assert.equal(pre.status, 200, JSON.stringify(pre.body));
    assert.match(pre.body.preAuthCode, /^preauthcode@@@/);
    // The authorizer scans the install link; the push is lost (no event URL), the redirect brings the code.
    sim.setEventUrl(undefined);
    let code: string;
    try {
      code = (await sim.authorize('wxauthorizer_redirect', { preAuthCode: pre.body.preAuthCode })).authorizationCode;
    } finally {
      sim.setEventUrl(stack.url + EVENTS);
    }
    const created = await stack.call('POST', `/v1/apps/${ID}/authorizations`, { body: { code } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.tenantKey, 'wxauthorizer_redirect');
    assert.equal(await grantOf('wxauthorizer_redirect'), sim.refreshTokenOf('wxauthorizer_redirect'));
    const again = await stack.call('POST', `/v1/apps/${ID}/authorizations`, { body: { code } });
    assert.equal(again.status, 400, JSON.stringify(again.body));
    assert.equal(again.body.error.platformCode, 61009);
    assert.equal((await stack.call('GET', token('authorizer_access_token', 'wxauthorizer_redirect'))).status, 200);
  });

  it('`unauthorized` deletes the grant and forgets the tokens: then 404 TOKENHUB_GRANT_NOT_FOUND', async () => {
    await sim.pushTicket();
    await sim.authorize('wxauthorizer_gone');
    assert.equal((await stack.call('GET', token('authorizer_access_token', 'wxauthorizer_gone'))).status, 200);
    const pushed = await sim.unauthorize('wxauthorizer_gone');
    assert.equal(pushed.delivered, true, pushed.body);
    assert.equal(await grantOf('wxauthorizer_gone'), undefined);
    const res = await stack.call('GET', token('authorizer_access_token', 'wxauthorizer_gone'));
    assert.equal(res.status, 404, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'TOKENHUB_GRANT_NOT_FOUND');
    const never = await stack.call('GET', token('authorizer_access_token', 'wxnever_authorized'));
    assert.equal(never.status, 404);
    assert.equal(never.body.error.code, 'TOKENHUB_GRANT_NOT_FOUND');
  });

  it('forged, replayed, stale, undecryptable and misaddressed pushes are refused and change nothing', async () => {
    await sim.pushTicket();
    const kept = await storedTicket();
    const served = (await stack.call('GET', token('component_access_token'))).body.token as string;
    const now = Math.floor(Date.now() / 1000);
    const ticketMessage = (t: string, at = now) => ({ AppId: app.appId, CreateTime: at, InfoType: 'component_verify_ticket', ComponentVerifyTicket: t });

    const forged = sim.buildPush(ticketMessage('forged-ticket'));
    const badSignature = await send(stack.url + EVENTS, { ...forged, query: { ...forged.query, msg_signature: 'f'.repeat(40) } });
    assert.equal(badSignature.status, 401);

    const stale = sim.buildPush(ticketMessage('stale-ticket', now - 3600), undefined, { timestamp: now - 3600 });
    assert.equal((await send(stack.url + EVENTS, stale)).status, 401);

    const other = new WeChatComponentSim({ apps: [{ ...componentApp(), token: app.token }], ticketPushIntervalSeconds: 0 });
    assert.equal((await send(stack.url + EVENTS, other.buildPush(ticketMessage('other-key')))).status, 400, 'undecryptable');
    const misaddressed = new WeChatComponentSim({ apps: [{ ...componentApp(), token: app.token, encodingAESKey: app.encodingAESKey }], ticketPushIntervalSeconds: 0 });
    assert.equal((await send(stack.url + EVENTS, misaddressed.buildPush(ticketMessage('misaddressed')))).status, 400, 'misaddressed');

    // A genuine push, taken once; its replay is refused (and so is an older ticket, quietly).
    const genuine = sim.buildPush(ticketMessage(`ticket@@@genuine-${randomBytes(4).toString('hex')}`, now + 1));
    const first = await send(stack.url + EVENTS, genuine);
    assert.equal(first.status, 200);
    assert.equal(first.body, 'success');
    const afterGenuine = await storedTicket();
    assert.notEqual(afterGenuine, kept);
    assert.equal((await send(stack.url + EVENTS, genuine)).status, 409, 'replay');
    const older = await send(stack.url + EVENTS, sim.buildPush(ticketMessage('ticket@@@older', now - 60)));
    assert.equal(older.status, 200);
    assert.equal(await storedTicket(), afterGenuine, 'an older ticket replaced a newer one');

    for (const t of ['forged-ticket', 'stale-ticket', 'other-key', 'misaddressed', 'ticket@@@older']) assert.notEqual(await storedTicket(), t);
    // The token served is still the one the genuine ticket bought.
    assert.equal((await stack.call('GET', token('component_access_token'))).body.token, served);
    assert.ok(sim.isValid(served));
  });

  it('refresh-token rotation: each new authorizer_refresh_token is stored, and the next refresh uses it', async () => {
    const fresh = componentApp();
    const own = new WeChatComponentSim({ apps: [fresh], ticketPushIntervalSeconds: 0, refreshTokenRotateEvery: 1 });
    // Every report makes a fetch here, so that each one rotates the grant.
    const s = await startStack({ sims: [own], apps: { c: { ...componentConfig(fresh), reportIntervalSeconds: 0 } } });
    try {
      own.setEventUrl(`${s.url}/v1/apps/c/events`);
      await own.pushTicket();
      await own.authorize('wxrot');
      const path = '/v1/apps/c/tokens/authorizer_access_token?tenant_key=wxrot';
      let last = (await s.call('GET', path)).body.token as string;
      for (let i = 0; i < 5; i++) {
        const res = await s.call('POST', '/v1/apps/c/tokens/authorizer_access_token/invalidate?tenant_key=wxrot', { body: { token: last } });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.notEqual(res.body.token, last);
        last = res.body.token;
        const stored = await s.hub.broker.grants('c').get(`${AUTHORIZER_GRANT_PREFIX}wxrot`);
        assert.equal(readGrant(stored!).refreshToken, own.refreshTokenOf('wxrot'), `rotation ${i + 1}: the stored grant is not the platform's`);
      }
      assert.equal(own.counters.count(E.authorizerToken), 6);
    } finally {
      await s.close();
    }
  });

  it('61023: the grant is read again, then marked rejected (kept), 502 with the code; a transient failure keeps it as it is; a re-authorization heals it', async () => {
    await sim.pushTicket();
    await sim.authorize('wxauthorizer_stale');
    const path = token('authorizer_access_token', 'wxauthorizer_stale');
    const first = (await stack.call('GET', path)).body.token as string;
    const kept = await grantOf('wxauthorizer_stale');
    sim.faults.set('down');
    const down = await stack.call('POST', `${path.replace('?', '/invalidate?')}`, { body: { token: first } });
    sim.faults.set('none');
    // The reported token is served on (with a warning) or refused 503: either way the grant stays.
    assert.ok(down.status === 200 ? down.headers['x-tokenhub-warning'] === 'reported-token' : down.status === 503, JSON.stringify(down.body));
    assert.equal(await grantOf('wxauthorizer_stale'), kept, 'a transient failure changed the grant');
    // Re-authorized with the push lost: the kept refresh token is dead (61023) and nobody has the new one.
    sim.setEventUrl(undefined);
    try {
      await sim.reauthorize('wxauthorizer_stale');
    } finally {
      sim.setEventUrl(stack.url + EVENTS);
    }
    // Cold (a reported token would be served on to its end instead): the fetch meets 61023.
    await stack.hub.broker.forgetTenant(ID, 'wxauthorizer_stale');
    const refused = await stack.call('GET', path);
    assert.equal(refused.status, 502, JSON.stringify(refused.body));
    assert.equal(refused.body.error.platformCode, 61023);
    assert.equal(await grantOf('wxauthorizer_stale'), kept, 'the refused grant was not kept');
    const listed = await stack.call('GET', `/v1/apps/${ID}/authorizations`);
    assert.equal(listed.body.authorizations.find((a: { tenantKey: string }) => a.tenantKey === 'wxauthorizer_stale').state, 'rejected');
    const calls = sim.counters.count(E.authorizerToken, 'wxauthorizer_stale');
    await stack.call('GET', path);
    assert.equal(sim.counters.count(E.authorizerToken, 'wxauthorizer_stale'), calls, 'a rejected grant was used again');
    // The authorizer authorizes again: the push replaces the grant, and tokens are served.
    assert.equal((await sim.reauthorize('wxauthorizer_stale')).delivered, true);
    assert.equal(await grantOf('wxauthorizer_stale'), sim.refreshTokenOf('wxauthorizer_stale'));
    await eventually(async () => (await stack.call('GET', path)).status === 200, 10_000);
  });

  it("the authorizer's jsapi_ticket signs its pages (appId: the authorizer appid), as the simulator's verifier checks", async () => {
    await sim.pushTicket();
    await sim.authorize('wxauthorizer_pages');
    const url = 'https://app.example.com/page?x=1';
    const signed = await stack.call('POST', `/v1/apps/${ID}/jsapi/signature`, { body: { url: `${url}#frag`, tenant_key: 'wxauthorizer_pages' } });
    assert.equal(signed.status, 200, JSON.stringify(signed.body));
    assert.equal(signed.body.appId, 'wxauthorizer_pages');
    assert.deepEqual(sim.verifyJsapi({ appId: signed.body.appId, timestamp: signed.body.timestamp, nonceStr: signed.body.nonceStr, signature: signed.body.signature, url }), { ok: true });
    const ticket = await stack.call('GET', token('jsapi_ticket', 'wxauthorizer_pages'));
    assert.equal(ticket.status, 200);
    assert.equal(sim.counters.count(E.ticket, 'wxauthorizer_pages'), 1);
    const without = await stack.call('POST', `/v1/apps/${ID}/jsapi/signature`, { body: { url } });
    assert.equal(without.status, 400, JSON.stringify(without.body));
  });

  it('the proxy puts the authorizer token in the query', async () => {
    await sim.pushTicket();
    await sim.authorize('wxauthorizer_proxy');
    const res = await stack.call('GET', `/v1/proxy/${ID}/cgi-bin/user/info?openid=o1`, { headers: { 'x-tokenhub-tenant-key': 'wxauthorizer_proxy' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.appid, 'wxauthorizer_proxy');
  });
});

describe('wechat component: grants across instances and restarts', () => {
  it('20 rotations of every authorizer across 3 instances on one Redis end with every grant valid at the platform', async () => {
    const fresh = componentApp();
    const sim = new WeChatComponentSim({ apps: [fresh], ticketPushIntervalSeconds: 0, refreshTokenRotateEvery: 1 });
    const sims = await startSimulators({ sims: [sim] });
    const url = await sharedRedisUrl();
    const prefix = uniquePrefix();
    const key = `test-${randomBytes(16).toString('hex')}`;
    const storeKey = randomBytes(32).toString('base64');
    const apps = { c: { ...componentConfig(fresh, sims.baseUrl('wechat-open')), reportIntervalSeconds: 0 } };
    const hubs: RunningHub[] = [];
    try {
      for (let i = 0; i < 3; i++) hubs.push(await startHub({ apps, key, config: { store: { type: 'redis', url, keyPrefix: prefix, encryptionKey: storeKey } } }));
      sim.setEventUrl(`${hubs[0]!.url}/v1/apps/c/events`);
      assert.equal((await sim.pushTicket()).delivered, true);
      const authorizers = ['wxr_1', 'wxr_2', 'wxr_3'];
      for (const a of authorizers) assert.equal((await sim.authorize(a)).delivered, true);
      const path = (a: string) => `/v1/apps/c/tokens/authorizer_access_token?tenant_key=${a}`;
      const failures: string[] = [];
      for (let round = 0; round < 20; round++) {
        await Promise.all(
          authorizers.map(async (a) => {
            const current = await hubs[round % 3]!.call('GET', path(a));
            if (current.status !== 200) failures.push(JSON.stringify(current.body));
            // Every instance reports the same token at once: one of them rotates the grant, the others learn of it.
            const reports = await Promise.all(hubs.map((h) => h.call('POST', `/v1/apps/c/tokens/authorizer_access_token/invalidate?tenant_key=${a}`, { token: current.body.token })));
            for (const r of reports) if (r.status !== 200) failures.push(JSON.stringify(r.body));
          }),
        );
      }
      assert.deepEqual(failures, []);
      for (const a of authorizers) {
        const stored = await hubs[1]!.hub.broker.grants('c').get(AUTHORIZER_GRANT_PREFIX + a);
        assert.ok(stored);
        const grant = readGrant(stored);
        assert.equal(grant.rejected, undefined, `${a}: the grant was rejected`);
        assert.equal(grant.refreshToken, sim.refreshTokenOf(a), `${a}: the stored grant is not the platform's current one`);
        const calls = sim.counters.count(E.authorizerToken, a);
        assert.ok(calls >= 21, `${a}: ${calls} api_authorizer_token calls`);
        console.log(`# ${a}: ${calls} api_authorizer_token calls (each a rotation), grant version ${stored.version}`);
      }
      for (const h of hubs) assert.ok(!h.logs.text.includes('61023'), 'a 61023 was seen');
      // And the token every instance serves now is one the platform accepts.
      for (const h of hubs) for (const a of authorizers) assert.ok(sim.isValid((await h.call('GET', path(a))).body.token));
    } finally {
      for (const h of hubs) await h.close();
      await sims.close();
      await deletePrefix(url, prefix);
    }
  });

  it('a restart with the file store keeps the grants: tokens served and refreshed with 0 re-authorizations', async () => {
    const fresh = componentApp();
    const sim = new WeChatComponentSim({ apps: [fresh], ticketPushIntervalSeconds: 0, refreshTokenRotateEvery: 1 });
    const sims = await startSimulators({ sims: [sim] });
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-component-'));
    const key = `test-${randomBytes(16).toString('hex')}`;
    const config = { store: { type: 'file', path: dir, encryptionKey: randomBytes(32).toString('base64') } };
    const apps = { c: { ...componentConfig(fresh, sims.baseUrl('wechat-open')), reportIntervalSeconds: 0 } };
    try {
      const first = await startHub({ apps, key, config });
      sim.setEventUrl(`${first.url}/v1/apps/c/events`);
      await sim.pushTicket();
      for (const a of ['wxf_1', 'wxf_2']) await sim.authorize(a);
      const before = (await first.call('GET', '/v1/apps/c/tokens/authorizer_access_token?tenant_key=wxf_1')).body.token as string;
      await first.close();
      const exchanges = sim.counters.count(E.queryAuth);

      const second = await startHub({ apps, key, config });
      try {
        sim.setEventUrl(`${second.url}/v1/apps/c/events`);
        const listed = await second.call('GET', '/v1/apps/c/authorizations');
        assert.deepEqual(
          listed.body.authorizations.map((a: { tenantKey: string }) => a.tenantKey),
          ['wxf_1', 'wxf_2'],
        );
        assert.equal((await second.call('GET', '/v1/apps/c/tokens/authorizer_access_token?tenant_key=wxf_1')).body.token, before);
        // A refresh after the restart uses the kept grant (and stores the one it rotates to).
        for (const a of ['wxf_1', 'wxf_2']) {
          const current = (await second.call('GET', `/v1/apps/c/tokens/authorizer_access_token?tenant_key=${a}`)).body.token as string;
          const res = await second.call('POST', `/v1/apps/c/tokens/authorizer_access_token/invalidate?tenant_key=${a}`, { token: current });
          assert.equal(res.status, 200, JSON.stringify(res.body));
          assert.ok(sim.isValid(res.body.token));
          assert.equal(readGrant((await second.hub.broker.grants('c').get(AUTHORIZER_GRANT_PREFIX + a))!).refreshToken, sim.refreshTokenOf(a));
        }
        assert.equal(sim.counters.count(E.queryAuth), exchanges, 're-authorizations after the restart');
      } finally {
        await second.close();
      }
    } finally {
      await sims.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
