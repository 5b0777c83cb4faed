import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { appFingerprint, slotKey } from '../../src/core/keys.js';
import type { FeishuSim, RunningSimulators } from '../../src/sim/index.js';
import { call, feishuPlatform, spawnServer, startHub, type Answer, type RunningHub } from '../helpers/hubs.js';
import { deletePrefix, dumpPrefix, sharedRedisUrl, startRedisServer, uniquePrefix, type OwnRedis } from '../helpers/redis.js';
import { eventually, sleep } from '../helpers/stack.js';

const TENANT = '/tokens/tenant_access_token';
const CALLS = 'tenant_access_token/internal';

/** Total commands Redis has executed (INFO commandstats), less the INFO calls themselves. */
async function commandCount(client: Redis): Promise<number> {
  const info = await client.info('commandstats');
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) if (match[1] !== 'info') total += Number(match[2]);
  return total;
}

/** A redis store config; in a child process the key comes from its environment, as in production. */
function redisConfig(url: string, prefix: string, encryptionKey: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { store: { type: 'redis', url, keyPrefix: prefix, encryptionKey, ...extra } };
}

const FROM_ENV = '${STORE_KEY}';

describe('redis store: three instances act as one', () => {
  let sim: FeishuSim;
  let sims: RunningSimulators;
  let apps: Record<string, Record<string, unknown>>;
  let url: string;
  const prefix = uniquePrefix();
  const key = `test-${randomBytes(16).toString('hex')}`;
  const hubs: RunningHub[] = [];
  const storeKey = randomBytes(32).toString('base64');
  before(async () => {
    ({ sim, sims, apps } = await feishuPlatform(3));
    url = await sharedRedisUrl();
    for (let i = 0; i < 3; i++) hubs.push(await startHub({ apps, key, config: redisConfig(url, prefix, storeKey) }));
  });
  after(async () => {
    for (const hub of hubs) await hub.close();
    await sims.close();
    await deletePrefix(url, prefix);
  });

  it('300 concurrent cold requests over 3 instances and 3 apps make one upstream call per app', async () => {
    const results = await Promise.all(Array.from({ length: 300 }, (_, i) => hubs[i % 3]!.call('GET', `/v1/apps/app${Math.floor(i / 3) % 3}${TENANT}`)));
    for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
    for (let app = 0; app < 3; app++) {
      assert.equal(sim.counters.count(CALLS, `cli_app${app}`), 1, `app${app}: upstream calls`);
      const tokens = new Set(results.filter((_, i) => Math.floor(i / 3) % 3 === app).map((r) => r.body.token));
      assert.equal(tokens.size, 1, `app${app}: ${tokens.size} different tokens across instances`);
      assert.ok(sim.isValid([...tokens][0]!));
    }
  });

  it('no token and no secret is readable in Redis', async () => {
    const dump = await dumpPrefix(url, prefix);
    assert.ok(dump.includes(`${prefix}{tok:feishu:cli_app0:`), 'the dump holds the token keys');
    for (let app = 0; app < 3; app++) {
      const token = (await hubs[0]!.call('GET', `/v1/apps/app${app}${TENANT}`)).body.token as string;
      assert.ok(!dump.includes(token.slice(2)), `app${app}'s token is readable in Redis`);
      assert.ok(!dump.includes(apps[`app${app}`]!.appSecret as string));
    }
    await hubs[0]!.hub.broker.state('app0').set('refresh_token', 'REFRESHTOKENVALUE');
    assert.ok(!(await dumpPrefix(url, prefix)).includes('REFRESHTOKENVALUE'));
    assert.equal(await hubs[1]!.hub.broker.state('app0').get('refresh_token'), 'REFRESHTOKENVALUE', 'state is shared');
  });

  it('an invalidation on one instance reaches every instance within a second, and the replaced token is never served again', async () => {
    const old = (await hubs[0]!.call('GET', `/v1/apps/app0${TENANT}`)).body.token as string;
    for (const hub of hubs) assert.equal((await hub.call('GET', `/v1/apps/app0${TENANT}`)).body.token, old);
    sim.revoke(old);
    const before = sim.counters.count(CALLS);
    const fresh = (await hubs[0]!.call('POST', `/v1/apps/app0${TENANT}/invalidate`, { token: old })).body.token as string;
    const replacedAt = Date.now();
    assert.notEqual(fresh, old);
    for (const hub of hubs.slice(1)) {
      await eventually(async () => (await hub.call('GET', `/v1/apps/app0${TENANT}`)).body.token === fresh, 1_000, 10);
    }
    assert.ok(Date.now() - replacedAt < 1_000);
    const served = await Promise.all(Array.from({ length: 150 }, (_, i) => hubs[i % 3]!.call('GET', `/v1/apps/app0${TENANT}`)));
    for (const r of served) assert.equal(r.body.token, fresh);
    // Reports of the old token from the other instances find it replaced: nobody calls the platform again.
    const reports = await Promise.all(hubs.map((hub) => hub.call('POST', `/v1/apps/app0${TENANT}/invalidate`, { token: old })));
    for (const r of reports) assert.equal(r.body.token, fresh);
    assert.equal(sim.counters.count(CALLS) - before, 1);
  });
});

