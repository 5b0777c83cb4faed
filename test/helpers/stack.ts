import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { Agent, request } from 'undici';
import { validateConfig, type LoadedConfig } from '../../src/config.js';
import type { TokenStore } from '../../src/core/types.js';
import { createHub, type Hub, type HubOptions } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { startSimulators, type PlatformSim, type RunningSimulators } from '../../src/sim/index.js';

/** Everything a log line ever said, for asserting that no secret reached it. */
export class LogCapture extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export interface Stack {
  sims: RunningSimulators;
  hub: Hub;
  /** tokenhub's base URL. */
  url: string;
  /** A client key allowed every app. */
  key: string;
  logs: LogCapture;
  config: LoadedConfig;
  /** A request to tokenhub with the client key (unless `key` is given). */
  call(method: string, path: string, options?: { key?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: any }>;
  close(): Promise<void>;
}

export interface StackOptions {
  sims: PlatformSim[];
  /** `apps` of the config; `baseUrl: sim:<platform>` is replaced with that simulator's URL. */
  apps: Record<string, Record<string, unknown>>;
  /** More of the config (clients, store, upstream). */
  config?: Record<string, unknown>;
  store?: TokenStore;
  /** The port of the simulators (to restart them on the same address). */
  simPort?: number;
  /** tokenhub's clock (its broker's and its providers'); give the simulators the same one. */
  now?: () => number;
  /** More options of the hub (alert delivery timings). */
  hub?: Omit<HubOptions, 'logger' | 'store' | 'now'>;
}

const agent = new Agent({ connections: 512, keepAliveTimeout: 10_000 });

/** The simulators and tokenhub on loopback, wired as a user would wire them. */
export async function startStack(options: StackOptions): Promise<Stack> {
  const sims = await startSimulators({ sims: options.sims, ...(options.simPort ? { port: options.simPort } : {}) });
  const key = `test-${randomBytes(16).toString('hex')}`;
  const apps = Object.fromEntries(
    Object.entries(options.apps).map(([id, app]) => {
      const base = app.baseUrl;
      return [id, typeof base === 'string' && base.startsWith('sim:') ? { ...app, baseUrl: sims.baseUrl(base.slice(4)) } : app];
    }),
  );
  const config = validateConfig({
    listen: { host: '127.0.0.1', port: 0 },
    log: { level: 'debug' },
    ...options.config,
    // The test client reports tokens by the hundred on purpose; the report budget is tested with clients of its own.
    clients: [{ name: 'test', key, apps: ['*'], reportsPerMinute: 100_000, signaturesPerMinute: 100_000 }, ...((options.config?.clients as unknown[]) ?? [])],
    apps,
  });
  const logs = new LogCapture();
  const hub = createHub(config, { ...options.hub, logger: createLogger('debug', logs), ...(options.store ? { store: options.store } : {}), ...(options.now ? { now: options.now } : {}) });
  const url = await hub.listen();
  return {
    sims,
    hub,
    url,
    key,
    logs,
    config,
    async call(method, path, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      const k = opts.key === undefined ? key : opts.key;
      if (k !== null) headers.authorization = `Bearer ${k}`;
      let body: string | undefined;
      if (opts.body !== undefined) {
        body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
        headers['content-type'] ??= 'application/json';
      }
      const res = await request(url + path, { method: method as 'GET', headers, dispatcher: agent, ...(body === undefined ? {} : { body }) });
      const text = await res.body.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        /* not JSON: /metrics */
      }
      return { status: res.statusCode, headers: res.headers, body: parsed };
    },
    async close() {
      await hub.close();
      await sims.close();
    },
  };
}

/**
 * Real time moved forward on demand: for the platforms' time-based rules (Qingtui's 2 s between
 * `/v1/token` calls), given to tokenhub and the simulators alike so that a test skips the wait.
 */
export function skewedClock(): { now: () => number; advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => Date.now() + offset,
    advance(ms) {
      offset += ms;
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it is true or `timeoutMs` passes. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, stepMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(stepMs);
  }
}
