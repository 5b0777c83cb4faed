import { allowance, applies, windowOf, type UpstreamLimit } from '../core/budget.js';
import { UpstreamError } from '../core/errors.js';
import type { StateAccess } from '../core/types.js';

/** The state names of a tenant's counted calls: `tenant_quota:<tenant>:<limit>:<window start>:<n>`. */
export const TENANT_QUOTA_STATE = 'tenant_quota:';

/**
 * Counts one call of `kind` for one tenant against `limits` (a platform's limits per tenant, such
 * as WeCom's ticket fetches per corp, which the broker's per-app budget cannot count), in the
 * app's durable state, so that every instance sharing the store counts together. Each use is a
 * marker set with the store's atomic set-if-absent: of the markers 0 … allowance − 1 of a window,
 * exactly one caller sets each, so no window ever sees more than its allowance. The first free
 * marker is found by a binary search over the markers set so far (they are set in order).
 * Throws a `rate-limited` UpstreamError, with the window's end as its hint, once one is spent.
 *
 * @example
 * await takeTenantQuota(context.state, wecomTicketLimits(corpId), 'jsapi_ticket', corpId, context.now(), 'wecom');
 */
export async function takeTenantQuota(state: StateAccess, limits: readonly UpstreamLimit[], kind: string, tenantKey: string, now: number, platform: string): Promise<void> {
  for (const limit of limits) {
    if (!applies(limit, kind)) continue;
    const { start, end } = windowOf(limit, now);
    const allowed = allowance(limit);
    const name = (n: number): string => `${TENANT_QUOTA_STATE}${tenantKey}:${limit.name}:${start}:${n}`;
    // The lowest marker not set yet: markers are set from 0 upwards.
    let low = 0;
    let high = allowed;
    while (low < high) {
      const mid = (low + high) >> 1;
      if ((await state.get(name(mid))) === undefined) high = mid;
      else low = mid + 1;
    }
    let taken = false;
    // Windows are kept a minute past their end, so that clocks a little apart agree on the count.
    for (let n = low; n < allowed && !taken; n++) taken = await state.add(name(n), '1', end - now + 60_000);
    if (!taken) {
      throw new UpstreamError('rate-limited', `${limit.limit} calls per ${Math.round(limit.windowMs / 60_000)} min for ${tenantKey} (${limit.name}) are spent`, {
        platform,
        retryAfterMs: end - now,
      });
    }
  }
}
