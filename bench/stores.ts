/**
 * Stores benchmark: what the store costs a caller.
 *
 * 1. Cached reads through HTTP (GET a token that is cached) with the memory, file and redis
 *    stores in the same run, as requests per second, latency, and the ratio to memory; and Redis
 *    commands per cached read, counted with INFO commandstats (expected: 0, the broker answers
 *    from its local copy).
 * 2. The store operations of a cache miss (getToken, acquire + putToken + release), one at a time.
 *
 * Redis: a private redis-server on a free port (so that nobody else's commands are counted),
 * or `TOKENHUB_BENCH_REDIS=redis://…`. Run: `npm run bench:stores` (options: `--seconds 5
 * --connections 32 --rounds 2`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { validateConfig } from '../src/config.js';
import type { StoredToken, TokenStore } from '../src/core/types.js';
import { createHub, type Hub } from '../src/hub.js';
import { createLogger } from '../src/logger.js';
import { FeishuSim, startSimulators } from '../src/sim/index.js';
import { FileStore } from '../src/stores/file.js';
import { MemoryStore } from '../src/stores/memory.js';
import { RedisStore } from '../src/stores/redis.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '2' },
    ops: { type: 'string', default: '2000' },
  },
});
const SECONDS = Number(args.seconds);
const CONNECTIONS = Number(args.connections);
const ROUNDS = Number(args.rounds);
const OPS = Number(args.ops);
const PATH = '/v1/apps/app0/tokens/tenant_access_token';

interface LoadResult {
  requests: number;
  errors: number;
  rps: number;
  p50: number;
  p99: number;
}

/** Closed-loop load: `connections` workers each sending the next request when the last one answered. */
async function load(url: string, key: string, seconds: number, connections: number): Promise<LoadResult> {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        const res = await pool.request({ method: 'GET', path: PATH, headers: { authorization: `Bearer ${key}` } });
        await res.body.dump();
        if (res.statusCode !== 200) errors++;
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { requests: latencies.length, errors, rps: latencies.length / elapsed, p50: at(0.5), p99: at(0.99) };
}

async function commandCount(client: Redis): Promise<number> {
  const info = await client.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)) if (m[1] !== 'info') total += Number(m[2]);
  return total;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

async function privateRedis(): Promise<{ url: string; stop(): void }> {
  const given = process.env.TOKENHUB_BENCH_REDIS;
  if (given) return { url: given, stop() {} };
  const port = await freePort();
  const child: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    try {
      await probe.connect();
      probe.disconnect();
      break;
    } catch (err) {
      probe.disconnect();
      if (i > 100) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { url, stop: () => void child.kill('SIGKILL') };
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

async function main(): Promise<void> {
  const redis = await privateRedis();
  const prefix = `tokenhub-bench:${randomBytes(4).toString('hex')}:`;
  const dir = await mkdtemp(join(tmpdir(), 'tokenhub-bench-'));
  const app = { appId: 'cli_bench', appSecret: `secret-${randomBytes(8).toString('hex')}` };
  const sims = await startSimulators({ sims: [new FeishuSim({ apps: [app] })] });
  const key = `bench-${randomBytes(16).toString('hex')}`;
  const counter = new Redis(redis.url);
  const encryptionKey = { current: randomBytes(32), previous: [] };

  const stores: { name: string; make: () => TokenStore }[] = [
    { name: 'memory', make: () => new MemoryStore() },
    { name: 'file', make: () => new FileStore({ path: join(dir, 'data'), encryption: encryptionKey }) },
    { name: 'redis', make: () => new RedisStore({ url: redis.url, keyPrefix: prefix, encryption: encryptionKey }) },
  ];
  const hubs = new Map<string, { hub: Hub; url: string }>();
  try {
    for (const { name, make } of stores) {
      const config = validateConfig({
        listen: { host: '127.0.0.1', port: 0 },
        log: { level: 'warn' },
        clients: [{ name: 'bench', key, apps: ['*'] }],
        apps: { app0: { platform: 'feishu', ...app, baseUrl: sims.baseUrl('feishu') } },
      });
      const hub = createHub(config, { store: make(), logger: createLogger('warn') });
      const url = await hub.listen();
      await load(url, key, 0.5, 4); // warm: the token is fetched and cached, the JIT is warm
      hubs.set(name, { hub, url });
    }

    // Interleaved rounds, so that a noisy neighbour on a shared machine hurts every store alike; best round kept.
    const best = new Map<string, LoadResult>();
    let redisCommands = 0;
    let redisRequests = 0;
    for (let round = 0; round < ROUNDS; round++) {
      for (const { name } of stores) {
        const before = await commandCount(counter);
        const result = await load(hubs.get(name)!.url, key, SECONDS, CONNECTIONS);
        const commands = (await commandCount(counter)) - before;
        if (name === 'redis') {
          redisCommands += commands;
          redisRequests += result.requests;
        }
        if (!best.has(name) || best.get(name)!.rps < result.rps) best.set(name, result);
      }
    }

    const memory = best.get('memory')!;
    const lines = [
      `Cached reads over HTTP (GET ${PATH}): ${CONNECTIONS} connections, ${SECONDS} s, best of ${ROUNDS} interleaved rounds; Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model.trim()}).`,
      '',
      '| store | requests/s | vs memory | p50 ms | p99 ms | errors |',
      '|---|---:|---:|---:|---:|---:|',
      ...stores.map(({ name }) => {
        const r = best.get(name)!;
        return `| ${name} | ${fmt(r.rps)} | ${fmt(r.rps / memory.rps, 2)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${r.errors} |`;
      }),
      '',
      `Redis commands per cached read (INFO commandstats delta / requests, every redis round): ${fmt(redisCommands / redisRequests, 4)} (${redisCommands} commands for ${fmt(redisRequests)} requests).`,
      '',
    ];
    console.log(lines.join('\n'));
    for (const { hub } of hubs.values()) await hub.close();
    hubs.clear();

    // What a miss costs in the store: the read, then lease + write + release (versions increase so every write lands).
    const rows: string[] = ['Store operations of a cache miss, one at a time (' + fmt(OPS) + ' each):', '', '| store | getToken µs | acquire + putToken + release µs |', '|---|---:|---:|'];
    for (const { name, make } of stores) {
      const store = make();
      await store.open?.().catch(() => {});
      const k = `tok:bench:${name}`;
      let version = 1_000_000;
      const t: StoredToken = { value: 't-bench', version, expiresAt: Date.now() + 7_200_000, obtainedAt: Date.now() };
      await store.putToken(k, t);
      let t0 = performance.now();
      for (let i = 0; i < OPS; i++) await store.getToken(k);
      const read = ((performance.now() - t0) * 1000) / OPS;
      t0 = performance.now();
      for (let i = 0; i < OPS; i++) {
        const lease = await store.acquire(k, 10_000);
        if (!lease) throw new Error('lease not granted');
        version = Math.max(version + 1, lease.fence);
        await store.putToken(k, { ...t, version });
        await lease.release();
      }
      const write = ((performance.now() - t0) * 1000) / OPS;
      rows.push(`| ${name} | ${fmt(read, 1)} | ${fmt(write, 1)} |`);
      await store.close();
    }
    console.log(rows.join('\n'));
  } finally {
    for (const { hub } of hubs.values()) await hub.close();
    await sims.close();
    counter.disconnect();
    const cleanup = new Redis(redis.url);
    const keys = await cleanup.keys(`${prefix}*`);
    if (keys.length > 0) await cleanup.del(...keys);
    cleanup.disconnect();
    redis.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
