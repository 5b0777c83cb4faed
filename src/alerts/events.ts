/**
 * The events tokenhub alerts on, each sent once per change of a token's state (see tracker.ts):
 * - `token.unavailable`: a fetch failed and no valid token is left to serve;
 * - `credentials.rejected`: the platform refused the app's credentials (failure class `credentials`);
 * - `ticket.missing`: a ticket the platform pushes (a store app's `app_ticket`) is missing or stale;
 * - `grant.rejected`: a third-party grant was refused or revoked (an `UpstreamError` marked `grant`);
 * - `token.recovered`: a token is had again after one of the above.
 */
export const ALERT_EVENTS = ['token.unavailable', 'credentials.rejected', 'ticket.missing', 'grant.rejected', 'token.recovered'] as const;

export type AlertEvent = (typeof ALERT_EVENTS)[number];

/** The JSON body of an alert. Never a token, a secret or a client key. */
export interface AlertBody {
  readonly event: AlertEvent;
  readonly app: string;
  readonly platform: string;
  readonly kind: string;
  readonly tenantKey?: string;
  /** ISO time of the change. */
  readonly at: string;
  /** What callers are told of the failure (absent on `token.recovered`). */
  readonly error?: { readonly code: string; readonly message: string; readonly platformCode?: number | string; readonly host?: string };
}
