import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../../src/config.js';
import type { UpstreamError } from '../../src/core/errors.js';
import { takeTenantQuota } from '../../src/providers/tenant-quota.js';
import { wecomTicketLimits } from '../../src/providers/wecom.js';
import { WECOM_SUITE_STATE, readGrant, readTicket } from '../../src/providers/wecom-suite.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { WECOM_SUITE_ENDPOINTS, WeComSuiteSim, seal, startSimulators, xml } from '../../src/sim/index.js';
import { startHub, type RunningHub } from '../helpers/hubs.js';
import { deletePrefix, sharedRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { sendPush as deliverRaw, suiteApp, suiteConfig, type SuiteApp } from '../helpers/third-party-apps.js';

const PROVIDER_CORP = 'wwtestprovider0001';

const suite = suiteApp;
const appOf = (s: SuiteApp, baseUrl = 'sim:wecom-suite'): Record<string, unknown> => suiteConfig(s, baseUrl, PROVIDER_CORP);

const SUITES = { chain: suite('chain'), installs: suite('installs'), pushes: suite('pushes'), cold: suite('cold'), pages: suite('pages') };
type Id = keyof typeof SUITES;

const events = (id: string): string => `/v1/apps/${id}/events`;
const corpToken = (id: string, corp: string): string => `/v1/apps/${id}/tokens/access_token?tenant_key=${corp}`;


describe('wecom suites over HTTP, pushed by the simulator', () => {
  let stack: Stack;
  let sim: WeComSuiteSim;

  before(async () => {
    sim = new WeComSuiteSim({ apps: Object.values(SUITES), providerCorpId: PROVIDER_CORP, ticketPushIntervalSeconds: 0 });
    stack = await startStack({ sims: [sim], apps: Object.fromEntries(Object.entries(SUITES).map(([id, s]) => [id, appOf(s)])) });
    for (const [id, s] of Object.entries(SUITES)) sim.setEventUrl(stack.url + events(id), s.suiteId);
  });
  after(() => stack.close());

  const suiteIdOf = (id: Id): string => SUITES[id].suiteId;
  const ticketOf = async (id: Id): Promise<string | undefined> => readTicket(await stack.hub.broker.state(id).get(WECOM_SUITE_STATE.ticket))?.ticket;
  const grantOf = async (id: Id, corp: string) => readGrant(await stack.hub.broker.grants(id).get(`corp:${corp}`));
  const count = (endpoint: string, who?: string): number => sim.counters.count(endpoint, who);

  it('answers the URL check with the plaintext, for the provider corp id or the suite id, and refuses another receive id', async () => {
    const check = await sim.verifyEventUrl(suiteIdOf('chain'));
    assert.equal(check.delivered, true, `${check.status} ${check.body}`);
    assert.equal(check.body, check.plaintext);
    assert.equal((await sim.verifyEventUrl(suiteIdOf('chain'), { receiveId: suiteIdOf('chain') })).delivered, true);
    const other = await sim.verifyEventUrl(suiteIdOf('chain'), { receiveId: 'wwsomeoneelse' });
    assert.equal(other.delivered, false);
    assert.equal(other.status, 400);
  });

  it('without a suite_ticket answers 503 TOKENHUB_TICKET_PENDING with Retry-After; a pushed one is used at once', async () => {
    const pending = await stack.call('GET', '/v1/apps/chain/tokens/suite_access_token');
    assert.equal(pending.status, 503);
    assert.equal(pending.body.error.code, 'TOKENHUB_TICKET_PENDING');
    assert.ok(Number(pending.headers['retry-after']) >= 1);
    assert.equal(count(WECOM_SUITE_ENDPOINTS.suiteToken, suiteIdOf('chain')), 0, 'no call without a ticket');

    const pushed = await sim.pushTicket(suiteIdOf('chain'));
    assert.equal(pushed.delivered, true, `${pushed.status} ${pushed.body}`);
    assert.equal(await ticketOf('chain'), pushed.ticket);
    const served = await stack.call('GET', '/v1/apps/chain/tokens/suite_access_token');
    assert.equal(served.status, 200, JSON.stringify(served.body));
    assert.ok(sim.isValid(served.body.token));
  });

  it('ticket → suite token → corp tokens: N concurrent cold requests over M corps cost 1 + M token calls in all', async () => {
    const id: Id = 'cold';
    const corps = ['wwcold_a', 'wwcold_b', 'wwcold_c', 'wwcold_d'];
    assert.equal((await sim.pushTicket(suiteIdOf(id))).delivered, true);
    for (const corp of corps) assert.equal((await sim.createAuth(corp, { suiteId: suiteIdOf(id) })).delivered, true);
    assert.equal(count(WECOM_SUITE_ENDPOINTS.suiteToken, suiteIdOf(id)), 1, 'one suite token, fetched for the first install');
    assert.deepEqual(corps.map((c) => count(WECOM_SUITE_ENDPOINTS.corpToken, c)), [0, 0, 0, 0]);

    const N = 200;
    const answers = await Promise.all(Array.from({ length: N }, (_, i) => stack.call('GET', corpToken(id, corps[i % corps.length]!))));
    for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
    for (const [j, corp] of corps.entries()) {
      const tokens = new Set(answers.filter((_, i) => i % corps.length === j).map((a) => a.body.token as string));
      assert.equal(tokens.size, 1, `one token for ${corp}`);
      assert.ok(sim.isValid([...tokens][0]!));
    }
    // 1 + M: the suite token once (by the installs, reused), one get_corp_token per corp.
    assert.equal(count(WECOM_SUITE_ENDPOINTS.suiteToken, suiteIdOf(id)), 1);
    assert.deepEqual(corps.map((c) => count(WECOM_SUITE_ENDPOINTS.corpToken, c)), [1, 1, 1, 1]);
  });

  it('a suite token WeCom no longer takes (40082) is replaced once, and the corp token fetched with the new one', async () => {
    const id: Id = 'chain';
    const suiteToken = (await stack.call('GET', '/v1/apps/chain/tokens/suite_access_token')).body.token as string;
    sim.revoke(suiteToken);
    assert.equal((await sim.createAuth('wwchain_revoked', { suiteId: suiteIdOf(id) })).delivered, true);
    const res = await stack.call('GET', corpToken(id, 'wwchain_revoked'));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const next = (await stack.call('GET', '/v1/apps/chain/tokens/suite_access_token')).body.token as string;
    assert.notEqual(next, suiteToken);
  });

  it('installs by create_auth and by the redirect code; lists them; cancel_auth deletes the grant (then 404)', async () => {
    const id: Id = 'installs';
    await sim.pushTicket(suiteIdOf(id));
    const byEvent = await sim.createAuth('wwinst_event', { suiteId: suiteIdOf(id), corpName: 'Event Corp', agentId: 1000042 });
    assert.equal(byEvent.delivered, true, `${byEvent.status} ${byEvent.body}`);
    const grant = await grantOf(id, 'wwinst_event');
    assert.equal(grant?.permanentCode, sim.permanentCodeOf('wwinst_event', suiteIdOf(id)));
    assert.equal(grant?.agentId, '1000042');
    assert.equal(grant?.corpName, 'Event Corp');

    // The install redirect: the code reaches the web app, which hands it to tokenhub. The push goes nowhere.
    sim.setEventUrl(undefined, suiteIdOf(id));
    const redirect = await sim.createAuth('wwinst_redirect', { suiteId: suiteIdOf(id), corpName: 'Redirect Corp' });
    sim.setEventUrl(stack.url + events(id), suiteIdOf(id));
    const authorized = await stack.call('POST', `/v1/apps/${id}/authorizations`, { body: { code: redirect.authCode } });
    assert.equal(authorized.status, 201, JSON.stringify(authorized.body));
    assert.equal(authorized.body.tenantKey, 'wwinst_redirect');
    assert.equal(authorized.body.corpName, 'Redirect Corp');
    assert.ok(!Number.isNaN(Date.parse(authorized.body.authorizedAt)));
    // Single use: the same code again is WeCom's 40078, a 400.
    const again = await stack.call('POST', `/v1/apps/${id}/authorizations`, { body: { code: redirect.authCode } });
    assert.equal(again.status, 400);
    assert.equal(again.body.error.platformCode, 40078);

    const list = await stack.call('GET', `/v1/apps/${id}/authorizations`);
    assert.deepEqual(list.body.authorizations.map((a: { tenantKey: string }) => a.tenantKey).sort(), ['wwinst_event', 'wwinst_redirect']);
    assert.ok(!JSON.stringify(list.body).includes(grant!.permanentCode), 'never a permanent code');

    const token = await stack.call('GET', corpToken(id, 'wwinst_event'));
    assert.equal(token.status, 200);
    const cancelled = await sim.cancelAuth('wwinst_event', { suiteId: suiteIdOf(id) });
    assert.equal(cancelled.delivered, true);
    assert.equal(await grantOf(id, 'wwinst_event'), undefined);
    const gone = await stack.call('GET', corpToken(id, 'wwinst_event'));
    assert.equal(gone.status, 404, JSON.stringify(gone.body));
    assert.equal(gone.body.error.code, 'TOKENHUB_GRANT_NOT_FOUND');

    // An operator's delete.
    assert.equal((await stack.call('DELETE', `/v1/apps/${id}/authorizations/wwinst_redirect`)).status, 204);
    assert.equal((await stack.call('GET', corpToken(id, 'wwinst_redirect'))).status, 404);
    // The pre-auth code of the install link.
    const pre = await stack.call('POST', `/v1/apps/${id}/pre-auth-code`);
    assert.equal(pre.status, 200, JSON.stringify(pre.body));
    assert.equal(pre.body.expiresIn, 1200);
  });

  it('change_auth reads the authorization again and keeps the grant', async () => {
    const id: Id = 'installs';
    await sim.createAuth('wwinst_change', { suiteId: suiteIdOf(id) });
    const before = await grantOf(id, 'wwinst_change');
    const changed = await sim.changeAuth('wwinst_change', { suiteId: suiteIdOf(id) });
    assert.equal(changed.delivered, true);
    const after = await grantOf(id, 'wwinst_change');
    assert.equal(after?.permanentCode, before?.permanentCode);
    assert.equal(count(WECOM_SUITE_ENDPOINTS.authInfo, 'wwinst_change'), 1);
  });

  it('40084 after a reset without the event: 502 with the code, the grant kept and shown revoked; reset_permanent_code replaces it', async () => {
    const id: Id = 'installs';
    await sim.createAuth('wwinst_reset', { suiteId: suiteIdOf(id) });
    const old = await grantOf(id, 'wwinst_reset');
    sim.setEventUrl(undefined, suiteIdOf(id));
    await sim.resetPermanentCode('wwinst_reset', { suiteId: suiteIdOf(id) });
    sim.setEventUrl(stack.url + events(id), suiteIdOf(id));
    const refused = await stack.call('GET', corpToken(id, 'wwinst_reset'));
    assert.equal(refused.status, 502, JSON.stringify(refused.body));
    assert.equal(refused.body.error.code, 'TOKENHUB_PLATFORM_REFUSED');
    assert.equal(refused.body.error.platformCode, 40084);
    const kept = await grantOf(id, 'wwinst_reset');
    assert.equal(kept?.permanentCode, old?.permanentCode, 'not deleted');
    assert.equal(kept?.revoked?.code, 40084);
    const listed = (await stack.call('GET', `/v1/apps/${id}/authorizations`)).body.authorizations.find((a: { tenantKey: string }) => a.tenantKey === 'wwinst_reset');
    assert.equal(listed.state, 'revoked');
    // Asked again: no call to WeCom with a code it refused.
    const calls = count(WECOM_SUITE_ENDPOINTS.corpToken, 'wwinst_reset');
    assert.equal((await stack.call('GET', corpToken(id, 'wwinst_reset'))).status, 502);
    assert.equal(count(WECOM_SUITE_ENDPOINTS.corpToken, 'wwinst_reset'), calls);

    // The reset's event, delivered this time: the new code replaces the grant.
    await sim.createAuth('wwinst_reset2', { suiteId: suiteIdOf(id) });
    const before = await grantOf(id, 'wwinst_reset2');
    assert.equal((await stack.call('GET', corpToken(id, 'wwinst_reset2'))).status, 200);
    const reset = await sim.resetPermanentCode('wwinst_reset2', { suiteId: suiteIdOf(id) });
    assert.equal(reset.delivered, true, `${reset.status} ${reset.body}`);
    const replaced = await grantOf(id, 'wwinst_reset2');
    assert.notEqual(replaced?.permanentCode, before?.permanentCode);
    assert.equal(replaced?.permanentCode, sim.permanentCodeOf('wwinst_reset2', suiteIdOf(id)));
    await stack.hub.broker.forgetTenant(id, 'wwinst_reset2');
    const fresh = await stack.call('GET', corpToken(id, 'wwinst_reset2'));
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  });

  it('forged, replayed and stale pushes change nothing', async () => {
    const id: Id = 'pushes';
    const url = stack.url + events(id);
    const first = await sim.pushTicket(suiteIdOf(id));
    assert.equal(first.delivered, true);
    const served = (await stack.call('GET', `/v1/apps/${id}/tokens/suite_access_token`)).body.token as string;
    const ticketPush = (ticket: string, options = {}) => sim.buildPush({ SuiteId: suiteIdOf(id), InfoType: 'suite_ticket', TimeStamp: Math.floor(Date.now() / 1000) + 5, SuiteTicket: ticket }, suiteIdOf(id), options);

    // Forged: signed with another token.
    const forged = ticketPush('forged-ticket');
    const badSig = await deliverRaw(url, { ...forged, query: { ...forged.query, msg_signature: '0'.repeat(40) } });
    assert.equal(badSig.status, 401);
    // Encrypted with another key.
    const other = new WeComSuiteSim({ apps: [{ ...SUITES.pushes, encodingAESKey: 'Z'.repeat(43) }], ticketPushIntervalSeconds: 0 });
    const wrongKey = await deliverRaw(url, other.buildPush({ SuiteId: suiteIdOf(id), InfoType: 'suite_ticket', TimeStamp: 1, SuiteTicket: 'x' }));
    assert.equal(wrongKey.status, 400);
    // With the suite's key, for another receiver.
    const sealed = seal({ token: SUITES.pushes.token, encodingAESKey: SUITES.pushes.encodingAESKey, receiveId: 'wwsomeoneelse' }, xml({ InfoType: 'suite_ticket', SuiteTicket: 'y', TimeStamp: 1 }), Date.now());
    const misaddressed = await deliverRaw(url, { method: 'POST', query: { msg_signature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce }, body: xml({ ToUserName: 'wwsomeoneelse', Encrypt: sealed.encrypt, AgentID: '' }) });
    assert.equal(misaddressed.status, 400);
    assert.equal(await ticketOf(id), first.ticket);
    // Stale: signed 10 minutes ago.
    const stale = await deliverRaw(url, ticketPush('stale-ticket', { timestamp: String(Math.floor(Date.now() / 1000) - 600) }));
    assert.equal(stale.status, 401);
    // Replayed: the first delivery is taken, the second refused.
    const genuine = ticketPush('genuine-ticket-for-replay');
    assert.equal((await deliverRaw(url, genuine)).status, 200);
    assert.equal(await ticketOf(id), 'genuine-ticket-for-replay');
    await stack.hub.broker.state(id).set(WECOM_SUITE_STATE.ticket, JSON.stringify({ ticket: first.ticket, at: Date.now() }));
    const replay = await deliverRaw(url, genuine);
    assert.equal(replay.status, 409);
    assert.equal(await ticketOf(id), first.ticket, 'the replay did not bring its ticket back');
    // The tokens served are the ones from before.
    assert.equal((await stack.call('GET', `/v1/apps/${id}/tokens/suite_access_token`)).body.token, served);
    // An older ticket than the one kept is ignored (newest wins by TimeStamp).
    const older = await deliverRaw(url, sim.buildPush({ SuiteId: suiteIdOf(id), InfoType: 'suite_ticket', TimeStamp: 1, SuiteTicket: 'older-ticket' }, suiteIdOf(id)));
    assert.equal(older.status, 200);
    assert.equal(await ticketOf(id), first.ticket);
  });

  it("proxies a corp's business call with its token, the corp named by X-Tokenhub-Tenant-Key", async () => {
    const id: Id = 'pages';
    await sim.pushTicket(suiteIdOf(id));
    await sim.createAuth('wwproxy_corp', { suiteId: suiteIdOf(id) });
    const res = await stack.call('GET', `/v1/proxy/${id}/cgi-bin/user/get?userid=u1`, { headers: { 'x-tokenhub-tenant-key': 'wwproxy_corp' } });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.corpid, 'wwproxy_corp');
    assert.deepEqual(res.body.query, { userid: 'u1' });
  });

  it("signs a corp's pages: wx.config with the corp id, wx.agentConfig with the agent id of its grant, both verified by the simulator", async () => {
    const id: Id = 'pages';
    await sim.pushTicket(suiteIdOf(id));
    await sim.createAuth('wwpages_corp', { suiteId: suiteIdOf(id), agentId: 1000007 });
    const ticket = await stack.call('GET', `/v1/apps/${id}/tokens/jsapi_ticket?tenant_key=wwpages_corp`);
    assert.equal(ticket.status, 200, JSON.stringify(ticket.body));
    assert.ok(sim.isValid(ticket.body.token));
    const url = 'https://app.example.com/page?x=1';
    const config = await stack.call('POST', `/v1/apps/${id}/jsapi/signature`, { body: { url, tenant_key: 'wwpages_corp' } });
    assert.equal(config.status, 200, JSON.stringify(config.body));
    assert.equal(config.body.appId, 'wwpages_corp');
    assert.deepEqual(sim.verifyJsapi({ appId: config.body.appId, timestamp: config.body.timestamp, nonceStr: config.body.nonceStr, signature: config.body.signature, url }), { ok: true });
    const agent = await stack.call('POST', `/v1/apps/${id}/jsapi/signature`, { body: { url, tenant_key: 'wwpages_corp', kind: 'agent_jsapi_ticket' } });
    assert.equal(agent.status, 200, JSON.stringify(agent.body));
    assert.equal(agent.body.agentId, '1000007');
    const verdict = sim.verifyJsapi({ api: 'agentConfig', corpid: 'wwpages_corp', agentid: agent.body.agentId, timestamp: agent.body.timestamp, nonceStr: agent.body.nonceStr, signature: agent.body.signature, url });
    assert.deepEqual(verdict, { ok: true });
    assert.equal(sim.ticketsIssued('wwpages_corp'), 2);
  });
});

