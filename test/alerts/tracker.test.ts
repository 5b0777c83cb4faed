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

  it('a pending ticket alerts once for its app, however many of its tokens and tenants wait for it; a look at the ticket ends or starts it', () => {
    const tracker = new AlertTracker(() => AT);
    const waiting = (kind: string, tenantKey?: string): FetchOutcome => ({ ...pending, kind, tenantKey, waitingFor: 'suite_ticket' });
    const events_ = [waiting('suite_access_token'), waiting('access_token', 'c1'), waiting('access_token', 'c2')].map((o) => tracker.observe(o));
    assert.deepEqual(events_.map((a) => a && `${a.event} ${a.kind} ${a.tenantKey ?? ''}`), ['ticket.missing suite_ticket ', undefined, undefined]);
    const look = (present: boolean, stale?: boolean, refused?: boolean) =>
      tracker.ticket('main', 'wecom', { name: 'suite_ticket', present, ...(stale === undefined ? {} : { ageSeconds: stale ? 1260 : 5, stale }), ...(refused ? { refused } : {}) })?.event;
    // Missing or refused: no change, whatever was said; fresh: recovered once; stale: missing again, with its age.
    assert.deepEqual([look(false), look(false, false, true), look(true, false), look(true, false)], [undefined, undefined, 'token.recovered', undefined]);
    const stale = tracker.ticket('main', 'wecom', { name: 'suite_ticket', present: true, ageSeconds: 1260, stale: true });
    assert.equal(stale?.event, 'ticket.missing');
    assert.equal(stale?.kind, 'suite_ticket');
    assert.match(stale!.error!.message, /suite_ticket kept is 21 min old/);
    assert.deepEqual([look(true, true), look(false), look(true, false)], [undefined, undefined, 'token.recovered']);
    // The token states are their own: the tokens that waited recover nothing, nor alert again.
    assert.equal(tracker.observe({ ...ok, kind: 'access_token', tenantKey: 'c1' }), undefined);
  });

  it("a tenant authorized anew recovers its rejected grant; a tenant forgotten, or asked for without a kept grant, alerts nothing", () => {
    const tracker = new AlertTracker(() => AT);
    const rejectedGrant = (tenantKey: string): FetchOutcome => ({ ...refused, kind: 'access_token', tenantKey, valid: false, grant: true });
    assert.equal(tracker.observe(rejectedGrant('c1'))?.event, 'grant.rejected');
    assert.equal(tracker.observe(rejectedGrant('c2'))?.event, 'grant.rejected');
    assert.equal(tracker.observe({ ...down, kind: 'access_token', tenantKey: 'c1x' })?.event, 'token.unavailable');
    assert.deepEqual(tracker.tenant({ app: 'main', platform: 'feishu', tenantKey: 'c1', change: 'authorized' }), [
      { event: 'token.recovered', app: 'main', platform: 'feishu', kind: 'access_token', tenantKey: 'c1', at: '2026-12-02T09:00:00.000Z' },
    ]);
    assert.deepEqual(tracker.tenant({ app: 'main', platform: 'feishu', tenantKey: 'c1', change: 'authorized' }), []);
    assert.deepEqual(tracker.tenant({ app: 'main', platform: 'feishu', tenantKey: 'c2', change: 'forgotten' }), []);
    assert.equal(tracker.observe({ ...ok, kind: 'access_token', tenantKey: 'c2' }), undefined, 'a forgotten state recovered');
    const notKept = new TokenHubError('TOKENHUB_GRANT_NOT_FOUND', 'no authorization of corp c3 is kept');
    assert.equal(tracker.observe({ ...down, kind: 'access_token', tenantKey: 'c3', error: notKept }), undefined);
  });
});
