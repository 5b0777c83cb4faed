/**
 * What N instances of `wechat-api` (node-webot, 1.35.1) cost in token and ticket calls at the
 * platform: each on its own (fetching its own token with the secret, `cgi-bin/token`, and its own
 * jsapi ticket), against the same instances taking both from tokenhub (`tokenApi: classic`, like
 * for like). Everything runs on loopback against the WeChat simulator; each run starts cold (new
 * simulator, new tokenhub, new instances, an account of its own).
 *
 * An instance is one server process. Cold, every instance at once makes one `getJsConfig` and M
 * business calls (`getMenu`, `getUser`, `getIp` in turn): one after another, or with `--burst` all at
 * once. Then, past the rotation overlap, each makes one more call: a classic token lives on only
 * that long after a newer fetch (300 s on the platform, `OVERLAP_S` here), so this call shows
 * whose token was knocked out by another instance's fetch.
 *
 *   npm run bench:wechat-api      (or: node --import tsx bench/wechat-api.ts [--calls 20] [--runs 3] [--burst])
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import WechatAPI from 'wechat-api';
import { validateConfig } from '../src/config.js';
import { createHub, type Hub } from '../src/hub.js';
import { createLogger } from '../src/logger.js';
import { WECHAT_ENDPOINTS, WeChatSim, startSimulators } from '../src/sim/index.js';
import { pointAt, wechatApiWithTokenhub } from '../test/interop/wechat-api-tokenhub.js';
import { median, range, table } from './lib/runner.js';

/**
 * The simulator's rotation overlap: the platform's 300 s, scaled down so that a run takes seconds,
 * and longer than the cold phase (2.2 s at most for 50 bursting instances here), so that the cold
 * calls are made with live tokens and only the call after it shows what was knocked out.
 */
const OVERLAP_S = 3;
export const INSTANCE_COUNTS = [1, 10, 50] as const;
const PAGE = 'https://app.example.com/orders?id=42';
/** WeChat's answers to a call made with a bad token. */
const REFUSED = new Set([40001, 40014, 42001]);

type Setup = 'alone' | 'tokenhub';

export const SETUPS: Record<Setup, string> = {
  alone: 'wechat-api alone (its own token and ticket, `cgi-bin/token`)',
  tokenhub: 'wechat-api with tokenhub (`getToken`, `registerTicketHandle`)',
};

export interface WechatApiRun {
  setup: Setup;
  instances: number;
  calls: number;
  burst: boolean;
  /** `cgi-bin/token` calls at the platform, over the whole run (tokenhub's own, with tokenhub). */
  tokenCalls: number;
  /** `ticket/getticket?type=jsapi` calls at the platform. */
  ticketCalls: number;
  /** Distinct tokens the platform refused to a business call: knocked out by a later fetch. */
  knockedOut: number;
  /** Platform calls answered 40001/40014/42001 (wechat-api's retries included). */
  refusedAnswers: number;
  /** Token calls at the platform after the cold phase: refetches after the refusals. */
  refetches: number;
  /** Calls whose callback got an error, over both phases. */
  failed: number;
  /** Instances whose call after the overlap failed. */
  deadInstances: number;
  /** `getJsConfig` outputs the simulator's verifier accepted, of `instances`. */
  signaturesAccepted: number;
  /** Requests to tokenhub's token API. */
  tokenhubRequests: number;
  /** Wall time of the cold phase. */
  ms: number;
}

const call = <T>(run: (callback: WechatAPI.Callback<T>) => void): Promise<T> =>
  new Promise((resolve, reject) => run((err, result) => (err ? reject(err) : resolve(result as T))));

const business = (api: WechatAPI, i: number): Promise<WechatAPI.Answer> => {
  if (i % 3 === 0) return call((cb) => api.getMenu(cb));
  if (i % 3 === 1) return call((cb) => api.getUser({ openid: `o_bench_${i}`, lang: 'zh_CN' }, cb));
  return call((cb) => api.getIp(cb));
};

