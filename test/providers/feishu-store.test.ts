import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StateAccess } from '../../src/core/types.js';
import { FEISHU_STORE_STATE, FeishuStoreProvider } from '../../src/providers/feishu-store.js';

function memoryState(): StateAccess & { values: Map<string, string> } {
  const values = new Map<string, string>();
  return {
    values,
    get: async (name) => values.get(name),
    set: async (name, value) => void values.set(name, value),
    add: async (name, value) => (values.has(name) ? false : (values.set(name, value), true)),
    delete: async (name) => void values.delete(name),
  };
}

describe('FeishuStoreProvider.health', () => {
  const provider = new FeishuStoreProvider({ platform: 'feishu', appId: 'cli_h', appSecret: 's', verificationToken: 'vt', encryptKey: 'ek', ticketStaleMs: 2 * 3600_000 });
  const NOW = 1_800_000_000_000;

  it("tells the app_ticket's presence and age, stale past the limit, refused when the platform refused it; never the ticket", async () => {
    const state = memoryState();
    const health = (now = NOW) => provider.health({ state, now: () => now });
    assert.deepEqual(await health(), { ticket: { name: 'app_ticket', present: false } });

    state.values.set(FEISHU_STORE_STATE.ticket, JSON.stringify({ ticket: 'secret-ticket', at: NOW - 90_000 }));
    assert.deepEqual(await health(), { ticket: { name: 'app_ticket', present: true, ageSeconds: 90, stale: false } });
    assert.equal((await health(NOW + 2 * 3600_000)).ticket?.stale, true);
    assert.ok(!JSON.stringify(await health()).includes('secret-ticket'));

    state.values.set(FEISHU_STORE_STATE.ticket, JSON.stringify({ ticket: 'secret-ticket', at: NOW - 90_000, refused: true }));
    assert.deepEqual(await health(), { ticket: { name: 'app_ticket', present: false, ageSeconds: 90, stale: false, refused: true } });

    // A bare ticket kept by an older version: there, of unknown age.
    state.values.set(FEISHU_STORE_STATE.ticket, 'bare-ticket');
    assert.deepEqual(await health(), { ticket: { name: 'app_ticket', present: true } });
  });
});
