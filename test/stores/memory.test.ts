import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MemoryStore } from '../../src/stores/memory.js';
import { TOKEN_RETENTION_MS } from '../../src/stores/retention.js';
import { sleep } from '../helpers/stack.js';
import { storeConformance } from './conformance.js';

storeConformance({
  name: 'memory',
  shared: false,
  async create() {
    const store = new MemoryStore();
    return { store, cleanup: () => store.close() };
  },
  async createWithClock(now) {
    const store = new MemoryStore({ now });
    return { store, cleanup: () => store.close() };
  },
});

describe('memory store: bounded', () => {
  it('a periodic sweep drops tokens past expiry + retention that nobody reads, expired state and expired quota counts', async () => {
    let clock = 1_900_000_000_000;
    const store = new MemoryStore({ now: () => clock, sweepIntervalMs: 20 });
    try {
      for (let i = 0; i < 50; i++) await store.putToken(`tok:tenant${i}`, { value: `t-${i}`, version: 1, expiresAt: clock + 7_200_000, obtainedAt: clock });
      await store.putToken('tok:busy', { value: 't-busy', version: 1, expiresAt: clock + 2 * TOKEN_RETENTION_MS, obtainedAt: clock });
      await store.setState('state:marker', 'x', 1_000);
      for (let i = 0; i < 50; i++) await store.takeQuota(`quota:tenant${i}:window`, 10, 3_600_000);
      clock += 7_200_000 + TOKEN_RETENTION_MS;
      await sleep(100);
      // Nothing was read: only the sweep can have dropped them.
      assert.deepEqual(store.size, { tokens: 1, state: 0, quotas: 0 });
      assert.equal((await store.getToken('tok:busy'))?.value, 't-busy');
    } finally {
      await store.close();
    }
  });
});
