import type { Counters } from './counters.js';
import type { Faults } from './faults.js';
import type { Script } from './tokens.js';

/** What a simulator's `reset()` clears, whatever else it keeps. */
export interface Resettable {
  readonly faults: Faults;
  readonly ticketFaults?: Faults;
  readonly script?: Script;
  readonly ticketScript?: Script;
  readonly counters: Counters;
}

/**
 * Back to healthy: no fault (on the token and the ticket endpoints), no scripted answer, zero
 * counters. What a simulator issued (tokens, tickets, grants) stays.
 *
 * @example
 * ```ts
 * reset(): void {
 *   resetFaultsAndCounters(this);
 *   this.#perMinute.reset();
 * }
 * ```
 */
export function resetFaultsAndCounters(sim: Resettable): void {
  sim.faults.set('none');
  sim.ticketFaults?.set('none');
  sim.script?.clear();
  sim.ticketScript?.clear();
  sim.counters.reset();
}
