import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { QINGTUI_STATE } from '../../src/providers/qingtui.js';
import { QingtuiSim, type QingtuiSimOptions } from '../../src/sim/index.js';
import { MemoryStore } from '../../src/stores/memory.js';
import { skewedClock, sleep, startStack, type Stack } from '../helpers/stack.js';

const APP_ID = 'qt_app_1';
const SECRET = 'qingtui-secret-0123456789abcdef';
const TOKEN = '/v1/apps/qt/tokens/access_token';
const INVALIDATE = `${TOKEN}/invalidate`;
const ISSUE = 'v1/token';
const REFRESH = 'autoRefreshToken';

function qingtui(options: Partial<QingtuiSimOptions> = {}): QingtuiSim {
  return new QingtuiSim({ apps: [{ appId: APP_ID, appSecret: SECRET }], ...options });
}

// Rotations by report follow each other within seconds here: reports are not spaced out.
const apps = (extra: Record<string, unknown> = {}) => ({ qt: { platform: 'qingtui', appId: APP_ID, appSecret: SECRET, baseUrl: 'sim:qingtui', reportIntervalSeconds: 0, ...extra } });

/** Reports the current token as rejected (after the platform revoked it) and returns the new one. */
async function rotate(stack: Stack, sim: QingtuiSim): Promise<string> {
  const current = (await stack.call('GET', TOKEN)).body.token as string;
  sim.revoke(current);
  const res = await stack.call('POST', INVALIDATE, { body: { token: current } });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.notEqual(res.body.token, current);
  return res.body.token as string;
}

describe('qingtui: refresh tokens', () => {
  let stack: Stack;
  let sim: QingtuiSim;
  // The 2-s rule is waited out on this clock instead of in real time.
  const clock = skewedClock();
  before(async () => {
    sim = qingtui({ now: clock.now });
    stack = await startStack({ sims: [sim], apps: apps(), now: clock.now });
  });
  after(() => stack.close());

  it('takes the first token from /v1/token and every later one from autoRefreshToken', async () => {
    const first = await stack.call('GET', TOKEN);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    assert.equal(first.body.platform, 'qingtui');
    assert.ok(sim.isValid(first.body.token));
    assert.equal(sim.counters.count(ISSUE), 1);
    assert.equal(sim.counters.count(REFRESH), 0);

    const seen = new Set([first.body.token]);
    for (let i = 0; i < 5; i++) {
      const token = await rotate(stack, sim);
      assert.ok(sim.isValid(token), 'the platform rejects the rotated token');
      seen.add(token);
    }
    assert.equal(seen.size, 6);
    assert.equal(sim.counters.count(ISSUE), 1, 'a rotation called /v1/token, killing the refresh token');
    assert.equal(sim.counters.count(REFRESH), 5);
  });

  it('keeps the refresh token in the app state, never in a log', async () => {
    const stored = await stack.hub.broker.state('qt').get(QINGTUI_STATE.refreshToken);
    assert.ok(stored !== undefined && sim.isRefreshTokenValid(stored), 'no valid refresh token in the state');
    const token = (await stack.call('GET', TOKEN)).body.token;
    for (const secret of [stored, SECRET, token]) assert.ok(!stack.logs.text.includes(secret!), 'a secret reached the logs');
  });

  it('falls back to /v1/token once when another server killed the refresh token, then refreshes again', async () => {
    // Another server asks /v1/token on its own (after the 2-s rule lets it): our refresh token dies.
    clock.advance(2100);
    const url = `${stack.sims.baseUrl('qingtui')}/v1/token?grant_type=client_credential&appid=${APP_ID}&secret=${SECRET}`;
    const outside = (await (await request(url)).body.json()) as { refresh_token?: string };
    assert.equal(typeof outside.refresh_token, 'string');
    clock.advance(2100);
    sim.counters.reset();

    await rotate(stack, sim);
    assert.equal(sim.counters.count(REFRESH), 1, 'the stored refresh token was not tried first');
    assert.equal(sim.counters.count(ISSUE), 1, 'no single fallback to /v1/token');
    await rotate(stack, sim);
    assert.equal(sim.counters.count(ISSUE), 1, 'the new refresh token was not kept');
    assert.equal(sim.counters.count(REFRESH), 2);
  });

  it('never calls /v1/token twice within 2 s: it waits out the rule instead of being refused', async () => {
    sim.counters.reset();
    sim.revokeRefreshTokens(APP_ID);
    const started = Date.now();
    await rotate(stack, sim); // refresh token rejected → /v1/token
    sim.revokeRefreshTokens(APP_ID);
    await rotate(stack, sim); // at once again: must wait for the 2 s to pass (the simulator refuses sooner calls)
    assert.equal(sim.counters.count(ISSUE), 2);
    assert.ok(Date.now() - started >= 1900, 'two /v1/token calls less than 2 s apart');
  });
});

