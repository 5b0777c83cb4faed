// tokenhub at scale, each figure bounded in time (the whole run about 4 minutes on 2 cores):
//   a. 100,000 tenant tokens of one Feishu store app: memory per cached token, event-loop delay
//      while they all come due for refresh, and the most upstream token calls of the app in flight
//      at once, as the simulator saw them;
//   b. 10,000 Feishu custom apps in one config: start time, memory, the cost of warming them all,
//      and a cached read of one of them as a ratio to bare node:http.
// tokenhub and the simulator run in processes of their own, so that neither's CPU or heap counts
// against the other; the load comes from this process.
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { customAppId, storeApp, storeAppId } from './lib/apps.js';
import { callProbe, type LoopDelayFigures, type MemoryFigures } from './lib/probe.js';
import { compare, comparisonTable, startTarget, table, type Target } from './lib/runner.js';
import type { CounterSnapshot } from '../src/sim/index.js';

/** The per-app config of the store app under test. */
const STORE_APP_OPTIONS: Record<string, unknown> = { maxTenants: 100_000, maxConcurrentFetches: 8 };

const TENANTS = Number(process.env.SCALE_TENANTS ?? 100_000);
const APPS = Number(process.env.SCALE_APPS ?? 10_000);
/** Simulator token lifetime: tokens come due (half their life, as they are shorter than the refresh-ahead window) within the run. */
const LIFETIME_S = Number(process.env.SCALE_LIFETIME_S ?? 150);
/** Upstream latency while the tokens come due, so that calls overlap as they would against the real platform. */
const UPSTREAM_DELAY_MS = Number(process.env.SCALE_UPSTREAM_DELAY_MS ?? 10);
/** How long the refreshes are watched once the first is seen. */
const STORM_WINDOW_S = Number(process.env.SCALE_STORM_WINDOW_S ?? 60);
/** Concurrent requests of this process while loading tokens. */
const CONCURRENCY = 64;
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

const figures: [string, string, string][] = [];
const figure = (part: string, what: string, value: string): void => {
  figures.push([part, what, value]);
  console.log(`${part} | ${what}: ${value}`);
};
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(2)} KiB`;
const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `count` GETs of `path(i)`, `CONCURRENCY` at a time; throws on the first non-200. */
async function getAll(base: string, key: string, count: number, path: (i: number) => string): Promise<number> {
  const pool = new Pool(base, { connections: CONCURRENCY, pipelining: 1 });
  const started = performance.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      const res = await pool.request({ method: 'GET', path: path(i), headers: { authorization: `Bearer ${key}` } });
      const body = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`GET ${path(i)}: ${res.statusCode} ${body}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await pool.close();
  return performance.now() - started;
}

/** The hub's background refreshes of an app's tenant tokens, by outcome, from its Prometheus metrics. */
async function refreshes(hub: Target, appId: string): Promise<{ ok: number; failed: Record<string, number> }> {
  const text = await (await fetch(`${hub.info.hub}/metrics`, { headers: { authorization: `Bearer ${hub.info.key}` } })).text();
  const out = { ok: 0, failed: {} as Record<string, number> };
  for (const line of text.split('\n')) {
    if (!line.startsWith('tokenhub_upstream_requests_total{') || !line.includes(`app="${appId}"`) || !line.includes('kind="tenant_access_token"') || !line.includes('reason="refresh"')) continue;
    const outcome = /outcome="([^"]+)"/.exec(line)?.[1] ?? '';
    const n = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (outcome === 'ok') out.ok += n;
    else out.failed[outcome] = (out.failed[outcome] ?? 0) + n;
  }
  return out;
}

/** The simulator's counts, with the most calls of each of `apps` in flight at once. */
const stats = (sim: Target, apps: string[] = []): Promise<CounterSnapshot & { peakInFlight: Record<string, number> }> =>
  callProbe(sim.info.probe!, 'stats', { apps });
const memory = (hub: Target): Promise<MemoryFigures> => callProbe<MemoryFigures>(hub.info.probe!, 'memory');

