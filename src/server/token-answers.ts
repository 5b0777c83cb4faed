import type { OutgoingHttpHeaders } from 'node:http';
import type { IssuedToken } from '../core/broker.js';
import { TokenHubError } from '../core/errors.js';
import type { Metrics } from './metrics.js';

/** The `app` label of requests naming an app that is not configured. */
export const UNKNOWN_APP = '(unknown)';

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

/** A cached read's answer as it goes on the wire: the JSON text of `body(token)` and its headers. */
export interface SerializedAnswer {
  readonly text: string;
  readonly headers: OutgoingHttpHeaders;
}

/**
 * How token answers are shaped and counted, shared by the Fastify routes and the cached-read
 * fast path so that both answer and count alike.
 */
export class TokenAnswers {
  readonly #metrics: Metrics;
  readonly #now: () => number;
  readonly #isoExpiry = new WeakMap<IssuedToken, string>();
  readonly #serialized = new WeakMap<IssuedToken, { prefix: string; expiresIn: number; answer: SerializedAnswer }>();
  // Counter children bound once per app: labelling on every request costs more than the read itself.
  readonly #served = new Map<string, { inc(): void }>();

  readonly #known: (appId: string) => boolean;

  /** `known` says which app ids are configured: only those become metric labels. `now` is the broker's clock, so that `expiresIn` agrees with the expiry the broker reckons. */
  constructor(metrics: Metrics, known: (appId: string) => boolean, now: () => number = Date.now) {
    this.#metrics = metrics;
    this.#known = known;
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

  /**
   * `body(token)` as JSON text with its headers, made once per token and second (only
   * `expiresIn` changes, once a second): a cached read then serializes nothing.
   */
  serialized(token: IssuedToken): SerializedAnswer {
    const expiresIn = Math.max(0, Math.floor((token.expiresAt - this.#now()) / 1000));
    let memo = this.#serialized.get(token);
    if (memo === undefined) {
      const { expiresIn: _, ...fixed } = this.body(token, undefined);
      memo = { prefix: `${JSON.stringify(fixed).slice(0, -1)},"expiresIn":`, expiresIn: -1, answer: { text: '', headers: {} } };
      this.#serialized.set(token, memo);
    }
    if (memo.expiresIn !== expiresIn) {
      const text = `${memo.prefix}${expiresIn}}`;
      memo.expiresIn = expiresIn;
      memo.answer = { text, headers: { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) } };
    }
    return memo.answer;
  }

  countOk(appId: string): void {
    let counter = this.#served.get(appId);
    if (!counter) this.#served.set(appId, (counter = this.#metrics.tokenRequests.labels({ app: appId, outcome: 'ok' })));
    counter.inc();
  }

  /** An app id from the URL that is not configured is counted as `(unknown)`: callers cannot grow the series. */
  countError(appId: string, err: unknown): void {
    this.#metrics.tokenRequests.inc({ app: this.#known(appId) ? appId : UNKNOWN_APP, outcome: err instanceof TokenHubError ? err.code : 'TOKENHUB_INTERNAL' });
  }
}
