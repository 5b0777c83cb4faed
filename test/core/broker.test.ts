// The broker's timing rules under fake time. The platform here is a scripted provider, so that
// hours of refreshes run in milliseconds; the same rules are tested over HTTP against the
// simulators in test/server/tokens.test.ts.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { Broker } from '../../src/core/broker.js';
import { UpstreamError } from '../../src/core/errors.js';
import type { FetchRequest, FetchedToken, Provider, StoreChange } from '../../src/core/types.js';
import { MemoryStore } from '../../src/stores/memory.js';

const S = 1000;
const MIN = 60 * S;

/** A platform scripted by the test: `answer` decides each token request. */
class ScriptedProvider implements Provider {
  readonly platform = 'scripted';
  readonly kinds = ['access_token'];
  readonly businessKind = 'access_token';
  readonly refreshAheadMs = 25 * MIN;
  requests: FetchRequest[] = [];
  #n = 0;
  answer: (request: FetchRequest) => FetchedToken | Promise<FetchedToken> = () => ({ value: `tok-${++this.#n}`, expiresInMs: 7200 * S });
  tenantScoped(_kind: string): boolean {
    return false;
  }
  businessUrl(path: string): URL {
    return new URL(path, 'https://scripted.invalid');
  }
  attachToken(): void {}
  isTokenRejected(): boolean {
    return false;
  }
  async fetch(request: FetchRequest): Promise<FetchedToken> {
    this.requests.push(request);
    return this.answer(request);
  }
  next(): string {
    return `tok-${++this.#n}`;
  }
}

/** Resolves once `done()` holds, looking after each turn of the event loop; gives up after `turns`. */
async function until(done: () => boolean, turns = 1000): Promise<void> {
  for (let i = 0; i < turns && !done(); i++) await new Promise((r) => setImmediate(r));
}

/** Whether no token of any of the broker's apps is being fetched. */
const idle = (b: Broker): boolean => b.apps().every((app) => b.status(app.id).every((s) => !s.refreshing));

