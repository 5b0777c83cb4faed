import type { TokenStore } from '../core/types.js';

/** The store as the operators' status shows it. */
export interface StoreState {
  /** `memory`, `file` or `redis`. */
  type: string;
  /** It answered the last ping in time. */
  reachable: boolean;
  checkedAt: string;
  /** How long the last ping took, in milliseconds. */
  latencyMs: number;
  /** The last ping that failed, kept after the store recovers (so that a blip is seen). */
  lastError?: { message: string; at: string };
}

export const DEFAULT_STORE_HEALTH_OPTIONS = {
  /** A ping that takes longer counts as a failure. */
  timeoutMs: 1_000,
  /** A result this recent is reused: many console tabs make one ping a second between them. */
  cacheMs: 1_000,
} as const;

/**
 * The store's reachability, by ping: one ping at a time however many ask, each result reused
 * briefly, and the last failure remembered.
 */
export class StoreHealth {
  readonly #store: TokenStore;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  readonly #cacheMs: number;
  #last: StoreState | undefined;
  #lastAt = -Infinity;
  #inflight: Promise<StoreState> | undefined;
  #lastError: { message: string; at: string } | undefined;

  constructor(store: TokenStore, options: { now?: () => number; timeoutMs?: number; cacheMs?: number } = {}) {
    this.#store = store;
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_STORE_HEALTH_OPTIONS.timeoutMs;
    this.#cacheMs = options.cacheMs ?? DEFAULT_STORE_HEALTH_OPTIONS.cacheMs;
  }

  check(): Promise<StoreState> {
    if (this.#last && this.#now() - this.#lastAt < this.#cacheMs) return Promise.resolve(this.#last);
    this.#inflight ??= this.#ping().finally(() => {
      this.#inflight = undefined;
    });
    return this.#inflight;
  }

  async #ping(): Promise<StoreState> {
    const started = this.#now();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.#timeoutMs} ms`)), this.#timeoutMs);
    });
    let reachable = true;
    try {
      await Promise.race([this.#store.ping(), timeout]);
    } catch (err) {
      reachable = false;
      this.#lastError = { message: redact(err instanceof Error ? err.message : String(err)), at: new Date(this.#now()).toISOString() };
    } finally {
      clearTimeout(timer);
    }
    const state: StoreState = { type: this.#store.name, reachable, checkedAt: new Date(this.#now()).toISOString(), latencyMs: this.#now() - started };
    if (this.#lastError) state.lastError = this.#lastError;
    this.#last = state;
    this.#lastAt = this.#now();
    return state;
  }
}

/** A store's error message with any credentials of a URL in it (`redis://user:pass@host`) taken out. */
function redact(message: string): string {
  return message.replace(/\/\/[^/@\s]*@/g, '//…@').slice(0, 300);
}
