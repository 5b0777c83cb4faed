// Cached token reads over HTTP, as a ratio to a bare node:http server answering a constant JSON body
// (and, for reference, a one-route Fastify app answering the same). Each server runs in its own
// process; rounds alternate so that drift in the machine hits all alike. Besides throughput, the
// server's CPU time per request is measured: it is what a server costs, and it is steadier than
// throughput on a busy machine.
import { load, median, startTarget, table, type Target } from './lib/runner.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

interface Row {
  label: string;
  target: Target;
  headers: Record<string, string>;
  rps: number[];
  p99: number[];
  cpuUs: number[];
}

const rows: Row[] = [];
for (const [name, label] of [
  ['bare', 'bare node:http, constant JSON (baseline)'],
  ['fastify-min', 'one-route Fastify, constant JSON (reference)'],
  ['tokenhub', 'tokenhub GET /v1/apps/{app}/tokens/{kind}, memory store'],
] as const) {
  const target = await startTarget(name);
  rows.push({ label, target, headers: target.info.key ? { authorization: `Bearer ${target.info.key}` } : {}, rps: [], p99: [], cpuUs: [] });
}

let bad = 0;
for (const row of rows) await load(row.target.info.url!, { seconds: 1, connections, headers: row.headers });
for (let i = 0; i < rounds; i++) {
  for (const row of rows) {
    const before = await row.target.cpuMs();
    const r = await load(row.target.info.url!, { seconds, connections, headers: row.headers });
    const cpu = (await row.target.cpuMs()) - before;
    row.rps.push(r.requestsPerSecond);
    row.p99.push(r.p99Ms);
    row.cpuUs.push((cpu * 1000) / r.requests);
    bad += r.errors + r.non2xx;
  }
}
await Promise.all(rows.map((r) => r.target.stop()));

const [baseline] = rows;
const baseRps = median(baseline!.rps);
const baseCpu = median(baseline!.cpuUs);
console.log(`\ncached token reads: ${rounds} rounds of ${seconds} s, ${connections} connections (autocannon), medians\n`);
console.log(
  table(
    ['server', 'requests/s', 'p99 latency', 'throughput ratio to bare', 'server CPU per request', 'CPU ratio (bare / this)'],
    rows.map((r) => [
      r.label,
      Math.round(median(r.rps)),
      `${median(r.p99)} ms`,
      (median(r.rps) / baseRps).toFixed(2),
      `${median(r.cpuUs).toFixed(1)} µs`,
      (baseCpu / median(r.cpuUs)).toFixed(2),
    ]),
  ),
);
const hub = rows[rows.length - 1]!;
console.log(`\nupstream token calls: ${hub.target.info.upstreamCalls} (the warm-up, before the run); failed or non-2xx requests: ${bad}`);
if (bad > 0) process.exitCode = 1;
