import type { BrokerObserver } from '../core/broker.js';
import type { Logger } from '../core/types.js';
import { AlertDelivery, type AlertDeliveryOptions, type AlertReceiver } from './delivery.js';
import { AlertTracker } from './tracker.js';

export interface AlertsOptions extends AlertDeliveryOptions {
  now?: () => number;
}

/**
 * Alerts, as the hub wires them: the broker's fetch outcomes go through the state machine
 * (tracker.ts), and each change of state is logged and queued for the receivers (delivery.ts).
 */
export class Alerts {
  readonly #tracker: AlertTracker;
  readonly #delivery: AlertDelivery;
  readonly #log: Logger | undefined;

  constructor(receivers: readonly AlertReceiver[], options: AlertsOptions = {}) {
    this.#tracker = new AlertTracker(options.now);
    this.#delivery = new AlertDelivery(receivers, options);
    this.#log = options.log;
  }

  /** What the broker tells: synchronous and cheap (a map lookup; a queued POST on a change). */
  readonly observer: BrokerObserver = {
    fetched: (outcome) => {
      const alert = this.#tracker.observe(outcome);
      if (alert === undefined) return;
      const fields = { event: alert.event, app: alert.app, kind: alert.kind, ...(alert.error ? { code: alert.error.code } : {}) };
      if (alert.event === 'token.recovered') this.#log?.info(fields, `alert: ${alert.event}`);
      else this.#log?.warn(fields, `alert: ${alert.event}`);
      this.#delivery.send(alert);
    },
  };

  setReceivers(receivers: readonly AlertReceiver[]): void {
    this.#delivery.setReceivers(receivers);
  }

  /** Forgets the alert states of an app a reload removed. */
  forget(appId: string): void {
    this.#tracker.forget(appId);
  }

  close(): Promise<void> {
    return this.#delivery.close();
  }
}
