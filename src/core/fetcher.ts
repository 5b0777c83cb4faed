import { adopt } from './adoption.js';
import type { Attempts } from './attempts.js';
import type { BackoffStrategy } from './backoff.js';
import { UpstreamError, toCallerError, type FailureClass, type TokenHubError } from './errors.js';
import { describe, unmeetable, withRetryAfter } from './failures.js';
import type { Coordinator } from './lease.js';
import type { BrokerObserver } from './options.js';
import type { Refresher } from './refresher.js';
import type { SlotTable } from './slot-table.js';
import type { Slot } from './slot.js';
import type { FetchContext, FetchReason, Logger, StoredToken } from './types.js';

export interface FetcherOptions {
  log: Logger;
  now: () => number;
  backoff: BackoffStrategy;
  attempts: Attempts;
  coordinator: Coordinator;
  refresher: Refresher;
  table: SlotTable;
  /** The least lifetime a caller needs, worked out again once a token is in. */
  minTtl: (slot: Slot, callerMs: number | undefined) => number;
  context: (slot: Slot, signal: AbortSignal) => FetchContext;
  /** Told how each fetch ended (alerts watch the state of tokens there). */
  observer?: BrokerObserver;
}

/**
 * One slot's fetch, shared by every caller (single-flight), and what follows it: the token
 * adopted, or the failure recorded and backed off.
 */
export class Fetcher {
  readonly #o: FetcherOptions;

  constructor(options: FetcherOptions) {
    this.#o = options;
  }

  /**
   * The slot's fetch in flight, joined or started. `minTtlMs` 0 asks for no least lifetime
   * (background refreshes); otherwise the lifetime needed is worked out again once the token is
   * in, since the app's own minimum follows the lifetime the platform issues.
   */
  async refresh(slot: Slot, reason: FetchReason, minTtlMs: number, rejected?: string, callerMinTtlMs?: number): Promise<StoredToken> {
    const { now } = this.#o;
    const joined = slot.inflight !== undefined;
    let token = await this.#shared(slot, reason, minTtlMs, rejected);
    // A fetch started for another reason (a background refresh) may hand back the very token
    // this caller reported; then it takes a fetch of its own.
    if (joined && rejected !== undefined && token.value === rejected && reason === 'invalidate') {
      slot.reported = true;
      slot.reportFetchAt = now();
      token = await this.#shared(slot, reason, minTtlMs, rejected);
    }
    const left = token.expiresAt - now();
    if (minTtlMs > 0) minTtlMs = this.#o.minTtl(slot, callerMinTtlMs);
    if (left < minTtlMs) {
      // A fresh token that cannot meet the caller's min_ttl: a failure like any other, backed off.
      const failures = (slot.shortfall?.failures ?? 0) + 1;
      const delay = this.#o.backoff('credentials', failures, undefined);
      slot.shortfall = { leftMs: left, until: now() + delay, failures };
      this.#o.log.warn({ app: slot.app.id, kind: slot.kind, minTtlS: Math.round(minTtlMs / 1000), leftS: Math.floor(left / 1000) }, 'a fresh token cannot meet the min_ttl asked for');
      throw unmeetable(slot, minTtlMs, left, delay);
    }
    return token;
  }

  #shared(slot: Slot, reason: FetchReason, minTtlMs: number, rejected: string | undefined): Promise<StoredToken> {
    slot.inflight ??= this.#fetchAndCache(slot, reason, minTtlMs, rejected).finally(() => {
      slot.inflight = undefined;
    });
    return slot.inflight;
  }

  async #fetchAndCache(slot: Slot, reason: FetchReason, minTtlMs: number, rejected: string | undefined): Promise<StoredToken> {
    const { now, attempts, coordinator } = this.#o;
    const at = now();
    if (slot.backoffUntil > at && slot.lastError) {
      // Backing off: callers learn the last failure at once and the platform is spared.
      throw withRetryAfter(slot.lastError.error, slot.backoffUntil - at);
    }
    const previous = slot.current;
    const accept = (t: StoredToken): boolean => {
      if (slot.rejected?.has(t.value)) return false;
      if (reason === 'refresh') return previous === undefined || t.expiresAt > previous.expiresAt;
      return t.expiresAt - now() >= minTtlMs;
    };
    try {
      const token = await coordinator.fetch(
        slot,
        accept,
        (work) => attempts.limit(slot, work),
        (fence) => attempts.call(slot, reason, rejected, fence, (signal) => this.#o.context(slot, signal)),
      );
      // A fetch made for a caller counts as a read; a background refresh must earn its next one.
      adopt(slot, token, now(), this.#o.refresher, reason !== 'refresh');
      if (!slot.retired) {
        const { app, kind, tenantKey } = slot;
        this.#o.observer?.fetched?.({ app: app.id, platform: app.provider.platform, kind, tenantKey, reason, outcome: 'ok', grant: false, valid: true });
      }
      // Asked after the report, the platform handed this token out again: it is good after all.
      if (reason === 'invalidate') slot.rejected?.delete(token.value);
      if (reason === 'refresh' && previous && token.value === previous.value && token.expiresAt <= previous.expiresAt + 2_000) {
        this.#o.log.warn({ app: slot.app.id, kind: slot.kind }, 'refresh returned the same token: the refresh-ahead window is wider than the platform allows');
      }
      return token;
    } catch (err) {
      throw this.#recordFailure(slot, err, reason);
    }
  }

  #recordFailure(slot: Slot, err: unknown, reason: FetchReason): TokenHubError {
    const { now } = this.#o;
    const failure = err instanceof UpstreamError ? err : undefined;
    const failureClass: FailureClass = failure?.failure ?? 'transient';
    slot.failures++;
    const delay = this.#o.backoff(failureClass, slot.failures, failure?.retryAfterMs);
    slot.backoffUntil = now() + delay;
    const callerError = toCallerError(err, delay);
    slot.lastError = { error: callerError, at: now() };
    const host = failure?.host;
    this.#o.log.warn(
      { app: slot.app.id, kind: slot.kind, failure: failureClass, platformCode: failure?.platformCode, err: failure?.message ?? describe(err), host, retryInMs: Math.round(delay) },
      'token fetch failed',
    );
    const valid = slot.current !== undefined && slot.current.expiresAt > now();
    if (!slot.retired) {
      const { app, kind, tenantKey } = slot;
      this.#o.observer?.fetched?.({
        app: app.id, platform: app.provider.platform, kind, tenantKey, reason, outcome: failureClass,
        grant: failure?.grant === true, valid, error: callerError, ...(host === undefined ? {} : { host }),
        ...(failure?.waitingFor === undefined ? {} : { waitingFor: failure.waitingFor }),
      });
    }
    if (valid) {
      // While a valid token is at hand, keep trying in the background; callers see nothing.
      this.#o.refresher.at(slot, now() + delay);
    } else if (slot.tenantKey !== undefined && failureClass === 'credentials') {
      // A tenant key the platform refuses leaves no slot, only a bounded note that spares the next call.
      this.#o.table.refuse(slot, callerError, slot.backoffUntil);
    }
    return callerError;
  }
}