describe('wecom suite config and quotas', () => {
  const base = { platform: 'wecom', appType: 'suite', appId: 'wwsuite', appSecret: 'secret' };
  const load = (app: Record<string, unknown>) => validateConfig({ clients: [{ name: 'c', key: 'k'.repeat(16), apps: ['*'] }], apps: { s: app } });

  it('refuses a suite without token or encodingAESKey, a malformed key, and suite options on a self-built app, naming each', () => {
    assert.throws(() => load(base), /apps\.s\.token: required for suites.*apps\.s\.encodingAESKey: required for suites/s);
    assert.throws(() => load({ ...base, token: 't', encodingAESKey: 'too-short' }), /apps\.s\.encodingAESKey: must be the 43 letters and digits/);
    assert.throws(() => load({ platform: 'wecom', appId: 'ww', appSecret: 's', token: 't' }), /apps\.s\.token: only for appType: suite/);
    assert.equal(load({ ...base, token: 't', encodingAESKey: 'a'.repeat(43) }).apps.s!.platform, 'wecom');
  });

  it("counts a corp's ticket fetches against half of WeCom's hourly limits, across holders of one state", async () => {
    const store = new MemoryStore();
    const state = { get: (n: string) => store.getState(n), set: (n: string, v: string, t?: number) => store.setState(n, v, t), add: (n: string, v: string, t: number) => store.addState(n, v, t), delete: (n: string) => store.deleteState(n) };
    const now = Date.UTC(2026, 0, 1, 10, 30);
    const limits = wecomTicketLimits('wwcorp');
    const taken = await Promise.allSettled(Array.from({ length: 60 }, () => takeTenantQuota(state, limits, 'jsapi_ticket', 'wwcorp', now, 'wecom')));
    assert.equal(taken.filter((t) => t.status === 'fulfilled').length, 50, '100 an hour per app, half in any clock hour');
    const refused = taken.find((t): t is PromiseRejectedResult => t.status === 'rejected')!.reason as UpstreamError;
    assert.equal(refused.failure, 'rate-limited');
    assert.equal(refused.retryAfterMs, 30 * 60_000);
    // Another corp, and the next hour, count afresh; access tokens never count.
    await takeTenantQuota(state, limits, 'jsapi_ticket', 'wwother', now, 'wecom');
    await takeTenantQuota(state, limits, 'agent_jsapi_ticket', 'wwcorp', now + 30 * 60_000, 'wecom');
    await takeTenantQuota(state, limits, 'access_token', 'wwcorp', now, 'wecom');
    await store.close();
  });
});

