/** How a quota's windows are laid on the clock. */
export type QuotaWindows =
  /** A key's window opens at its first call and lasts `ms`; the next call after it opens a new one. */
  | { readonly kind: 'from-first-call'; readonly ms: number }
  /** Windows of `ms` on the clock shifted by `offsetMs` (a China day: 24 h with an offset of 8 h). */
  | { readonly kind: 'aligned'; readonly ms: number; readonly offsetMs?: number };

/**
 * Calls per key within fixed windows, against a limit: the simulators' hourly, daily and
 * per-minute quotas. Only calls that fit are counted; {@link takeAll} takes from several quotas
 * at once or from none.
 *
 * @example
 * ```ts
 * const perApp = new CallQuota(100, { kind: 'from-first-call', ms: 3_600_000 }, Date.now);
 * if (!takeAll([[perCorp, corpId], [perApp, appKey]])) return reply.send({ errcode: 45009 });
 * ```
 */
export class CallQuota {
  readonly #limit: number;
  readonly #windows: QuotaWindows;
  readonly #now: () => number;
  readonly #counts = new Map<string, { start: number; calls: number }>();

  constructor(limit: number, windows: QuotaWindows, now: () => number) {
    this.#limit = limit;
    this.#windows = windows;
    this.#now = now;
  }

  /** Whether one more call of `key` fits in its current window. */
  fits(key: string): boolean {
    return this.#window(key).calls < this.#limit;
  }

  /** Count one call of `key`. */
  take(key: string): void {
    const window = this.#window(key);
    window.calls++;
    this.#counts.set(key, window);
  }

  /** Calls of `key` counted in its current window. */
  used(key: string): number {
    return this.#window(key).calls;
  }

  /** Forget every window. */
  reset(): void {
    this.#counts.clear();
  }

  #window(key: string): { start: number; calls: number } {
    const now = this.#now();
    const { ms } = this.#windows;
    const start = this.#windows.kind === 'aligned' ? Math.floor((now + (this.#windows.offsetMs ?? 0)) / ms) * ms : now;
    const current = this.#counts.get(key);
    if (current !== undefined && (this.#windows.kind === 'aligned' ? current.start === start : now - current.start < ms)) return current;
    return { start, calls: 0 };
  }
}

/** Takes one call from every `[quota, key]` pair if each has room; from none otherwise. */
export function takeAll(pairs: readonly (readonly [CallQuota, string])[]): boolean {
  if (!pairs.every(([quota, key]) => quota.fits(key))) return false;
  for (const [quota, key] of pairs) quota.take(key);
  return true;
}
