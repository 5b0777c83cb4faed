// The pure steps of the broker, without timers: min_ttl rules, the slot's views, adoption.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adoptFromStore } from '../../src/core/adoption.js';
import { TokenHubError } from '../../src/core/errors.js';
import { checkMeetable, minTtl } from '../../src/core/min-ttl.js';
import type { AppDefinition } from '../../src/core/options.js';
import { Refresher } from '../../src/core/refresher.js';
import { countTenants, issue, newSlot, reject, slotStatus } from '../../src/core/slot.js';
import type { Provider } from '../../src/core/types.js';

const S = 1000;
const provider = { platform: 'scripted', kinds: ['t'], refreshAheadMs: 0, tenantScoped: () => false } as unknown as Provider;
const app: AppDefinition = { id: 'app', provider, fingerprint: 'scripted:app:0' };
const token = (value: string, expiresAt: number, version = 1) => ({ value, expiresAt, obtainedAt: 0, version });

/** A refresher that sets no timer (as after close). */
const quiet = (): Refresher => {
  const closed = new AbortController();
  closed.abort();
  return new Refresher({ now: () => 0, random: () => 0, refreshJitter: 0, minRefreshIntervalMs: 0, closing: closed.signal, refresh: () => Promise.reject(new Error('no fetch')), drop: () => {} });
};

describe('min_ttl rules (pure)', () => {
  it("the app's minimum is capped at a quarter of the lifetime seen; a caller's raises it", () => {
    const slot = newSlot('k', app, 't', undefined);
    assert.equal(minTtl(slot, 60 * S, undefined), 60 * S);
    slot.seenLifetimeMs = 100 * S;
    assert.equal(minTtl(slot, 60 * S, undefined), 25 * S);
    assert.equal(minTtl(slot, 60 * S, 40 * S), 40 * S);
  });

  it('refuses without a call a min_ttl past the longest lifetime, and one a fresh token just failed to meet', () => {
    const slot = newSlot('k', app, 't', undefined);
    assert.throws(() => checkMeetable(slot, 7201 * S, 0), /issues tokens of at most 7200 s/);
    slot.shortfall = { leftMs: 30 * S, until: 10 * S, failures: 1 };
    assert.throws(() => checkMeetable(slot, 60 * S, 0), (err: TokenHubError) => err.statusCode === 400 && err.retryAfterSeconds === 10);
    checkMeetable(slot, 60 * S, 10 * S);
    checkMeetable(slot, 20 * S, 0);
  });
});

describe('the slot (pure)', () => {
  it('remembers the last 16 rejected values', () => {
    const slot = newSlot('k', app, 't', undefined);
    for (let i = 0; i < 20; i++) reject(slot, `v${i}`);
    assert.equal(slot.rejected?.size, 16);
    assert.ok(!slot.rejected?.has('v3') && slot.rejected?.has('v4'));
  });

  it("issues one view per token, marked while it is the reported current token", () => {
    const slot = newSlot('k', app, 't', undefined);
    slot.current = token('a', 100 * S);
    assert.equal(issue(slot, slot.current), issue(slot, slot.current));
    slot.reported = true;
    assert.equal(issue(slot, slot.current).reported, true);
  });

  it('shows status without a token value, and counts tenants without naming them', () => {
    const slot = newSlot('k', app, 't', undefined);
    slot.current = token('secret-value', 100 * S);
    slot.inflight = Promise.resolve(slot.current);
    assert.ok(!JSON.stringify(slotStatus(slot, 0)).includes('secret-value'));
    assert.equal(slotStatus(slot, 0).refreshing, true);
    const tenants = ['x', 'y'].map((t, i) => Object.assign(newSlot(`k:${t}`, app, 't', t), { current: token(t, (i + 1) * 10 * S) }));
    assert.deepEqual(countTenants(tenants, 15 * S), [{ kind: 't', tenantScoped: true, tenants: 2, valid: 1, refreshing: 0, failing: 0, nextExpiresAt: new Date(20 * S).toISOString() }]);
  });
});

describe('adoption of other instances\' writes (pure)', () => {
  it('takes a newer version, never a reported value, and never ours back once replaced', () => {
    const slot = newSlot('k', app, 't', undefined);
    slot.current = token('ours', 100 * S, 1);
    adoptFromStore(slot, token('theirs', 200 * S, 2), 0, quiet());
    assert.equal(slot.current.value, 'theirs');
    adoptFromStore(slot, token('ours', 300 * S, 3), 0, quiet());
    assert.equal(slot.current.value, 'theirs', 'a replaced value came back');
    adoptFromStore(slot, token('older', 300 * S, 1), 0, quiet());
    assert.equal(slot.current.value, 'theirs');
  });
});
