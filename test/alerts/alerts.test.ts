// Alerts end to end: tokenhub against the Feishu simulator, real webhook receivers on loopback.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, it, type TestContext } from 'node:test';
import { verifyAlertSignature } from '../../src/alerts/signature.js';
import { FeishuSim } from '../../src/sim/index.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const SECRET = `alerts-${randomBytes(8).toString('hex')}`;
const HOOK_SECRET = `hook-${randomBytes(12).toString('hex')}`;

describe('alerts', () => {
  let stack: Stack | undefined;
  let sim: FeishuSim;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  async function start(alerts: Record<string, unknown>[], delivery: Record<string, unknown> = {}): Promise<Stack> {
    sim = new FeishuSim({ apps: [{ appId: 'cli_alerts', appSecret: SECRET }] });
    stack = await startStack({
      sims: [sim],
      apps: { main: { platform: 'feishu', appId: 'cli_alerts', appSecret: SECRET, baseUrl: 'sim:feishu', reportIntervalSeconds: 0 } },
      config: { alerts },
      hub: { alertDelivery: { backoff: () => 20, timeoutMs: 300, ...delivery } },
    });
    return stack;
  }
  const receiverFor = async (t: TestContext): Promise<Receiver> => {
    const r = await startReceiver();
    t.after(() => r.close());
    return r;
  };
  /** Makes the platform refuse the app's secret (or accept it again), and ends the backoff. */
  const refuse = (yes: boolean): void => {
    sim.setSecret('cli_alerts', yes ? 'rotated-elsewhere' : SECRET);
    stack!.hub.broker.wake('main');
  };
  const report = async (token: string): Promise<{ status: number; body: any }> => {
    stack!.hub.broker.wake('main');
    return stack!.call('POST', '/v1/apps/main/tokens/tenant_access_token/invalidate', { body: { token } });
  };
  const deliveries = async (): Promise<Record<string, number>> => {
    const text = (await stack!.call('GET', '/metrics')).body as string;
    return Object.fromEntries([...text.matchAll(/^tokenhub_alert_deliveries_total\{outcome="(\w+)"\} (\d+)$/gm)].map(([, o, n]) => [o!, Number(n)]));
  };

  it('a flapping platform: one alert per change of state, signed, in order, never a token or secret; a receiver gets only the events it asked for', async (t) => {
    const all = await receiverFor(t);
    const some = await receiverFor(t);
    await start([{ url: all.url, secret: HOOK_SECRET }, { url: some.url, secret: `${HOOK_SECRET}-2`, events: ['token.unavailable'] }]);
    const first = await stack!.call('GET', '/v1/apps/main/tokens/tenant_access_token');
    const token = first.body.token as string;
    for (let round = 0; round < 3; round++) {
      refuse(true);
      // Refused twice in a row: one alert. The reported token is served on meanwhile.
      for (let i = 0; i < 2; i++) assert.equal((await report(token)).status, 200);
      refuse(false);
      assert.equal((await report(token)).status, 200);
    }
    // A kind with no token at hand while the platform is down: unavailable, once however often asked.
    sim.faults.set('status500');
    for (let i = 0; i < 3; i++) {
      stack!.hub.broker.wake('main');
      assert.equal((await stack!.call('GET', '/v1/apps/main/tokens/app_access_token')).status, 503);
    }
    sim.faults.set('none');
    stack!.hub.broker.wake('main');
    assert.equal((await stack!.call('GET', '/v1/apps/main/tokens/app_access_token')).status, 200);

    await eventually(() => all.received.length === 8 && some.received.length === 1);
    assert.deepEqual(all.received.map((r) => `${r.body.event} ${r.body.kind}`), [
      ...Array.from({ length: 3 }, () => ['credentials.rejected tenant_access_token', 'token.recovered tenant_access_token']).flat(),
      'token.unavailable app_access_token',
      'token.recovered app_access_token',
    ]);
    for (const r of all.received) {
      assert.ok(verifyAlertSignature(r.raw, r.headers['x-tokenhub-signature'], HOOK_SECRET), 'signed with the receiver secret');
      assert.equal(r.headers['x-tokenhub-event'], r.body.event);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.match(r.body.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      for (const secret of [token, SECRET, HOOK_SECRET, stack!.key]) assert.ok(!r.raw.includes(secret), 'a token or secret in an alert');
    }
    assert.ok(!verifyAlertSignature(all.received[0]!.raw, all.received[0]!.headers['x-tokenhub-signature'], 'another-secret-0123456'));
    const [rejected] = all.received;
    assert.deepEqual(Object.keys(rejected!.body).sort(), ['app', 'at', 'error', 'event', 'kind', 'platform']);
    assert.deepEqual([rejected!.body.app, rejected!.body.platform, rejected!.body.error.code, rejected!.body.error.platformCode], ['main', 'feishu', 'TOKENHUB_PLATFORM_REFUSED', 10014]);
    assert.equal(all.received[6]!.body.error.host, new URL(stack!.sims.baseUrl('feishu')).host);
    assert.equal(some.received[0]!.body.event, 'token.unavailable');
    assert.ok(verifyAlertSignature(some.received[0]!.raw, some.received[0]!.headers['x-tokenhub-signature'], `${HOOK_SECRET}-2`));
    assert.deepEqual(await deliveries(), { delivered: 9 });
    assert.match(stack!.logs.text, /"msg":"alert: credentials.rejected"/);
    assert.ok(!stack!.logs.text.includes(HOOK_SECRET), 'the receiver secret in the log');
  });

  it('a receiver that fails twice gets the alert on the third attempt, and later alerts wait behind it', async (t) => {
    const flaky = await receiverFor(t);
    flaky.answer = (n) => (n < 2 ? 503 : 200);
    await start([{ url: flaky.url, secret: HOOK_SECRET }]);
    sim.faults.set('status500');
    assert.equal((await stack!.call('GET', '/v1/apps/main/tokens/tenant_access_token')).status, 503);
    sim.faults.set('none');
    stack!.hub.broker.wake('main');
    assert.equal((await stack!.call('GET', '/v1/apps/main/tokens/tenant_access_token')).status, 200);
    await eventually(() => flaky.received.length === 4);
    assert.deepEqual(flaky.received.map((r) => r.body.event), ['token.unavailable', 'token.unavailable', 'token.unavailable', 'token.recovered']);
    assert.equal(new Set(flaky.received.slice(0, 3).map((r) => r.raw)).size, 1, 'the same body, signed the same');
    assert.deepEqual(await deliveries(), { delivered: 2, retried: 2 });
  });

  it('a dead receiver (one that never answers, one that refuses connections) does not slow token answers; it is given up on and counted', async (t) => {
    const hanging = await receiverFor(t);
    hanging.answer = () => 'hang';
    const closedPort = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    await start([{ url: hanging.url, secret: HOOK_SECRET }, { url: `http://127.0.0.1:${closedPort}/`, secret: HOOK_SECRET }], { attempts: 2, timeoutMs: 1_000 });
    const token = (await stack!.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token as string;
    const timings: number[] = [];
    for (let round = 0; round < 5; round++) {
      for (const yes of [true, false]) {
        refuse(yes);
        const started = performance.now();
        assert.equal((await report(token)).status, 200);
        assert.equal((await stack!.call('GET', '/v1/apps/main/tokens/tenant_access_token')).status, 200);
        timings.push(performance.now() - started);
      }
    }
    // 10 alerts to each receiver, each waiting up to 1 s per attempt there; the answers do not wait.
    assert.ok(Math.max(...timings) < 500, `token answers took up to ${Math.round(Math.max(...timings))} ms`);
    await eventually(async () => ((await deliveries()).failed ?? 0) >= 2, 10_000);
    const counted = await deliveries();
    assert.equal(counted.delivered, undefined);
    assert.ok((counted.retried ?? 0) >= 2, JSON.stringify(counted));
    assert.match(stack!.logs.text, /alert not delivered: giving up/);
    assert.ok(hanging.received.length >= 1);
  });
});
