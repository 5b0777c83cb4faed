import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { UpstreamError } from '../../../src/core/errors.js';
import type { FetchContext, StateAccess } from '../../../src/core/types.js';
import { PushedTicket, readTicket, ticketTime, type PushedTicketSpec } from '../../../src/providers/third-party/pushed-ticket.js';
import { MemoryStore } from '../../../src/stores/memory.js';

const NOW = 1_800_000_000_000;
const MINUTE = 60_000;
let now = NOW;
const stores: MemoryStore[] = [];
after(async () => {
  for (const store of stores) await store.close();
});

/** An app's state in a store (shared by the "instances" given the same store). */
function stateOf(store: MemoryStore): StateAccess {
  return {
    get: (name) => store.getState(name),
    set: (name, value, ttlMs) => store.setState(name, value, ttlMs),
    add: (name, value, ttlMs) => store.addState(name, value, ttlMs),
    delete: (name) => store.deleteState(name),
  };
}

function newStore(): MemoryStore {
  const store = new MemoryStore({ now: () => now });
  stores.push(store);
  return store;
}

function contextOf(state: StateAccess): FetchContext {
  return { state, now: () => now, signal: new AbortController().signal } as unknown as FetchContext;
}

/** A platform whose ticket can be asked for: the asks are counted, and fail while `failAsk` is set. */
function platform(overrides: Partial<PushedTicketSpec> = {}) {
  const asks: number[] = [];
  let failAsk = false;
  const ticket = new PushedTicket({
    platform: 'test',
    name: 'test_ticket',
    defaults: { ticketTtlMs: 60 * MINUTE, ticketStaleMs: 20 * MINUTE, pendingRetryMs: 3_000 },
    refusedCodes: [40085, 61005],
    arrival: 'the platform pushes one soon',
    ask: {
      marker: 'test_asked_at',
      intervalMs: MINUTE,
      call: async () => {
        asks.push(now);
        if (failAsk) throw new UpstreamError('transient', 'ask failed', { platform: 'test' });
      },
    },
    ...overrides,
  });
  return { ticket, asks, failAsk: (yes: boolean) => void (failAsk = yes) };
}

const pendingError = (retry = 3_000, platformCode?: number) => (err: unknown) => {
  assert.ok(err instanceof UpstreamError);
  assert.equal(err.failure, 'pending');
  assert.equal(err.retryAfterMs, retry);
  assert.equal(err.platformCode, platformCode);
  assert.match(err.message, /; the platform pushes one soon$/);
  assert.ok(!err.message.includes('t-'), 'a ticket in the message');
  return true;
};

