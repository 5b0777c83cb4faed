/**
 * What N concurrent cold calls of the official Feishu SDK (`@larksuiteoapi/node-sdk`) cost in token
 * fetches: the SDK on its own, the SDK through tokenhub's proxy, and the SDK given tokens by
 * `tokenhub/client`. Everything runs on loopback against the Feishu simulator; each run starts
 * cold (new simulator, new tokenhub, new SDK client with an app id of its own).
 *
 *   npm run bench -- sdk      (or: node --import tsx bench/sdk.ts [--calls 100] [--runs 5])
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import * as lark from '@larksuiteoapi/node-sdk';
import { TokenHubClient } from '../packages/client/src/index.js';
import { validateConfig } from '../src/config.js';
import { createHub } from '../src/hub.js';
import { createLogger } from '../src/logger.js';
import { FeishuSim, startSimulators } from '../src/sim/index.js';
import { median, range, table } from './lib/runner.js';

const SILENT = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };
const TOKEN_CALLS = 'tenant_access_token/internal';

type Setup = 'sdk-alone' | 'sdk-via-proxy' | 'sdk-with-client';

export const SETUPS: Record<Setup, string> = {
  'sdk-alone': 'SDK alone (its own token cache)',
  'sdk-via-proxy': 'SDK through the tokenhub proxy',
  'sdk-with-client': 'SDK + `withTenantToken(await hub.getToken())`',
};

export interface SdkRun {
  setup: Setup;
  calls: number;
  /** Token requests that reached the platform. */
  platformTokenFetches: number;
  /** Token requests that reached tokenhub's token API (the client's; the proxy makes none). */
  tokenhubTokenRequests: number;
  /** Failed calls, over both batches. */
  failed: number;
  /** Wall time of the cold batch. */
  ms: number;
  /** Wall time of a second batch right after, tokens at hand. */
  warmMs: number;
}

/** One run: N concurrent `im.message.create` calls cold (token counts are of these), then N more warm. */
export async function runOnce(setup: Setup, calls: number): Promise<SdkRun> {
  const appId = `cli_bench_${randomBytes(6).toString('hex')}`;
  const appSecret = randomBytes(16).toString('hex');
  const sim = new FeishuSim({ apps: [{ appId, appSecret }] });
  const sims = await startSimulators({ sims: [sim] });
  const key = randomBytes(24).toString('base64url');
  const hub = createHub(
    validateConfig({
      listen: { host: '127.0.0.1', port: 0 },
      clients: [{ name: 'bench', key, apps: ['*'] }],
      apps: { main: { platform: 'feishu', appId, appSecret, baseUrl: sims.baseUrl('feishu') } },
    }),
    { logger: createLogger('silent') },
  );
  const url = await hub.listen();
  try {
    const client = new lark.Client({
      appId,
      appSecret: setup === 'sdk-alone' ? appSecret : 'not-needed',
      domain: setup === 'sdk-via-proxy' ? `${url}/v1/proxy/main` : sims.baseUrl('feishu'),
      disableTokenCache: setup !== 'sdk-alone',
      logger: SILENT,
    });
    const tokens = new TokenHubClient({ url, key });
    const options = async (): Promise<ReturnType<typeof lark.withTenantToken> | undefined> => {
      if (setup === 'sdk-via-proxy') return lark.withTenantToken(key);
      if (setup === 'sdk-with-client') return lark.withTenantToken(await tokens.getToken('main', 'tenant_access_token'));
      return undefined;
    };
    const message = { params: { receive_id_type: 'chat_id' as const }, data: { receive_id: 'oc_bench', msg_type: 'text', content: '{"text":"hi"}' } };
    const batch = async (): Promise<{ ms: number; failed: number }> => {
      const started = performance.now();
      const results = await Promise.allSettled(Array.from({ length: calls }, async () => client.im.message.create(message, await options())));
      return { ms: performance.now() - started, failed: results.filter((r) => r.status === 'rejected' || r.value.code !== 0).length };
    };
    const cold = await batch();
    const platformTokenFetches = sim.counters.count(TOKEN_CALLS, appId);
    const metrics = await hub.server.inject({ method: 'GET', url: '/metrics' });
    const tokenhubTokenRequests = [...metrics.body.matchAll(/^tokenhub_token_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    const warm = await batch();
    return {
      setup,
      calls,
      platformTokenFetches,
      tokenhubTokenRequests,
      failed: cold.failed + warm.failed,
      ms: cold.ms,
      warmMs: warm.ms,
    };
  } finally {
    await hub.close();
    await sims.close();
  }
}

/** Every setup `runs` times; the markdown table of the medians (and the range of token fetches). */
export async function benchSdk(calls = 100, runs = 5): Promise<{ runs: SdkRun[]; markdown: string }> {
  const all: SdkRun[] = [];
  for (let i = 0; i < runs; i++) {
    for (const setup of Object.keys(SETUPS) as Setup[]) all.push(await runOnce(setup, calls));
  }
  const header = [
    `setup (${calls} concurrent cold \`im.message.create\` calls, ${runs} runs)`,
    'token fetches at the platform',
    'token requests to tokenhub',
    'failed calls',
    'cold batch (median)',
    'warm batch (median)',
  ];
  const rows = (Object.keys(SETUPS) as Setup[]).map((setup) => {
    const mine = all.filter((r) => r.setup === setup);
    return [
      SETUPS[setup],
      range(mine.map((r) => r.platformTokenFetches)),
      range(mine.map((r) => r.tokenhubTokenRequests)),
      range(mine.map((r) => r.failed)),
      `${median(mine.map((r) => r.ms)).toFixed(0)} ms`,
      `${median(mine.map((r) => r.warmMs)).toFixed(0)} ms`,
    ];
  });
  return { runs: all, markdown: table(header, rows) };
}


if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i === -1 ? fallback : Number(process.argv[i + 1]);
  };
  const { markdown } = await benchSdk(arg('calls', 100), arg('runs', 5));
  console.log(`Node ${process.version}, ${new Date().toISOString().slice(0, 10)}\n\n${markdown}`);
}
