import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlertTracker } from '../../src/alerts/tracker.js';
import type { FetchOutcome } from '../../src/core/broker.js';
import { TokenHubError } from '../../src/core/errors.js';

const AT = Date.parse('2026-12-02T09:00:00Z');
const base = { app: 'main', platform: 'feishu', kind: 'tenant_access_token', tenantKey: undefined, reason: 'cold', grant: false } as const;
const ok: FetchOutcome = { ...base, outcome: 'ok', valid: true };
const down: FetchOutcome = { ...base, outcome: 'transient', valid: false, error: new TokenHubError('TOKENHUB_PLATFORM_UNAVAILABLE', 'feishu is unavailable'), host: 'open.feishu.cn' };
const downButServing: FetchOutcome = { ...down, valid: true };
const refused: FetchOutcome = { ...base, outcome: 'credentials', valid: true, error: new TokenHubError('TOKENHUB_PLATFORM_REFUSED', 'bad secret', { platformCode: 10014 }) };
const pending: FetchOutcome = { ...base, outcome: 'pending', valid: false, error: new TokenHubError('TOKENHUB_TICKET_PENDING', 'no app_ticket yet') };

describe('the alert state machine', () => {
  const events = (tracker: AlertTracker, outcomes: FetchOutcome[]): (string | undefined)[] => outcomes.map((o) => tracker.observe(o)?.event);

  it('alerts once per change of state: repeated failures in one state say nothing more, a flapping token one alert per change', () => {
    const tracker = new AlertTracker(() => AT);
    assert.deepEqual(events(tracker, [ok, down, down, down, ok, ok, down, ok]), [
      undefined, 'token.unavailable', undefined, undefined, 'token.recovered', undefined, 'token.unavailable', 'token.recovered',
    ]);
  });

  it('a failure while a valid token is at hand is no alert, a refused credential is one at once, a missing ticket too', () => {
    const tracker = new AlertTracker(() => AT);
    assert.deepEqual(events(tracker, [downButServing, refused, refused, downButServing, down, pending, ok]), [
      undefined, 'credentials.rejected', undefined, undefined, 'token.unavailable', 'ticket.missing', 'token.recovered',
    ]);
  });

  it('states are per token: app, kind and tenant; a tenant key the platform refuses is no alert, a grant failure is', () => {
    const tracker = new AlertTracker(() => AT);
    const tenant = (key: string, o: FetchOutcome): FetchOutcome => ({ ...o, tenantKey: key });
    assert.deepEqual(events(tracker, [down, { ...down, kind: 'app_access_token' }, tenant('t1', down), tenant('t2', { ...refused, valid: false }), tenant('t3', { ...refused, grant: true }), tenant('t1', ok)]), [
      'token.unavailable', 'token.unavailable', 'token.unavailable', undefined, 'grant.rejected', 'token.recovered',
    ]);
  });

  it('the body: event, app, platform, kind, tenant key, ISO time and what callers are told; forgetting an app drops its states', () => {
    const tracker = new AlertTracker(() => AT);
    assert.deepEqual(tracker.observe({ ...refused, tenantKey: 'tk', grant: true }), {
      event: 'grant.rejected', app: 'main', platform: 'feishu', kind: 'tenant_access_token', tenantKey: 'tk', at: '2026-12-02T09:00:00.000Z',
      error: { code: 'TOKENHUB_PLATFORM_REFUSED', message: 'bad secret', platformCode: 10014 },
    });
    assert.deepEqual(tracker.observe(down)?.error, { code: 'TOKENHUB_PLATFORM_UNAVAILABLE', message: 'feishu is unavailable', host: 'open.feishu.cn' });
    assert.deepEqual(tracker.observe(ok), { event: 'token.recovered', app: 'main', platform: 'feishu', kind: 'tenant_access_token', at: '2026-12-02T09:00:00.000Z' });
    tracker.observe(down);
    tracker.forget('main');
    assert.equal(tracker.observe(ok), undefined);
  });
});
