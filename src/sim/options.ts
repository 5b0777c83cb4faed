/** Checks of the simulators' options: each throws a `TypeError` that names the option. */

/**
 * Checks that `value` is a finite number above 0.
 *
 * @example
 * ```ts
 * positive('tokenLifetimeSeconds', options.tokenLifetimeSeconds ?? 7200);
 * ```
 */
export function positive(name: string, value: number): void {
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${name}: expected a number > 0, got ${String(value)}`);
}

/**
 * Checks that `value` is a finite number of 0 or more.
 *
 * @example
 * ```ts
 * notNegative('resendDelayMs', options.resendDelayMs ?? 20);
 * ```
 */
export function notNegative(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) throw new TypeError(`${name}: expected a number >= 0, got ${String(value)}`);
}

/**
 * Checks a simulator's `apps`: an array whose apps each have a non-empty id (in `idField`) and a
 * string `appSecret`, no id twice.
 *
 * @example
 * ```ts
 * for (const app of checkApps(options.apps, 'appKey')) apps.set(app.appKey, { secret: app.appSecret });
 * ```
 */
export function checkApps<K extends string, A extends Record<K, string> & { appSecret: string }>(apps: readonly A[], idField: K): readonly A[] {
  if (!Array.isArray(apps)) throw new TypeError('apps: expected an array');
  const seen = new Set<string>();
  for (const [i, app] of apps.entries()) {
    const id = app[idField];
    if (typeof id !== 'string' || id === '') throw new TypeError(`apps[${i}].${idField}: expected a non-empty string`);
    if (typeof app.appSecret !== 'string') throw new TypeError(`apps[${i}].appSecret: expected a string`);
    if (seen.has(id)) throw new TypeError(`apps[${i}].${idField}: duplicate ${id}`);
    seen.add(id);
  }
  return apps;
}

/**
 * Checks a quota: a whole number of calls, 0 or more, or `Infinity` for none.
 *
 * @example
 * ```ts
 * quota('jsapiTicketMinuteQuota', options.jsapiTicketMinuteQuota ?? Infinity);
 * ```
 */
export function quota(name: string, value: number): void {
  if (value !== Infinity && !(Number.isInteger(value) && value >= 0)) {
    throw new TypeError(`${name}: expected a whole number >= 0 or Infinity, got ${String(value)}`);
  }
}

/**
 * Every key of `defaults`, taken from `options` where it is set there (`??`), else the default;
 * the options' other keys are left out.
 *
 * @example
 * ```ts
 * const opts = withDefaults(options, DEFAULT_WECHAT_SIM_OPTIONS);   // { tokenLifetimeSeconds: options.tokenLifetimeSeconds ?? 7200, … }
 * ```
 */
export function withDefaults<O extends object, K extends keyof O>(options: O, defaults: { readonly [P in K]-?: NonNullable<O[P]> }): { [P in K]-?: NonNullable<O[P]> } {
  const out = { ...defaults } as { [P in K]-?: NonNullable<O[P]> };
  for (const key of Object.keys(defaults) as K[]) out[key] = options[key] ?? defaults[key];
  return out;
}
