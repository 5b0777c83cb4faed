// Cached token reads over HTTP, as a ratio to a bare node:http server answering a constant JSON body.
// Each target runs in its own process; rounds alternate so that drift in the machine hits both alike.
import { load, median, startTarget, table } from './lib/runner.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

const bare = await startTarget('bare');
const hub = await startTarget('tokenhub');
const headers = { authorization: `Bearer ${hub.info.key}` };
const results: { bare: number[]; hub: number[]; hubP99: number[]; bareP99: number[]; bad: number } = { bare: [], hub: [], hubP99: [], bareP99: [], bad: 0 };

await load(bare.info.url!, { seconds: 1, connections });
await load(hub.info.url!, { seconds: 1, connections, headers });
for (let i = 0; i < rounds; i++) {
  const b = await load(bare.info.url!, { seconds, connections });
  const h = await load(hub.info.url!, { seconds, connections, headers });
  results.bare.push(b.requestsPerSecond);
  results.hub.push(h.requestsPerSecond);
  results.bareP99.push(b.p99Ms);
  results.hubP99.push(h.p99Ms);
  results.bad += b.errors + b.non2xx + h.errors + h.non2xx;
}
await Promise.all([bare.stop(), hub.stop()]);

const bareRps = median(results.bare);
const hubRps = median(results.hub);
console.log(`\ncached token reads: ${rounds} rounds of ${seconds} s, ${connections} connections, medians\n`);
console.log(
  table(
    ['server', 'requests/s', 'p99 latency', 'ratio to bare node:http'],
    [
      ['bare node:http, constant JSON', Math.round(bareRps), `${median(results.bareP99)} ms`, '1.00'],
      ['tokenhub GET /v1/apps/{app}/tokens/{kind} (memory store)', Math.round(hubRps), `${median(results.hubP99)} ms`, (hubRps / bareRps).toFixed(2)],
    ],
  ),
);
console.log(`\nupstream token calls during the run: ${hub.info.upstreamCalls} (the warm-up); failed or non-2xx requests: ${results.bad}`);
if (results.bad > 0) process.exitCode = 1;