describe('broker scheduling (fake time)', () => {
  let provider: ScriptedProvider;
  let broker: Broker;
  /**
   * Moves fake time forward in steps, letting the fetches the timers started settle between them.
   * A fetch waiting on a (fake) timer or on the test never settles: then a step waits 20 turns, as before.
   */
  async function advance(ms: number, step = 1000): Promise<void> {
    for (let done = 0; done < ms; done += step) {
      mock.timers.tick(Math.min(step, ms - done));
      await until(() => idle(broker), 20);
    }
  }
  const make = (options: { refreshAheadMs?: number; random?: () => number; minTtlMs?: number } = {}): Broker => {
    const now = (): number => Date.now();
    const b = new Broker({ store: new MemoryStore({ now }), now, ...(options.random ? { random: options.random } : {}) });
    b.register({ id: 'app', provider, fingerprint: 'scripted:app:0', minTtlMs: options.minTtlMs ?? 60 * S, ...(options.refreshAheadMs ? { refreshAheadMs: options.refreshAheadMs } : {}) });
    return b;
  };

  beforeEach(() => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-11-22T00:00:00Z') });
    provider = new ScriptedProvider();
  });
  afterEach(() => {
    broker?.close();
    mock.timers.reset();
  });

  it('refreshes strictly inside the window, the jitter inside it too, and serves the old token meanwhile', async () => {
    broker = make({ random: () => 0.5 });
    const first = await broker.getToken('app', 'access_token');
    const [status] = broker.status('app');
    // 25 min ahead, less the 1.5-s margin and half of the 10% jitter: with less than 25 min left, never more.
    assert.equal(Date.parse(status!.nextRefreshAt!), first.expiresAt - 25 * MIN + 1.5 * S + 0.05 * 25 * MIN);

    let release!: (t: FetchedToken) => void;
    provider.answer = () => new Promise((r) => (release = r));
    await advance(7200 * S - 25 * MIN + 1.5 * S + 0.05 * 25 * MIN - 1000);
    assert.equal(provider.requests.length, 1, 'refreshed too early');
    await advance(2000);
    assert.equal(provider.requests.length, 2);
    assert.equal(provider.requests[1]!.reason, 'refresh');
    // The refresh is in flight: callers still get the current token at once.
    assert.equal((await broker.getToken('app', 'access_token')).value, first.value);
    release({ value: 'tok-new', expiresInMs: 7200 * S });
    await until(() => idle(broker));
    assert.equal((await broker.getToken('app', 'access_token')).value, 'tok-new');
  });

  it('spreads the refreshes of many apps (no refresh storm at one instant)', async () => {
    const now = (): number => Date.now();
    broker = new Broker({ store: new MemoryStore({ now }), now });
    for (let i = 0; i < 20; i++) broker.register({ id: `app${i}`, provider, fingerprint: `scripted:app${i}:0` });
    await Promise.all(Array.from({ length: 20 }, (_, i) => broker.getToken(`app${i}`, 'access_token')));
    const times = Array.from({ length: 20 }, (_, i) => Date.parse(broker.status(`app${i}`)[0]!.nextRefreshAt!));
    assert.ok(new Set(times).size >= 18, 'refresh times coincide');
    assert.ok(Math.max(...times) - Math.min(...times) > 30 * S, 'refresh times are not spread');
    // Every one with less than 25 minutes left, none later than the 10% jitter allows.
    assert.ok(Math.min(...times) > Date.now() + 7200 * S - 25 * MIN);
    assert.ok(Math.max(...times) <= Date.now() + 7200 * S - 25 * MIN + 1.5 * S + 2.5 * MIN);
  });

  it('refreshes a token shorter than the window at half its remaining life', async () => {
    broker = make();
    provider.answer = () => ({ value: provider.next(), expiresInMs: 10 * MIN });
    const token = await broker.getToken('app', 'access_token');
    assert.equal(Date.parse(broker.status('app')[0]!.nextRefreshAt!), token.expiresAt - 5 * MIN);
  });

  it('never loops when the platform keeps handing back the same token', async () => {
    broker = make();
    const expiresAt = Date.now() + 7200 * S;
    provider.answer = () => ({ value: 'tok-same', expiresInMs: expiresAt - Date.now() });
    await broker.getToken('app', 'access_token');
    let reads = 0;
    // Two hours of steady reads while every refresh returns the same token.
    for (let t = 0; t < 7200 - 70; t += 10) {
      await broker.getToken('app', 'access_token').then(() => reads++);
      await advance(10 * S, 10 * S);
    }
    assert.ok(reads > 700);
    // Refreshes halve the remaining life each time (25 min, 12.5, …, 1 s apart at least): a few dozen, not thousands.
    assert.ok(provider.requests.length < 30, `${provider.requests.length} requests`);
  });

  it('lets a token nobody reads lapse, and wakes its refresh when a reader comes inside the window', async () => {
    broker = make();
    await broker.getToken('app', 'access_token');
    // The caller's fetch counts as a read: the first refresh happens.
    await advance(7200 * S - 20 * MIN, 60 * S);
    assert.equal(provider.requests.length, 2);
    // Nobody reads the refreshed token through its own window: it is left to lapse.
    await advance(7200 * S - 20 * MIN, 60 * S);
    assert.equal(provider.requests.length, 2, 'refreshed a token nobody reads');
    assert.equal((await broker.getToken('app', 'access_token')).value, 'tok-2');
    await until(() => idle(broker));
    assert.equal(provider.requests.length, 3, 'a reader inside the window did not wake the refresh');
    assert.equal((await broker.getToken('app', 'access_token')).value, 'tok-3');
  });

  it('a bad secret costs a handful of upstream calls a minute, however many requests arrive', async () => {
    broker = make();
    provider.answer = () => {
      throw new UpstreamError('credentials', 'code 10014: app secret invalid', { platform: 'scripted', platformCode: 10014 });
    };
    let refused = 0;
    for (let i = 0; i < 600; i++) {
      await broker.getToken('app', 'access_token').catch((err: { statusCode: number; platformCode: number }) => {
        assert.equal(err.statusCode, 502);
        assert.equal(err.platformCode, 10014);
        refused++;
      });
      await advance(100, 100);
    }
    assert.equal(refused, 600);
    assert.ok(provider.requests.length <= 6, `${provider.requests.length} upstream calls in a minute`);
  });

  it('keeps serving a valid token through background failures, retries within 10 s, and recovers', async () => {
    // No jitter: the first background refresh falls at the start of the minute looked at.
    broker = make({ refreshAheadMs: 10 * MIN, random: () => 0 });
    const first = await broker.getToken('app', 'access_token');
    let down = true;
    provider.answer = () => {
      if (down) throw new UpstreamError('transient', 'HTTP 500', { platform: 'scripted', httpStatus: 500 });
      return { value: 'tok-back', expiresInMs: 7200 * S };
    };
    await advance(7200 * S - 10 * MIN, 60 * S);
    const failing = provider.requests.length;
    for (let i = 0; i < 60; i++) {
      assert.equal((await broker.getToken('app', 'access_token')).value, first.value);
      await advance(S, S);
    }
    const retries = provider.requests.length - failing;
    assert.ok(retries >= 6 * 3, `only ${retries} retries in a minute: the platform's return would go unnoticed`);
    down = false;
    await advance(10 * S, S);
    assert.equal((await broker.getToken('app', 'access_token')).value, 'tok-back');
  });

  it('an invalidation that joins a refresh returning the rejected token gets a fetch of its own', async () => {
    broker = make({ random: () => 0 });
    const first = await broker.getToken('app', 'access_token');
    let release!: (t: FetchedToken) => void;
    provider.answer = () => new Promise((r) => (release = r));
    await advance(7200 * S - 25 * MIN + 2 * S, 60 * S); // the background refresh is now in flight
    assert.equal(provider.requests.length, 2);
    // The report joins the refresh in flight at once: nothing to wait for before the platform answers.
    const fresh = broker.invalidate('app', 'access_token', first.value);
    provider.answer = () => ({ value: 'tok-after', expiresInMs: 7200 * S });
    release({ value: first.value, expiresInMs: 25 * MIN }); // the platform hands the same token back
    assert.equal((await fresh).value, 'tok-after');
    assert.equal(provider.requests.length, 3);
    assert.equal(provider.requests[2]!.reason, 'invalidate');
  });

  it('never hands out an expired token: 503 with Retry-After once the last one is too short', async () => {
    broker = make({ refreshAheadMs: 10 * MIN, minTtlMs: 30 * S });
    await broker.getToken('app', 'access_token');
    provider.answer = () => {
      throw new UpstreamError('transient', 'connection refused', { platform: 'scripted' });
    };
    await advance(7200 * S - 29 * S, 60 * S);
    const refused = assert.rejects(broker.getToken('app', 'access_token'), (err: { statusCode: number; retryAfterSeconds: number; code: string }) => {
      assert.equal(err.statusCode, 503);
      assert.equal(err.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
      assert.ok(err.retryAfterSeconds >= 1 && err.retryAfterSeconds <= 10);
      return true;
    });
    await advance(5 * S, 100); // the fetch's own retries wait on (fake) timers
    await refused;
  });
});

