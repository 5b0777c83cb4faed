// tokenhub with the memory store in front of the Feishu simulator, the token of the read app already cached.
// By default one custom app and the simulator in this process (bench/cached-reads.ts). The scale
// benchmark sets TOKENHUB_APPS (custom apps, the last one read), TOKENHUB_STORE_APPS (store apps,
// configured with the JSON object TOKENHUB_STORE_OPTIONS), TOKENHUB_SIM_URL (a simulator in its own
// process) and TOKENHUB_WARM=0 (warm nothing: the bench process does). TOKENHUB_AUDIT_PATH turns the
// audit log on, written to that file (bench/cached-reads.ts).
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { customApp, customAppId, storeApp, storeAppId } from '../lib/apps.js';
import { processActions, serveProbe } from '../lib/probe.js';
import { validateConfig } from '../../src/config.js';
import { createHub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { FeishuSim, startSimulators } from '../../src/sim/index.js';

const customApps = Number(process.env.TOKENHUB_APPS ?? 1);
const storeApps = Number(process.env.TOKENHUB_STORE_APPS ?? 0);
const storeOptions = JSON.parse(process.env.TOKENHUB_STORE_OPTIONS ?? '{}') as Record<string, unknown>;
const sims = process.env.TOKENHUB_SIM_URL === undefined
  ? await startSimulators({ sims: [new FeishuSim({ apps: Array.from({ length: customApps }, (_, i) => customApp(i)) })] })
  : undefined;
const baseUrl = process.env.TOKENHUB_SIM_URL ?? sims!.baseUrl('feishu');
const key = randomBytes(24).toString('base64url');
const probe = await serveProbe(processActions());

const apps: Record<string, Record<string, unknown>> = {};
for (let i = 0; i < customApps; i++) apps[customAppId(i, customApps)] = { platform: 'feishu', ...customApp(i), baseUrl };
for (let i = 0; i < storeApps; i++) apps[storeAppId(i)] = { platform: 'feishu', appType: 'store', ...storeApp(i), baseUrl, ...storeOptions };

const started = performance.now();
const config = validateConfig({
  listen: { host: '127.0.0.1', port: 0 },
  // error: a store app without an encrypt key warns at start, and that is what we configured.
  log: { level: 'error' },
  // The signatures bench asks for far more than a client's default 600 a minute.
  clients: [{ name: 'bench', key, apps: ['*'], signaturesPerMinute: 1_000_000_000 }],
  ...(process.env.TOKENHUB_AUDIT_PATH === undefined ? {} : { audit: { path: process.env.TOKENHUB_AUDIT_PATH } }),
  apps,
});
const validated = performance.now();
const hub = createHub(config, { logger: createLogger('error') });
const url = await hub.listen();
const listening = performance.now();

const path = `/v1/apps/${customAppId(customApps - 1, customApps)}/tokens/tenant_access_token`;
if (process.env.TOKENHUB_WARM !== '0' && customApps > 0) {
  const warm = await fetch(url + path, { headers: { authorization: `Bearer ${key}` } });
  if (warm.status !== 200) throw new Error(`warm-up answered ${warm.status}`);
}
const info: Record<string, string> = {
  url: url + path,
  hub: url,
  key,
  probe,
  validateMs: (validated - started).toFixed(0),
  startMs: (listening - validated).toFixed(0),
};
if (sims) info.upstreamCalls = String(sims.sim('feishu').counters.count());
info.signatureUrl = `${url}/v1/apps/${customAppId(customApps - 1, customApps)}/jsapi/signature`;
console.log(`READY ${JSON.stringify(info)}`);
process.on('SIGTERM', () => {
  void hub.close().then(() => sims?.close()).then(() => process.exit(0));
});
