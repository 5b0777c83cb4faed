import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UpstreamBudget, type UpstreamLimit } from '../../src/core/budget.js';

const DAY = 86_400_000;
const china: UpstreamLimit = { name: 'day', limit: 3, windowMs: DAY, offsetMs: -8 * 3_600_000 };

describe('UpstreamBudget', () => {
  it('refuses the call past the limit, says when the window ends, and starts afresh then', () => {
    const budget = new UpstreamBudget();
    const t0 = Date.parse('2026-12-01T15:00:00Z'); // 23:00 in China
    for (let i = 0; i < 3; i++) assert.equal(budget.take('a', 'access_token', [china], t0), undefined);
    const refused = budget.take('a', 'access_token', [china], t0);
    assert.equal(refused?.limit, china);
    assert.equal(refused?.retryAfterMs, 3_600_000, 'the China day ends at 16:00 UTC');
    assert.deepEqual(budget.usage('a', [china], t0).map((u) => u.used), [3]);
    assert.equal(budget.take('a', 'access_token', [china], t0 + 3_600_000), undefined);
    assert.deepEqual(budget.usage('a', [china], t0 + 3_600_000).map((u) => u.used), [1]);
  });

  it('counts per app, only the kinds a limit names, and lets a share of it go to some calls only', () => {
    const budget = new UpstreamBudget();
    const limits: UpstreamLimit[] = [{ name: 'minute', limit: 4, windowMs: 60_000, kinds: ['access_token'] }];
    assert.equal(budget.take('a', 'access_token', limits, 0, 0.5), undefined);
    assert.equal(budget.take('a', 'access_token', limits, 0, 0.5), undefined);
    assert.ok(budget.take('a', 'access_token', limits, 0, 0.5), 'half of 4 is spent');
    assert.equal(budget.take('a', 'access_token', limits, 0), undefined, 'the rest is there for full-share calls');
    assert.equal(budget.take('a', 'jsapi_ticket', limits, 0), undefined, 'another kind is not counted');
    assert.equal(budget.take('b', 'access_token', limits, 0), undefined, 'another app has its own');
    assert.deepEqual(budget.usage('a', limits, 0).map((u) => u.used), [3]);
  });
});
