import type { SlotStatus, TenantKindStatus } from '../core/broker.js';
import type { ErrorCode } from '../core/errors.js';
import type { ProviderHealth } from '../core/types.js';

/**
 * Why a token or an app needs an operator, named as the alerts name the same changes of state:
 * - `token.unavailable`: no token with time left, and the last fetch failed;
 * - `credentials.rejected`: the platform refused the app's credentials;
 * - `ticket.missing`: a ticket the platform pushes has not come, was refused, or is stale;
 * - `grant.rejected`: the platform rejected a tenant's grant (authorization);
 * - `refresh.failing`: the last refresh failed while the token is still served;
 * - `token.reported`: a caller reported the token as rejected and no replacement is had yet;
 * - `tenants.failing`: some tenants' tokens of a tenant-scoped kind failed last.
 */
export const ATTENTION_REASONS = ['token.unavailable', 'credentials.rejected', 'ticket.missing', 'grant.rejected', 'refresh.failing', 'token.reported', 'tenants.failing'] as const;

export type AttentionReason = (typeof ATTENTION_REASONS)[number];

export interface Attention {
  reason: AttentionReason;
  /** `error`: callers get (or soon will get) errors; `warning`: served for now, but not for ever. */
  level: 'error' | 'warning';
  message: string;
}

/** Last errors whose code names the cause better than "unavailable" does. */
const CAUSES: Partial<Record<ErrorCode, AttentionReason>> = {
  TOKENHUB_PLATFORM_REFUSED: 'credentials.rejected',
  TOKENHUB_TICKET_PENDING: 'ticket.missing',
};

/** What needs attention in one token's (or one tenant-scoped kind's) state at `now`. */
export function tokenAttention(token: SlotStatus | TenantKindStatus, now: number): Attention[] {
  if ('tenantScoped' in token) {
    if (token.failing === 0) return [];
    return [{ reason: 'tenants.failing', level: 'warning', message: `${token.failing} of ${token.tenants} tenants failed their last fetch` }];
  }
  const out: Attention[] = [];
  const valid = token.expiresAt !== undefined && Date.parse(token.expiresAt) > now;
  const error = token.lastError;
  if (error) {
    const cause = CAUSES[error.code as ErrorCode];
    const retry = error.retryAt === undefined ? '' : ` (retrying at ${error.retryAt})`;
    if (cause !== undefined) out.push({ reason: cause, level: 'error', message: `${error.message}${retry}` });
    else if (!valid) out.push({ reason: 'token.unavailable', level: 'error', message: `${error.code}: ${error.message}${retry}` });
    else out.push({ reason: 'refresh.failing', level: 'warning', message: `served on until ${token.expiresAt}; the last refresh failed: ${error.message}${retry}` });
  }
  if (token.reported) out.push({ reason: 'token.reported', level: 'warning', message: 'a caller reported the token as rejected; it is served on until a new one is had' });
  return out;
}

/** What needs attention in what an app's provider says of its dependencies. */
export function healthAttention(health: ProviderHealth | undefined): Attention[] {
  const out: Attention[] = [];
  const ticket = health?.ticket;
  if (ticket) {
    if (ticket.refused) out.push({ reason: 'ticket.missing', level: 'error', message: `the platform refused the kept ${ticket.name}; waiting for a new push` });
    else if (!ticket.present) out.push({ reason: 'ticket.missing', level: 'error', message: `no ${ticket.name} has arrived: check that the platform's event URL points at this app's events URL` });
    else if (ticket.stale) out.push({ reason: 'ticket.missing', level: 'warning', message: `the ${ticket.name} is ${Math.round((ticket.ageSeconds ?? 0) / 60)} min old: new pushes are not arriving` });
  }
  const grants = health?.grants;
  if (grants && grants.rejected > 0) out.push({ reason: 'grant.rejected', level: 'error', message: `${grants.rejected} of ${grants.count} grants were rejected by the platform` });
  return out;
}