/** A platform with tenant tokens that answers after `delayMs`, counting the fetches in flight. */
class TenantProvider extends ScriptedProvider {
  override readonly kinds = ['access_token', 'tenant_token'];
  inFlight = 0;
  maxInFlight = 0;
  delayMs = 5;
  limits: { name: string; limit: number; windowMs: number }[] = [];
  override tenantScoped(kind: string): boolean {
    return kind === 'tenant_token';
  }
  override async fetch(request: FetchRequest): Promise<FetchedToken> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await new Promise((r) => setTimeout(r, this.delayMs));
      return await super.fetch(request);
    } finally {
      this.inFlight--;
    }
  }
}

describe('broker limits (real time)', () => {
  let broker: Broker | undefined;
  afterEach(() => broker?.close());

  it('validates its options at construction, naming the option', () => {
    assert.throws(() => new Broker({ store: new MemoryStore(), leaseMs: -1 }), /BrokerOptions\.leaseMs must be a non-negative number/);
    assert.throws(() => new Broker({ store: new MemoryStore(), refreshJitter: 2 }), /BrokerOptions\.refreshJitter must be a fraction between 0 and 1/);
    assert.throws(() => new Broker({ store: new MemoryStore(), maxTenants: Number.NaN }), /BrokerOptions\.maxTenants/);
  });

  it('200 tenants coming cold at once: never more than maxConcurrentFetches calls in flight, and every one served', async () => {
    const provider = new TenantProvider();
    broker = new Broker({ store: new MemoryStore() });
    broker.register({ id: 'isv', provider, fingerprint: 'scripted:isv:0', maxConcurrentFetches: 4 });
    const tokens = await Promise.all(Array.from({ length: 200 }, (_, i) => broker!.getToken('isv', 'tenant_token', { tenantKey: `t${i}` })));
    assert.equal(new Set(tokens.map((t) => t.value)).size, 200);
    assert.equal(provider.requests.length, 200);
    assert.equal(provider.maxInFlight, 4);
  });

  it('keeps at most maxTenants tenants, the least recently read dropped first, and counts them without naming them', async () => {
    const provider = new TenantProvider();
    broker = new Broker({ store: new MemoryStore() });
    broker.register({ id: 'isv', provider, fingerprint: 'scripted:isv:0', maxTenants: 3 });
    for (const t of ['a', 'b', 'c']) await broker.getToken('isv', 'tenant_token', { tenantKey: t });
    broker.peek('isv', 'tenant_token', { tenantKey: 'a' }); // a is read again: b is now the oldest
    await broker.getToken('isv', 'tenant_token', { tenantKey: 'd' });
    assert.deepEqual(broker.tenantStatus('isv').map(({ kind, tenants, valid }) => ({ kind, tenants, valid })), [{ kind: 'tenant_token', tenants: 3, valid: 3 }]);
    assert.ok(broker.peek('isv', 'tenant_token', { tenantKey: 'a' }), 'a is kept');
    assert.equal(broker.peek('isv', 'tenant_token', { tenantKey: 'b' }), undefined, 'b was dropped');
    assert.ok(!JSON.stringify(broker.tenantStatus('isv')).includes('"a"'));
  });

  it('a tenant key the platform refused is not asked about again until the app is woken (an authorization came)', async () => {
    const provider = new TenantProvider();
    let authorized = false;
    provider.answer = (request) => {
      if (request.kind === 'tenant_token' && !authorized) throw new UpstreamError('credentials', 'grant revoked', { platform: 'scripted', platformCode: 40084 });
      return { value: `tok-${provider.requests.length}`, expiresInMs: 7200 * S };
    };
    broker = new Broker({ store: new MemoryStore() });
    broker.register({ id: 'isv', provider, fingerprint: 'scripted:isv:0' });
    await assert.rejects(broker.getToken('isv', 'tenant_token', { tenantKey: 'corp1' }), { statusCode: 502 });
    await assert.rejects(broker.getToken('isv', 'tenant_token', { tenantKey: 'corp1' }), { statusCode: 502 });
    assert.equal(provider.requests.length, 1, 'the refusal is noted: no second call');
    authorized = true;
    broker.wake('isv');
    assert.ok((await broker.getToken('isv', 'tenant_token', { tenantKey: 'corp1' })).value.startsWith('tok-'));
    assert.equal(provider.requests.length, 2);
  });

  it('a tenant forgotten while its fetch is in flight: the waiting caller gets that token, which is neither kept nor stored; the next read fetches anew', async () => {
    const provider = new TenantProvider();
    provider.delayMs = 50;
    const store = new MemoryStore();
    broker = new Broker({ store });
    broker.register({ id: 'isv', provider, fingerprint: 'scripted:isv:0' });
    const waiting = broker.getToken('isv', 'tenant_token', { tenantKey: 'corp1' });
    await until(() => provider.inFlight === 1);
    await broker.forgetTenant('isv', 'corp1');
    const old = await waiting;
    assert.equal(await store.getToken('tok:scripted:isv:0:tenant_token:corp1'), undefined, 'the forgotten tenant token was stored');
    assert.equal(broker.peek('isv', 'tenant_token', { tenantKey: 'corp1' }), undefined, 'the forgotten tenant token is served');
    assert.notEqual((await broker.getToken('isv', 'tenant_token', { tenantKey: 'corp1' })).value, old.value);
    assert.equal(provider.requests.length, 2);
  });

  it("another instance's delete of a tenant token, told by the store, drops this instance's copy and its refusal note", async () => {
    const provider = new TenantProvider();
    const listeners: ((change: StoreChange) => void)[] = [];
    // A store shared with another instance: its notices delivered by hand.
    const store = new (class extends MemoryStore {
      override subscribe(listener: (change: StoreChange) => void): () => void {
        listeners.push(listener);
        return () => {};
      }
    })();
    broker = new Broker({ store });
    broker.register({ id: 'isv', provider, fingerprint: 'scripted:isv:0' });
    await broker.getToken('isv', 'tenant_token', { tenantKey: 'corp1' });
    await broker.getToken('isv', 'tenant_token', { tenantKey: 'corp2' });
    const key = 'tok:scripted:isv:0:tenant_token:corp1';
    await store.deleteToken(key);
    for (const tell of listeners) tell({ key, deleted: true });
    await until(() => broker!.peek('isv', 'tenant_token', { tenantKey: 'corp1' }) === undefined);
    assert.equal(broker.peek('isv', 'tenant_token', { tenantKey: 'corp1' }), undefined);
    assert.ok(broker.peek('isv', 'tenant_token', { tenantKey: 'corp2' }), 'another tenant was dropped');
    // A tenant refused here (its grant revoked) and authorized anew on the other instance: asked at once.
    provider.answer = () => {
      throw new UpstreamError('credentials', 'grant revoked', { platform: 'scripted', platformCode: 40084, grant: true });
    };
    await assert.rejects(broker.getToken('isv', 'tenant_token', { tenantKey: 'corp3' }), { statusCode: 502 });
    await assert.rejects(broker.getToken('isv', 'tenant_token', { tenantKey: 'corp3' }), { statusCode: 502 });
    const calls = provider.requests.length;
    provider.answer = () => ({ value: 'tok-again', expiresInMs: 7200 * S });
    for (const tell of listeners) tell({ key: 'tok:scripted:isv:0:tenant_token:corp3', deleted: true });
    assert.equal((await broker.getToken('isv', 'tenant_token', { tenantKey: 'corp3' })).value, 'tok-again');
    assert.equal(provider.requests.length, calls + 1);
  });

  it("never exceeds a platform's stated limit; reports may spend only half of it", async () => {
    const provider = new TenantProvider();
    provider.limits = [{ name: 'minute', limit: 4, windowMs: 60_000 }];
    broker = new Broker({ store: new MemoryStore() });
    broker.register({ id: 'app', provider, fingerprint: 'scripted:app:0', reportIntervalMs: 0 });
    let token = await broker.getToken('app', 'access_token');
    token = await broker.invalidate('app', 'access_token', token.value);
    assert.equal(provider.requests.length, 2);
    // Another report would be the 3rd call of the minute, past half of 4: the reported token is served on.
    const reported = await broker.invalidate('app', 'access_token', token.value);
    assert.deepEqual([reported.value, reported.reported], [token.value, true]);
    assert.equal(provider.requests.length, 2);
    assert.deepEqual([...broker.budgets()], [{ app: 'app', window: 'minute', used: 2, limit: 4 }]);
    // Other calls have the whole budget: two more, then a refusal that names tokenhub's budget.
    await broker.getToken('app', 'tenant_token', { tenantKey: 't1' });
    await broker.getToken('app', 'tenant_token', { tenantKey: 't2' });
    await assert.rejects(broker.getToken('app', 'tenant_token', { tenantKey: 't3' }), (err: { statusCode: number; code: string; message: string; retryAfterSeconds: number }) => {
      assert.deepEqual([err.statusCode, err.code], [503, 'TOKENHUB_RATE_LIMITED']);
      assert.ok(err.retryAfterSeconds >= 1 && err.retryAfterSeconds <= 60);
      assert.match(err.message, /budget of 4 token calls per minute/);
      return true;
    });
    assert.equal(provider.requests.length, 4);
  });
});

