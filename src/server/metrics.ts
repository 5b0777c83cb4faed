import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ProviderHealth } from '../core/types.js';
import type { Broker, BrokerObserver } from '../core/broker.js';
import { UpstreamTally } from './upstream-tally.js';

/** tokenhub's Prometheus metrics, on a registry of their own. */
export class Metrics {
  readonly registry = new Registry();
  readonly tokenRequests = new Counter({
    name: 'tokenhub_token_requests_total',
    help: 'Token requests from clients, by app and outcome (ok or the error code)',
    labelNames: ['app', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly upstreamRequests = new Counter({
    name: 'tokenhub_upstream_requests_total',
    help: 'Token requests to the platforms, by app, kind, reason and outcome',
    labelNames: ['app', 'platform', 'kind', 'reason', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly refreshDuration = new Histogram({
    name: 'tokenhub_upstream_duration_seconds',
    help: 'Latency of token requests to the platforms',
    labelNames: ['app', 'platform', 'kind'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly proxyRequests = new Counter({
    name: 'tokenhub_proxy_requests_total',
    help: 'Proxied platform calls, by app and outcome: ok, retried (answered after one retry with a new token), rejected (a token-invalid answer relayed without retry), client_closed, or the error code',
    labelNames: ['app', 'outcome'] as const,
    registers: [this.registry],
  });
  readonly proxyRetries = new Counter({
    name: 'tokenhub_proxy_retries_total',
    help: 'Proxied calls sent again with a new token after the platform rejected the first one',
    labelNames: ['app'] as const,
    registers: [this.registry],
  });
  readonly proxyDuration = new Histogram({
    name: 'tokenhub_proxy_upstream_duration_seconds',
    help: 'Time from sending a proxied call to the platform until its response headers arrived',
    labelNames: ['app'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  /** Upstream calls and failures by app and kind since start, for `GET /v1/admin/status`. */
  readonly upstream = new UpstreamTally();

  readonly alertDeliveries = new Counter({
    name: 'tokenhub_alert_deliveries_total',
    help: 'Alert POSTs to the receivers, by outcome: delivered, retried (an attempt failed, another follows), failed (given up after every attempt), dropped (queue full, receiver removed, or shutdown)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly auditDropped = new Counter({
    name: 'tokenhub_audit_lines_dropped_total',
    help: 'Audit lines dropped because the disk did not keep up (16 MiB were waiting)',
    registers: [this.registry],
  });

  constructor(broker: () => Broker | undefined) {
    new Gauge({
      name: 'tokenhub_token_seconds_left',
      help: 'Seconds left on each cached token',
      labelNames: ['app', 'platform', 'kind'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const t of broker()?.remaining() ?? []) this.set({ app: t.app, platform: t.platform, kind: t.kind }, t.seconds);
      },
    });
    new Gauge({
      name: 'tokenhub_upstream_budget_used',
      help: "Token calls to the platform counted in the current window of each of the platform's limits (see tokenhub_upstream_budget_limit)",
      labelNames: ['app', 'window'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const b of broker()?.budgets() ?? []) this.set({ app: b.app, window: b.window }, b.used);
      },
    });
    new Gauge({
      name: 'tokenhub_upstream_budget_limit',
      help: "Token calls the platform allows per window, which tokenhub never exceeds",
      labelNames: ['app', 'window'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const b of broker()?.budgets() ?? []) this.set({ app: b.app, window: b.window }, b.limit);
      },
    });
    // Pushed tickets (store and third-party apps): a ticket that ages past its platform's pushes means they stopped arriving.
    const tickets = async (): Promise<{ app: string; ticket: NonNullable<ProviderHealth['ticket']> }[]> => {
      const b = broker();
      if (b === undefined) return [];
      const found = await Promise.all(b.apps().map(async (a) => ({ app: a.id, ticket: (await b.health(a.id).catch(() => undefined))?.ticket })));
      return found.filter((f): f is { app: string; ticket: NonNullable<ProviderHealth['ticket']> } => f.ticket !== undefined);
    };
    new Gauge({
      name: 'tokenhub_push_ticket_age_seconds',
      help: 'Age of the ticket the platform last pushed to the app (app_ticket, component_verify_ticket, suite_ticket); absent while none is kept',
      labelNames: ['app', 'ticket'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const { app, ticket } of await tickets()) if (ticket.present && ticket.ageSeconds !== undefined) this.set({ app, ticket: ticket.name }, ticket.ageSeconds);
      },
    });
    new Gauge({
      name: 'tokenhub_push_ticket_stale',
      help: '1 when the app has no usable pushed ticket or it is older than its pushes should let it become (pushes stopped arriving), else 0',
      labelNames: ['app', 'ticket'] as const,
      registers: [this.registry],
      async collect() {
        this.reset();
        for (const { app, ticket } of await tickets()) this.set({ app, ticket: ticket.name }, !ticket.present || ticket.refused === true || ticket.stale === true ? 1 : 0);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'tokenhub_' });
  }

  readonly observer: BrokerObserver = {
    upstream: ({ app, platform, kind, reason, outcome, durationMs }) => {
      this.upstreamRequests.inc({ app, platform, kind, reason, outcome });
      this.refreshDuration.observe({ app, platform, kind }, durationMs / 1000);
      this.upstream.record({ app, platform, kind, reason, outcome, durationMs });
    },
  };
}
