import type { IssuedToken } from '../core/broker.js';
import { TokenHubError } from '../core/errors.js';
import type { Metrics } from './metrics.js';

/** The JSON a token request is answered with. */
export interface TokenBody {
  app: string;
  platform: string;
  kind: string;
  tenantKey?: string;
  token: string;
  expiresAt: string;
  expiresIn: number;
}

/**
 * How token answers are shaped and counted, shared by the Fastify routes and the cached-read
 * fast path so that both answer and count alike.
 */
export class TokenAnswers {
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #isoExpiry = new WeakMap<IssuedToken, string>();
  readonly #jsonPrefix = new WeakMap<IssuedToken, string>();
  // Counter children bound once per app: labelling on every request costs more than the read itself.
  readonly #served = new Map<string, { inc(): void }>();

  /** `now` is the broker's clock, so that `expiresIn` agrees with the expiry the broker reckons. */
  constructor(metrics: Metrics, now: () => number = Date.now) {
    this.#metrics = metrics;
    this.#now = now;
  }

  body(token: IssuedToken, tenantKey: string | undefined): TokenBody {
    let expiresAt = this.#isoExpiry.get(token);
    if (expiresAt === undefined) this.#isoExpiry.set(token, (expiresAt = new Date(token.expiresAt).toISOString()));
    const body: TokenBody = {
      app: token.app,
      platform: token.platform,
      kind: token.kind,
      token: token.value,
      expiresAt,
      expiresIn: Math.max(0, Math.floor((token.expiresAt - this.#now()) / 1000)),
    };
    if (tenantKey !== undefined) body.tenantKey = tenantKey;
    return body;
  }

  /** The body of `body(token)` as JSON text; all but `expiresIn` is serialized once per token. */
  json(token: IssuedToken): string {
    let prefix = this.#jsonPrefix.get(token);
    if (prefix === undefined) {
      const { expiresIn: _, ...fixed } = this.body(token, undefined);
      this.#jsonPrefix.set(token, (prefix = `${JSON.stringify(fixed).slice(0, -1)},"expiresIn":`));
    }
    return `${prefix}${Math.max(0, Math.floor((token.expiresAt - this.#now()) / 1000))}}`;
  }

  countOk(appId: string): void {
    let counter = this.#served.get(appId);
    if (!counter) this.#served.set(appId, (counter = this.#metrics.tokenRequests.labels({ app: appId, outcome: 'ok' })));
    counter.inc();
  }

  countError(appId: string, err: unknown): void {
    this.#metrics.tokenRequests.inc({ app: appId, outcome: err instanceof TokenHubError ? err.code : 'TOKENHUB_INTERNAL' });
  }
}