describe('qingtui: an expired refresh token', () => {
  let stack: Stack;
  let sim: QingtuiSim;
  const clock = skewedClock();
  before(async () => {
    sim = qingtui({ refreshTokenLifetimeSeconds: 2.5, now: clock.now });
    stack = await startStack({ sims: [sim], apps: apps(), now: clock.now });
  });
  after(() => stack.close());

  it('42002 sends tokenhub back to /v1/token once', async () => {
    assert.equal((await stack.call('GET', TOKEN)).status, 200);
    clock.advance(2600);
    sim.counters.reset();
    const token = await rotate(stack, sim);
    assert.ok(sim.isValid(token));
    assert.equal(sim.counters.count(REFRESH), 1);
    assert.equal(sim.counters.count(ISSUE), 1);
  });
});

describe('qingtui: rotation on the clock (token lifetime compressed to 4 s)', () => {
  let stack: Stack;
  let sim: QingtuiSim;
  before(async () => {
    sim = qingtui({ tokenLifetimeSeconds: 4 });
    stack = await startStack({ sims: [sim], apps: apps({ refreshAheadSeconds: 2, minTtlSeconds: 1 }) });
  });
  after(() => stack.close());

  it('serves only valid tokens and rotates with autoRefreshToken alone', async () => {
    const seen = new Set<string>();
    const until = Date.now() + 9_000;
    while (Date.now() < until) {
      const res = await stack.call('GET', TOKEN);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(sim.isValid(res.body.token), 'served a token the platform rejects');
      seen.add(res.body.token);
      await sleep(20);
    }
    assert.ok(seen.size >= 3, `only ${seen.size} tokens in 9 s`);
    assert.equal(sim.counters.count(ISSUE), 1);
    assert.equal(sim.counters.count(REFRESH), seen.size - 1);
  });
});

describe('qingtui: a restart of tokenhub', () => {
  it('uses the stored refresh token, not /v1/token', async () => {
    const sim = qingtui();
    const store = new MemoryStore();
    const first = await startStack({ sims: [sim], apps: apps(), store });
    const before = (await first.call('GET', TOKEN)).body.token;
    await first.close();
    assert.equal(sim.counters.count(ISSUE), 1);

    const second = await startStack({ sims: [sim], apps: apps(), store });
    try {
      // The token itself survives in the store…
      assert.equal((await second.call('GET', TOKEN)).body.token, before);
      // …and so does the refresh token: the next rotation needs no /v1/token.
      const after = await rotate(second, sim);
      assert.ok(sim.isValid(after));
      assert.equal(sim.counters.count(ISSUE), 1, 'the restarted tokenhub called /v1/token, killing the refresh token');
      assert.equal(sim.counters.count(REFRESH), 1);
    } finally {
      await second.close();
    }
  });
});