describe('pushed tickets', () => {
  it('the newest wins: a duplicate and an older push are ignored, a newer one replaces; kept for the ticket TTL', async () => {
    now = NOW;
    const state = stateOf(newStore());
    const { ticket } = platform();
    assert.equal(await ticket.keep('t-1', NOW - 1_000, state), 'new');
    assert.equal(await ticket.keep('t-1', NOW - 1_000, state), 'duplicate');
    assert.equal(await ticket.keep('t-0', NOW - 2_000, state), 'older');
    assert.equal((await ticket.read(state))?.ticket, 't-1');
    assert.equal(await ticket.keep('t-2', NOW - 1_000, state), 'new', 'one made at the same instant replaces it');
    assert.deepEqual(await ticket.read(state), { ticket: 't-2', at: NOW - 1_000 });
    now = NOW + 60 * MINUTE + 1;
    assert.equal(await ticket.read(state), undefined, 'kept past its TTL');
  });

  it('tells its presence, its age, stale past the limit and refused; never its value', async () => {
    now = NOW;
    const state = stateOf(newStore());
    const { ticket } = platform();
    assert.deepEqual(await ticket.health({ state, now: () => now }), { name: 'test_ticket', present: false });
    await ticket.keep('t-secret', NOW - 90_000, state);
    assert.deepEqual(await ticket.health({ state, now: () => now }), { name: 'test_ticket', present: true, ageSeconds: 90, stale: false });
    assert.equal((await ticket.health({ state, now: () => NOW + 20 * MINUTE })).stale, true);
    assert.ok(!JSON.stringify(await ticket.health({ state, now: () => now })).includes('t-secret'));
    await state.set('test_ticket', 'bare-ticket');
    assert.deepEqual(await ticket.health({ state, now: () => now }), { name: 'test_ticket', present: true }, 'a bare ticket of an older version: of unknown age');
  });

  it('without a ticket: pending with Retry-After, and one ask however many fetches on however many instances in the interval', async () => {
    now = NOW;
    const store = newStore();
    const { ticket, asks } = platform();
    const calls: string[] = [];
    const use = () => ticket.use(contextOf(stateOf(store)), async (t) => void calls.push(t));
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, use));
    for (const o of outcomes) assert.ok(o.status === 'rejected' && pendingError()(o.reason));
    assert.deepEqual(asks, [NOW]);
    now = NOW + MINUTE + 1;
    await assert.rejects(use(), pendingError());
    assert.equal(asks.length, 2, 'asked again after the interval');
    assert.deepEqual(calls, [], 'called without a ticket');
  });

  it('a failed ask is thrown and lifts its marker: the next fetch asks again', async () => {
    now = NOW;
    const state = stateOf(newStore());
    const { ticket, asks, failAsk } = platform();
    failAsk(true);
    await assert.rejects(ticket.use(contextOf(state), async () => 1), { name: 'UpstreamError', failure: 'transient' });
    failAsk(false);
    await assert.rejects(ticket.use(contextOf(state), async () => 1), pendingError());
    assert.equal(asks.length, 2);
  });

  it('a refusal marks the ticket refused (unless a newer came meanwhile) and waits for the next push, which lifts the ask marker if the platform says so', async () => {
    now = NOW;
    const state = stateOf(newStore());
    const { ticket, asks } = platform();
    await ticket.keep('t-1', NOW, state);
    const refuse = async (t: string): Promise<never> => {
      throw new UpstreamError('credentials', `refused ${t.length}`, { platform: 'test', platformCode: 61005 });
    };
    await assert.rejects(ticket.use(contextOf(state), refuse), pendingError(3_000, 61005));
    assert.deepEqual(await ticket.read(state), { ticket: 't-1', at: NOW, refused: true });
    assert.equal(asks.length, 1);
    assert.deepEqual((await ticket.health({ state, now: () => now })).refused, true);
    // Kept refused: pending without a call; a push of it again is a duplicate, an older one is ignored.
    await assert.rejects(ticket.use(contextOf(state), async () => assert.fail('called with a refused ticket')), pendingError());
    assert.equal(await ticket.keep('t-1', NOW, state), 'duplicate');
    assert.equal(await ticket.keep('t-0', NOW - 1, state), 'older');
    // A newer one is kept and used.
    assert.equal(await ticket.keep('t-2', NOW + 1, state), 'new');
    assert.equal(await ticket.use(contextOf(state), async (t) => t), 't-2');
    // Refused while a newer one arrived: the newer one stays usable.
    await assert.rejects(
      ticket.use(contextOf(state), async (t) => {
        await ticket.keep('t-3', NOW + 2, state);
        return refuse(t);
      }),
      pendingError(3_000, 61005),
    );
    assert.deepEqual(await ticket.read(state), { ticket: 't-3', at: NOW + 2 });
    // Other failures are the call's own.
    await assert.rejects(ticket.use(contextOf(state), async () => Promise.reject(new UpstreamError('transient', 'down', { platform: 'test', platformCode: 40001 }))), { failure: 'transient' });
    assert.equal((await ticket.read(state))?.refused, undefined);
  });

  it('a push lifts the ask marker only where the platform asks for it (a resend answered), and a platform without an ask only waits', async () => {
    now = NOW;
    const lifted = platform({ ask: { marker: 'm', intervalMs: MINUTE, call: async () => {}, liftedByPush: true } });
    const state = stateOf(newStore());
    await assert.rejects(lifted.ticket.use(contextOf(state), async () => 1), pendingError());
    assert.notEqual(await state.get('m'), undefined);
    await lifted.ticket.keep('t-1', NOW, state);
    assert.equal(await state.get('m'), undefined);

    const kept = platform();
    const other = stateOf(newStore());
    await assert.rejects(kept.ticket.use(contextOf(other), async () => 1), pendingError());
    await kept.ticket.keep('t-1', NOW, other);
    assert.notEqual(await other.get('test_asked_at'), undefined, 'the start-push limit outlives a push');

    const waits = new PushedTicket({ platform: 'test', name: 'w', defaults: { ticketTtlMs: MINUTE, ticketStaleMs: MINUTE, pendingRetryMs: 10_000 }, refusedCodes: [], arrival: 'the platform pushes one soon' }, { pendingRetryMs: 7_000 });
    await assert.rejects(waits.use(contextOf(stateOf(newStore())), async () => 1), pendingError(7_000));
  });

  it('reads the time of a push from its field in seconds, else from its signature; reads only tickets of its own shape', () => {
    assert.equal(ticketTime('1800000000', 5), 1_800_000_000_000);
    assert.equal(ticketTime(undefined, 5), 5);
    assert.equal(ticketTime('soon', 5), 5);
    assert.equal(readTicket(undefined), undefined);
    assert.equal(readTicket(''), undefined);
    assert.equal(readTicket('{"ticket":1}'), undefined);
    assert.equal(readTicket('{broken'), undefined);
    assert.deepEqual(readTicket('{"ticket":"t","at":5,"refused":true}'), { ticket: 't', at: 5, refused: true });
  });
});