describe('redis store: Redis killed and restarted', () => {
  let sim: FeishuSim;
  let sims: RunningSimulators;
  let apps: Record<string, Record<string, unknown>>;
  let redis: OwnRedis;
  const prefix = uniquePrefix();
  const key = `test-${randomBytes(16).toString('hex')}`;
  const hubs: RunningHub[] = [];
  const storeKey = randomBytes(32).toString('hex');
  before(async () => {
    ({ sim, sims, apps } = await feishuPlatform(4));
    redis = await startRedisServer();
    for (let i = 0; i < 3; i++) hubs.push(await startHub({ apps, key, config: redisConfig(redis.url, prefix, storeKey) }));
  });
  after(async () => {
    for (const hub of hubs) await hub.close();
    await sims.close();
    await redis.stop();
  });

  it('a cached read costs no Redis round trip', async () => {
    for (const hub of hubs) for (let app = 0; app < 2; app++) await hub.call('GET', `/v1/apps/app${app}${TENANT}`);
    const client = new Redis(redis.url);
    try {
      const before = await commandCount(client);
      await Promise.all(Array.from({ length: 300 }, (_, i) => hubs[i % 3]!.call('GET', `/v1/apps/app${i % 2}${TENANT}`)));
      assert.equal((await commandCount(client)) - before, 0);
    } finally {
      client.disconnect();
    }
  });

  it('while Redis is down every request for a valid token succeeds, nothing crashes, and the store recovers by itself', async () => {
    const tokens = await Promise.all([0, 1].map(async (app) => (await hubs[0]!.call('GET', `/v1/apps/app${app}${TENANT}`)).body.token as string));
    await redis.kill('SIGKILL');
    const failures: Answer[] = [];
    const until = Date.now() + 2_500;
    let served = 0;
    await Promise.all(
      Array.from({ length: 6 }, async (_, w) => {
        while (Date.now() < until) {
          const app = w % 2;
          const res = await hubs[w % 3]!.call('GET', `/v1/apps/app${app}${TENANT}`);
          if (res.status !== 200 || res.body.token !== tokens[app]) failures.push(res);
          served++;
          await sleep(10);
        }
      }),
    );
    assert.deepEqual(failures, []);
    assert.ok(served > 100, `${served} requests`);
    for (const hub of hubs) assert.equal((await hub.call('GET', '/readyz')).status, 503);
    // A token nobody holds yet: fetched without the store (the platform is up).
    const cold = await hubs[1]!.call('GET', `/v1/apps/app2${TENANT}`);
    assert.equal(cold.status, 200, JSON.stringify(cold.body));

    await redis.start();
    for (const hub of hubs) await eventually(async () => (await hub.call('GET', '/readyz')).status === 200, 10_000, 50);
    // Pub/sub is back: an invalidation on one instance reaches the others.
    await eventually(async () => {
      const old = (await hubs[0]!.call('GET', `/v1/apps/app0${TENANT}`)).body.token as string;
      sim.revoke(old);
      const fresh = (await hubs[0]!.call('POST', `/v1/apps/app0${TENANT}/invalidate`, { token: old })).body.token as string;
      const started = Date.now();
      for (const hub of hubs.slice(1)) {
        while ((await hub.call('GET', `/v1/apps/app0${TENANT}`)).body.token !== fresh) {
          if (Date.now() - started > 1_000) return false;
          await sleep(10);
        }
      }
      return true;
    }, 15_000, 100);
    // And the lease is back: concurrent cold requests on every instance make one call.
    const before = sim.counters.count(CALLS, 'cli_app3');
    const results = await Promise.all(Array.from({ length: 90 }, (_, i) => hubs[i % 3]!.call('GET', `/v1/apps/app3${TENANT}`)));
    for (const r of results) assert.equal(r.status, 200);
    assert.equal(sim.counters.count(CALLS, 'cli_app3') - before, 1);
  });
});

