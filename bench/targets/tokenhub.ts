// tokenhub with the memory store in front of the Feishu simulator, one app, the token already cached.
import { randomBytes } from 'node:crypto';
import { validateConfig } from '../../src/config.js';
import { createHub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { FeishuSim, startSimulators } from '../../src/sim/index.js';

const sims = await startSimulators({ sims: [new FeishuSim({ apps: [{ appId: 'cli_bench', appSecret: 'bench-secret' }] })] });
const key = randomBytes(24).toString('base64url');
const config = validateConfig({
  listen: { host: '127.0.0.1', port: 0 },
  log: { level: 'warn' },
  clients: [{ name: 'bench', key, apps: ['*'] }],
  apps: { 'feishu-main': { platform: 'feishu', appId: 'cli_bench', appSecret: 'bench-secret', baseUrl: sims.baseUrl('feishu') } },
});
const hub = createHub(config, { logger: createLogger('warn') });
const url = await hub.listen();
const path = '/v1/apps/feishu-main/tokens/tenant_access_token';
const warm = await fetch(url + path, { headers: { authorization: `Bearer ${key}` } });
if (warm.status !== 200) throw new Error(`warm-up answered ${warm.status}`);
console.log(`READY ${JSON.stringify({ url: url + path, key, upstreamCalls: String(sims.sim('feishu').counters.count()) })}`);
process.on('SIGTERM', () => {
  void hub.close().then(() => sims.close()).then(() => process.exit(0));
});
