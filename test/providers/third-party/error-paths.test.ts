/**
 * The third-party apps' error paths over HTTP against the simulators, pushes arriving by HTTP at
 * tokenhub's events URL: a refused verify ticket, app tokens rejected in the middle of a call,
 * installs pushed while the code cannot be exchanged.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { PENDING_CODE_PREFIX } from '../../../src/providers/third-party/pending-codes.js';
import { AUTHORIZER_GRANT_PREFIX } from '../../../src/providers/wechat-component.js';
import { WECOM_SUITE_GRANT_PREFIX } from '../../../src/providers/wecom-suite.js';
import { WECHAT_COMPONENT_ENDPOINTS as C, WECOM_SUITE_ENDPOINTS as S, WeChatComponentSim, WeComSuiteSim } from '../../../src/sim/index.js';
import { eventually, skewedClock, startStack, type Stack } from '../../helpers/stack.js';
import { componentApp, componentConfig, sendPush, suiteApp, suiteConfig } from '../../helpers/third-party-apps.js';

const tokenPath = (app: string, kind: string, tenant?: string): string => `/v1/apps/${app}/tokens/${kind}${tenant === undefined ? '' : `?tenant_key=${tenant}`}`;
const invalidatePath = (app: string, kind: string, tenant: string): string => `/v1/apps/${app}/tokens/${kind}/invalidate?tenant_key=${tenant}`;

describe('third-party error paths (WeChat component, WeCom suite)', () => {
  const apps = { expired: componentApp(), invalid: componentApp() };
  const open = componentApp();
  const suite = suiteApp();
  // The component simulator's clock runs ahead on demand: its tickets expire without waiting.
  const clock = skewedClock();
  let component: WeChatComponentSim;
  let wecom: WeComSuiteSim;
  let stack: Stack;
  const events = (app: string): string => `${stack.url}/v1/apps/${app}/events`;

  before(async () => {
    component = new WeChatComponentSim({
      apps: [apps.expired, apps.invalid, open],
      ticketPushIntervalSeconds: 0,
      startPushTicketIntervalSeconds: 0,
      // The pushed ticket comes a while after api_start_push_ticket, so that callers are seen waiting for it.
      startPushDelayMs: 300,
      verifyTicketLifetimeSeconds: 60,
      onlyLatestTicket: true,
      now: clock.now,
    });
    wecom = new WeComSuiteSim({ apps: [suite], ticketPushIntervalSeconds: 0 });
    stack = await startStack({
      sims: [component, wecom],
      apps: {
        expired: componentConfig(apps.expired),
        invalid: componentConfig(apps.invalid),
        open: { ...componentConfig(open), reportIntervalSeconds: 0 },
        suite: { ...suiteConfig(suite), reportIntervalSeconds: 0 },
      },
    });
    for (const [id, app] of Object.entries(apps)) component.setEventUrl(events(id), app.appId);
    component.setEventUrl(events('open'), open.appId);
    wecom.setEventUrl(events('suite'));
    assert.equal((await wecom.pushTicket()).delivered, true);
  });
  after(() => stack.close());
  beforeEach(async () => {
    component.reset();
    wecom.reset();
    // A ticket the platform takes, whatever the component simulator's clock did before.
    assert.equal((await component.pushTicket(open.appId)).delivered, true);
  });

  for (const [code, app, refuse] of [
    [61005, 'expired', async () => clock.advance(61_000)],
    // The platform issued a newer ticket whose push was lost: with only the newest taken, the kept one is refused.
    [61006, 'invalid', async () => void (await withoutEventUrl(component, apps.invalid.appId, () => component.pushTicket(apps.invalid.appId)))],
  ] as const) {
    it(`${code} on api_component_token: the ticket marked refused, one api_start_push_ticket, 503 TOKENHUB_TICKET_PENDING with Retry-After and no storm; the pushed ticket then serves`, async () => {
      const appId = apps[app].appId;
      assert.equal((await component.pushTicket(appId)).delivered, true);
      await refuse();
      // 20 cold callers at once, then 20 more while the asked-for push is on its way.
      const waves = [
        ...(await Promise.all(Array.from({ length: 20 }, () => stack.call('GET', tokenPath(app, 'component_access_token'))))),
        ...(await Promise.all(Array.from({ length: 20 }, () => stack.call('GET', tokenPath(app, 'component_access_token'))))),
      ];
      for (const r of waves) {
        assert.equal(r.status, 503, JSON.stringify(r.body));
        assert.equal(r.body.error.code, 'TOKENHUB_TICKET_PENDING', JSON.stringify(r.body));
        assert.ok(Number(r.headers['retry-after']) >= 1);
      }
      assert.ok(waves.some((r) => r.body.error.platformCode === code), `no answer names ${code}`);
      assert.equal(component.counters.count(C.componentToken, appId), 1, 'api_component_token calls while the ticket was refused');
      assert.equal(component.counters.count(C.startPushTicket, appId), 1, 'api_start_push_ticket calls');
      await eventually(async () => (await stack.call('GET', tokenPath(app, 'component_access_token'))).status === 200, 5_000);
      assert.equal(component.counters.count(C.componentToken, appId), 2, 'one more call, with the pushed ticket');
      assert.equal(component.counters.count(C.startPushTicket, appId), 1);
    });
  }

  /** Each platform's app token, rejected while a tenant's token is fetched with it: revoked, and answered expired. */
  const midCall = () =>
    [
      { name: 'the component token', app: 'open', appKind: 'component_access_token', kind: 'authorizer_access_token', tenant: 'wxe_mid', codes: [40001, 42001], sim: component, appCalls: C.componentToken, tenantCalls: C.authorizerToken },
      { name: 'the suite token', app: 'suite', appKind: 'suite_access_token', kind: 'access_token', tenant: 'wwe_mid', codes: [40082, 42009], sim: wecom, appCalls: S.suiteToken, tenantCalls: S.corpToken },
    ] as const;
  for (const { name, codes } of midCall()) {
    it(`${name} rejected in the middle of a tenant's token fetch (${codes.join(', ')}): replaced once, then the fetch succeeds`, async () => {
      const { app, appKind, kind, tenant, sim, appCalls, tenantCalls } = midCall().find((c) => c.name === name)!;
      const installed = sim === component ? await component.authorize(tenant, { componentAppId: open.appId }) : await wecom.createAuth(tenant);
      assert.equal(installed.delivered, true);
      for (const [code, how] of [[codes[0], 'revoked'], [codes[1], 'expired']] as const) {
        const current = (await stack.call('GET', tokenPath(app, kind, tenant))).body.token as string;
        const appToken = (await stack.call('GET', tokenPath(app, appKind))).body.token as string;
        sim.reset();
        if (how === 'revoked') sim.revoke(appToken);
        else sim.script.push({ body: { errcode: code, errmsg: 'access_token expired' } });
        const res = await stack.call('POST', invalidatePath(app, kind, tenant), { body: { token: current } });
        assert.equal(res.status, 200, `${code}: ${JSON.stringify(res.body)}`);
        assert.equal(res.headers['x-tokenhub-warning'], undefined, `${code}: no new token`);
        assert.ok(sim.isValid(res.body.token));
        assert.equal(sim.counters.count(appCalls), 1, `${code}: ${appCalls} calls`);
        assert.equal(sim.counters.count(tenantCalls, tenant), 2, `${code}: ${tenantCalls} calls (the refused one, then one)`);
        assert.notEqual((await stack.call('GET', tokenPath(app, appKind))).body.token, appToken);
      }
    });
  }

  it('an install whose code exchange answers 5xx is acknowledged, kept and exchanged once the platform recovers (WeChat and WeCom)', async () => {
    // The app tokens are at hand: only the exchange fails.
    assert.equal((await stack.call('GET', tokenPath('open', 'component_access_token'))).status, 200);
    assert.equal((await stack.call('GET', tokenPath('suite', 'suite_access_token'))).status, 200);
    component.faults.set('status500');
    wecom.faults.set('status500');
    const authorized = await component.authorize('wxe_5xx', { componentAppId: open.appId });
    const created = await wecom.createAuth('wwe_5xx');
    assert.equal(authorized.delivered, true, `authorized answered ${authorized.status} ${authorized.body}`);
    assert.equal(created.delivered, true, `create_auth answered ${created.status} ${created.body}`);
    assert.equal((await stack.call('GET', tokenPath('open', 'authorizer_access_token', 'wxe_5xx'))).status, 404);
    assert.equal((await stack.hub.broker.grants('open').list(PENDING_CODE_PREFIX)).length, 1, 'the code is not kept');
    assert.equal((await stack.hub.broker.grants('suite').list(PENDING_CODE_PREFIX)).length, 1, 'the code is not kept');
    component.faults.set('none');
    wecom.faults.set('none');
    await eventually(async () => (await stack.hub.broker.grants('open').get(AUTHORIZER_GRANT_PREFIX + 'wxe_5xx')) !== undefined, 5_000);
    await eventually(async () => (await stack.hub.broker.grants('suite').get(WECOM_SUITE_GRANT_PREFIX + 'wwe_5xx')) !== undefined, 5_000);
    await eventually(async () => (await stack.call('GET', tokenPath('open', 'authorizer_access_token', 'wxe_5xx'))).status === 200, 5_000);
    const corp = await stack.call('GET', tokenPath('suite', 'access_token', 'wwe_5xx'));
    assert.equal(corp.status, 200, JSON.stringify(corp.body));
    assert.ok(wecom.isValid(corp.body.token));
    assert.equal((await stack.hub.broker.grants('open').list(PENDING_CODE_PREFIX)).length, 0);
    assert.equal((await stack.hub.broker.grants('suite').list(PENDING_CODE_PREFIX)).length, 0);
    // Exchanged once each: the failed call, then the one that took.
    assert.equal(component.counters.count(C.queryAuth, 'wxe_5xx'), 2);
    assert.equal(wecom.counters.count(S.permanentCode, 'wwe_5xx'), 2);
    assert.equal(component.pushes.list('authorized').length, 1, 'the platform pushed again');
  });

  it('an install whose exchange is slower than WeCom waits for an answer (1000 ms) is acknowledged in time, kept and exchanged once', async () => {
    assert.equal((await stack.call('GET', tokenPath('suite', 'suite_access_token'))).status, 200);
    // get_permanent_code answers after 1.5 s; the simulator, as WeCom, gives the events URL 1000 ms.
    wecom.faults.set('slow', { delayMs: 1_500 });
    const created = await wecom.createAuth('wwe_slow');
    assert.equal(created.delivered, true, `create_auth answered ${created.status} ${created.body}`);
    assert.equal((await stack.hub.broker.grants('suite').list(PENDING_CODE_PREFIX)).length, 1, 'answered before the code was kept');
    await eventually(async () => (await stack.hub.broker.grants('suite').get(WECOM_SUITE_GRANT_PREFIX + 'wwe_slow')) !== undefined, 5_000);
    wecom.faults.set('none');
    const corp = await stack.call('GET', tokenPath('suite', 'access_token', 'wwe_slow'));
    assert.equal(corp.status, 200, JSON.stringify(corp.body));
    assert.ok(wecom.isValid(corp.body.token));
    assert.equal((await stack.hub.broker.grants('suite').list(PENDING_CODE_PREFIX)).length, 0);
    assert.equal(wecom.counters.count(S.permanentCode, 'wwe_slow'), 1);
    assert.equal(wecom.pushes.list('create_auth').length, 1, 'the platform pushed again');
  });

  it('a kept code past its validity is dropped, not exchanged: the authorizer must authorize again, and the log says so', async () => {
    assert.equal((await stack.call('GET', tokenPath('open', 'component_access_token'))).status, 200);
    component.faults.set('status500');
    // A code the platform says expires within the second (AuthorizationCodeExpiredTime), pushed while the exchange fails.
    const { authorizationCode } = await withoutEventUrl(component, open.appId, () => component.authorize('wxe_late', { componentAppId: open.appId }));
    // tokenhub's clock, which the expiry is read against (the simulator's runs ahead).
    const now = Math.floor(Date.now() / 1000);
    const message = { AppId: open.appId, CreateTime: now, InfoType: 'authorized', AuthorizerAppid: 'wxe_late', AuthorizationCode: authorizationCode, AuthorizationCodeExpiredTime: now + 1, PreAuthCode: 'preauthcode@@@late' };
    const pushed = await sendPush(events('open'), component.buildPush(message, open.appId));
    assert.deepEqual(pushed, { status: 200, body: 'success' });
    await eventually(() => stack.logs.text.includes('expired before the platform could exchange it'), 5_000, 100);
    component.faults.set('none');
    assert.equal((await stack.hub.broker.grants('open').list(PENDING_CODE_PREFIX)).length, 0);
    const calls = component.counters.count(C.queryAuth, 'wxe_late');
    assert.equal((await component.pushTicket(open.appId)).delivered, true);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(component.counters.count(C.queryAuth, 'wxe_late'), calls, 'an expired code was sent');
    assert.ok(component.isValid(authorizationCode), 'the platform would have taken it: the test proves nothing');
    assert.equal((await stack.call('GET', tokenPath('open', 'authorizer_access_token', 'wxe_late'))).status, 404);
  });
});

/** Runs `work` with the component's event URL cleared (its pushes lost), then sets it back. */
async function withoutEventUrl<T>(sim: WeChatComponentSim, appId: string, work: () => Promise<T>): Promise<T> {
  const url = sim.pushes.list().findLast((p) => p.appId === appId)?.url;
  sim.setEventUrl(undefined, appId);
  try {
    return await work();
  } finally {
    sim.setEventUrl(url, appId);
  }
}
