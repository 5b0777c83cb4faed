// Alerts of third-party apps end to end: tokenhub against the simulators, pushes by HTTP to its
// events URL, a real webhook receiver on loopback; hub and simulators share a clock moved ahead
// to make a ticket stale.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, it, type TestContext } from 'node:test';
import { verifyAlertSignature } from '../../src/alerts/signature.js';
import { FeishuSim, WeChatComponentSim, WeComSuiteSim, type PlatformSim } from '../../src/sim/index.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const HOOK_SECRET = `hook-${randomBytes(12).toString('hex')}`;
const MINUTE = 60_000;
/** Looks at the pushed tickets this often (60 s in production). */
const CHECK_MS = 40;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A clock shared by tokenhub and the simulators, moved ahead by `advance`. */
function sharedClock() {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) };
}

describe('alerts of third-party apps', () => {
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  async function start(t: TestContext, sim: PlatformSim, apps: Record<string, Record<string, unknown>>, now: () => number): Promise<{ stack: Stack; receiver: Receiver }> {
    const receiver = await startReceiver();
    t.after(() => receiver.close());
    stack = await startStack({
      sims: [sim],
      apps,
      now,
      config: { alerts: [{ url: receiver.url, secret: HOOK_SECRET }] },
      hub: { alertDelivery: { backoff: () => 20, timeoutMs: 300, ticketCheckIntervalMs: CHECK_MS } },
    });
    return { stack, receiver };
  }

  /** The receiver got exactly `events` (in order), and nothing more comes over several ticket checks. */
  async function received(receiver: Receiver, events: string[]): Promise<void> {
    await eventually(() => receiver.received.length >= events.length, 10_000);
    await sleep(10 * CHECK_MS);
    assert.deepEqual(receiver.received.map((r) => [r.body.event, r.body.kind, r.body.tenantKey].filter(Boolean).join(' ')), events);
  }

  /** Every alert signed with the receiver's secret, of the contract's shape, and holding none of `secrets`. */
  function checkBodies(receiver: Receiver, secrets: string[]): void {
    for (const r of receiver.received) {
      assert.ok(verifyAlertSignature(r.raw, r.headers['x-tokenhub-signature'], HOOK_SECRET), 'signed with the receiver secret');
      assert.equal(r.headers['x-tokenhub-event'], r.body.event);
      for (const key of Object.keys(r.body)) assert.ok(['event', 'app', 'platform', 'kind', 'tenantKey', 'at', 'error'].includes(key), `an unknown field ${key}`);
      assert.equal(r.body.event === 'token.recovered', r.body.error === undefined, 'an error on every problem and on no recovery');
      for (const secret of secrets) assert.ok(secret.length >= 8 && !r.raw.includes(secret), `a secret, ticket or grant in an alert: ${r.raw}`);
    }
  }

  it('WeCom suite: a missing suite_ticket once however many wait, a stale one once, each recovered by a push; a revoked grant once, recovered by the reset event; a cancelled corp is no alert', async (t) => {
    const clock = sharedClock();
    const s = { suiteId: 'wwsuite_alerts', suiteSecret: `suite-secret-${randomBytes(6).toString('hex')}`, token: 'token-alerts', encodingAESKey: 'a'.repeat(43) };
    const sim = new WeComSuiteSim({ apps: [s], providerCorpId: 'wwprovider_alerts', ticketPushIntervalSeconds: 0, now: clock.now });
    const app = { platform: 'wecom', appType: 'suite', appId: s.suiteId, appSecret: s.suiteSecret, token: s.token, encodingAESKey: s.encodingAESKey, providerCorpId: 'wwprovider_alerts', baseUrl: 'sim:wecom-suite' };
    const { stack, receiver } = await start(t, sim, { suite: app }, clock.now);
    sim.setEventUrl(`${stack.url}/v1/apps/suite/events`);
    const corp = (c: string) => `/v1/apps/suite/tokens/access_token?tenant_key=${c}`;
    const secrets = [s.suiteSecret, s.encodingAESKey, stack.key, HOOK_SECRET];

    // No ticket yet: everyone waits; one alert.
    for (let i = 0; i < 3; i++) assert.equal((await stack.call('GET', '/v1/apps/suite/tokens/suite_access_token')).status, 503);
    await received(receiver, ['ticket.missing suite_ticket']);
    assert.equal(receiver.received[0]!.body.error.code, 'TOKENHUB_TICKET_PENDING');
    secrets.push((await sim.pushTicket()).ticket);
    await received(receiver, ['ticket.missing suite_ticket', 'token.recovered suite_ticket']);

    for (const c of ['wwalerts_a', 'wwalerts_b']) assert.equal((await sim.createAuth(c)).delivered, true);
    for (const c of ['wwalerts_a', 'wwalerts_b']) {
      const answer = await stack.call('GET', corp(c));
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      secrets.push(answer.body.token, sim.permanentCodeOf(c)!);
    }

    // The pushes stop: past 20 minutes the kept ticket is stale (tokens are still served); the next push ends it.
    clock.advance(21 * MINUTE);
    await received(receiver, ['ticket.missing suite_ticket', 'token.recovered suite_ticket', 'ticket.missing suite_ticket']);
    assert.match(receiver.received[2]!.body.error.message, /suite_ticket kept is 21 min old/);
    assert.equal((await stack.call('GET', corp('wwalerts_a'))).status, 200);
    secrets.push((await sim.pushTicket()).ticket);
    const afterStale = ['ticket.missing suite_ticket', 'token.recovered suite_ticket', 'ticket.missing suite_ticket', 'token.recovered suite_ticket'];
    await received(receiver, afterStale);

    // A corp whose permanent code was reset without the event reaching tokenhub: 40084, once however often asked.
    assert.equal((await sim.createAuth('wwalerts_c')).delivered, true);
    secrets.push(sim.permanentCodeOf('wwalerts_c')!);
    sim.setEventUrl(undefined);
    await sim.resetPermanentCode('wwalerts_c');
    sim.setEventUrl(`${stack.url}/v1/apps/suite/events`);
    for (let i = 0; i < 3; i++) assert.equal((await stack.call('GET', corp('wwalerts_c'))).status, 502);
    await received(receiver, [...afterStale, 'grant.rejected access_token wwalerts_c']);
    const rejected = receiver.received.at(-1)!.body;
    assert.deepEqual([rejected.app, rejected.platform, rejected.error.code, rejected.error.platformCode], ['suite', 'wecom', 'TOKENHUB_PLATFORM_REFUSED', 40084]);
    // Reset again, the event delivered this time: the new grant ends it, before anyone asks.
    assert.equal((await sim.resetPermanentCode('wwalerts_c')).delivered, true);
    secrets.push(sim.permanentCodeOf('wwalerts_c')!);
    const healed = [...afterStale, 'grant.rejected access_token wwalerts_c', 'token.recovered access_token wwalerts_c'];
    await received(receiver, healed);
    assert.equal((await stack.call('GET', corp('wwalerts_c'))).status, 200);

    // A corp that uninstalls the suite: its tokens are refused (404), which is the caller's business, not an alert.
    assert.equal((await sim.cancelAuth('wwalerts_b')).delivered, true);
    for (let i = 0; i < 3; i++) assert.equal((await stack.call('GET', corp('wwalerts_b'))).status, 404);
    assert.equal((await stack.call('GET', corp('wwnever_authorized'))).status, 404);
    await received(receiver, healed);
    checkBodies(receiver, secrets);
    assert.match(stack.logs.text, /"msg":"alert: grant.rejected"/);
  });

  it('WeChat component: a missing component_verify_ticket (asked for, pushed, recovered), a stale one; a refresh token refused (61023) once, recovered by the re-authorization', async (t) => {
    const clock = sharedClock();
    const c = { appId: 'wxcomp_alerts', appSecret: `component-secret-${randomBytes(6).toString('hex')}`, token: 'component-token-alerts', encodingAESKey: 'b'.repeat(43) };
    const sim = new WeChatComponentSim({ apps: [c], ticketPushIntervalSeconds: 0, startPushTicketIntervalSeconds: 0, now: clock.now });
    const { stack, receiver } = await start(t, sim, { open: { platform: 'wechat', appType: 'component', ...c, baseUrl: 'sim:wechat-open' } }, clock.now);
    sim.setEventUrl(`${stack.url}/v1/apps/open/events`);
    const authorizer = (a: string) => `/v1/apps/open/tokens/authorizer_access_token?tenant_key=${a}`;
    const secrets = [c.appSecret, c.encodingAESKey, stack.key, HOOK_SECRET];

    // No ticket: pending, tokenhub asks for a push (api_start_push_ticket), which ends the alert.
    assert.equal((await stack.call('GET', '/v1/apps/open/tokens/component_access_token')).status, 503);
    await received(receiver, ['ticket.missing component_verify_ticket', 'token.recovered component_verify_ticket']);
    await eventually(async () => (await stack.call('GET', '/v1/apps/open/tokens/component_access_token')).status === 200);

    assert.equal((await sim.authorize('wxalerts_b')).delivered, true);
    secrets.push(sim.refreshTokenOf('wxalerts_b')!);
    // Pushed every 10 minutes, valid 12 h: past 30 minutes without a push it is stale.
    clock.advance(31 * MINUTE);
    const stale = ['ticket.missing component_verify_ticket', 'token.recovered component_verify_ticket', 'ticket.missing component_verify_ticket'];
    await received(receiver, stale);
    secrets.push((await sim.pushTicket()).ticket);
    const fresh = [...stale, 'token.recovered component_verify_ticket'];
    await received(receiver, fresh);

    // Re-authorized with the push lost: the kept refresh token is dead (61023).
    sim.setEventUrl(undefined);
    await sim.reauthorize('wxalerts_b');
    sim.setEventUrl(`${stack.url}/v1/apps/open/events`);
    for (let i = 0; i < 3; i++) assert.equal((await stack.call('GET', authorizer('wxalerts_b'))).status, 502);
    await received(receiver, [...fresh, 'grant.rejected authorizer_access_token wxalerts_b']);
    assert.equal(receiver.received.at(-1)!.body.error.platformCode, 61023);
    assert.equal((await sim.reauthorize('wxalerts_b')).delivered, true);
    secrets.push(sim.refreshTokenOf('wxalerts_b')!);
    const healed = [...fresh, 'grant.rejected authorizer_access_token wxalerts_b', 'token.recovered authorizer_access_token wxalerts_b'];
    await received(receiver, healed);
    const served = await stack.call('GET', authorizer('wxalerts_b'));
    assert.equal(served.status, 200, JSON.stringify(served.body));
    secrets.push(served.body.token);

    // Unauthorized: refused from now on, no alert.
    assert.equal((await sim.unauthorize('wxalerts_b')).delivered, true);
    assert.equal((await stack.call('GET', authorizer('wxalerts_b'))).status, 404);
    await received(receiver, healed);
    checkBodies(receiver, secrets);
  });

  it('Feishu store app: a missing app_ticket alerts once for the app however many tenants wait, the resend ends it; stale past two missed hourly pushes', async (t) => {
    const clock = sharedClock();
    const store = { appId: 'cli_store_alerts', appSecret: `store-secret-${randomBytes(6).toString('hex')}`, verificationToken: 'vt-alerts-0123456789', encryptKey: 'ek-alerts-0123456789' };
    const sim = new FeishuSim({ apps: [], storeApps: [store], resendDelayMs: 100, now: clock.now });
    const { stack, receiver } = await start(t, sim, { store: { platform: 'feishu', appType: 'store', ...store, baseUrl: 'sim:feishu' } }, clock.now);
    sim.setEventUrl(store.appId, `${stack.url}/v1/apps/store/events`);
    const tenant = (k: string) => `/v1/apps/store/tokens/tenant_access_token?tenant_key=${k}`;

    const waiting = await Promise.all(['t1', 't2', 't3'].map((k) => stack.call('GET', tenant(k))));
    for (const w of waiting) assert.equal(w.status, 503);
    await received(receiver, ['ticket.missing app_ticket', 'token.recovered app_ticket']);
    await eventually(async () => (await stack.call('GET', tenant('t1'))).status === 200);
    clock.advance(2 * 60 * MINUTE + MINUTE);
    await received(receiver, ['ticket.missing app_ticket', 'token.recovered app_ticket', 'ticket.missing app_ticket']);
    const { ticket } = await sim.pushTicket(store.appId);
    await received(receiver, ['ticket.missing app_ticket', 'token.recovered app_ticket', 'ticket.missing app_ticket', 'token.recovered app_ticket']);
    checkBodies(receiver, [store.appSecret, store.encryptKey, store.verificationToken, ticket, stack.key, HOOK_SECRET]);
  });
});
