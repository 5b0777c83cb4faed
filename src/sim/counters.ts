/** Call counts of one simulator, by endpoint and by app id. */
export interface CounterSnapshot {
  readonly total: number;
  readonly endpoints: Record<string, { readonly total: number; readonly apps: Record<string, number> }>;
}

/**
 * Call counters keyed by endpoint name and app id (`''` when the request named no known app).
 *
 * @example
 * ```ts
 * sim.counters.count('tenant_access_token/internal', 'cli_a1'); // calls for one app
 * sim.counters.count();                                        // every call
 * ```
 */
export class Counters {
  readonly #counts = new Map<string, Map<string, number>>();
  readonly #inFlight = new Map<string, number>();
  readonly #peak = new Map<string, number>();

  /** Record one call. */
  increment(endpoint: string, appId = ''): void {
    let apps = this.#counts.get(endpoint);
    if (apps === undefined) {
      apps = new Map();
      this.#counts.set(endpoint, apps);
    }
    apps.set(appId, (apps.get(appId) ?? 0) + 1);
  }

  /**
   * Record one call that stays in flight until `response` emits `close` (answered or dropped):
   * the high-water mark of an app's concurrent calls is what a bound on upstream concurrency is checked against.
   */
  track(endpoint: string, appId: string, response: { once(event: 'close', listener: () => void): unknown }): void {
    this.increment(endpoint, appId);
    const now = (this.#inFlight.get(appId) ?? 0) + 1;
    this.#inFlight.set(appId, now);
    if (now > (this.#peak.get(appId) ?? 0)) this.#peak.set(appId, now);
    response.once('close', () => this.#inFlight.set(appId, (this.#inFlight.get(appId) ?? 1) - 1));
  }

  /** The most calls of `appId` (of any app when left out) in flight at once since the last reset. */
  peakInFlight(appId?: string): number {
    if (appId !== undefined) return this.#peak.get(appId) ?? 0;
    return Math.max(0, ...this.#peak.values());
  }

  /** Calls to `endpoint` (every endpoint when left out) by `appId` (every app when left out). */
  count(endpoint?: string, appId?: string): number {
    let sum = 0;
    for (const [name, apps] of this.#counts) {
      if (endpoint !== undefined && name !== endpoint) continue;
      for (const [app, n] of apps) {
        if (appId === undefined || app === appId) sum += n;
      }
    }
    return sum;
  }

  /** Zero the counts and the high-water marks (calls in flight stay counted as in flight). */
  reset(): void {
    this.#counts.clear();
    this.#peak.clear();
  }

  snapshot(): CounterSnapshot {
    const endpoints: Record<string, { total: number; apps: Record<string, number> }> = {};
    let total = 0;
    for (const [name, apps] of this.#counts) {
      const entry = { total: 0, apps: Object.fromEntries(apps) };
      for (const n of apps.values()) entry.total += n;
      endpoints[name] = entry;
      total += entry.total;
    }
    return { total, endpoints };
  }
}
