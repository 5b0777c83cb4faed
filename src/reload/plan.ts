import type { LoadedConfig } from '../config.js';

/** The parts of a config a reload applies; every other top-level key takes effect on a restart. */
export const RELOADED_KEYS = ['apps', 'clients', 'alerts'] as const;

/** What a reload does, app by app (ids only: never a secret). */
export interface ReloadPlan {
  /** In the new config only: registered, served at once. */
  readonly added: readonly string[];
  /** In both, with another normalised config (secret, options): started afresh. */
  readonly changed: readonly string[];
  /** In the old config only: unregistered, their timers stopped and slots dropped. */
  readonly removed: readonly string[];
  /** The same in both: kept as they run, tokens and all. */
  readonly unchanged: readonly string[];
  /** Top-level keys that differ but take effect only on a restart (`listen`, `store`, `log`, …). */
  readonly restartNeeded: readonly string[];
}

/** What a reload did: the plan, and how many clients the server now knows. */
export interface ReloadResult extends ReloadPlan {
  readonly clients: number;
}

/**
 * Compares two loaded configs. Apps are compared by their normalised config (what validation
 * made of them, defaults filled in, keys in any order), so that a reformatted file changes nothing.
 */
export function planReload(current: LoadedConfig, next: LoadedConfig): ReloadPlan {
  const added: string[] = [];
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const [id, app] of Object.entries(next.apps)) {
    const before = current.apps[id];
    if (before === undefined) added.push(id);
    else if (canonical(before) === canonical(app)) unchanged.push(id);
    else changed.push(id);
  }
  const removed = Object.keys(current.apps).filter((id) => !(id in next.apps));
  const keys = new Set([...Object.keys(current), ...Object.keys(next)]);
  const restartNeeded = [...keys].filter(
    (key) => key !== 'clientEntries' && !(RELOADED_KEYS as readonly string[]).includes(key) && canonical((current as never)[key]) !== canonical((next as never)[key]),
  );
  return { added, changed, removed, unchanged, restartNeeded };
}

/** JSON with the keys of every object sorted: equal for equal values, whatever the key order. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  ) ?? 'undefined';
}
