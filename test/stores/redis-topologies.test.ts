import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { keyId } from '../../src/stores/crypto.js';
import { RedisStore, type RedisStoreOptions } from '../../src/stores/redis.js';
import { startRedisCluster, startRedisSentinel, uniquePrefix } from '../helpers/redis.js';
import { eventually } from '../helpers/stack.js';
import { storeConformance } from './conformance.js';

const token = (version: number, value: string) => ({ value, version, expiresAt: Date.now() + 7_200_000, obtainedAt: Date.now() });

/** Stores of one topology under a fresh prefix; closing them is the clean-up (the servers go away after the suite). */
function topology(options: () => Omit<RedisStoreOptions, 'keyPrefix' | 'encryption'>) {
  return async () => {
    const keyPrefix = uniquePrefix();
    const made: RedisStore[] = [];
    const make = (): RedisStore => {
      const store = new RedisStore({ ...options(), keyPrefix, encryption: 'none' });
      made.push(store);
      return store;
    };
    return {
      store: make(),
      async peer() {
        const peer = make();
        await peer.open();
        return peer;
      },
      cleanup: async () => void (await Promise.all(made.map((s) => s.close()))),
    };
  };
}

describe('redis store on a Redis Cluster', () => {
  let dir: string;
  let cluster: Awaited<ReturnType<typeof startRedisCluster>>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenhub-cluster-'));
    cluster = await startRedisCluster(dir);
  });
  after(async () => {
    await cluster?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  // Every script touches a token's lock, fence and value at once: without the hash tag these fail with CROSSSLOT.
  storeConformance({ name: 'redis cluster', shared: true, create: topology(() => ({ cluster: cluster.nodes })) });

  it('a key rotation reaches the entries on every node', async () => {
    const keyPrefix = uniquePrefix();
    const keyA = randomBytes(32);
    const keyB = randomBytes(32);
    const first = new RedisStore({ cluster: cluster.nodes, keyPrefix, encryption: { current: keyA, previous: [] } });
    await first.open();
    // Enough keys to land on every node.
    for (let i = 0; i < 30; i++) {
      await first.putToken(`tok:app${i}`, token(1, `t-${i}`));
      await first.setState(`state:app${i}`, `refresh-${i}`);
      await first.putGrant(`grant:app${i}`, `permanent-${i}`, 0);
    }
    await first.close();
    const rotating = new RedisStore({ cluster: cluster.nodes, keyPrefix, encryption: { current: keyB, previous: [keyA] } });
    await rotating.open();
    await rotating.close();
    const rotated = new RedisStore({ cluster: cluster.nodes, keyPrefix, encryption: { current: keyB, previous: [] } });
    await rotated.open();
    for (let i = 0; i < 30; i++) {
      assert.equal((await rotated.getToken(`tok:app${i}`))?.value, `t-${i}`);
      assert.equal(await rotated.getState(`state:app${i}`), `refresh-${i}`);
      assert.deepEqual(await rotated.getGrant(`grant:app${i}`), { value: `permanent-${i}`, version: 1 });
    }
    // The grants of every node, listed.
    assert.equal((await rotated.listGrants('grant:app')).length, 30);
    await rotated.close();
    const client = new Cluster(cluster.nodes);
    try {
      await new Promise((resolve) => client.once('ready', resolve));
      let values = '';
      for (const node of client.nodes('master')) {
        for (const key of await node.keys(`${keyPrefix}*`)) {
          values += (await node.type(key)) === 'hash' ? JSON.stringify(await node.hgetall(key)) : ((await node.get(key)) ?? '');
        }
      }
      assert.ok(values.includes(`e1:${keyId(keyB)}:`));
      assert.ok(!values.includes(`e1:${keyId(keyA)}:`), 'an entry is still under the old key');
      assert.ok(!values.includes('refresh-'));
      assert.ok(!values.includes('permanent-'));
    } finally {
      client.disconnect();
    }
  });
});

describe('redis store behind Redis Sentinel', () => {
  let dir: string;
  let sentinel: Awaited<ReturnType<typeof startRedisSentinel>>;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenhub-sentinel-'));
    sentinel = await startRedisSentinel(dir);
  });
  after(async () => {
    await sentinel?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  storeConformance({ name: 'redis sentinel', shared: true, create: topology(() => ({ sentinels: [sentinel.sentinel], name: sentinel.name })) });

  it('after a failover the store finds the new master by itself and still holds the token', async () => {
    const store = new RedisStore({ sentinels: [sentinel.sentinel], name: sentinel.name, keyPrefix: uniquePrefix(), encryption: 'none' });
    await store.open();
    try {
      await store.putToken('tok:a', token(3, 't-before-failover'));
      await eventually(async () => (await store.getToken('tok:a'))?.value === 't-before-failover');
      // Replication is asynchronous: give it a moment before the master dies.
      await new Promise((r) => setTimeout(r, 300));
      // A grant is answered only once a replica has it: the master may die at once.
      assert.deepEqual(await store.putGrant('grant:a', 'g-before-failover', 0), { value: 'g-before-failover', version: 1 });
      await sentinel.master.kill('SIGKILL');
      await eventually(async () => {
        try {
          await store.putToken('tok:b', token(1, 't-after'));
          return true;
        } catch {
          return false;
        }
      }, 30_000, 200);
      assert.equal((await store.getToken('tok:a'))?.value, 't-before-failover');
      assert.equal((await store.getToken('tok:b'))?.value, 't-after');
      assert.deepEqual(await store.getGrant('grant:a'), { value: 'g-before-failover', version: 1 });
    } finally {
      await store.close();
    }
  });
});
