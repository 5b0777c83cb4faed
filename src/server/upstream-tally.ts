import type { BrokerObserver } from '../core/broker.js';

/** Upstream token calls of one app and kind since the process started. */
export interface UpstreamCount {
  calls: number;
  /** Calls that brought no token (any failure class). */
  failures: number;
  /** When the last call ended, and how: `ok` or its failure class. */
  lastAt?: string;
  lastOutcome?: string;
}

/**
 * Upstream calls and failures by app and kind since start, for the operators' status: the same
 * events the metrics count, kept where a JSON answer can read them without a Prometheus parser.
 */
export class UpstreamTally {
  readonly #byApp = new Map<string, Map<string, { calls: number; failures: number; lastAt: number; lastOutcome: string }>>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  readonly record: NonNullable<BrokerObserver['upstream']> = ({ app, kind, outcome }) => {
    let kinds = this.#byApp.get(app);
    if (!kinds) this.#byApp.set(app, (kinds = new Map()));
    let count = kinds.get(kind);
    if (!count) kinds.set(kind, (count = { calls: 0, failures: 0, lastAt: 0, lastOutcome: 'ok' }));
    count.calls++;
    if (outcome !== 'ok') count.failures++;
    count.lastAt = this.#now();
    count.lastOutcome = outcome;
  };

  /** The count of one app and kind; zeros when it made no call. */
  of(app: string, kind: string): UpstreamCount {
    const count = this.#byApp.get(app)?.get(kind);
    if (!count) return { calls: 0, failures: 0 };
    return { calls: count.calls, failures: count.failures, lastAt: new Date(count.lastAt).toISOString(), lastOutcome: count.lastOutcome };
  }

  /** The calls and failures of one app, every kind together. */
  total(app: string): { calls: number; failures: number } {
    let calls = 0;
    let failures = 0;
    for (const count of this.#byApp.get(app)?.values() ?? []) {
      calls += count.calls;
      failures += count.failures;
    }
    return { calls, failures };
  }
}
