import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { StoreChange } from '../../src/core/types.js';
import { createLogger } from '../../src/logger.js';
import { keyId } from '../../src/stores/crypto.js';
import { RedisStore } from '../../src/stores/redis.js';
import { deletePrefix, dumpPrefix, freePort, redisStore, sharedRedisUrl, startRedisServer, uniquePrefix, type OwnRedis } from '../helpers/redis.js';
import { LogCapture, eventually, sleep } from '../helpers/stack.js';
import { storeConformance } from './conformance.js';

storeConformance({
  name: 'redis',
  shared: true,
  async create() {
    const s = await redisStore();
    return {
      store: s.store,
      async peer() {
        const peer = s.peer();
        await peer.open();
        return peer;
      },
      cleanup: s.cleanup,
    };
  },
});

const token = (version: number, value: string) => ({ value, version, expiresAt: Date.now() + 7_200_000, obtainedAt: Date.now() });

describe('redis store', () => {
  let url: string;
  const prefixes: string[] = [];
  const prefix = (): string => {
    const p = uniquePrefix();
    prefixes.push(p);
    return p;
  };
  before(async () => {
    url = await sharedRedisUrl();
  });
  after(async () => {
    for (const p of prefixes) await deletePrefix(url, p);
  });

  it('fencing: a holder whose lease expired while it fetched cannot overwrite its successor', async () => {
    const keyPrefix = prefix();
    const slow = new RedisStore({ url, keyPrefix, encryption: 'none' });
    const quick = new RedisStore({ url, keyPrefix, encryption: 'none' });
    await Promise.all([slow.open(), quick.open()]);
    try {
      const late = await slow.acquire('tok:a', 200);
      assert.ok(late);
      await sleep(400);
      const next = await quick.acquire('tok:a', 10_000);
      assert.ok(next && next.fence > late.fence);
      await quick.putToken('tok:a', token(next.fence, 't-new'));
      const answer = await slow.putToken('tok:a', token(late.fence, 't-stale'));
      assert.equal(answer.value, 't-new', 'the late write is refused and answered with the winner');
      assert.equal((await quick.getToken('tok:a'))?.value, 't-new');
      await late.release();
      assert.equal(await slow.acquire('tok:a', 10_000), undefined, "the late holder's release freed its successor's lease");
    } finally {
      await Promise.all([slow.close(), quick.close()]);
    }
  });

  it('a quota count is a plain integer at <prefix>{key}:quota, expiring ttlMs after its first use', async () => {
    const keyPrefix = prefix();
    const oldKey = randomBytes(32);
    const store = new RedisStore({ url, keyPrefix, encryption: { current: oldKey, previous: [] } });
    await store.open();
    const raw = new Redis(url);
    try {
      assert.equal(await store.takeQuota('quota:wecom:0f1e2d:jsapi:1900000000000', 400, 3_600_000), 1);
      assert.equal(await store.takeQuota('quota:wecom:0f1e2d:jsapi:1900000000000', 400, 3_600_000), 2);
      const redisKey = `${keyPrefix}{quota:wecom:0f1e2d:jsapi:1900000000000}:quota`;
      assert.equal(await raw.get(redisKey), '2');
      const ttl = await raw.pttl(redisKey);
      assert.ok(ttl > 3_500_000 && ttl <= 3_600_000, `pttl ${ttl}`);
      assert.equal(await store.takeQuota('quota:none', 0, 60_000), undefined);
      assert.equal(await raw.exists(`${keyPrefix}{quota:none}:quota`), 0, 'a refused first take left a key');
      await store.close();
      // A count is no sealed entry: a key rotation, which seals every entry again, passes it by.
      const rotated = new RedisStore({ url, keyPrefix, encryption: { current: randomBytes(32), previous: [oldKey] } });
      await rotated.open();
      assert.equal(await raw.get(redisKey), '2');
      assert.equal(await rotated.takeQuota('quota:wecom:0f1e2d:jsapi:1900000000000', 400, 3_600_000), 3);
      await rotated.close();
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  it('a grant is a hash at <prefix>{key}:grant (v plain, d sealed) without an expiry; a deleted one keeps v alone for a week', async () => {
    const keyPrefix = prefix();
    const store = new RedisStore({ url, keyPrefix, encryption: { current: randomBytes(32), previous: [] } });
    await store.open();
    const raw = new Redis(url);
    try {
      await store.putGrant('grant:wecom:ww_suite:corp:wwcorp1', 'PERMANENTCODE', 0);
      await store.putGrant('grant:wecom:ww_suite:corp:wwcorp1', 'PERMANENTCODE2', 1);
      const redisKey = `${keyPrefix}{grant:wecom:ww_suite:corp:wwcorp1}:grant`;
      const hash = await raw.hgetall(redisKey);
      assert.deepEqual(Object.keys(hash).sort(), ['d', 'v']);
      assert.equal(hash.v, '2');
      assert.match(hash.d!, /^e1:/);
      assert.equal(await raw.pttl(redisKey), -1, 'a grant has an expiry');
      assert.equal(await store.deleteGrant('grant:wecom:ww_suite:corp:wwcorp1'), true);
      assert.deepEqual(await raw.hgetall(redisKey), { v: '2' });
      const ttl = await raw.pttl(redisKey);
      assert.ok(ttl > 6 * 24 * 3600_000 && ttl <= 7 * 24 * 3600_000, `pttl ${ttl}`);
      // Written again: the mark's expiry goes with it.
      assert.deepEqual(await store.putGrant('grant:wecom:ww_suite:corp:wwcorp1', 'AGAIN', 0), { value: 'AGAIN', version: 3 });
      assert.equal(await raw.pttl(redisKey), -1);
    } finally {
      raw.disconnect();
      await store.close();
    }
  });

  it('an unreadable grant is an error, never taken for none: not written over, left out of the list, back with its key', async () => {
    const keyPrefix = prefix();
    const keyA = randomBytes(32);
    const writer = new RedisStore({ url, keyPrefix: `${keyPrefix}a:`, encryption: { current: keyA, previous: [] } });
    const logs = new LogCapture();
    const keyB = randomBytes(32);
    const reader = new RedisStore({ url, keyPrefix, encryption: { current: keyB, previous: [] }, logger: createLogger('info', logs) });
    await Promise.all([writer.open(), reader.open()]);
    const raw = new Redis(url);
    try {
      // A grant sealed with a key the reader lacks, put where the reader looks.
      await writer.putGrant('grant:x:t1', 'PERMANENT', 0);
      const sealed = await raw.hget(`${keyPrefix}a:{grant:x:t1}:grant`, 'd');
      await raw.hset(`${keyPrefix}{grant:x:t1}:grant`, 'v', '4', 'd', sealed!);
      await reader.putGrant('grant:x:t2', 'readable', 0);
      await assert.rejects(reader.getGrant('grant:x:t1'), { code: 'TOKENHUB_STORE_UNAVAILABLE', message: /cannot be read with the configured keys/ });
      assert.equal(await reader.putGrant('grant:x:t1', 'over-it', 0), undefined);
      assert.deepEqual((await reader.listGrants('grant:x:')).map((g) => g.key), ['grant:x:t2']);
      assert.match(logs.text, /"key":"grant:x:t1".*store entry unreadable: a grant, kept as it is/);
      assert.equal(await raw.hget(`${keyPrefix}{grant:x:t1}:grant`, 'd'), sealed, 'the unreadable grant was changed');
      const restored = new RedisStore({ url, keyPrefix, encryption: { current: keyB, previous: [keyA] } });
      await restored.open();
      assert.deepEqual(await restored.getGrant('grant:x:t1'), { value: 'PERMANENT', version: 4 });
      await restored.close();
    } finally {
      raw.disconnect();
      await Promise.all([writer.close(), reader.close()]);
    }
  });

  it('a grant write waits for grantReplicas, and says so when none answer in time', async () => {
    const keyPrefix = prefix();
    const logs = new LogCapture();
    // The test Redis has no replica: WAIT 1 times out.
    const store = new RedisStore({ url, keyPrefix, encryption: 'none', grantReplicas: 1, grantReplicaTimeoutMs: 200, logger: createLogger('info', logs) });
    await store.open();
    try {
      const started = Date.now();
      assert.deepEqual(await store.putGrant('grant:a', 'g', 0), { value: 'g', version: 1 });
      assert.ok(Date.now() - started >= 150, 'the write did not wait for a replica');
      assert.match(logs.text, /a grant was written on the master but not yet copied to its replicas/);
      assert.deepEqual(await store.getGrant('grant:a'), { value: 'g', version: 1 });
    } finally {
      await store.close();
    }
  });

  describe('encryption at rest', () => {
    const keyA = randomBytes(32);
    const keyB = randomBytes(32);

    it('no value is readable in Redis; keys hold no secret', async () => {
      const keyPrefix = prefix();
      const store = new RedisStore({ url, keyPrefix, encryption: { current: keyA, previous: [] } });
      await store.open();
      await store.putToken('tok:feishu:cli_a:0f1e2d:tenant_access_token', token(1, 't-g104TOKENVALUE'));
      await store.setState('state:qingtui:a:refresh_token', 'REFRESHVALUE');
      await store.setState('state:feishu:a:app_ticket', 'TICKETVALUE', 60_000);
      await store.putGrant('grant:wechat:wx_c:authorizer:wx1', 'AUTHORIZERREFRESHVALUE', 0);
      const dump = await dumpPrefix(url, keyPrefix);
      for (const secret of ['TOKENVALUE', 'REFRESHVALUE', 'TICKETVALUE', 'AUTHORIZERREFRESHVALUE', keyA.toString('base64'), keyA.toString('hex')]) assert.ok(!dump.includes(secret), secret);
      assert.equal((await store.getGrant('grant:wechat:wx_c:authorizer:wx1'))?.value, 'AUTHORIZERREFRESHVALUE');
      assert.ok(dump.includes(`e1:${keyId(keyA)}:`));
      assert.equal((await store.getToken('tok:feishu:cli_a:0f1e2d:tenant_access_token'))?.value, 't-g104TOKENVALUE');
      await store.close();
    });

    it('a wrong or missing key stops the start with a clear error; the right one opens', async () => {
      const keyPrefix = prefix();
      const store = new RedisStore({ url, keyPrefix, encryption: { current: keyA, previous: [] } });
      await store.open();
      await store.putToken('tok:a', token(1, 't-a'));
      await store.close();
      const before = await dumpPrefix(url, keyPrefix);
      await assert.rejects(new RedisStore({ url, keyPrefix, encryption: { current: keyB, previous: [] } }).open(), {
        code: 'TOKENHUB_STORE_KEY_MISMATCH',
        message: new RegExp(`store\\.encryptionKey does not open the data in Redis .*key id ${keyId(keyA)}`),
      });
      await assert.rejects(new RedisStore({ url, keyPrefix, encryption: 'none' }).open(), { code: 'TOKENHUB_STORE_KEY_MISMATCH', message: /store\.encryptionKey is not set/ });
      assert.equal(await dumpPrefix(url, keyPrefix), before, 'a refused start changed the data');
    });

    it('rotation: every entry is encrypted again under the new key; plain entries get encrypted', async () => {
      const keyPrefix = prefix();
      const plain = new RedisStore({ url, keyPrefix, encryption: 'none' });
      await plain.open();
      await plain.setState('state:plain', 'PLAINVALUE', 60_000);
      await plain.close();
      const old = new RedisStore({ url, keyPrefix, encryption: { current: keyA, previous: [] } });
      await old.open();
      await old.putToken('tok:a', token(4, 't-a'));
      await old.putGrant('grant:g', 'PERMANENTCODE', 0);
      await old.putGrant('grant:gone', 'DELETED', 0);
      await old.deleteGrant('grant:gone');
      await old.close();
      assert.ok(!(await dumpPrefix(url, keyPrefix)).includes('PLAINVALUE'), 'the plain entry was left in plain text');

      const rotating = new RedisStore({ url, keyPrefix, encryption: { current: keyB, previous: [keyA] } });
      await rotating.open();
      await rotating.close();
      const dump = await dumpPrefix(url, keyPrefix);
      assert.ok(!dump.includes(`e1:${keyId(keyA)}:`), 'something is still under the old key');

      const rotated = new RedisStore({ url, keyPrefix, encryption: { current: keyB, previous: [] } });
      await rotated.open();
      assert.equal((await rotated.getToken('tok:a'))?.value, 't-a');
      assert.equal((await rotated.getToken('tok:a'))?.version, 4);
      assert.deepEqual(await rotated.getGrant('grant:g'), { value: 'PERMANENTCODE', version: 1 });
      assert.equal(await rotated.getState('state:plain'), 'PLAINVALUE');
      const raw = new Redis(url);
      const ttl = await raw.pttl(`${keyPrefix}{state:plain}:state`);
      raw.disconnect();
      assert.ok(ttl > 0 && ttl <= 60_000, 'the rotation dropped the TTL');
      await rotated.close();
    });

    it('an unreadable entry is reported once by key, read as absent, and written over by the next holder', async () => {
      const keyPrefix = prefix();
      const logs = new LogCapture();
      const store = new RedisStore({ url, keyPrefix, encryption: { current: keyA, previous: [] }, logger: createLogger('info', logs) });
      await store.open();
      const raw = new Redis(url);
      try {
        await raw.hset(`${keyPrefix}{tok:damaged}:token`, 'v', '5', 'd', 'e1:zzzz:garbage');
        assert.equal(await store.getToken('tok:damaged'), undefined);
        assert.equal(await store.getToken('tok:damaged'), undefined);
        assert.equal(logs.text.match(/store entry unreadable/g)?.length, 1);
        assert.match(logs.text, /"key":"tok:damaged"/);
        const lease = await store.acquire('tok:damaged', 10_000);
        assert.ok(lease && lease.fence > 5);
        assert.equal((await store.putToken('tok:damaged', token(lease.fence, 't-fresh'))).value, 't-fresh');
        assert.equal((await store.getToken('tok:damaged'))?.value, 't-fresh');
      } finally {
        raw.disconnect();
        await store.close();
      }
    });
  });

  describe('Redis unreachable', () => {
    let redis: OwnRedis;
    before(async () => {
      redis = await startRedisServer();
    });
    after(async () => {
      await redis.stop();
    });

    it('open() fails clearly, naming the address and never the password', async () => {
      const port = await freePort();
      const started = Date.now();
      await assert.rejects(new RedisStore({ url: `redis://:hunter2secret@127.0.0.1:${port}`, encryption: 'none', connectTimeoutMs: 1_000 }).open(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'TOKENHUB_STORE_UNAVAILABLE');
        assert.match(err.message, new RegExp(`cannot reach Redis at redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}`));
        assert.ok(!err.message.includes('hunter2secret'));
        return true;
      });
      assert.ok(Date.now() - started < 5_000);
    });

    it('a quota take while Redis is down fails fast with TOKENHUB_STORE_UNAVAILABLE, and counts again once it is back', async () => {
      const keyPrefix = uniquePrefix();
      const store = new RedisStore({ url: redis.url, keyPrefix, encryption: 'none' });
      await store.open();
      try {
        assert.equal(await store.takeQuota('quota:a', 5, 60_000), 1);
        await redis.kill('SIGKILL');
        await sleep(100);
        for (const attempt of [() => store.takeQuota('quota:a', 5, 60_000), () => store.quotaUsed('quota:a')]) {
          const started = Date.now();
          await assert.rejects(attempt(), (err: Error & { code?: string; cause?: unknown }) => {
            assert.equal(err.code, 'TOKENHUB_STORE_UNAVAILABLE');
            assert.ok(err.cause instanceof Error, 'the Redis error is its cause');
            return true;
          });
          assert.ok(Date.now() - started < 500, `a take took ${Date.now() - started} ms to fail`);
        }
        await redis.start();
        await eventually(async () => store.ping().then(() => true, () => false), 10_000, 50);
        // The data went with the server: a new window.
        assert.equal(await store.takeQuota('quota:a', 5, 60_000), 1);
      } finally {
        await store.close();
      }
    });

    it('commands fail fast while Redis is down; the store reconnects by itself and announces the tokens it uses again', async () => {
      const keyPrefix = uniquePrefix();
      const logs = new LogCapture();
      const store = new RedisStore({ url: redis.url, keyPrefix, encryption: 'none', logger: createLogger('info', logs) });
      const other = new RedisStore({ url: redis.url, keyPrefix, encryption: 'none' });
      await Promise.all([store.open(), other.open()]);
      const changes: StoreChange[] = [];
      store.subscribe((c) => changes.push(c));
      try {
        await store.getToken('tok:used');
        await redis.kill('SIGKILL');
        await sleep(100);
        for (const attempt of [() => store.getToken('tok:used'), () => store.acquire('tok:used', 1_000), () => store.ping(), () => store.putToken('tok:used', token(1, 't'))]) {
          const started = Date.now();
          await assert.rejects(attempt());
          assert.ok(Date.now() - started < 500, `a command took ${Date.now() - started} ms to fail`);
        }
        const started = Date.now();
        await store.waitForChange('tok:used', 10_000);
        assert.ok(Date.now() - started < 500, 'a waiter waited for a message that cannot come');
        assert.match(logs.text, /redis unreachable: serving local copies, reconnecting/);

        await redis.start();
        await eventually(async () => store.ping().then(() => true, () => false), 10_000, 50);
        // The other instance's client reconnects on its own schedule: wait for it before it writes.
        await eventually(async () => other.ping().then(() => true, () => false), 10_000, 50);
        // Changes made while it was away went unheard: it announces the tokens it uses so the broker reads them again.
        await eventually(() => changes.some((c) => c.key === 'tok:used'), 5_000, 20);
        assert.match(logs.text, /redis reachable again/);
        // And hears changes again.
        changes.length = 0;
        await eventually(async () => {
          await other.putToken('tok:used', token(Date.now(), 't-after'));
          await sleep(50);
          return changes.length > 0;
        }, 5_000, 50);
      } finally {
        await Promise.all([store.close(), other.close()]);
      }
    });
  });
});