describe('wecom suites on shared stores', () => {
  const key = `test-${randomBytes(16).toString('hex')}`;
  const storeKey = randomBytes(32).toString('base64');

  it('3 instances on one Redis: 300 cold requests over 3 corps cost 1 + 3 token calls, and no grant is lost', async () => {
    const s = suite('redis');
    const sim = new WeComSuiteSim({ apps: [s], providerCorpId: PROVIDER_CORP, ticketPushIntervalSeconds: 0 });
    const sims = await startSimulators({ sims: [sim] });
    const url = await sharedRedisUrl();
    const prefix = uniquePrefix();
    const hubs: RunningHub[] = [];
    try {
      const apps = { suite: appOf(s, sims.baseUrl('wecom-suite')) };
      for (let i = 0; i < 3; i++) hubs.push(await startHub({ apps, key, config: { store: { type: 'redis', url, keyPrefix: prefix, encryptionKey: storeKey } } }));
      // WeCom pushes to one URL; a load balancer gives each push to one instance.
      sim.setEventUrl(`${hubs[0]!.url}/v1/apps/suite/events`);
      assert.equal((await sim.pushTicket()).delivered, true);
      const corps = ['wwredis_a', 'wwredis_b', 'wwredis_c'];
      sim.setEventUrl(undefined);
      const codes = await Promise.all(corps.map((c) => sim.createAuth(c)));
      // The install redirects' codes reach the three instances at once.
      const exchanged = await Promise.all(codes.map((c, i) => hubs[i]!.call('POST', '/v1/apps/suite/authorizations', { code: c.authCode })));
      for (const e of exchanged) assert.equal(e.status, 201, JSON.stringify(e.body));
      assert.equal(sim.counters.count(WECOM_SUITE_ENDPOINTS.suiteToken), 1, 'one suite token between the three instances');
      // Every token forgotten by every instance: the three start cold from the store's grants.
      for (const hub of hubs) for (const c of corps) await hub.hub.broker.forgetTenant('suite', c);
      const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => hubs[i % 3]!.call('GET', corpToken('suite', corps[i % 3]!))));
      for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
      for (const [j, c] of corps.entries()) {
        assert.equal(sim.counters.count(WECOM_SUITE_ENDPOINTS.corpToken, c), 1, `one corp token for ${c}`);
        assert.equal(new Set(answers.filter((_, i) => i % 3 === j).map((a) => a.body.token)).size, 1);
      }
      assert.equal(sim.counters.count(WECOM_SUITE_ENDPOINTS.suiteToken), 1, '1 + 3 in all');
      const list = await hubs[2]!.call('GET', '/v1/apps/suite/authorizations');
      assert.deepEqual(list.body.authorizations.map((a: { tenantKey: string }) => a.tenantKey).sort(), corps);
    } finally {
      for (const hub of hubs) await hub.close();
      await sims.close();
      await deletePrefix(url, prefix);
    }
  });

  it('a restart on the file store keeps the grants and the ticket', async () => {
    const s = suite('file');
    const sim = new WeComSuiteSim({ apps: [s], providerCorpId: PROVIDER_CORP, ticketPushIntervalSeconds: 0 });
    const sims = await startSimulators({ sims: [sim] });
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-suite-'));
    const config = { store: { type: 'file', path: dir, encryptionKey: storeKey } };
    const apps = { suite: appOf(s, sims.baseUrl('wecom-suite')) };
    try {
      const first = await startHub({ apps, key, config });
      sim.setEventUrl(`${first.url}/v1/apps/suite/events`);
      assert.equal((await sim.pushTicket()).delivered, true);
      assert.equal((await sim.createAuth('wwfile_a')).delivered, true);
      await first.close();

      const second = await startHub({ apps, key, config });
      try {
        const listed = await second.call('GET', '/v1/apps/suite/authorizations');
        assert.deepEqual(listed.body.authorizations.map((a: { tenantKey: string }) => a.tenantKey), ['wwfile_a']);
        const token = await second.call('GET', corpToken('suite', 'wwfile_a'));
        assert.equal(token.status, 200, JSON.stringify(token.body));
        assert.ok(sim.isValid(token.body.token));
      } finally {
        await second.close();
      }
    } finally {
      await sims.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