describe('broker reload: unregister and register again', () => {
  let broker: Broker | undefined;
  afterEach(() => {
    broker?.close();
    mock.timers.reset();
  });

  it('an unregistered app is gone at once and its refresh timers are stopped', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'], now: Date.parse('2026-11-22T00:00:00Z') });
    const provider = new ScriptedProvider();
    broker = new Broker({ store: new MemoryStore({ now: () => Date.now() }), now: () => Date.now() });
    broker.register({ id: 'app', provider, fingerprint: 'scripted:app:0' });
    await broker.getToken('app', 'access_token');
    assert.ok(broker.status('app')[0]?.nextRefreshAt, 'a refresh is scheduled');
    assert.equal(broker.unregister('app'), true);
    assert.equal(broker.unregister('app'), false);
    assert.equal(broker.has('app'), false);
    assert.throws(() => broker!.peek('app', 'access_token'), { code: 'TOKENHUB_APP_NOT_FOUND' });
    assert.deepEqual(broker.status('app'), []);
    // Hours later no refresh was made for it.
    mock.timers.tick(3 * 3600 * S);
    await until(() => false, 20);
    assert.equal(provider.requests.length, 1);

  });

  it('registered again under the same fingerprint an app adopts its token from the store; under a new one it fetches', async () => {
    const provider = new ScriptedProvider();
    broker = new Broker({ store: new MemoryStore() });
    broker.register({ id: 'app', provider, fingerprint: 'scripted:app:0' });
    const first = await broker.getToken('app', 'access_token');
    broker.unregister('app');
    const again = new ScriptedProvider();
    broker.register({ id: 'app', provider: again, fingerprint: 'scripted:app:0' });
    assert.equal((await broker.getToken('app', 'access_token')).value, first.value);
    assert.equal(again.requests.length, 0);
    // Under a new fingerprint (a new secret): fetched afresh.
    broker.unregister('app');
    const renewed = new ScriptedProvider();
    broker.register({ id: 'app', provider: renewed, fingerprint: 'scripted:app:1' });
    await broker.getToken('app', 'access_token');
    assert.equal(renewed.requests.length, 1);
  });

  it('a fetch in flight when its app is unregistered makes no further attempt and reports nothing', async () => {
    const provider = new ScriptedProvider();
    const fetched: unknown[] = [];
    broker = new Broker({ store: new MemoryStore(), backoff: () => 10, observer: { fetched: (e) => fetched.push(e) } });
    broker.register({ id: 'app', provider, fingerprint: 'scripted:app:0' });
    let fail!: (err: Error) => void;
    provider.answer = () => new Promise((_, reject) => (fail = reject));
    const pending = broker.getToken('app', 'access_token');
    await until(() => provider.requests.length === 1);
    broker.unregister('app');
    fail(new UpstreamError('transient', 'connection reset', { platform: 'scripted' }));
    await assert.rejects(pending, { code: 'TOKENHUB_PLATFORM_UNAVAILABLE' });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(provider.requests.length, 1, 'no retry for a removed app');
    assert.deepEqual(fetched, []);
  });

  it('tells the observer how each fetch ended: ok, or the failure class, whether a token is still at hand, and grant failures', async () => {
    const provider = new ScriptedProvider();
    const fetched: { outcome: string; valid: boolean; grant: boolean; reason: string; error?: { code: string } }[] = [];
    broker = new Broker({ store: new MemoryStore(), attempts: 1, backoff: () => 0, reportIntervalMs: 0, observer: { fetched: (e) => fetched.push(e) } });
    broker.register({ id: 'app', provider, fingerprint: 'scripted:app:0' });
    const token = await broker.getToken('app', 'access_token');
    provider.answer = () => {
      throw new UpstreamError('credentials', 'bad secret', { platform: 'scripted', platformCode: 10014 });
    };
    // The reported token is served on while no replacement can be had: still valid.
    await broker.invalidate('app', 'access_token', token.value);
    provider.answer = () => {
      throw new UpstreamError('credentials', 'grant revoked', { platform: 'scripted', grant: true });
    };
    await broker.invalidate('app', 'access_token', token.value);
    assert.deepEqual(
      fetched.map(({ outcome, valid, grant, reason, error }) => ({ outcome, valid, grant, reason, code: error?.code })),
      [
        { outcome: 'ok', valid: true, grant: false, reason: 'cold', code: undefined },
        { outcome: 'credentials', valid: true, grant: false, reason: 'invalidate', code: 'TOKENHUB_PLATFORM_REFUSED' },
        { outcome: 'credentials', valid: true, grant: true, reason: 'invalidate', code: 'TOKENHUB_PLATFORM_REFUSED' },
      ],
    );
    assert.ok(!JSON.stringify(fetched).includes(token.value), 'never a token value');
  });
});
