// Cached token reads over HTTP, as a ratio to a bare node:http server answering a constant JSON body
// (and, for reference, a one-route Fastify app answering the same). Each server runs in its own
// process; rounds alternate so that drift in the machine hits all alike. Besides throughput, the
// server's CPU time per request is measured: it is what a server costs, and it is steadier than
// throughput on a busy machine.
import { compare, comparisonTable, startTarget, type Contender } from './lib/runner.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

const contenders: Contender[] = [];
for (const [name, label] of [
  ['bare', 'bare node:http, constant JSON (baseline)'],
  ['fastify-min', 'one-route Fastify, constant JSON (reference)'],
  ['tokenhub', 'tokenhub GET /v1/apps/{app}/tokens/{kind}, memory store'],
] as const) {
  contenders.push({ label, target: await startTarget(name) });
}
const { rows, failed } = await compare(contenders, { seconds, rounds, connections });
await Promise.all(contenders.map((c) => c.target.stop()));

console.log(`\ncached token reads: ${rounds} rounds of ${seconds} s, ${connections} connections (autocannon), medians\n`);
console.log(comparisonTable(rows));
const hub = contenders[contenders.length - 1]!.target;
console.log(`\nupstream token calls: ${hub.info.upstreamCalls} (the warm-up, before the run); failed or non-2xx requests: ${failed}`);
if (failed > 0) process.exitCode = 1;
