// Cached token reads over HTTP, as a ratio to a bare node:http server answering a constant JSON body
// (and, for reference, a one-route Fastify app answering the same). Each server runs in its own
// process; rounds alternate so that drift in the machine hits all alike. Besides throughput, the
// server's CPU time per request is measured: it is what a server costs, and it is steadier than
// throughput on a busy machine. tokenhub runs twice: without and with the audit log (one line per
// read, written to a file in a temporary directory), so that the log's cost is the ratio of the two.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compare, comparisonTable, startTarget, type Contender } from './lib/runner.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
const dir = await mkdtemp(join(tmpdir(), 'tokenhub-bench-audit-'));
const auditPath = join(dir, 'audit.log');

const contenders: Contender[] = [];
for (const [name, label, env] of [
  ['bare', 'bare node:http, constant JSON (baseline)', {}],
  ['fastify-min', 'one-route Fastify, constant JSON (reference)', {}],
  ['tokenhub', 'tokenhub GET /v1/apps/{app}/tokens/{kind}, memory store', {}],
  ['tokenhub', 'the same with the audit log on (a line per read)', { TOKENHUB_AUDIT_PATH: auditPath }],
] as const) {
  contenders.push({ label, target: await startTarget(name, env) });
}
const { rows, failed } = await compare(contenders, { seconds, rounds, connections });
await Promise.all(contenders.map((c) => c.target.stop()));

console.log(`\ncached token reads: ${rounds} rounds of ${seconds} s, ${connections} connections (autocannon), medians\n`);
console.log(comparisonTable(rows));
const [, , off, on] = rows;
console.log(`\naudit log on / off: throughput ${(on!.requestsPerSecond / off!.requestsPerSecond).toFixed(2)}, CPU per request ${(on!.cpuUsPerRequest / off!.cpuUsPerRequest).toFixed(2)} (${(on!.cpuUsPerRequest - off!.cpuUsPerRequest).toFixed(1)} µs more)`);
const lines = (await readFile(auditPath, 'utf8')).split('\n').filter(Boolean).length;
console.log(`audit lines written: ${lines}`);
await rm(dir, { recursive: true, force: true });
const hub = contenders[2]!.target;
console.log(`\nupstream token calls: ${hub.info.upstreamCalls} (the warm-up, before the run); failed or non-2xx requests: ${failed}`);
if (failed > 0) process.exitCode = 1;