async function tenants(): Promise<void> {
  const part = `a. ${TENANTS.toLocaleString('en')} tenant tokens`;
  const app = storeApp(0);
  const sim = await startTarget('feishu-sim', {
    SIM_CUSTOM_APPS: '0',
    SIM_STORE_APPS: '1',
    SIM_TOKEN_LIFETIME_S: String(LIFETIME_S),
    // Every refresh gets a new token, as it would with the platform's 30-minute rule and a 2-hour token.
    SIM_SAME_TOKEN_WINDOW_S: String(LIFETIME_S),
  });
  const hub = await startTarget(
    'tokenhub',
    { TOKENHUB_APPS: '0', TOKENHUB_STORE_APPS: '1', TOKENHUB_STORE_OPTIONS: JSON.stringify(STORE_APP_OPTIONS), TOKENHUB_SIM_URL: sim.info.url!, TOKENHUB_WARM: '0' },
    ['--expose-gc'],
  );
  try {
    const id = storeAppId(0);
    const pushed = await callProbe<{ status: number }>(sim.info.probe!, 'push', { appId: app.appId, url: `${hub.info.hub}/v1/apps/${id}/events` });
    if (pushed.status !== 200) throw new Error(`the app_ticket push answered ${pushed.status}`);
    const path = (i: number): string => `/v1/apps/${id}/tokens/tenant_access_token?tenant_key=${i.toString(16).padStart(16, '0')}`;
    // The app token and one tenant before the baseline, so that the code paths are warm.
    await getAll(hub.info.hub!, hub.info.key!, 1, () => `/v1/apps/${id}/tokens/tenant_access_token?tenant_key=warm-up`);
    const before = await memory(hub);
    const loadMs = await getAll(hub.info.hub!, hub.info.key!, TENANTS, path);
    const after = await memory(hub);
    const loaded = await stats(sim, [app.appId]);
    figure(part, 'time to fetch and cache them (64 concurrent requests)', `${(loadMs / 1000).toFixed(1)} s (${Math.round(TENANTS / (loadMs / 1000))}/s)`);
    figure(part, 'heap per cached tenant token (after GC)', kib((after.heapUsed - before.heapUsed) / TENANTS));
    figure(part, 'RSS per cached tenant token', kib((after.rss - before.rss) / TENANTS));
    figure(part, 'most tenant-token calls in flight while loading', String(loaded.peakInFlight[app.appId] ?? 0));

    // The refreshes: each token comes due at half its life, so all of them within the span they were loaded in.
    await callProbe(sim.info.probe!, 'fault', { mode: 'slow', delayMs: UPSTREAM_DELAY_MS });
    await callProbe(sim.info.probe!, 'reset');
    const refreshCalls = async (): Promise<number> => (await stats(sim)).endpoints[sim.info.tenantEndpoint!]?.apps[app.appId] ?? 0;
    const waitUntil = Date.now() + LIFETIME_S * 1000;
    while ((await refreshCalls()) === 0 && Date.now() < waitUntil) await sleep(100);
    await callProbe(hub.info.probe!, 'loop', { reset: true });
    const stormStarted = performance.now();
    const stormEnds = Date.now() + STORM_WINDOW_S * 1000;
    let outcomes = await refreshes(hub, id);
    while (outcomes.ok < TENANTS && Date.now() < stormEnds) {
      await sleep(1000);
      outcomes = await refreshes(hub, id);
    }
    const stormMs = performance.now() - stormStarted;
    const loop = await callProbe<LoopDelayFigures>(hub.info.probe!, 'loop');
    const storm = await stats(sim, [app.appId]);
    const failed = Object.entries(outcomes.failed).map(([outcome, n]) => `${n} ${outcome}`).join(', ') || 'none';
    figure(
      part,
      `background refreshes done (${UPSTREAM_DELAY_MS} ms upstream latency, watched for at most ${STORM_WINDOW_S} s)`,
      `${outcomes.ok.toLocaleString('en')} in ${(stormMs / 1000).toFixed(1)} s; failed upstream calls: ${failed}; calls at the simulator: ${(await refreshCalls()).toLocaleString('en')}`,
    );
    figure(part, 'event-loop delay while they come due, p99 (p50, max)', `${loop.p99Ms.toFixed(1)} ms (${loop.p50Ms.toFixed(1)}, ${loop.maxMs.toFixed(1)})`);
    figure(part, 'most upstream token calls of the app in flight at once', String(storm.peakInFlight[app.appId] ?? 0));
    figure(part, 'per-app config', JSON.stringify(STORE_APP_OPTIONS));
  } finally {
    await Promise.all([hub.stop(), sim.stop()]);
  }
}

async function apps(): Promise<void> {
  const part = `b. ${APPS.toLocaleString('en')} apps`;
  const sim = await startTarget('feishu-sim', { SIM_CUSTOM_APPS: String(APPS) });
  const hub = await startTarget('tokenhub', { TOKENHUB_APPS: String(APPS), TOKENHUB_SIM_URL: sim.info.url!, TOKENHUB_WARM: '0' }, ['--expose-gc']);
  const bare = await startTarget('bare');
  const one = await startTarget('tokenhub');
  try {
    figure(part, 'config validation', `${hub.info.validateMs} ms`);
    figure(part, 'start (createHub + listen)', `${hub.info.startMs} ms`);
    const started = await memory(hub);
    figure(part, 'memory after start: heap after GC, RSS', `${mib(started.heapUsed)}, ${mib(started.rss)}`);
    await callProbe(sim.info.probe!, 'reset');
    const warmMs = await getAll(hub.info.hub!, hub.info.key!, APPS, (i) => `/v1/apps/${customAppId(i, APPS)}/tokens/tenant_access_token`);
    const warmed = await memory(hub);
    figure(part, 'warming every app (one cold GET each, 64 concurrent)', `${(warmMs / 1000).toFixed(1)} s, ${(await stats(sim)).total.toLocaleString('en')} upstream calls`);
    figure(part, 'memory when warm: heap after GC, RSS', `${mib(warmed.heapUsed)}, ${mib(warmed.rss)}`);
    figure(part, 'heap per app (warm, after GC)', kib(warmed.heapUsed / APPS));

    const { rows, failed } = await compare(
      [
        { label: 'bare node:http, constant JSON (baseline)', target: bare },
        { label: 'tokenhub, 1 app', target: one },
        { label: `tokenhub, ${APPS.toLocaleString('en')} apps (the last one read)`, target: hub },
      ],
      { seconds, rounds, connections },
    );
    console.log(`\ncached reads, ${rounds} rounds of ${seconds} s, ${connections} connections, medians\n\n${comparisonTable(rows)}\n`);
    for (const row of rows.slice(1)) {
      figure(part, `cached read, ${row.label}: ratio to bare (rounds; CPU ratio)`, `${row.ratio.toFixed(2)} (${Math.min(...row.roundRatios).toFixed(2)}–${Math.max(...row.roundRatios).toFixed(2)}; ${row.cpuRatio.toFixed(2)})`);
    }
    if (failed > 0) throw new Error(`${failed} cached reads failed`);
  } finally {
    await Promise.all([hub.stop(), sim.stop(), bare.stop(), one.stop()]);
  }
}

const only = process.argv[2];
const started = performance.now();
if (only === undefined || only === 'tenants') await tenants();
if (only === undefined || only === 'apps') await apps();
console.log(`\nscale: ${new Date().toISOString().slice(0, 10)}, ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
console.log(table(['part', 'figure', 'value'], figures));
