// The log lines of upstream token calls, read as a person or a log pipeline reads them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FeishuSim } from '../../src/sim/index.js';
import { startStack, type Stack } from '../helpers/stack.js';

const SECRET = `log-${randomBytes(8).toString('hex')}`;

describe('upstream log lines', () => {
  let stack: Stack;
  let sim: FeishuSim;
  const lines = (): Record<string, any>[] => stack.logs.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, any>);

  before(async () => {
    sim = new FeishuSim({ apps: [{ appId: 'cli_log', appSecret: SECRET }] });
    stack = await startStack({ sims: [sim], apps: { main: { platform: 'feishu', appId: 'cli_log', appSecret: SECRET, baseUrl: 'sim:feishu' } }, config: { upstream: { timeoutMs: 500 } } });
  });
  after(() => stack.close());

  it('one info line per token call: app, platform, kind, reason, outcome, duration and host; failures name the host; never a secret or token', async () => {
    const ok = await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token');
    assert.equal(ok.status, 200);
    const host = new URL(stack.sims.baseUrl('feishu')).host;
    const fetched = lines().filter((l) => l.msg === 'token fetched');
    assert.equal(fetched.length, 1);
    const { time, ...line } = fetched[0]!;
    assert.match(time, /^\d{4}-\d\d-\d\dT/);
    assert.equal(typeof line.durationMs, 'number');
    delete line.durationMs;
    assert.deepEqual(line, { level: 'info', service: 'tokenhub', component: 'upstream', app: 'main', platform: 'feishu', kind: 'tenant_access_token', reason: 'cold', outcome: 'ok', host, msg: 'token fetched' });

    sim.faults.set('status500');
    const failed = await stack.call('GET', '/v1/apps/main/tokens/app_access_token');
    sim.faults.set('none');
    assert.equal(failed.status, 503);
    const calls = lines().filter((l) => l.msg === 'token call failed');
    assert.ok(calls.length >= 1 && calls.every((l) => l.level === 'info' && l.outcome === 'transient' && l.host === host && l.kind === 'app_access_token'), JSON.stringify(calls));
    const summary = lines().find((l) => l.msg === 'token fetch failed');
    assert.deepEqual([summary?.level, summary?.host, summary?.failure], ['warn', host, 'transient']);
    for (const secret of [SECRET, ok.body.token, stack.key]) assert.ok(!stack.logs.text.includes(secret), 'a secret, key or token in the log');
  });
});
