import type { KindSpec } from '../core/types.js';

/**
 * A provider's `kinds` and `tenantScoped` read from its kinds as data.
 *
 * @example
 * ```ts
 * const { kinds, tenantScoped } = kindsOf([{ name: 'access_token', tenantScoped: false }]);
 * ```
 */
export function kindsOf(specs: readonly KindSpec[]): { kinds: readonly string[]; tenantScoped: (kind: string) => boolean } {
  const scoped = new Set(specs.filter((k) => k.tenantScoped).map((k) => k.name));
  return { kinds: specs.map((k) => k.name), tenantScoped: (kind) => scoped.has(kind) };
}

/** The one kind of the platforms with a single app-wide `access_token`. */
export const ACCESS_TOKEN_ONLY: readonly KindSpec[] = [{ name: 'access_token', tenantScoped: false }];
