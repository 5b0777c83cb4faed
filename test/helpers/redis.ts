import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { RedisStore, type RedisStoreOptions } from '../../src/stores/redis.js';
import { sleep } from './stack.js';

/** A free TCP port on loopback (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** A redis-server of our own, for tests that kill or restart it. */
export interface OwnRedis {
  readonly port: number;
  readonly url: string;
  /** Kills it (SIGKILL by default): its data are gone, as with `--save '' --appendonly no`. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedisServer(extraArgs: string[] = [], port?: number): Promise<OwnRedis> {
  const p = port ?? (await freePort());
  let child: ChildProcess | undefined;
  const own: OwnRedis = {
    port: p,
    url: `redis://127.0.0.1:${p}`,
    async kill(signal = 'SIGKILL') {
      const c = child;
      child = undefined;
      if (!c || c.exitCode !== null) return;
      const exited = new Promise((r) => c.once('exit', r));
      c.kill(signal);
      await exited;
    },
    async start() {
      child = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs], { stdio: 'ignore' });
      await waitForRedis(own.url);
    },
    async stop() {
      await own.kill('SIGTERM');
    },
  };
  await own.start();
  return own;
}

export async function waitForRedis(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // No ready check (INFO): the PING below is the check, and a user may be allowed PING only.
    const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false, enableReadyCheck: false });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.ping();
      client.disconnect();
      return;
    } catch (err) {
      client.disconnect();
      if (Date.now() > deadline) throw err;
      await sleep(50);
    }
  }
}

let shared: Promise<string> | undefined;

/**
 * The Redis the tests share: `TOKENHUB_TEST_REDIS`, else the system one on 127.0.0.1:6379
 * (what `.ci/run` starts), else one started for this test run.
 */
export function sharedRedisUrl(): Promise<string> {
  shared ??= (async () => {
    const url = process.env.TOKENHUB_TEST_REDIS ?? 'redis://127.0.0.1:6379';
    try {
      await waitForRedis(url, 500);
      return url;
    } catch {
      const own = await startRedisServer();
      process.once('exit', () => void own.kill());
      return own.url;
    }
  })();
  return shared;
}

/** A key prefix no other test uses. */
export function uniquePrefix(): string {
  return `tokenhub-test:${randomBytes(6).toString('hex')}:`;
}

/** Deletes every key under `prefix`. */
export async function deletePrefix(url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}

/** Every string value stored under `prefix` (hash fields included), for grepping for secrets. */
export async function dumpPrefix(url: string, prefix: string): Promise<string> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  const out: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await client.type(key);
        out.push(key);
        if (type === 'string') out.push((await client.get(key)) ?? '');
        else if (type === 'hash') out.push(JSON.stringify(await client.hgetall(key)));
      }
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return out.join('\n');
}

/** A RedisStore on the shared Redis under a fresh prefix, with its clean-up. */
export async function redisStore(options: Partial<RedisStoreOptions> = {}): Promise<{ store: RedisStore; url: string; prefix: string; peer(): RedisStore; cleanup(): Promise<void> }> {
  const url = options.url ?? (await sharedRedisUrl());
  const prefix = options.keyPrefix ?? uniquePrefix();
  const made: RedisStore[] = [];
  const make = (): RedisStore => {
    const s = new RedisStore({ encryption: 'none', ...options, url, keyPrefix: prefix });
    made.push(s);
    return s;
  };
  return {
    store: make(),
    url,
    prefix,
    peer: make,
    async cleanup() {
      await Promise.all(made.map((s) => s.close()));
      await deletePrefix(url, prefix);
    },
  };
}

/** Runs a command to its end; rejects with its output when it fails. */
function run(command: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${out}`))));
  });
}

/** A Redis Cluster of `masters` nodes on loopback, no replicas, each node in its own directory. */
export async function startRedisCluster(dir: string, masters = 3): Promise<{ nodes: { host: string; port: number }[]; stop(): Promise<void> }> {
  const servers: OwnRedis[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      servers.push(await startRedisServer(['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir, '--cluster-node-timeout', '2000'], port));
    }
    await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    // The slots are assigned; wait until every node says the cluster is ok.
    for (const s of servers) {
      const deadline = Date.now() + 15_000;
      while (!(await run('redis-cli', ['-p', String(s.port), 'cluster', 'info'])).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('the cluster did not come up');
        await sleep(100);
      }
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  return {
    nodes: servers.map((s) => ({ host: '127.0.0.1', port: s.port })),
    stop: async () => void (await Promise.all(servers.map((s) => s.stop()))),
  };
}

/** A master, a replica and one sentinel watching them (quorum 1, quick failover). */
export async function startRedisSentinel(dir: string, name = 'tokenhub-test'): Promise<{ master: OwnRedis; replica: OwnRedis; sentinel: { host: string; port: number }; name: string; stop(): Promise<void> }> {
  const master = await startRedisServer(['--dir', dir]);
  const replica = await startRedisServer(['--dir', dir, '--replicaof', '127.0.0.1', String(master.port)]);
  const port = await freePort();
  const conf = `${dir}/sentinel-${port}.conf`;
  const { writeFile } = await import('node:fs/promises');
  await writeFile(
    conf,
    [`port ${port}`, 'bind 127.0.0.1', `dir ${dir}`, `sentinel monitor ${name} 127.0.0.1 ${master.port} 1`, `sentinel down-after-milliseconds ${name} 1000`, `sentinel failover-timeout ${name} 5000`, ''].join('\n'),
  );
  const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
  await waitForRedis(`redis://127.0.0.1:${port}`);
  // Until the sentinel has seen the replica, a failover has nowhere to go.
  const deadline = Date.now() + 15_000;
  while (!/slave0:.*state=online/.test(await run('redis-cli', ['-p', String(master.port), 'info', 'replication']))) {
    if (Date.now() > deadline) throw new Error('the replica did not come up');
    await sleep(100);
  }
  return {
    master,
    replica,
    sentinel: { host: '127.0.0.1', port },
    name,
    async stop() {
      sentinel.kill('SIGKILL');
      await Promise.all([master.stop(), replica.stop()]);
    },
  };
}
