import type { Broker, BrokerObserver } from '../core/broker.js';
import type { Logger } from '../core/types.js';
import { AlertDelivery, type AlertDeliveryOptions, type AlertReceiver } from './delivery.js';
import type { AlertBody } from './events.js';
import { AlertTracker } from './tracker.js';

export interface AlertsOptions extends AlertDeliveryOptions {
  now?: () => number;
  /** How often each app's pushed ticket is looked at, for one that went stale. Default 60 s. */
  ticketCheckIntervalMs?: number;
}

export const DEFAULT_TICKET_CHECK_INTERVAL_MS = 60_000;

/** What the ticket watch reads: the apps, and each one's state (where its provider keeps its pushed ticket). */
export type TicketSource = Pick<Broker, 'apps' | 'app' | 'state'>;

/**
 * Alerts, as the hub wires them: the broker's fetch outcomes, its wake-ups and its tenants'
 * authorizations go through the state machine (tracker.ts), and so does a look at each app's
 * pushed ticket, once a minute and whenever the app is woken (a push arrived); each change of
 * state is logged and queued for the receivers (delivery.ts).
 */
export class Alerts {
  readonly #tracker: AlertTracker;
  readonly #delivery: AlertDelivery;
  readonly #log: Logger | undefined;
  readonly #now: () => number;
  readonly #intervalMs: number;
  #source: TicketSource | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Apps whose ticket is being looked at: a slow store is not asked again meanwhile. */
  readonly #checking = new Set<string>();

  constructor(receivers: readonly AlertReceiver[], options: AlertsOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#tracker = new AlertTracker(this.#now);
    this.#delivery = new AlertDelivery(receivers, options);
    this.#log = options.log;
    this.#intervalMs = options.ticketCheckIntervalMs ?? DEFAULT_TICKET_CHECK_INTERVAL_MS;
  }

  /** What the broker tells: synchronous and cheap (a map lookup; a queued POST on a change; a ticket read off the caller's path). */
  readonly observer: BrokerObserver = {
    fetched: (outcome) => this.#emit(this.#tracker.observe(outcome)),
    woken: (app) => void this.#check(app),
    tenant: (change) => {
      for (const alert of this.#tracker.tenant(change)) this.#emit(alert);
    },
  };

  /** Looks at every app's pushed ticket now and then each interval (until `close`): a stale one is alerted, a fresh one ends the alert. */
  watchTickets(source: TicketSource): void {
    this.#source = source;
    clearInterval(this.#timer);
    this.#timer = setInterval(() => {
      for (const app of source.apps()) if (app.provider.health !== undefined) void this.#check(app.id);
    }, this.#intervalMs);
    this.#timer.unref();
  }

  setReceivers(receivers: readonly AlertReceiver[]): void {
    this.#delivery.setReceivers(receivers);
  }

  /** Forgets the alert states of an app a reload removed. */
  forget(appId: string): void {
    this.#tracker.forget(appId);
  }

  close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    return this.#delivery.close();
  }

  /** The app's pushed ticket, as its provider tells it (a read of the store, never a call to the platform), through the state machine. */
  async #check(appId: string): Promise<void> {
    const source = this.#source;
    if (source === undefined || this.#checking.has(appId)) return;
    this.#checking.add(appId);
    try {
      const { provider } = source.app(appId);
      const health = await provider.health?.({ state: source.state(appId), now: this.#now });
      if (health?.ticket !== undefined) this.#emit(this.#tracker.ticket(appId, provider.platform, health.ticket));
    } catch {
      // The store is away (the next look tells) or the app was removed meanwhile.
    } finally {
      this.#checking.delete(appId);
    }
  }

  #emit(alert: AlertBody | undefined): void {
    if (alert === undefined) return;
    const fields = { event: alert.event, app: alert.app, kind: alert.kind, ...(alert.tenantKey === undefined ? {} : { tenantKey: alert.tenantKey }), ...(alert.error ? { code: alert.error.code } : {}) };
    if (alert.event === 'token.recovered') this.#log?.info(fields, `alert: ${alert.event}`);
    else this.#log?.warn(fields, `alert: ${alert.event}`);
    this.#delivery.send(alert);
  }
}
