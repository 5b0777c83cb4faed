import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { validateConfig, type LoadedConfig } from '../../src/config.js';
import type { TokenStore } from '../../src/core/types.js';
import { createHub, type Hub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { FeishuSim, startSimulators, type RunningSimulators } from '../../src/sim/index.js';
import { runTs, type Child } from './child.js';
import { LogCapture } from './stack.js';

const agent = new Agent({ connections: 512, keepAliveTimeout: 10_000 });

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

/** A request to a tokenhub at `url` with client key `key`. */
export async function call(url: string, key: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(url + path, { method: method as 'GET', headers, dispatcher: agent, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await res.body.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.statusCode, headers: res.headers, body: parsed };
}

/** Feishu apps on one simulator, as the `apps` of a config. */
export async function feishuPlatform(n: number, options: { tokenLifetimeSeconds?: number; sameTokenWindowSeconds?: number } = {}): Promise<{
  sim: FeishuSim;
  sims: RunningSimulators;
  apps: Record<string, Record<string, unknown>>;
}> {
  const creds = Array.from({ length: n }, (_, i) => ({ appId: `cli_app${i}`, appSecret: `secret-${i}-${randomBytes(8).toString('hex')}` }));
  const sim = new FeishuSim({ apps: creds, ...options });
  const sims = await startSimulators({ sims: [sim] });
  const apps = Object.fromEntries(creds.map((c, i) => [`app${i}`, { platform: 'feishu', appId: c.appId, appSecret: c.appSecret, baseUrl: sims.baseUrl('feishu') }]));
  return { sim, sims, apps };
}

export interface RunningHub {
  hub: Hub;
  url: string;
  key: string;
  logs: LogCapture;
  call(method: string, path: string, body?: unknown): Promise<Answer>;
  close(): Promise<void>;
}

/** One tokenhub in this process, with its own store (built from `config.store` unless `store` is given). */
export async function startHub(options: { apps: Record<string, Record<string, unknown>>; key: string; config?: Record<string, unknown>; store?: TokenStore }): Promise<RunningHub> {
  const config: LoadedConfig = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    log: { level: 'debug' },
    ...options.config,
    clients: [{ name: 'test', key: options.key, apps: ['*'], reportsPerMinute: 100_000, signaturesPerMinute: 100_000 }],
    apps: options.apps,
  });
  const logs = new LogCapture();
  const hub = createHub(config, { logger: createLogger('debug', logs), ...(options.store ? { store: options.store } : {}) });
  const url = await hub.listen();
  return { hub, url, key: options.key, logs, call: (method, path, body) => call(url, options.key, method, path, body), close: () => hub.close() };
}

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

/** `tokenhub serve` in a child process; resolves once it logged that it is ready (or rejects with its output). */
export async function spawnServer(dir: string, name: string, config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<{ child: Child; url: string }> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, log: { level: 'info' }, ...config }));
  const child = runTs(MAIN, ['serve', '--config', file], env);
  const line = await child.waitFor(/tokenhub ready/, 60_000);
  return { child, url: (JSON.parse(line) as { url: string }).url };
}

/** Starts `tokenhub serve` expecting it to fail; resolves with its exit code and output. */
export async function failingServer(dir: string, name: string, config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, log: { level: 'info' }, ...config }));
  const child = runTs(MAIN, ['serve', '--config', file], env);
  const timer = setTimeout(() => void child.kill(), 60_000);
  const code = await child.exited;
  clearTimeout(timer);
  return { code, output: child.lines.join('\n') };
}
