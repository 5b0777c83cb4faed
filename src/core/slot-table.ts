import { LRUCache } from 'lru-cache';
import { TokenHubError, badRequest } from './errors.js';
import { slotKey } from './keys.js';
import type { AppDefinition } from './options.js';
import { withRetryAfter } from './failures.js';
import { newSlot, type Slot } from './slot.js';

/**
 * Every slot in memory: plain slots by app and kind, tenant slots in an LRU per app (capped at
 * the app's `maxTenants`), and a bounded note of tenant keys the platform refused.
 */
export class SlotTable {
  readonly #slots = new Map<string, Slot>();
  readonly #plain = new Map<string, Map<string, Slot>>();
  /** Tenant slots per app, least recently read first: the cap drops from the front. */
  readonly #tenants = new Map<string, LRUCache<string, Slot>>();
  /** Tenant keys the platform refused, with the error and until when it is assumed to hold. */
  readonly #refused: LRUCache<string, { error: TokenHubError; until: number }>;
  readonly #maxTenants: number;
  readonly #now: () => number;

  constructor(options: { maxTenants: number; maxRefusedTenants: number; now: () => number }) {
    this.#maxTenants = options.maxTenants;
    this.#now = options.now;
    this.#refused = new LRUCache({ max: Math.max(1, options.maxRefusedTenants) });
  }

  /** The slot of `app`'s `kind` (and tenant), made on first use; throws for a kind or tenant key the app does not take. */
  get(app: AppDefinition, kind: string, tenantKey: string | undefined): Slot {
    const { provider } = app;
    if (!provider.kinds.includes(kind)) {
      throw new TokenHubError('TOKENHUB_UNKNOWN_KIND', `${provider.platform} apps have no token kind ${JSON.stringify(kind)}; kinds: ${provider.kinds.join(', ')}`);
    }
    if (provider.tenantScoped(kind) && tenantKey === undefined) throw badRequest(`${kind} of app ${app.id} needs a tenant_key`);
    if (!provider.tenantScoped(kind) && tenantKey !== undefined) throw badRequest(`${kind} of app ${app.id} takes no tenant_key`);
    const key = slotKey(app.fingerprint, kind, tenantKey);
    if (tenantKey !== undefined) return this.#tenantSlot(app, kind, tenantKey, key);
    let slot = this.#slots.get(key);
    if (!slot) {
      slot = newSlot(key, app, kind, undefined);
      this.#slots.set(key, slot);
      let kinds = this.#plain.get(app.id);
      if (!kinds) this.#plain.set(app.id, (kinds = new Map()));
      kinds.set(kind, slot);
    }
    return slot;
  }

  /** A plain slot already made, found without building a key string (the cached read). */
  plainSlot(appId: string, kind: string): Slot | undefined {
    return this.#plain.get(appId)?.get(kind);
  }

  /** The slot stored under `key`, if it is in memory. */
  byKey(key: string): Slot | undefined {
    return this.#slots.get(key);
  }

  /** The plain slots of an app. */
  plain(appId: string): Iterable<Slot> {
    return this.#plain.get(appId)?.values() ?? [];
  }

  /** The plain slots of every app. */
  *allPlain(): Generator<Slot> {
    for (const kinds of this.#plain.values()) yield* kinds.values();
  }

  /** The tenant slots of an app. */
  tenants(appId: string): Iterable<Slot> {
    return this.#tenants.get(appId)?.values() ?? [];
  }

  all(): Iterable<Slot> {
    return this.#slots.values();
  }

  /** Drops a tenant's slot (the platform refused the tenant key, or nobody read its token to its end). */
  drop(slot: Slot): void {
    if (slot.tenantKey === undefined || slot.retired) return;
    clearTimeout(slot.timer);
    const lru = this.#tenants.get(slot.app.id);
    if (lru?.peek(slot.key) === slot) lru.delete(slot.key);
    if (this.#slots.get(slot.key) === slot) this.#slots.delete(slot.key);
  }

  /**
   * Drops every slot of an app (unregistered by a reload): timers stopped, slots marked retired so
   * that a fetch still in flight sets none again, and the notes of its refused tenant keys forgotten.
   */
  dropApp(app: AppDefinition): void {
    for (const [key, slot] of this.#slots) {
      if (slot.app.id !== app.id) continue;
      slot.retired = true;
      clearTimeout(slot.timer);
      slot.timer = undefined;
      this.#slots.delete(key);
    }
    this.#plain.delete(app.id);
    const lru = this.#tenants.get(app.id);
    this.#tenants.delete(app.id);
    for (const slot of lru?.values() ?? []) slot.retired = true;
    lru?.clear();
    this.forgetRefusals(app);
  }

  /** Forgets the notes of an app's refused tenant keys: what they waited for (an authorization) may have come. */
  forgetRefusals(app: AppDefinition): void {
    // Every key of the app starts so (the key of kind '' without a tenant).
    const prefix = slotKey(app.fingerprint, '', undefined);
    for (const key of [...this.#refused.keys()]) if (key.startsWith(prefix)) this.#refused.delete(key);
  }

  /**
   * Forgets the tenant slot stored under `key` for good (its authorization was cancelled or
   * replaced, on this instance or another): dropped, and marked retired so that a fetch still in
   * flight neither keeps its token nor stores it; the note of its refusal goes too. A key of a
   * plain slot, or of none in memory, changes nothing but that note.
   */
  retireTenant(key: string): void {
    this.#refused.delete(key);
    const slot = this.#slots.get(key);
    if (slot === undefined || slot.tenantKey === undefined) return;
    this.drop(slot);
    slot.retired = true;
  }

  /** Drops a tenant whose key the platform refused and notes the refusal, so that asking again until `until` costs no call. */
  refuse(slot: Slot, error: TokenHubError, until: number): void {
    if (slot.retired) return;
    this.drop(slot);
    this.#refused.set(slot.key, { error, until });
  }

  /** A tenant's slot, most recently read last; past the app's cap the least recently read one goes. */
  #tenantSlot(app: AppDefinition, kind: string, tenantKey: string, key: string): Slot {
    let lru = this.#tenants.get(app.id);
    if (!lru) {
      lru = new LRUCache<string, Slot>({
        max: Math.max(1, app.maxTenants ?? this.#maxTenants),
        dispose: (slot, k, reason) => {
          if (reason === 'set') return;
          clearTimeout(slot.timer);
          if (this.#slots.get(k) === slot) this.#slots.delete(k);
        },
      });
      this.#tenants.set(app.id, lru);
    }
    const slot = lru.get(key);
    if (slot) return slot;
    const refused = this.#refused.get(key);
    if (refused && refused.until > this.#now()) throw withRetryAfter(refused.error, refused.until - this.#now());
    const created = newSlot(key, app, kind, tenantKey);
    lru.set(key, created);
    this.#slots.set(key, created);
    return created;
  }
}