describe('qingtui: expiry from the JWT', () => {
  it('takes the earlier of the JWT expiry and expires_in', async () => {
    // The platform says 7200 s; the token itself says 600 s.
    const sim = qingtui({ tokenLifetimeSeconds: 600, reportedLifetimeSeconds: 7200 });
    const stack = await startStack({ sims: [sim], apps: apps() });
    try {
      const res = await stack.call('GET', TOKEN);
      assert.equal(res.status, 200);
      assert.ok(res.body.expiresIn > 590 && res.body.expiresIn <= 600, `expiresIn ${res.body.expiresIn}`);
    } finally {
      await stack.close();
    }
  });

  it('falls back to expires_in for a token that is not a JWT', async () => {
    const sim = qingtui({ tokenFormat: 'opaque', reportedLifetimeSeconds: 3000 });
    const stack = await startStack({ sims: [sim], apps: apps() });
    try {
      const res = await stack.call('GET', TOKEN);
      assert.equal(res.status, 200);
      assert.ok(res.body.expiresIn > 2990 && res.body.expiresIn <= 3000, `expiresIn ${res.body.expiresIn}`);
    } finally {
      await stack.close();
    }
  });
});

describe('qingtui: errors', () => {
  let stack: Stack;
  let sim: QingtuiSim;
  const clock = skewedClock();
  before(async () => {
    sim = new QingtuiSim({ apps: [{ appId: APP_ID, appSecret: SECRET }, { appId: 'qt_quota', appSecret: SECRET, dailyQuota: 1 }], now: clock.now });
    stack = await startStack({
      now: clock.now,
      sims: [sim],
      apps: {
        ...apps(),
        bad: { platform: 'qingtui', appId: APP_ID, appSecret: 'not-the-secret', baseUrl: 'sim:qingtui' },
        quota: { platform: 'qingtui', appId: 'qt_quota', appSecret: SECRET, baseUrl: 'sim:qingtui' },
      },
    });
  });
  after(() => stack.close());

  it('40401 (appid or secret unauthenticated) is a 502 with the platform code', async () => {
    const res = await stack.call('GET', '/v1/apps/bad/tokens/access_token');
    assert.equal(res.status, 502);
    assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_REFUSED');
    assert.equal(res.body.error.platform, 'qingtui');
    assert.equal(res.body.error.platformCode, 40401);
    assert.ok(!JSON.stringify(res.body).includes('not-the-secret'));
  });

  it('45009 (daily quota) on a report: the reported token is served on, marked, with the rate limit in its state', async () => {
    assert.equal((await stack.call('GET', '/v1/apps/quota/tokens/access_token')).status, 200);
    sim.revokeRefreshTokens('qt_quota');
    clock.advance(2100);
    const current = (await stack.call('GET', '/v1/apps/quota/tokens/access_token')).body.token;
    const res = await stack.call('POST', '/v1/apps/quota/tokens/access_token/invalidate', { body: { token: current } });
    // No replacement to be had: the reported token is served on, marked, and the state tells why.
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.token, current);
    assert.equal(res.headers['x-tokenhub-warning'], 'reported-token');
    const state = (await stack.call('GET', '/v1/apps')).body.apps.find((a: { id: string }) => a.id === 'quota').tokens[0];
    assert.equal(state.reported, true);
    assert.equal(state.lastError.code, 'TOKENHUB_RATE_LIMITED');
    assert.equal(state.lastError.platformCode, 45009);
    assert.ok(Date.parse(state.lastError.retryAt) - Date.now() >= 29_000);
  });

  it('a platform answering HTML on a report: the reported token is served on; the token kind is access_token only', async () => {
    const current = (await stack.call('GET', TOKEN)).body.token;
    sim.faults.set('html');
    try {
      const res = await stack.call('POST', INVALIDATE, { body: { token: current } });
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-tokenhub-warning'], 'reported-token');
      const state = (await stack.call('GET', '/v1/apps')).body.apps.find((a: { id: string }) => a.id === 'qt').tokens[0];
      assert.equal(state.lastError.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
    } finally {
      sim.faults.set('none');
    }
    assert.equal((await stack.call('GET', '/v1/apps/qt/tokens/tenant_access_token')).status, 400);
  });
});
