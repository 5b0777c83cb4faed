import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REFRESH_MARGIN_MS, refreshAt } from '../../src/core/schedule.js';

const S = 1000;
const MIN = 60 * S;
const token = (lifetimeMs: number, obtainedAt = 0) => ({ value: 't', obtainedAt, expiresAt: obtainedAt + lifetimeMs });
const plan = (aheadMs: number) => ({ aheadMs, jitter: 0.1, minIntervalMs: S });

describe('refreshAt (pure)', () => {
  it('starts with less than the window left, whatever the jitter: never earlier, at most 10 % later', () => {
    for (const random of [0, 0.25, 0.5, 0.999999]) {
      const at = refreshAt(token(7200 * S), 0, plan(25 * MIN), random);
      const left = 7200 * S - at;
      assert.ok(left < 25 * MIN, `${left} ms left with random ${random}`);
      assert.ok(left <= 25 * MIN - REFRESH_MARGIN_MS);
      assert.ok(left >= 25 * MIN - REFRESH_MARGIN_MS - 0.1 * 25 * MIN);
    }
  });

  it('a window equal to the platform rule (Feishu: same token with 30 min or more left) stays clear of it', () => {
    const at = refreshAt(token(7200 * S), 0, plan(30 * MIN), 0);
    assert.equal(7200 * S - at, 30 * MIN - REFRESH_MARGIN_MS);
  });

  it('tiny windows keep a margin of a quarter of the window', () => {
    const at = refreshAt(token(8 * S), 0, plan(2 * S), 0);
    assert.equal(8 * S - at, 1.5 * S);
  });

  it('a token shorter than the window, or already inside it, is refreshed at half of what is left', () => {
    assert.equal(refreshAt(token(10 * MIN), 0, plan(25 * MIN), 0.5), 5 * MIN);
    assert.equal(refreshAt(token(7200 * S), 7200 * S - 20 * MIN, plan(25 * MIN), 0.5), 7200 * S - 10 * MIN);
  });

  it('never sooner than the minimum interval', () => {
    assert.equal(refreshAt(token(1 * S), 0, plan(25 * MIN), 0), S);
  });
});
