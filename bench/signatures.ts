// JS-SDK page signatures over HTTP (POST /v1/apps/{app}/jsapi/signature, the ticket cached), as a
// ratio to a cached token read from the same tokenhub, and to a bare node:http server for
// reference. A signature is a JSON body parsed, a URL checked, a nonce drawn and a SHA-1 made: it
// takes Fastify's route where a cached read takes the fast path, so this says what that costs.
import { compare, comparisonTable, startTarget } from './lib/runner.js';

const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);

const bare = await startTarget('bare');
const hub = await startTarget('tokenhub');
// The ticket cached before the run, as the token is.
const warm = await fetch(hub.info.signatureUrl!, {
  method: 'POST',
  headers: { authorization: `Bearer ${hub.info.key}`, 'content-type': 'application/json' },
  body: JSON.stringify({ url: 'https://app.example.com/warm' }),
});
if (warm.status !== 200) throw new Error(`warm-up signature answered ${warm.status}: ${await warm.text()}`);

const { rows, failed } = await compare(
  [
    { label: 'tokenhub GET a cached token (baseline)', target: hub },
    { label: 'tokenhub POST /jsapi/signature, ticket cached', target: hub, url: hub.info.signatureUrl!, post: { url: 'https://app.example.com/page?x=1#frag' } },
    { label: 'bare node:http, constant JSON (reference)', target: bare },
  ],
  { seconds, rounds, connections },
);
const calls = await fetch(`${hub.info.hub}/metrics`).then((r) => r.text());
await Promise.all([bare.stop(), hub.stop()]);

console.log(`\nsignatures: ${rounds} rounds of ${seconds} s, ${connections} connections (autocannon), medians; ratios to the cached token read\n`);
console.log(comparisonTable(rows).replaceAll('ratio to bare', 'ratio to the cached read').replace('CPU ratio (bare / this)', 'CPU ratio (cached read / this)'));
const upstream = [...calls.matchAll(/^tokenhub_upstream_requests_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
console.log(`\nupstream calls during the whole run (token + ticket, the warm-up): ${upstream}; failed or non-2xx requests: ${failed}`);
if (failed > 0) process.exitCode = 1;
