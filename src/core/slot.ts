import type { AppDefinition } from './options.js';
import type { TokenHubError } from './errors.js';
import type { FetchReason, StoredToken, Token } from './types.js';

/** A token handed to a caller. */
export interface IssuedToken extends Token {
  readonly app: string;
  readonly platform: string;
  readonly kind: string;
  /**
   * A caller reported it as rejected and no replacement could be had yet (the platform is down,
   * or asking again is not allowed so soon): it is served on to its end, marked so.
   */
  readonly reported?: true;
}

export interface SlotStatus {
  kind: string;
  expiresAt?: string;
  lastRefreshAt?: string;
  nextRefreshAt?: string;
  refreshing: boolean;
  /** A caller reported the token as rejected and it is served on until a replacement is had. */
  reported?: boolean;
  lastError?: { code: string; message: string; platformCode?: number | string; at: string; retryAt?: string };
}

/** The tokens of one tenant-scoped kind, counted: tenant keys are not shown to other clients. */
export interface TenantKindStatus {
  kind: string;
  tenantScoped: true;
  /** Tenants with a slot in memory. */
  tenants: number;
  /** Of those, how many hold a token with time left, are being fetched, and failed last. */
  valid: number;
  refreshing: number;
  failing: number;
  /** The first of their tokens to expire. */
  nextExpiresAt?: string;
}

/** The cached state of one token (app + kind + tenant). */
export interface Slot {
  readonly key: string;
  readonly app: AppDefinition;
  readonly kind: string;
  readonly tenantKey: string | undefined;
  current: StoredToken | undefined;
  inflight: Promise<StoredToken> | undefined;
  timer: NodeJS.Timeout | undefined;
  nextRefreshAt: number | undefined;
  failures: number;
  backoffUntil: number;
  lastError: { error: TokenHubError; at: number } | undefined;
  /** Values callers reported as rejected: never adopted again from the store (made on the first report). */
  rejected: Set<string> | undefined;
  /** `current` was reported as rejected and not replaced yet. */
  reported: boolean;
  /** When a report last led to a fetch: reports within the app's interval wait for the next one. */
  reportFetchAt: number;
  /** The longest lifetime a fetch of this token returned. */
  seenLifetimeMs: number;
  /** A `min_ttl` that a fresh token could not meet: more than `leftMs` is refused without a call until `until`. */
  shortfall: { leftMs: number; until: number; failures: number } | undefined;
  /** Its app was unregistered (removed or changed by a reload): no timer is set on it again, a fetch in flight ends unobserved. */
  retired: boolean;
}

/** An empty slot: nothing cached, nothing in flight. */
export function newSlot(key: string, app: AppDefinition, kind: string, tenantKey: string | undefined): Slot {
  return {
    key, app, kind, tenantKey,
    current: undefined, inflight: undefined, timer: undefined, nextRefreshAt: undefined,
    failures: 0, backoffUntil: 0, lastError: undefined, rejected: undefined,
    reported: false, reportFetchAt: -Infinity, seenLifetimeMs: 0, shortfall: undefined, retired: false,
  };
}

/** Remembers a replaced or rejected value so that it is never adopted again; the last few are enough. */
export function reject(slot: Slot, value: string): void {
  const rejected = (slot.rejected ??= new Set());
  rejected.delete(value);
  rejected.add(value);
  if (rejected.size > 16) rejected.delete(rejected.values().next().value!);
}

/** The caller's view of a token, made once per token (cached reads allocate nothing). */
const issued = new WeakMap<Token, IssuedToken>();
const issuedReported = new WeakMap<Token, IssuedToken>();

/** The caller's view of `token`, marked `reported` when it is the slot's reported current token. */
export function issue(slot: Slot, token: Token): IssuedToken {
  const reported = slot.reported && slot.current === token;
  const cache = reported ? issuedReported : issued;
  let out = cache.get(token);
  if (!out) {
    out = { app: slot.app.id, platform: slot.app.provider.platform, kind: slot.kind, value: token.value, expiresAt: token.expiresAt, obtainedAt: token.obtainedAt, ...(reported ? { reported: true as const } : {}) };
    cache.set(token, out);
  }
  return out;
}

/** What `/v1/apps` shows of one slot. Never a token value. */
export function slotStatus(slot: Slot, now: number): SlotStatus {
  const s: SlotStatus = { kind: slot.kind, refreshing: slot.inflight !== undefined };
  if (slot.current) {
    s.expiresAt = new Date(slot.current.expiresAt).toISOString();
    s.lastRefreshAt = new Date(slot.current.obtainedAt).toISOString();
  }
  if (slot.reported) s.reported = true;
  if (slot.nextRefreshAt !== undefined) s.nextRefreshAt = new Date(slot.nextRefreshAt).toISOString();
  if (slot.lastError) {
    const { error, at } = slot.lastError;
    s.lastError = { code: error.code, message: error.message, at: new Date(at).toISOString() };
    if (error.platformCode !== undefined) s.lastError.platformCode = error.platformCode;
    if (slot.backoffUntil > now) s.lastError.retryAt = new Date(slot.backoffUntil).toISOString();
  }
  return s;
}

/** Tenant slots counted by kind: which tenants exist is not told. */
export function countTenants(slots: Iterable<Slot>, now: number): TenantKindStatus[] {
  const byKind = new Map<string, TenantKindStatus & { next: number }>();
  for (const slot of slots) {
    let s = byKind.get(slot.kind);
    if (!s) byKind.set(slot.kind, (s = { kind: slot.kind, tenantScoped: true, tenants: 0, valid: 0, refreshing: 0, failing: 0, next: Infinity }));
    s.tenants++;
    if (slot.current && slot.current.expiresAt > now) {
      s.valid++;
      s.next = Math.min(s.next, slot.current.expiresAt);
    }
    if (slot.inflight !== undefined) s.refreshing++;
    if (slot.lastError) s.failing++;
  }
  return [...byKind.values()].map(({ next, ...s }) => (Number.isFinite(next) ? { ...s, nextExpiresAt: new Date(next).toISOString() } : s));
}

/**
 * Why the slot's next fetch is made and what it replaces: a token a caller reported is fetched
 * anew as a report (so the provider may force a new one), any other for `otherwise`.
 */
export function nextFetch(slot: Slot, otherwise: 'cold' | 'refresh'): { reason: FetchReason; rejected: string | undefined } {
  const rejected = slot.reported ? slot.current?.value : undefined;
  return { reason: rejected === undefined ? otherwise : 'invalidate', rejected };
}
