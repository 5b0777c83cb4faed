// The Feishu simulator in a process of its own, so that its CPU and heap do not count against
// tokenhub's. SIM_CUSTOM_APPS custom apps, SIM_STORE_APPS store apps (bench/lib/apps.ts), tokens of
// SIM_TOKEN_LIFETIME_S seconds, a new token on every fetch with less than SIM_SAME_TOKEN_WINDOW_S left.
import { serveProbe } from '../lib/probe.js';
import { customApp, storeApp } from '../lib/apps.js';
import { FEISHU_ENDPOINTS, FeishuSim, startSimulators, type FaultMode } from '../../src/sim/index.js';

const count = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const feishu = new FeishuSim({
  apps: Array.from({ length: count('SIM_CUSTOM_APPS', 1) }, (_, i) => customApp(i)),
  storeApps: Array.from({ length: count('SIM_STORE_APPS', 0) }, (_, i) => storeApp(i)),
  tokenLifetimeSeconds: count('SIM_TOKEN_LIFETIME_S', 7200),
  sameTokenWindowSeconds: count('SIM_SAME_TOKEN_WINDOW_S', 1800),
});
const sims = await startSimulators({ sims: [feishu] });
const probe = await serveProbe({
  /** Sets a store app's event URL and pushes it a fresh app_ticket. */
  push: async (body) => {
    feishu.setEventUrl(String(body.appId), String(body.url));
    const { status } = await feishu.pushTicket(String(body.appId));
    return { status };
  },
  // With the most calls of each given app in flight at once.
  stats: (body) => ({
    ...feishu.counters.snapshot(),
    peakInFlight: Object.fromEntries(((body.apps ?? []) as string[]).map((id) => [id, feishu.counters.peakInFlight(id)])),
  }),
  reset: () => (feishu.counters.reset(), {}),
  fault: (body) => (feishu.faults.set(String(body.mode) as FaultMode, body.delayMs === undefined ? {} : { delayMs: Number(body.delayMs) }), {}),
});
console.log(`READY ${JSON.stringify({ url: sims.baseUrl('feishu'), probe, tenantEndpoint: FEISHU_ENDPOINTS.storeTenant })}`);
process.on('SIGTERM', () => void sims.close().then(() => process.exit(0)));
