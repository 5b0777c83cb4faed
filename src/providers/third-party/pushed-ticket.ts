import { UpstreamError } from '../../core/errors.js';
import type { EventContext, FetchContext, HealthContext, ProviderHealth, StateAccess } from '../../core/types.js';

const SECOND = 1000;

/** A pushed ticket as kept in the app's state (`{"ticket","at","refused"?}`, under the ticket's name). */
export interface StoredTicket {
  readonly ticket: string;
  /** When the platform made it (the push's create time), epoch ms; 0 for a ticket kept without one. */
  readonly at: number;
  /** The platform refused it: kept so that its time still orders later pushes (and a push of it again is a duplicate), never used. */
  readonly refused?: true;
}

/** What became of a pushed ticket. Only a `new` one is kept (and wakes the broker). */
export type TicketOutcome = 'new' | 'duplicate' | 'older';

/** How the platform is asked for a push, where it can be asked (Feishu's `app_ticket/resend`, WeChat's `api_start_push_ticket`). */
export interface TicketAsk {
  /** The state marker that spaces the asks, across every instance sharing the store. */
  readonly marker: string;
  /** At most one ask in this interval. */
  readonly intervalMs: number;
  /** The call to the platform. A failure is thrown and lifts the marker, so that a later fetch asks again. */
  call(context: FetchContext): Promise<void>;
  /** A new ticket lifts the marker, so that the next one may be asked for at once should this one be refused too. */
  readonly liftedByPush?: boolean;
}

/** What an app's config may change of its pushed ticket (a provider's options include these). */
export interface PushedTicketOptions {
  /** How long a pushed ticket is kept. Default: the platform's validity. */
  ticketTtlMs?: number;
  /** A kept ticket older than this is reported stale in the operators' status. Default: a few missed pushes. */
  ticketStaleMs?: number;
  /** The wait suggested to callers while the ticket is pending (`Retry-After`). */
  pendingRetryMs?: number;
}

/** One platform's pushed ticket, as data: the rest is the same on every platform. */
export interface PushedTicketSpec {
  readonly platform: string;
  /** The platform's name for it; also the name it is kept under in the app's state. */
  readonly name: string;
  /** The defaults of {@link PushedTicketOptions}: how long a ticket is kept, when it is stale, the `Retry-After` while pending. */
  readonly defaults: { readonly ticketTtlMs: number; readonly ticketStaleMs: number; readonly pendingRetryMs: number };
  /** The platform's codes that refuse the ticket sent (then it is marked refused and the next one waited for). */
  readonly refusedCodes: readonly number[];
  /** How the next ticket comes, told to callers while they wait (after "; "). */
  readonly arrival: string;
  /** How to ask for a push, where the platform has a way. */
  readonly ask?: TicketAsk;
}

/**
 * A ticket the platform pushes to the app's events URL and the app's token is fetched with (a
 * Feishu store app's `app_ticket`, a WeChat component's `component_verify_ticket`, a WeCom suite's
 * `suite_ticket`): kept durably in the app's state, the newest wins (an older push is ignored),
 * one the platform refuses is marked so and the next waited for (asked for, where the platform
 * can be asked, at most once per interval across instances), and its age told to the operators.
 *
 * @example
 * ```ts
 * const ticket = new PushedTicket({
 *   platform: 'wecom', name: 'suite_ticket', refusedCodes: [40085], arrival: 'WeCom pushes one every 10 minutes',
 *   defaults: { ticketTtlMs: 30 * MINUTE, ticketStaleMs: 20 * MINUTE, pendingRetryMs: 10 * SECOND },
 * }, options);
 * // At the events URL:
 * await ticket.received(fields.SuiteTicket, ticketTime(fields.TimeStamp, push.signedAt), context);
 * // In a fetch:
 * return ticket.use(context, (value) => getSuiteToken(value));
 * ```
 */
export class PushedTicket {
  readonly #spec: PushedTicketSpec;
  readonly #ttlMs: number;
  readonly #staleMs: number;
  readonly #pendingRetryMs: number;

  constructor(spec: PushedTicketSpec, options: PushedTicketOptions = {}) {
    this.#spec = spec;
    this.#ttlMs = options.ticketTtlMs ?? spec.defaults.ticketTtlMs;
    this.#staleMs = options.ticketStaleMs ?? spec.defaults.ticketStaleMs;
    this.#pendingRetryMs = options.pendingRetryMs ?? spec.defaults.pendingRetryMs;
  }

  get name(): string {
    return this.#spec.name;
  }

