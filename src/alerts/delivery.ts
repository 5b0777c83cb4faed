import { Agent, request, type Dispatcher } from 'undici';
import type { Logger } from '../core/types.js';
import type { AlertBody, AlertEvent } from './events.js';
import { SIGNATURE_HEADER, signAlert } from './signature.js';

/** Where alerts go (`alerts[]` in the config). */
export interface AlertReceiver {
  readonly url: string;
  /** The key of the HMAC in `X-Tokenhub-Signature`. Never logged. */
  readonly secret: string;
  /** The events this receiver wants; all when left out. */
  readonly events?: readonly AlertEvent[] | undefined;
}

/** What happened to one delivery attempt or alert (the `outcome` label of `tokenhub_alert_deliveries_total`). */
export type DeliveryOutcome = 'delivered' | 'retried' | 'failed' | 'dropped';

export interface AlertDeliveryOptions {
  /** Timeout of one POST (connect to answer). */
  timeoutMs?: number;
  /** POSTs of one alert at most, the first included. */
  attempts?: number;
  /** The wait before attempt `n + 1` after `n` failed ones. */
  backoff?: (failures: number) => number;
  /** Alerts waiting per receiver at most; more are dropped (counted) until the queue drains. */
  maxQueue?: number;
  /** Told of each outcome (metrics). */
  onOutcome?: (outcome: DeliveryOutcome) => void;
  log?: Logger;
  /** Where the POSTs go (tests); default: connections of its own. */
  dispatcher?: Dispatcher;
}

export const DEFAULT_ALERT_DELIVERY = {
  timeoutMs: 5_000,
  attempts: 6,
  maxQueue: 1_000,
  /** 1 s, 2 s, 4 s, 8 s, 16 s (capped at 60 s), each up to 20% shorter at random. */
  backoff: (failures: number): number => Math.min(60_000, 1_000 * 2 ** (failures - 1)) * (1 - Math.random() * 0.2),
} as const;

interface Outbox {
  readonly receiver: AlertReceiver;
  /** Bodies as sent (the signature covers these bytes), the head being delivered. */
  readonly queue: { text: string; event: AlertEvent }[];
  busy: boolean;
  timer: NodeJS.Timeout | undefined;
  retired: boolean;
}

/**
 * Delivers alerts to the receivers: a signed JSON POST each, retried with backoff, in order per
 * receiver (one at a time, so that `token.recovered` never overtakes the problem it ends). `send`
 * only queues: no caller of tokenhub ever waits for a receiver, however slow or dead it is.
 */
export class AlertDelivery {
  readonly #timeoutMs: number;
  readonly #attempts: number;
  readonly #backoff: (failures: number) => number;
  readonly #maxQueue: number;
  readonly #onOutcome: (outcome: DeliveryOutcome) => void;
  readonly #log: Logger | undefined;
  readonly #dispatcher: Dispatcher;
  readonly #own: Agent | undefined;
  readonly #closing = new AbortController();
  #outboxes: Outbox[] = [];

  constructor(receivers: readonly AlertReceiver[], options: AlertDeliveryOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_ALERT_DELIVERY.timeoutMs;
    this.#attempts = Math.max(1, options.attempts ?? DEFAULT_ALERT_DELIVERY.attempts);
    this.#backoff = options.backoff ?? DEFAULT_ALERT_DELIVERY.backoff;
    this.#maxQueue = Math.max(1, options.maxQueue ?? DEFAULT_ALERT_DELIVERY.maxQueue);
    this.#onOutcome = options.onOutcome ?? (() => {});
    this.#log = options.log;
    this.#own = options.dispatcher ? undefined : new Agent({ connect: { timeout: this.#timeoutMs }, keepAliveTimeout: 10_000, connections: 4 });
    this.#dispatcher = options.dispatcher ?? this.#own!;
    this.setReceivers(receivers);
  }

  /**
   * Replaces the receivers (a reload). A receiver kept with the same URL and secret keeps its
   * queue; the alerts waiting for one that is gone are dropped.
   */
  setReceivers(receivers: readonly AlertReceiver[]): void {
    const old = this.#outboxes;
    this.#outboxes = receivers.map((receiver) => {
      const kept = old.find((o) => !o.retired && o.receiver.url === receiver.url && o.receiver.secret === receiver.secret);
      if (kept) {
        old.splice(old.indexOf(kept), 1);
        return Object.assign(kept, { receiver });
      }
      return { receiver, queue: [], busy: false, timer: undefined, retired: false };
    });
    for (const gone of old) this.#retire(gone);
  }

  /** Queues `alert` for every receiver that wants its event. Never throws, never waits. */
  send(alert: AlertBody): void {
    if (this.#closing.signal.aborted) return;
    const text = JSON.stringify(alert);
    for (const box of this.#outboxes) {
      if (box.receiver.events !== undefined && !box.receiver.events.includes(alert.event)) continue;
      if (box.queue.length >= this.#maxQueue) {
        this.#onOutcome('dropped');
        continue;
      }
      box.queue.push({ text, event: alert.event });
      // Out of the caller's path: the POST starts on a later turn.
      if (!box.busy) {
        box.busy = true;
        setImmediate(() => void this.#pump(box));
      }
    }
  }

  /** Stops: the POST in flight is aborted, waiting alerts are dropped. */
  async close(): Promise<void> {
    this.#closing.abort();
    for (const box of this.#outboxes) this.#retire(box);
    this.#outboxes = [];
    await this.#own?.close().catch(() => {});
  }

  async #pump(box: Outbox): Promise<void> {
    let failures = 0;
    while (!box.retired && box.queue.length > 0) {
      const head = box.queue[0]!;
      const error = await this.#post(box.receiver, head.text, head.event);
      if (box.retired) return;
      if (error === undefined) {
        this.#onOutcome('delivered');
        box.queue.shift();
        failures = 0;
        continue;
      }
      failures++;
      if (failures >= this.#attempts) {
        this.#onOutcome('failed');
        this.#log?.warn({ receiver: hostOf(box.receiver.url), event: head.event, attempts: failures, err: error }, 'alert not delivered: giving up');
        box.queue.shift();
        failures = 0;
        continue;
      }
      this.#onOutcome('retried');
      await new Promise<void>((resolve) => {
        box.timer = setTimeout(resolve, this.#backoff(failures));
        box.timer.unref();
      });
      box.timer = undefined;
    }
    box.busy = false;
  }

  /** One POST; `undefined` when the receiver answered 2xx, else what went wrong. */
  async #post(receiver: AlertReceiver, text: string, event: AlertEvent): Promise<string | undefined> {
    try {
      const res = await request(receiver.url, {
        method: 'POST',
        dispatcher: this.#dispatcher,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'tokenhub-alerts',
          'x-tokenhub-event': event,
          [SIGNATURE_HEADER]: signAlert(text, receiver.secret),
        },
        body: text,
        signal: AbortSignal.any([this.#closing.signal, AbortSignal.timeout(this.#timeoutMs)]),
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      await res.body.dump();
      return res.statusCode >= 200 && res.statusCode < 300 ? undefined : `HTTP ${res.statusCode}`;
    } catch (err) {
      return (err as { code?: string }).code ?? (err as Error).name;
    }
  }

  #retire(box: Outbox): void {
    box.retired = true;
    clearTimeout(box.timer);
    for (let i = 0; i < box.queue.length; i++) this.#onOutcome('dropped');
    box.queue.length = 0;
  }
}

/** A receiver as logs name it: its host, never its path or query (which may hold a token of the receiver's own). */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return '(invalid URL)';
  }
}
