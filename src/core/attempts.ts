import pLimit, { type LimitFunction } from 'p-limit';
import type { BackoffStrategy } from './backoff.js';
import { PlatformBudget, type QuotaCounter } from './budget.js';
import { TokenHubError, UpstreamError } from './errors.js';
import { describe, overBudget } from './failures.js';
import { upstreamHost } from './upstream-host.js';
import type { AppDefinition, BrokerObserver } from './options.js';
import type { Slot } from './slot.js';
import type { FetchContext, FetchReason, Logger, StoredToken } from './types.js';

/** The part of each platform budget that fetches on callers' reports may use. */
const REPORT_SHARE_OF_BUDGET = 0.5;

export interface AttemptsOptions {
  log: Logger;
  observer: BrokerObserver;
  now: () => number;
  backoff: BackoffStrategy;
  attempts: number;
  upstreamTimeoutMs: number;
  maxConcurrentFetches: number;
  /** Aborted when the broker closes: calls in flight and retry waits end. */
  closing: AbortSignal;
  /** Where the platform limits are counted by every instance together (the store). */
  quotas?: QuotaCounter | undefined;
}

/**
 * Upstream calls: the platform budget, the per-kind concurrency limit, and the attempts of one
 * fetch (transient failures retried with backoff), each reported to the observer.
 */
export class Attempts {
  readonly #o: AttemptsOptions;
  readonly #budget: PlatformBudget;
  /** Upstream calls in flight per app and kind. */
  readonly #limits = new Map<string, LimitFunction>();

  constructor(options: AttemptsOptions) {
    this.#o = options;
    let warned = false;
    this.#budget = new PlatformBudget(options.quotas, (err) => {
      // Once: while the store is down every call would say it again. Each instance still keeps to the limits alone.
      if (!warned) options.log.warn({ err: describe(err) }, 'the shared count of platform limits is unreachable: counting in this instance only');
      warned = true;
    });
  }

  /** Runs `work` when fewer than the app's `maxConcurrentFetches` of this kind are in flight. */
  limit<T>(slot: Slot, work: () => Promise<T>): Promise<T> {
    // Per kind, not per app: a tenant token's fetch waits for the app token, which must not queue behind it.
    const name = `${slot.app.id}\0${slot.kind}`;
    let limit = this.#limits.get(name);
    if (!limit) this.#limits.set(name, (limit = pLimit(Math.max(1, slot.app.maxConcurrentFetches ?? this.#o.maxConcurrentFetches))));
    return limit(work);
  }

  /** Asks the provider for `slot`'s token, retrying transient failures; the token's version is at least `fence`. */
  async call(slot: Slot, reason: FetchReason, rejected: string | undefined, fence: number, context: (signal: AbortSignal) => FetchContext): Promise<StoredToken> {
    const { app, kind, tenantKey } = slot;
    const { observer, now, closing } = this.#o;
    let attempt = 0;
    for (;;) {
      attempt++;
      // Reports may spend only part of a budget: whatever callers report, the scheduled refreshes still have calls.
      const refused = await this.#budget.take(app, kind, app.provider.limits ?? [], now(), reason === 'invalidate' ? REPORT_SHARE_OF_BUDGET : 1);
      if (refused) throw overBudget(app.provider.platform, refused.limit, refused.retryAfterMs);
      const startedAt = now();
      const signal = AbortSignal.any([closing, AbortSignal.timeout(this.#o.upstreamTimeoutMs)]);
      try {
        const fetched = await app.provider.fetch({ kind, tenantKey, reason, ...(rejected === undefined ? {} : { rejected }) }, context(signal));
        const host = upstreamHost(signal);
        observer.upstream?.({ app: app.id, platform: app.provider.platform, kind, reason, outcome: 'ok', durationMs: now() - startedAt, ...(host === undefined ? {} : { host }) });
        slot.seenLifetimeMs = Math.max(slot.seenLifetimeMs, fetched.expiresInMs);
        // Expiry counted from when we asked: the platform's clock started no earlier.
        const version = Math.max(fence, (slot.current?.version ?? 0) + 1);
        return { value: fetched.value, expiresAt: startedAt + fetched.expiresInMs, obtainedAt: now(), version };
      } catch (err) {
        // The provider's own verdict (a tenant whose grant is not kept): told to the caller as it is, not retried.
        if (err instanceof TokenHubError) throw err;
        const failure = err instanceof UpstreamError ? err : new UpstreamError('transient', describe(err), { platform: app.provider.platform, cause: err });
        failure.host ??= upstreamHost(signal);
        const host = failure.host;
        observer.upstream?.({ app: app.id, platform: app.provider.platform, kind, reason, outcome: failure.failure, durationMs: now() - startedAt, ...(host === undefined ? {} : { host }) });
        // A slot whose app was removed or changed by a reload makes no further attempt.
        if (failure.failure !== 'transient' || attempt >= this.#o.attempts || closing.aborted || slot.retired) throw failure;
        const delay = this.#o.backoff('transient', attempt, failure.retryAfterMs);
        this.#o.log.warn({ app: app.id, kind, attempt, err: failure.message, platformCode: failure.platformCode, host }, 'token request failed: retrying');
        await sleep(delay, closing);
      }
    }
  }

  /** Forgets the concurrency limits of an app that was unregistered (a reload may register it anew, with other limits). */
  forget(appId: string): void {
    for (const name of this.#limits.keys()) if (name.startsWith(`${appId}\0`)) this.#limits.delete(name);
  }

  /** Calls counted against each of the app's platform limits in the current window. */
  usage(app: AppDefinition): { limit: { name: string; limit: number }; used: number }[] {
    return this.#budget.usage(app.id, app.provider.limits ?? [], this.#o.now());
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