/** One run: N instances cold (their getJsConfig and M calls), then one call each past the overlap. */
export async function runOnce(setup: Setup, instances: number, calls: number, burst = false): Promise<WechatApiRun> {
  const appId = `wx${randomBytes(8).toString('hex')}`;
  const appSecret = randomBytes(16).toString('hex');
  const sim = new WeChatSim({ apps: [{ appId, appSecret }], rotationOverlapSeconds: OVERLAP_S });
  const sims = await startSimulators({ sims: [sim] });
  const key = randomBytes(24).toString('base64url');
  let hub: Hub | undefined;
  try {
    let url = '';
    if (setup === 'tokenhub') {
      hub = createHub(
        validateConfig({
          listen: { host: '127.0.0.1', port: 0 },
          clients: [{ name: 'bench', key, apps: ['*'], reportsPerMinute: 100_000 }],
          apps: { main: { platform: 'wechat', tokenApi: 'classic', appId, appSecret, baseUrl: sims.baseUrl('wechat'), reportIntervalSeconds: 0 } },
        }),
        { logger: createLogger('silent') },
      );
      url = await hub.listen();
    }
    const refused = new Set<string>();
    const apis = Array.from({ length: instances }, () => {
      const api =
        setup === 'alone'
          ? new WechatAPI(appId, appSecret)
          : wechatApiWithTokenhub({ url, key, app: 'main', appId, endpoint: sims.baseUrl('wechat') });
      if (setup === 'alone') pointAt(api, sims.baseUrl('wechat'));
      // Watched, not changed: which tokens the platform refused.
      const request = api.request.bind(api);
      api.request = (reqUrl, opts, callback) =>
        request(reqUrl, opts, (err, data, res) => {
          const code = (data as { errcode?: unknown } | null | undefined)?.errcode;
          if (typeof code === 'number' && REFUSED.has(code)) {
            const token = new URL(reqUrl).searchParams.get('access_token');
            if (token !== null) refused.add(token);
          }
          callback(err, data, res);
        });
      return api;
    });

    let failed = 0;
    const settled = async <T>(p: Promise<T>): Promise<T | undefined> => {
      try {
        return await p;
      } catch {
        failed++;
        return undefined;
      }
    };
    const started = performance.now();
    const configs = await Promise.all(
      apis.map(async (api) => {
        const config = settled(call<WechatAPI.JsConfig>((cb) => api.getJsConfig({ debug: false, jsApiList: ['updateAppMessageShareData'], url: PAGE }, cb)));
        if (burst) {
          await Promise.all(Array.from({ length: calls }, (_, i) => settled(business(api, i))));
        } else {
          await config;
          for (let i = 0; i < calls; i++) await settled(business(api, i));
        }
        return config;
      }),
    );
    const ms = performance.now() - started;

    await new Promise((r) => setTimeout(r, OVERLAP_S * 1000 + 500));
    const failedBefore = failed;
    const tokenCallsBefore = sim.counters.count(WECHAT_ENDPOINTS.classic, appId);
    await Promise.all(apis.map((api, i) => settled(business(api, i))));
    const deadInstances = failed - failedBefore;

    let signaturesAccepted = 0;
    for (const config of configs) {
      if (config === undefined) continue;
      const verdict = sim.verifyJsapi({ appId: config.appId, timestamp: config.timestamp, nonceStr: config.nonceStr, signature: config.signature, url: PAGE });
      if (verdict.ok) signaturesAccepted++;
    }
    const tokenCalls = sim.counters.count(WECHAT_ENDPOINTS.classic, appId);
    let tokenhubRequests = 0;
    if (hub !== undefined) {
      const metrics = await hub.server.inject({ method: 'GET', url: '/metrics' });
      tokenhubRequests = [...metrics.body.matchAll(/^tokenhub_token_requests_total\{[^}]*\} (\d+)$/gm)].reduce((n, m) => n + Number(m[1]), 0);
    }
    return {
      setup,
      instances,
      calls,
      burst,
      tokenCalls,
      ticketCalls: sim.counters.count(WECHAT_ENDPOINTS.ticket),
      knockedOut: refused.size,
      refusedAnswers: sim.counters.count(WECHAT_ENDPOINTS.business, '') + sim.counters.count(WECHAT_ENDPOINTS.ticket, ''),
      refetches: tokenCalls - tokenCallsBefore,
      failed,
      deadInstances,
      signaturesAccepted,
      tokenhubRequests,
      ms,
    };
  } finally {
    await hub?.close();
    await sims.close();
  }
}

/** Every instance count and setup `runs` times; the markdown table (ranges over the runs, median times). */
export async function benchWechatApi(calls = 20, runs = 3, burst = false): Promise<{ runs: WechatApiRun[]; markdown: string }> {
  const all: WechatApiRun[] = [];
  for (let r = 0; r < runs; r++) {
    for (const n of INSTANCE_COUNTS) for (const setup of Object.keys(SETUPS) as Setup[]) all.push(await runOnce(setup, n, calls, burst));
  }
  const header = [
    'instances',
    'setup',
    'token calls at the platform',
    'ticket calls at the platform',
    'alone ÷ tokenhub (token, ticket)',
    'tokens knocked out (refused 40001)',
    'platform answers 40001',
    'token calls after the overlap (refetches)',
    'failed calls',
    'instances dead after the overlap',
    'getJsConfig accepted',
    'requests to tokenhub',
    'cold phase (median)',
  ];
  const rows = INSTANCE_COUNTS.flatMap((n) =>
    (Object.keys(SETUPS) as Setup[]).map((setup) => {
      const mine = all.filter((r) => r.instances === n && r.setup === setup);
      const hub = all.filter((r) => r.instances === n && r.setup === 'tokenhub');
      const ratio = (pick: (r: WechatApiRun) => number): string => (median(mine.map(pick)) / median(hub.map(pick))).toFixed(0);
      return [
        n,
        SETUPS[setup],
        range(mine.map((r) => r.tokenCalls)),
        range(mine.map((r) => r.ticketCalls)),
        setup === 'alone' ? `${ratio((r) => r.tokenCalls)}, ${ratio((r) => r.ticketCalls)}` : '',
        range(mine.map((r) => r.knockedOut)),
        range(mine.map((r) => r.refusedAnswers)),
        range(mine.map((r) => r.refetches)),
        range(mine.map((r) => r.failed)),
        range(mine.map((r) => r.deadInstances)),
        `${range(mine.map((r) => r.signaturesAccepted))} of ${n}`,
        range(mine.map((r) => r.tokenhubRequests)),
        `${median(mine.map((r) => r.ms)).toFixed(0)} ms`,
      ];
    }),
  );
  return { runs: all, markdown: table(header, rows) };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const arg = (name: string, fallback: number): number => {
    const i = process.argv.indexOf(`--${name}`);
    return i === -1 ? fallback : Number(process.argv[i + 1]);
  };
  const calls = arg('calls', 20);
  const burst = process.argv.includes('--burst');
  const { runs, markdown } = await benchWechatApi(calls, arg('runs', 3), burst);
  const slow = runs.filter((r) => r.ms >= OVERLAP_S * 1000).length;
  if (slow > 0) console.warn(`${slow} cold phases took longer than the ${OVERLAP_S} s overlap: their tokens died during it, and the figures mix both effects`);
  console.log(`Node ${process.version}, ${new Date().toISOString().slice(0, 10)}, M = ${calls} business calls per instance ${burst ? 'at once' : 'one after another'}\n\n${markdown}`);
}
