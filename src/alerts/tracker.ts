import { LRUCache } from 'lru-cache';
import type { FetchOutcome, TenantChange } from '../core/broker.js';
import type { ProviderHealth } from '../core/types.js';
import type { AlertBody, AlertEvent } from './events.js';

/** A token's alert state: fine, or the problem last alerted. */
type Problem = Exclude<AlertEvent, 'token.recovered'>;

/** Tokens in a problem state remembered at most (the others need no memory: fine is the default). */
export const MAX_TRACKED_PROBLEMS = 10_000;

/** A pushed ticket as its provider tells it (`ProviderHealth.ticket`). */
export type TicketHealth = NonNullable<ProviderHealth['ticket']>;

interface Tracked {
  readonly problem: Problem;
  readonly platform: string;
}

/**
 * The alert state machine, one state per token (app + kind + tenant key) and one per pushed
 * ticket of an app (app + the ticket's name): fine, or one of the problems. Each fetch outcome
 * and each look at a ticket moves it; an alert is made only when the state changes, so a
 * platform failing over and over alerts once, and one that flaps alerts once per change.
 *
 * - a grant failure → `grant.rejected`; a `credentials` failure → `credentials.rejected` (for a
 *   tenant's token only when marked as a grant failure: a tenant key the platform refuses, or one
 *   whose grant is not kept, is the caller's mistake, not the app's);
 * - `pending` → `ticket.missing`: of the ticket it waits for, once for the app however many of
 *   its tokens wait (of the token itself when the provider does not name a ticket); a kept ticket
 *   older than its platform's pushes let it become → `ticket.missing` too;
 * - any other failure with no valid token left → `token.unavailable`; with one still at hand the
 *   state stays as it was (callers see nothing yet);
 * - a token had → `token.recovered` if the state was a problem, then fine; a fresh ticket seen,
 *   or a tenant authorized anew, likewise.
 */
export class AlertTracker {
  readonly #problems = new LRUCache<string, Tracked>({ max: MAX_TRACKED_PROBLEMS });
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The alert this outcome makes, if it changes the state of its token (or of the ticket it waits for). */
  observe(outcome: FetchOutcome): AlertBody | undefined {
    if (outcome.outcome === 'pending' && outcome.waitingFor !== undefined) {
      const { app, platform, waitingFor, error } = outcome;
      return this.#move(ticketKey(app, waitingFor), 'ticket.missing', { app, platform, kind: waitingFor, error });
    }
    const key = tokenKey(outcome.app, outcome.kind, outcome.tenantKey);
    if (outcome.outcome === 'ok') return this.#recover(key, outcome);
    const problem = problemOf(outcome);
    return problem === undefined ? undefined : this.#move(key, problem, outcome);
  }

  /**
   * The alert a look at an app's pushed ticket makes: a fresh one ends `ticket.missing`, a stale
   * one starts it; a missing or refused one changes nothing (it is alerted when a fetch needs it).
   */
  ticket(app: string, platform: string, ticket: TicketHealth): AlertBody | undefined {
    const key = ticketKey(app, ticket.name);
    const at = { app, platform, kind: ticket.name };
    if (ticket.present && ticket.stale !== true) return this.#recover(key, at);
    if (!ticket.present || ticket.stale !== true) return undefined;
    const age = Math.round((ticket.ageSeconds ?? 0) / 60);
    const message = `the ${ticket.name} kept is ${age} min old: the platform's pushes no longer reach the app's events URL, and once it is gone the app's tokens wait for one`;
    return this.#move(key, 'ticket.missing', { ...at, error: { code: 'TOKENHUB_TICKET_PENDING', message } });
  }

  /**
   * The alerts a change of a tenant's authorization makes: authorized anew, each of its tokens
   * whose grant was rejected recovers; forgotten (cancelled, deleted), its states go unalerted.
   */
  tenant(change: TenantChange): AlertBody[] {
    const suffix = `\0${change.tenantKey}`;
    const prefix = `${change.app}\0`;
    const out: AlertBody[] = [];
    for (const [key, tracked] of [...this.#problems.entries()]) {
      if (!key.startsWith(prefix) || !key.endsWith(suffix)) continue;
      const kind = key.slice(prefix.length, key.length - suffix.length);
      // A tenant key holding the separator would be another slot's, and a ticket's state has no kind: the parts must be exact.
      if (kind === '' || kind.includes('\0')) continue;
      this.#problems.delete(key);
      if (change.change === 'authorized' && tracked.problem === 'grant.rejected') {
        out.push(this.#body('token.recovered', { app: change.app, platform: tracked.platform, kind, tenantKey: change.tenantKey }));
      }
    }
    return out;
  }

  /** Forgets the states of an app (a reload removed it): no `token.recovered` will follow. */
  forget(appId: string): void {
    const prefix = `${appId}\0`;
    for (const key of [...this.#problems.keys()]) if (key.startsWith(prefix)) this.#problems.delete(key);
  }

  #move(key: string, problem: Problem, about: About): AlertBody | undefined {
    if (this.#problems.get(key)?.problem === problem) return undefined;
    this.#problems.set(key, { problem, platform: about.platform });
    return this.#body(problem, about);
  }

  #recover(key: string, about: About): AlertBody | undefined {
    if (!this.#problems.has(key)) return undefined;
    this.#problems.delete(key);
    return this.#body('token.recovered', about);
  }

  #body(event: AlertEvent, o: About): AlertBody {
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

/** What an alert is about, and the failure it tells. */
interface About {
  readonly app: string;
  readonly platform: string;
  readonly kind: string;
  readonly tenantKey?: string | undefined;
  readonly error?: { readonly code: string; readonly message: string; readonly platformCode?: number | string | undefined } | undefined;
  readonly host?: string | undefined;
}

function tokenKey(app: string, kind: string, tenantKey: string | undefined): string {
  return `${app}\0${kind}\0${tenantKey ?? ''}`;
}

/** A ticket's state sits beside its app's tokens' (a kind is never empty, so `\0\0` names no token). */
function ticketKey(app: string, ticket: string): string {
  return `${app}\0\0ticket:${ticket}`;
}

function problemOf(o: FetchOutcome): Problem | undefined {
  if (o.grant) return 'grant.rejected';
  // A tenant the app keeps no grant of: the caller asked for a tenant that is not (or no longer) authorized.
  if (o.tenantKey !== undefined && o.error?.code === 'TOKENHUB_GRANT_NOT_FOUND') return undefined;
  if (o.outcome === 'credentials') return o.tenantKey === undefined ? 'credentials.rejected' : undefined;
  if (o.outcome === 'pending') return 'ticket.missing';
  return o.valid ? undefined : 'token.unavailable';
}
