import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { TokenHubError } from '../core/errors.js';
import type { ClientEntry } from '../config.js';

/** Reports a client may make per minute unless its config says otherwise. */
export const DEFAULT_REPORTS_PER_MINUTE = 60;

/** Page signatures a client may ask for per minute unless its config says otherwise. */
export const DEFAULT_SIGNATURES_PER_MINUTE = 600;

/**
 * Each client's budget of one kind of request: by default the requests that may cost the platform
 * a call on its word (reports of a rejected token, from the invalidate route and the proxy's
 * retry, and tenant keys the platform refused); page signatures have their own. Over it, 429 with
 * `Retry-After`; the other clients are not touched. Counted in this process.
 */
export class ClientBudget {
  readonly #limiters = new Map<number, RateLimiterMemory>();
  readonly #what: string;
  readonly #pointsOf: (client: ClientEntry) => number;

  /** `what` names the requests in the 429's message; `pointsOf` is a client's budget per minute. */
  constructor(what = 'reports', pointsOf: (client: ClientEntry) => number = (c) => c.reportsPerMinute ?? DEFAULT_REPORTS_PER_MINUTE) {
    this.#what = what;
    this.#pointsOf = pointsOf;
  }

  /** Counts one report of `client`; throws 429 `TOKENHUB_RATE_LIMITED` when its budget is spent. */
  async take(client: ClientEntry): Promise<void> {
    const { limiter, points } = this.#limiter(client);
    try {
      await limiter.consume(budgetKey(client));
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      throw overBudget(client, this.#what, points, err.msBeforeNext);
    }
  }

  /** Throws 429 if `client` has spent its budget, without counting anything. */
  async check(client: ClientEntry): Promise<void> {
    const { limiter, points } = this.#limiter(client);
    const res = await limiter.get(budgetKey(client));
    if (res !== null && res.consumedPoints >= points) throw overBudget(client, this.#what, points, res.msBeforeNext);
  }

  #limiter(client: ClientEntry): { limiter: RateLimiterMemory; points: number } {
    const points = this.#pointsOf(client);
    let limiter = this.#limiters.get(points);
    if (!limiter) this.#limiters.set(points, (limiter = new RateLimiterMemory({ points, duration: 60 })));
    return { limiter, points };
  }

  /** Whether `client` may make one more report; counts it when so. */
  async tryTake(client: ClientEntry): Promise<boolean> {
    try {
      await this.take(client);
      return true;
    } catch (err) {
      if (err instanceof TokenHubError && err.statusCode === 429) return false;
      throw err;
    }
  }
}

/** The hash of the client's key: names need not be unique, and no key is held in clear. */
function budgetKey(client: ClientEntry): string {
  return client.keySha256.toString('hex');
}

function overBudget(client: ClientEntry, what: string, points: number, msBeforeNext: number): TokenHubError {
  return new TokenHubError('TOKENHUB_RATE_LIMITED', `client ${client.name} is over its budget of ${points} ${what} a minute`, {
    // 429, not the code's 503: it is this client that is over its budget, not the platform.
    status: 429,
    retryAfterSeconds: Math.max(1, Math.ceil(msBeforeNext / 1000)),
  });
}
