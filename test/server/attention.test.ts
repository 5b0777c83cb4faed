import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { healthAttention, tokenAttention } from '../../src/server/attention.js';

const NOW = Date.parse('2026-11-22T09:00:00.000Z');
const at = (offsetS: number): string => new Date(NOW + offsetS * 1000).toISOString();
const reasons = (marks: { reason: string; level: string }[]): string[] => marks.map((m) => `${m.level} ${m.reason}`);

describe('what needs attention', () => {
  it('a valid token without error needs none; one never fetched needs none', () => {
    assert.deepEqual(tokenAttention({ kind: 'k', expiresAt: at(600), refreshing: false }, NOW), []);
    assert.deepEqual(tokenAttention({ kind: 'k', refreshing: false }, NOW), []);
  });

  it('the last error names the cause: refused credentials, a missing ticket; otherwise unavailable without a token, refresh failing with one', () => {
    const error = (code: string) => ({ code, message: 'm', at: at(-1) });
    assert.deepEqual(reasons(tokenAttention({ kind: 'k', refreshing: false, lastError: error('TOKENHUB_PLATFORM_REFUSED') }, NOW)), ['error credentials.rejected']);
    assert.deepEqual(reasons(tokenAttention({ kind: 'k', refreshing: false, lastError: error('TOKENHUB_TICKET_PENDING') }, NOW)), ['error ticket.missing']);
    assert.deepEqual(reasons(tokenAttention({ kind: 'k', refreshing: false, lastError: error('TOKENHUB_PLATFORM_UNAVAILABLE') }, NOW)), ['error token.unavailable']);
    // Expired counts as no token.
    assert.deepEqual(reasons(tokenAttention({ kind: 'k', expiresAt: at(-5), refreshing: false, lastError: error('TOKENHUB_RATE_LIMITED') }, NOW)), ['error token.unavailable']);
    assert.deepEqual(reasons(tokenAttention({ kind: 'k', expiresAt: at(600), refreshing: false, lastError: error('TOKENHUB_PLATFORM_UNAVAILABLE') }, NOW)), ['warning refresh.failing']);
  });

  it('a reported token is a warning; tenant kinds are marked when some tenants fail', () => {
    assert.deepEqual(reasons(tokenAttention({ kind: 'k', expiresAt: at(600), refreshing: false, reported: true }, NOW)), ['warning token.reported']);
    const tenants = { kind: 'k', tenantScoped: true as const, tenants: 5, valid: 3, refreshing: 0 };
    assert.deepEqual(tokenAttention({ ...tenants, failing: 0 }, NOW), []);
    const [mark] = tokenAttention({ ...tenants, failing: 2 }, NOW);
    assert.equal(mark?.reason, 'tenants.failing');
    assert.match(mark!.message, /2 of 5 tenants/);
  });

  it("a pushed ticket: missing or refused is an error, stale a warning; rejected grants an error", () => {
    assert.deepEqual(healthAttention(undefined), []);
    assert.deepEqual(healthAttention({ ticket: { name: 't', present: true, ageSeconds: 60, stale: false } }), []);
    assert.deepEqual(reasons(healthAttention({ ticket: { name: 't', present: false } })), ['error ticket.missing']);
    assert.deepEqual(reasons(healthAttention({ ticket: { name: 't', present: false, refused: true } })), ['error ticket.missing']);
    assert.deepEqual(reasons(healthAttention({ ticket: { name: 't', present: true, ageSeconds: 3 * 3600, stale: true } })), ['warning ticket.missing']);
    assert.deepEqual(reasons(healthAttention({ grants: { count: 3, rejected: 0 } })), []);
    assert.deepEqual(reasons(healthAttention({ grants: { count: 3, rejected: 1 } })), ['error grant.rejected']);
  });
});
