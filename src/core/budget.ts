import { createHash } from 'node:crypto';

/**
 * A limit on upstream token calls that a provider states from its platform's rules (WeChat's
 * daily quota, Qingtui's one call per 2 s, DingTalk's 20 a second): the broker never exceeds it.
 */
export interface UpstreamLimit {
  /** Calls allowed per window, over all kinds of one app (or only `kinds`, when given). */
  readonly limit: number;
  readonly windowMs: number;
  /** A short name for metrics and errors (`day`, `minute`). */
  readonly name: string;
  /** Only calls for these kinds count (default: every kind). */
  readonly kinds?: readonly string[];
  /** Where fixed windows start, as an offset from the epoch (WeChat's day starts at 00:00 China time: -8 h). */
  readonly offsetMs?: number;
  /**
   * The platform may count over any stretch of `windowMs` (its windows' start is not known): each
   * fixed window then gets half the limit, so that no stretch of that length sees more than the limit.
   */
  readonly sliding?: boolean;
  /**
   * Counted together by every app that names the same scope (WeCom's quota per corp: the corp id);
   * by default each app counts alone. Never a secret: it goes into store keys (hashed).
   */
  readonly scope?: string;
}

/** Refused by tokenhub's own budget: when the next window starts. */
export interface BudgetRefusal {
  readonly limit: UpstreamLimit;
  readonly retryAfterMs: number;
}

interface Window {
  start: number;
  used: number;
}

/** Where a limit's window starts and ends at `now`. */
export function windowOf(limit: UpstreamLimit, now: number): { start: number; end: number } {
  const offset = limit.offsetMs ?? 0;
  const start = Math.floor((now - offset) / limit.windowMs) * limit.windowMs + offset;
  return { start, end: start + limit.windowMs };
}

/** The calls a fixed window of `limit` allows to calls that may use `share` of it. */
export function allowance(limit: UpstreamLimit, share = 1): number {
  return Math.floor(limit.limit * share * (limit.sliding ? 0.5 : 1));
}

/** Whether calls for `kind` count against `limit`. */
export function applies(limit: UpstreamLimit, kind: string): boolean {
  return limit.kinds === undefined || limit.kinds.includes(kind);
}

/**
 * Upstream calls in fixed windows, counted in this process: a window per limit and app (or per
 * limit and scope, for limits several apps share). Nothing is kept per token or per tenant, so
 * the state is as large as the config.
 *
 * @example
 * const budget = new UpstreamBudget();
 * const refused = budget.take('wechat-main', 'access_token', [{ limit: 2000, windowMs: 86_400_000, name: 'day' }], Date.now());
 */
export class UpstreamBudget {
  readonly #windows = new Map<string, Window>();

  /**
   * Counts one call of `app`, or says which limit it would break (and counts nothing). With `share`
   * below 1 the call may use only that part of each limit (the rest stays for other kinds of calls).
   */
  take(app: string, kind: string, limits: readonly UpstreamLimit[], now: number, share = 1): BudgetRefusal | undefined {
    const windows = limits.map((limit) => (applies(limit, kind) ? this.#current(app, limit, now) : undefined));
    for (const [i, limit] of limits.entries()) {
      const w = windows[i];
      if (w !== undefined && w.used >= allowance(limit, share)) return { limit, retryAfterMs: w.start + limit.windowMs - now };
    }
    for (const w of windows) if (w !== undefined) w.used++;
    return undefined;
  }

  /** Calls counted in the current window of each limit. */
  usage(app: string, limits: readonly UpstreamLimit[], now: number): { limit: UpstreamLimit; used: number }[] {
    return limits.map((limit) => ({ limit, used: this.#current(app, limit, now).used }));
  }

  #current(app: string, limit: UpstreamLimit, now: number): Window {
    const name = `${limit.scope === undefined ? `app\0${app}` : `scope\0${limit.scope}`}\0${limit.name}\0${limit.windowMs}`;
    const { start } = windowOf(limit, now);
    let w = this.#windows.get(name);
    if (!w) this.#windows.set(name, (w = { start, used: 0 }));
    if (w.start !== start) {
      w.start = start;
      w.used = 0;
    }
    return w;
  }
}

/** A count shared by every holder of the store (`TokenStore.takeQuota`). */
export interface QuotaCounter {
  /** Counts one use of `key` if fewer than `limit` are counted, answering the new count; else undefined, counting nothing. */
  takeQuota(key: string, limit: number, ttlMs: number): Promise<number | undefined>;
}

/**
 * The platform limits, counted in this process and, where a shared counter is given, by every
 * instance together: a call is made only when both allow it. When the shared counter cannot be
 * reached the local count still holds each instance to the limit on its own.
 */
export class PlatformBudget {
  readonly #local = new UpstreamBudget();
  readonly #counter: QuotaCounter | undefined;
  readonly #onError: (err: unknown) => void;

  constructor(counter: QuotaCounter | undefined, onError: (err: unknown) => void) {
    this.#counter = counter;
    this.#onError = onError;
  }

  /** Counts one call of `app` (its id and store namespace), or says which limit it would break. */
  async take(app: { id: string; fingerprint: string }, kind: string, limits: readonly UpstreamLimit[], now: number, share = 1): Promise<BudgetRefusal | undefined> {
    const local = this.#local.take(app.id, kind, limits, now, share);
    if (local !== undefined || this.#counter === undefined) return local;
    for (const limit of limits) {
      if (!applies(limit, kind)) continue;
      const { start, end } = windowOf(limit, now);
      try {
        // Kept a minute past the window's end: instances' clocks differ a little.
        const counted = await this.#counter.takeQuota(quotaKey(app.fingerprint, limit, start), allowance(limit, share), end - now + 60_000);
        if (counted === undefined) return { limit, retryAfterMs: end - now };
      } catch (err) {
        this.#onError(err);
      }
    }
    return undefined;
  }

  /** Calls this process counted in the current window of each limit. */
  usage(app: string, limits: readonly UpstreamLimit[], now: number): { limit: UpstreamLimit; used: number }[] {
    return this.#local.usage(app, limits, now);
  }
}

/** The shared count of one window of a platform limit: the app's namespace, or the hashed scope several apps share. */
export function quotaKey(fingerprint: string, limit: UpstreamLimit, windowStart: number): string {
  const owner = limit.scope === undefined ? fingerprint : `scope:${createHash('sha256').update(limit.scope).digest('hex').slice(0, 24)}`;
  return `quota:${owner}:${limit.name}:${windowStart}`;
}
