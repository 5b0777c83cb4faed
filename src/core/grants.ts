import { TokenHubError } from './errors.js';
import { grantKey } from './keys.js';
import type { GrantAccess, StoredGrant, TokenStore } from './types.js';

/** Lost races `GrantAccess.update` takes before it gives up. */
export const DEFAULT_GRANT_UPDATE_ATTEMPTS = 5;

/**
 * An app's grants in `store`, under the app's grant scope (`grant:<scope>:<name>`), with the
 * read-modify-write of {@link GrantAccess.update}.
 *
 * @example
 * const grants = grantAccess(store, grantScope('wechat', 'wx_component'));
 * const first = await grants.put('authorizer:wx1', '{"refreshToken":"r1"}', 0); // version 1
 * await grants.put('authorizer:wx1', '{"refreshToken":"r2"}', 0); // undefined: one is stored already
 */
export function grantAccess(store: TokenStore, scope: string): GrantAccess {
  const key = (name: string): string => grantKey(scope, name);
  const base = key('');
  const access: GrantAccess = {
    get: (name) => store.getGrant(key(name)),
    put: (name, value, expectedVersion) => store.putGrant(key(name), value, expectedVersion),
    delete: (name, expectedVersion) => store.deleteGrant(key(name), expectedVersion),
    list: async (prefix = '') => (await store.listGrants(key(prefix))).map(({ key: k, grant }) => ({ name: k.slice(base.length), grant })),
    update: (name, change, options) => updateGrant(access, name, change, options?.attempts ?? DEFAULT_GRANT_UPDATE_ATTEMPTS),
  };
  return access;
}

/**
 * Read, change, compare-and-set; on a lost race read again and ask `change` again, so that a
 * platform call inside `change` is made with the winner's value, never with the one it replaced.
 * A write whose outcome the store could not tell (it failed) is read back: if the value is there
 * under the version it would have had, it was made.
 */
async function updateGrant(
  grants: GrantAccess,
  name: string,
  change: (current: StoredGrant | undefined) => Promise<string | undefined> | string | undefined,
  attempts: number,
): Promise<StoredGrant | undefined> {
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const current = await grants.get(name);
    const value = await change(current);
    if (value === undefined) return current;
    const expected = current?.version ?? 0;
    let written: StoredGrant | undefined;
    try {
      written = await grants.put(name, value, expected);
    } catch (err) {
      const after = await grants.get(name).catch(() => undefined);
      if (after !== undefined && after.value === value && after.version === expected + 1) return after;
      throw err;
    }
    if (written !== undefined) return written;
  }
  throw new TokenHubError('TOKENHUB_GRANT_CONFLICT', `the grant ${JSON.stringify(name)} changed under each of ${attempts} updates`);
}
