import type { StateAccess } from '../../core/types.js';

/** The state names of {@link UnsettledCalls}: one note per grant (`grant_call:<grant name>`). */
export const UNSETTLED_CALL_STATE = { prefix: 'grant_call:' } as const;

/** How long a note is kept: longer than any grant goes unused in practice, so a note is not forgotten before it is read. */
export const DEFAULT_UNSETTLED_CALL_TTL_MS = 30 * 24 * 3_600_000;

/**
 * Notes, in the app's durable state, of platform calls that may replace a grant (a WeChat
 * authorizer's refresh, which may hand out a new refresh token and kill the one sent), taken
 * before the call and given back once its answer is stored. A note still there on the next call
 * with the same version of the grant means the answer of the last one was never stored (the
 * process was killed, the store failed after the platform answered): the platform may hold a
 * newer grant than the store, and the one in the store may be dead. The provider then asks the
 * platform for the current one before it sends anything, instead of sending a dead one and
 * taking the platform's refusal for a revoked authorization.
 *
 * @example
 * ```ts
 * const calls = new UnsettledCalls();
 * if (await calls.unsettled(context.state, name, current.version)) refreshToken = await askThePlatform();
 * await calls.begin(context.state, name, current.version);
 * const answer = await refresh(refreshToken);
 * // …the answer stored by compare-and-set, then:
 * await calls.settle(context.state, name);
 * ```
 */
export class UnsettledCalls {
  readonly #ttlMs: number;

  constructor(ttlMs = DEFAULT_UNSETTLED_CALL_TTL_MS) {
    this.#ttlMs = ttlMs;
  }

  /** Whether a call made with version `version` of grant `name` never had its answer stored. */
  async unsettled(state: StateAccess, name: string, version: number): Promise<boolean> {
    return (await state.get(UNSETTLED_CALL_STATE.prefix + name)) === String(version);
  }

  /** Notes a call about to be made with version `version` of grant `name`; resolves once the note is kept. */
  begin(state: StateAccess, name: string, version: number): Promise<void> {
    return state.set(UNSETTLED_CALL_STATE.prefix + name, String(version), this.#ttlMs);
  }

  /** The answer is stored (or there was nothing to store): the note is given back. */
  settle(state: StateAccess, name: string): Promise<void> {
    return state.delete(UNSETTLED_CALL_STATE.prefix + name);
  }
}