  /** The kept ticket, if any. */
  async read(state: StateAccess): Promise<StoredTicket | undefined> {
    return readTicket(await state.get(this.#spec.name));
  }

  /**
   * Keeps a pushed ticket unless it is the one kept (a duplicate) or older than it (by the time
   * the platform made it). The read and the write are two steps: two different tickets pushed at
   * the same instant may keep the older, which costs one refusal and a wait, never a wrong token.
   */
  async keep(ticket: string, createdAt: number, state: StateAccess): Promise<TicketOutcome> {
    const { name, ask } = this.#spec;
    const stored = await this.read(state);
    if (stored?.ticket === ticket) return 'duplicate';
    if (stored !== undefined && createdAt < stored.at) return 'older';
    await state.set(name, JSON.stringify({ ticket, at: createdAt } satisfies StoredTicket), this.#ttlMs);
    if (ask?.liftedByPush) await state.delete(ask.marker);
    return 'new';
  }

  /** {@link keep} at the events URL, then {@link announce}. */
  async received(ticket: string, createdAt: number, context: EventContext): Promise<TicketOutcome> {
    return this.announce(await this.keep(ticket, createdAt, context.state), context);
  }

  /** Logs what became of a push; a new ticket wakes the broker (a fetch waiting for it goes at once), others leave waits and backoffs as they are. */
  announce(outcome: TicketOutcome, context: Pick<EventContext, 'log' | 'wake'>): TicketOutcome {
    if (outcome === 'new') {
      context.log.info({}, `${this.#spec.name} received`);
      context.wake();
    } else {
      context.log.info({ outcome }, `${this.#spec.name} not newer than the one kept: ignored`);
    }
    return outcome;
  }

  /** The kept ticket for the operators: there or not, its age, refused, stale. Never its value. */
  async health(context: HealthContext): Promise<NonNullable<ProviderHealth['ticket']>> {
    const { name } = this.#spec;
    const stored = await this.read(context.state);
    if (stored === undefined) return { name, present: false };
    // A ticket kept without its time (by an older version) is of unknown age.
    const ageSeconds = stored.at > 0 ? Math.max(0, Math.floor((context.now() - stored.at) / SECOND)) : undefined;
    return {
      name,
      present: stored.refused !== true,
      ...(ageSeconds === undefined ? {} : { ageSeconds, stale: ageSeconds * SECOND > this.#staleMs }),
      ...(stored.refused ? { refused: true } : {}),
    };
  }

  /**
   * `call` with the kept ticket. Without one (or with one the platform refused) the token is
   * pending: a push is asked for where the platform can be asked, and callers are told to wait.
   * When the platform refuses the ticket sent, it is marked refused (unless a newer one arrived
   * meanwhile; its time still orders later pushes) and the token is pending likewise.
   */
  async use<T>(context: FetchContext, call: (ticket: string) => Promise<T>): Promise<T> {
    const { name, refusedCodes } = this.#spec;
    const stored = await this.read(context.state);
    if (stored === undefined || stored.refused) return this.#pending(context, stored === undefined ? `no ${name} has arrived yet` : `the platform refused the kept ${name}`);
    try {
      return await call(stored.ticket);
    } catch (err) {
      const code = err instanceof UpstreamError ? Number(err.platformCode) : NaN;
      if (!refusedCodes.includes(code)) throw err;
      if ((await this.read(context.state))?.ticket === stored.ticket) {
        await context.state.set(name, JSON.stringify({ ...stored, refused: true } satisfies StoredTicket), this.#ttlMs);
      }
      return this.#pending(context, `the platform refused the ${name} (code ${code})`, code);
    }
  }

  /** Asks for a push (at most once per interval, across instances) and reports the token pending. */
  async #pending(context: FetchContext, why: string, platformCode?: number): Promise<never> {
    const { platform, ask, arrival } = this.#spec;
    if (ask !== undefined && (await context.state.add(ask.marker, String(context.now()), ask.intervalMs))) {
      try {
        await ask.call(context);
      } catch (err) {
        await context.state.delete(ask.marker).catch(() => {});
        throw err;
      }
    }
    throw new UpstreamError('pending', `${why}; ${arrival}`, {
      platform,
      retryAfterMs: this.#pendingRetryMs,
      waitingFor: this.#spec.name,
      ...(platformCode === undefined ? {} : { platformCode }),
    });
  }
}

/** When the platform made a pushed ticket: its time field in seconds, or else when the push was signed. */
export function ticketTime(seconds: string | undefined, signedAt: number): number {
  return /^\d+$/.test(seconds ?? '') ? Number(seconds) * SECOND : signedAt;
}

/** The kept ticket, from the JSON written now or a bare ticket (of unknown age) an older version wrote; undefined for anything else. */
export function readTicket(value: string | undefined): StoredTicket | undefined {
  if (value === undefined || value === '') return undefined;
  if (!value.startsWith('{')) return { ticket: value, at: 0 };
  try {
    const parsed = JSON.parse(value) as Partial<StoredTicket>;
    if (typeof parsed.ticket === 'string' && typeof parsed.at === 'number') return { ticket: parsed.ticket, at: parsed.at, ...(parsed.refused === true ? { refused: true as const } : {}) };
  } catch {
    /* not one of ours */
  }
  return undefined;
}
