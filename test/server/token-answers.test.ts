import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IssuedToken } from '../../src/core/broker.js';
import type { Metrics } from '../../src/server/metrics.js';
import { TokenAnswers } from '../../src/server/token-answers.js';

describe('token answers', () => {
  it('count expiresIn by the clock they are given', () => {
    let now = 1_000_000;
    const answers = new TokenAnswers({} as Metrics, () => true, () => now);
    const token: IssuedToken = { app: 'a', platform: 'p', kind: 'k', value: 'v', obtainedAt: now, expiresAt: now + 7200_000 };
    assert.equal(answers.body(token, undefined).expiresIn, 7200);
    now += 3600_000;
    assert.equal(answers.body(token, undefined).expiresIn, 3600);
    assert.match(answers.serialized(token).text, /"expiresIn":3600}$/);
  });
});