describe('redis store: real processes', () => {
  let sim: FeishuSim;
  let sims: RunningSimulators;
  let apps: Record<string, Record<string, unknown>>;
  let url: string;
  let work: string;
  const key = `test-${randomBytes(16).toString('hex')}`;
  const env = { STORE_KEY: randomBytes(32).toString('hex') };
  before(async () => {
    url = await sharedRedisUrl();
    work = await mkdtemp(join(tmpdir(), 'tokenhub-redis-'));
  });
  after(async () => {
    await sims?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('3 tokenhub processes × 300 cold requests: one upstream call per app', async () => {
    ({ sim, sims, apps } = await feishuPlatform(3));
    const prefix = uniquePrefix();
    const config = { ...redisConfig(url, prefix, FROM_ENV), clients: [{ name: 'test', key, apps: ['*'] }], apps };
    const servers = await Promise.all([0, 1, 2].map((i) => spawnServer(work, `cold${i}`, config, env)));
    try {
      const results = await Promise.all(Array.from({ length: 300 }, (_, i) => call(servers[i % 3]!.url, key, 'GET', `/v1/apps/app${Math.floor(i / 3) % 3}${TENANT}`)));
      for (const r of results) assert.equal(r.status, 200, JSON.stringify(r.body));
      for (let app = 0; app < 3; app++) assert.equal(sim.counters.count(CALLS, `cli_app${app}`), 1, `app${app}`);
    } finally {
      await Promise.all(servers.map((s) => s.child.kill('SIGTERM')));
      await sims.close();
      await deletePrefix(url, prefix);
    }
  });

  it('rotation across 3 instances, one SIGKILLed while it holds the lease: no invalid token served, the others wait no longer than the lease, one call per rotation', async () => {
    // Tokens of 12 s; the platform hands out a new one when less than 5 s is left.
    ({ sim, sims, apps } = await feishuPlatform(1, { tokenLifetimeSeconds: 12, sameTokenWindowSeconds: 5 }));
    const prefix = uniquePrefix();
    const leaseMs = 2_000;
    const app: Record<string, unknown> = { ...apps.app0!, minTtlSeconds: 1 };
    // The child refreshes first (4 s ahead), so it is the one holding the lease when killed; the others 2 s ahead.
    const child = await spawnServer(work, 'rotating', { ...redisConfig(url, prefix, FROM_ENV, { leaseMs }), clients: [{ name: 'test', key, apps: ['*'] }], apps: { app0: { ...app, refreshAheadSeconds: 4 } } }, env);
    const local = [
      await startHub({ apps: { app0: { ...app, refreshAheadSeconds: 2 } }, key, config: redisConfig(url, prefix, env.STORE_KEY, { leaseMs }) }),
      await startHub({ apps: { app0: { ...app, refreshAheadSeconds: 2 } }, key, config: redisConfig(url, prefix, env.STORE_KEY, { leaseMs }) }),
    ];
    const lockKey = `${prefix}{${slotKey(appFingerprint('feishu', app.appId as string, app.appSecret as string), 'tenant_access_token', undefined)}}:lock`;
    const watcher = new Redis(url);
    const seen = new Set<string>();
    const invalid: string[] = [];
    let childAlive = true;
    let stop = false;
    const check = (res: Answer, who: string): void => {
      if (res.status !== 200) return void invalid.push(`${who}: ${res.status} ${JSON.stringify(res.body)}`);
      if (!sim.isValid(res.body.token)) invalid.push(`${who}: an invalid token`);
      if (Date.parse(res.body.expiresAt) <= Date.now()) invalid.push(`${who}: an expired token`);
      seen.add(res.body.token);
    };
    const load = (who: string, get: () => Promise<Answer>, alive: () => boolean): Promise<void> =>
      (async () => {
        while (!stop && alive()) {
          const res = await get().catch((err: Error) => ({ status: 0, headers: {}, body: err.message }) as Answer);
          if (alive()) check(res, who);
          await sleep(10);
        }
      })();
    try {
      const workers = [
        ...local.flatMap((hub, i) => [0, 1].map(() => load(`local${i}`, () => hub.call('GET', `/v1/apps/app0${TENANT}`), () => true))),
        load('child', () => call(child.url, key, 'GET', `/v1/apps/app0${TENANT}`), () => childAlive),
      ];
      // First rotation: the child refreshes, every instance adopts.
      await eventually(() => seen.size >= 2, 20_000, 50);
      const callsBefore = sim.counters.count(CALLS);
      // Second rotation: the child takes the lease and calls a slow platform; it dies mid-call.
      sim.faults.set('slow', { delayMs: 1_500 });
      let lockedAt = 0;
      await eventually(async () => {
        const owner = await watcher.get(lockKey);
        if (owner === null || !owner.includes(`:${child.child.process.pid}:`)) return false;
        lockedAt = Date.now();
        return sim.counters.count(CALLS) > callsBefore;
      }, 20_000, 10);
      childAlive = false;
      await child.child.kill('SIGKILL');
      sim.faults.set('none');
      const tokensAtKill = seen.size;
      // The others take over once the dead holder's lease ends, not later.
      await eventually(() => seen.size > tokensAtKill, 10_000, 10);
      assert.ok(Date.now() - lockedAt < leaseMs + 2_500, `took over ${Date.now() - lockedAt} ms after the lock was taken`);
      // Third rotation, by the survivors alone.
      await eventually(() => seen.size > tokensAtKill + 1, 20_000, 50);
      stop = true;
      await Promise.all(workers);
      assert.deepEqual(invalid, []);
      // One call per token served, plus the one the killed instance made and never wrote.
      assert.equal(sim.counters.count(CALLS), seen.size + 1, `${sim.counters.count(CALLS)} calls for ${seen.size} tokens`);
    } finally {
      stop = true;
      childAlive = false;
      await child.child.kill('SIGKILL');
      for (const hub of local) await hub.close();
      watcher.disconnect();
      await sims.close();
      await deletePrefix(url, prefix);
    }
  });
});
