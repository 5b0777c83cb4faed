import { TokenHubError } from '../../core/errors.js';
import type { GrantAccess } from '../../core/types.js';

/**
 * The grant that says an app's grants are kept in this store: written with the first grant,
 * never deleted by tokenhub (not even with the last authorization), backed up and restored with
 * the others. A store without it has never held the app's grants, or lost them.
 */
export const GRANTS_KEPT_MARKER = 'grants_kept';

/**
 * Tells a tenant that has no grant from grants the store lost. A grant is irreplaceable, so a
 * store that lost them (a flushed Redis, one restarted without persistence, a new data
 * directory) must not be taken for tenants that never authorized the app: once this process has
 * seen the app's grants (a tenant's token fetched, the authorizations listed, the app's health
 * read by `/metrics` or `/v1/apps`), their marker gone from the store means they were lost, and so
 * does a missing grant of a tenant this process had a token of: a tenant's missing grant is then
 * `TOKENHUB_GRANTS_LOST` (503, an alert), not `TOKENHUB_GRANT_NOT_FOUND`. A process started after
 * the loss cannot tell it from a new store: its `TOKENHUB_GRANT_NOT_FOUND` says both.
 *
 * @example
 * ```ts
 * const ledger = new GrantLedger('wechat');
 * const current = await context.grants.get(name);
 * if (current === undefined) throw await ledger.missing(context.grants, `authorizer ${appid}`);
 * await ledger.kept(context.grants);
 * ```
 */
export class GrantLedger {
  readonly #platform: string;
  /** This process saw the marker (or wrote it). */
  #seen = false;

  constructor(platform: string) {
    this.#platform = platform;
  }

  /** The app keeps grants (one was read or written): the marker is made sure of, once per process. */
  async kept(grants: GrantAccess): Promise<void> {
    if (this.#seen) return;
    // Put only where none is: a second instance's put finds the first's and changes nothing.
    if ((await grants.get(GRANTS_KEPT_MARKER)) === undefined) await grants.put(GRANTS_KEPT_MARKER, '1', 0);
    this.#seen = true;
  }

  /** Reads the marker, for a process to know the app's grants were kept (a read only: for the app's health). */
  async observe(grants: GrantAccess): Promise<void> {
    if (!this.#seen && (await grants.get(GRANTS_KEPT_MARKER)) !== undefined) this.#seen = true;
  }

  /**
   * The error for a tenant whose grant is not in the store; `tenant` names it ("authorizer wx…",
   * "corp ww…"); `hadToken`: this process held a token of it (a refresh or a report, not a cold fetch).
   */
  async missing(grants: GrantAccess, tenant: string, hadToken = false): Promise<TokenHubError> {
    if (await this.#lost(grants, hadToken)) return this.#lostError(`the grant of ${tenant} cannot be used`);
    const store = this.#seen ? '' : ' (if no grant of this app is kept at all although tenants authorized it, the store lost them: restore them with `tokenhub grants import`)';
    return new TokenHubError('TOKENHUB_GRANT_NOT_FOUND', `no authorization of ${tenant} is kept: it never authorized the app, or cancelled it${store}`, { platform: this.#platform });
  }

  /** Throws `TOKENHUB_GRANTS_LOST` when the store lost the app's grants; for a listing that came back empty. */
  async assertNotLost(grants: GrantAccess): Promise<void> {
    if (await this.#lost(grants)) throw this.#lostError('the authorizations cannot be listed');
  }

  async #lost(grants: GrantAccess, hadToken = false): Promise<boolean> {
    const marker = await grants.get(GRANTS_KEPT_MARKER);
    if (marker !== undefined) this.#seen = true;
    return marker === undefined && (this.#seen || hadToken);
  }

  #lostError(what: string): TokenHubError {
    return new TokenHubError(
      'TOKENHUB_GRANTS_LOST',
      `the app's grants are gone from the store, which held them before (a flushed Redis, a new data directory): ${what}. Restore them from a backup with \`tokenhub grants import\`; tenants not in it must authorize again`,
      { platform: this.#platform, retryAfterSeconds: 60 },
    );
  }
}
