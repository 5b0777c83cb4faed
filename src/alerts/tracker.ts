import { LRUCache } from 'lru-cache';
import type { FetchOutcome } from '../core/broker.js';
import type { AlertBody, AlertEvent } from './events.js';

/** A token's alert state: fine, or the problem last alerted. */
type Problem = Exclude<AlertEvent, 'token.recovered'>;

/** Tokens in a problem state remembered at most (the others need no memory: fine is the default). */
export const MAX_TRACKED_PROBLEMS = 10_000;

/**
 * The alert state machine, one state per token (app + kind + tenant key): fine, or one of the
 * problems. Each fetch outcome moves it; an alert is made only when the state changes, so a
 * platform failing over and over alerts once, and one that flaps alerts once per change.
 *
 * - a grant failure → `grant.rejected`; a `credentials` failure → `credentials.rejected` (for a
 *   tenant's token only when marked as a grant failure: a tenant key the platform refuses is the
 *   caller's mistake, not the app's); `pending` → `ticket.missing`;
 * - any other failure with no valid token left → `token.unavailable`; with one still at hand the
 *   state stays as it was (callers see nothing yet);
 * - a token had → `token.recovered` if the state was a problem, then fine.
 */
export class AlertTracker {
  readonly #problems = new LRUCache<string, Problem>({ max: MAX_TRACKED_PROBLEMS });
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The alert this outcome makes, if it changes the token's state. */
  observe(outcome: FetchOutcome): AlertBody | undefined {
    const key = `${outcome.app}\0${outcome.kind}\0${outcome.tenantKey ?? ''}`;
    const state = this.#problems.get(key);
    if (outcome.outcome === 'ok') {
      if (state === undefined) return undefined;
      this.#problems.delete(key);
      return this.#body('token.recovered', outcome);
    }
    const problem = problemOf(outcome);
    if (problem === undefined || problem === state) return undefined;
    this.#problems.set(key, problem);
    return this.#body(problem, outcome);
  }

  /** Forgets the states of an app (a reload removed it): no `token.recovered` will follow. */
  forget(appId: string): void {
    const prefix = `${appId}\0`;
    for (const key of [...this.#problems.keys()]) if (key.startsWith(prefix)) this.#problems.delete(key);
  }

  #body(event: AlertEvent, o: FetchOutcome): AlertBody {
    const error = event === 'token.recovered' || o.error === undefined ? undefined : {
      code: o.error.code,
      message: o.error.message,
      ...(o.error.platformCode === undefined ? {} : { platformCode: o.error.platformCode }),
      ...(o.host === undefined ? {} : { host: o.host }),
    };
    return {
      event,
      app: o.app,
      platform: o.platform,
      kind: o.kind,
      ...(o.tenantKey === undefined ? {} : { tenantKey: o.tenantKey }),
      at: new Date(this.#now()).toISOString(),
      ...(error === undefined ? {} : { error }),
    };
  }
}

function problemOf(o: FetchOutcome): Problem | undefined {
  if (o.grant) return 'grant.rejected';
  if (o.outcome === 'credentials') return o.tenantKey === undefined ? 'credentials.rejected' : undefined;
  if (o.outcome === 'pending') return 'ticket.missing';
  return o.valid ? undefined : 'token.unavailable';
}
