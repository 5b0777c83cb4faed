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

/**
 * Upstream calls per app in fixed windows, counted in this process. A window per limit and app;
 * nothing is kept per token or per tenant, so the state is as large as the config.
 *
 * @example
 * const budget = new UpstreamBudget();
 * const refused = budget.take('wechat-main', 'access_token', [{ limit: 2000, windowMs: 86_400_000, name: 'day' }], Date.now());
 */
export class UpstreamBudget {
  readonly #windows = new Map<string, Window[]>();

  /**
   * Counts one call, or says which limit it would break (and counts nothing). With `share` below 1
   * the call may use only that part of each limit (the rest stays for other kinds of calls).
   */
  take(app: string, kind: string, limits: readonly UpstreamLimit[], now: number, share = 1): BudgetRefusal | undefined {
    if (limits.length === 0) return undefined;
    const windows = this.#current(app, limits, now);
    for (const [i, limit] of limits.entries()) {
      if (!applies(limit, kind)) continue;
      const w = windows[i]!;
      if (w.used >= Math.floor(limit.limit * share)) return { limit, retryAfterMs: w.start + limit.windowMs - now };
    }
    for (const [i, limit] of limits.entries()) if (applies(limit, kind)) windows[i]!.used++;
    return undefined;
  }

  /** Calls counted in the current window of each limit. */
  usage(app: string, limits: readonly UpstreamLimit[], now: number): { limit: UpstreamLimit; used: number }[] {
    const windows = this.#current(app, limits, now);
    return limits.map((limit, i) => ({ limit, used: windows[i]!.used }));
  }

  #current(app: string, limits: readonly UpstreamLimit[], now: number): Window[] {
    let windows = this.#windows.get(app);
    if (!windows) this.#windows.set(app, (windows = limits.map(() => ({ start: -Infinity, used: 0 }))));
    for (const [i, limit] of limits.entries()) {
      const offset = limit.offsetMs ?? 0;
      const start = Math.floor((now - offset) / limit.windowMs) * limit.windowMs + offset;
      const w = windows[i]!;
      if (w.start !== start) {
        w.start = start;
        w.used = 0;
      }
    }
    return windows;
  }
}

function applies(limit: UpstreamLimit, kind: string): boolean {
  return limit.kinds === undefined || limit.kinds.includes(kind);
}
