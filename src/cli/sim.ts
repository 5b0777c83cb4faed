import { readFile } from 'node:fs/promises';
import { parseConfig, type AppConfig, type LoadedConfig, type Platform } from '../config.js';
import { DingTalkSim, FeishuSim, QingtuiSim, WeChatSim, WeComSim, startSimulators, type FeishuSimStoreApp, type PlatformSim, type RunningSimulators } from '../sim/index.js';

export const DEMO_CONFIG = new URL('../../demo/demo.yaml', import.meta.url);

/** The demo config's apps, as parsed with the given key and simulator URL. */
export async function demoConfig(clientKey: string, simUrl: string): Promise<LoadedConfig> {
  return parseConfig(await readFile(DEMO_CONFIG, 'utf8'), { ...process.env, DEMO_CLIENT_KEY: clientKey, DEMO_SIM_URL: simUrl });
}

/** One simulator per platform, knowing the given apps' credentials. */
export function simulatorsFor(apps: Iterable<AppConfig>, options: { lifetime?: number } = {}): PlatformSim[] {
  const byPlatform = new Map<Platform, AppConfig[]>();
  for (const app of apps) byPlatform.set(app.platform, [...(byPlatform.get(app.platform) ?? []), app]);
  const sims: PlatformSim[] = [];
  const lifetime = options.lifetime ? { tokenLifetimeSeconds: options.lifetime } : {};
  for (const [platform, list] of byPlatform) {
    // Two configured apps may name one platform app; WeCom apps of one corp differ by secret.
    const all = list.map((a) => ({ appId: a.appId, appSecret: a.appSecret }));
    const creds = uniqueBy(all, (c) => c.appId);
    switch (platform) {
      case 'feishu':
      case 'lark': {
        const storeApps: FeishuSimStoreApp[] = [];
        const custom: typeof creds = [];
        for (const a of list) {
          if ((a.platform === 'feishu' || a.platform === 'lark') && a.appType === 'store') {
            storeApps.push({ appId: a.appId, appSecret: a.appSecret, verificationToken: a.verificationToken ?? '', ...(a.encryptKey === undefined ? {} : { encryptKey: a.encryptKey }) });
          } else {
            custom.push({ appId: a.appId, appSecret: a.appSecret });
          }
        }
        sims.push(
          new FeishuSim({
            platform,
            apps: custom,
            storeApps,
            // Hourly, as the platform pushes app_tickets.
            ticketPushIntervalSeconds: 3600,
            ...(options.lifetime ? { tokenLifetimeSeconds: options.lifetime, sameTokenWindowSeconds: Math.floor(options.lifetime / 4) } : {}),
          }),
        );
        break;
      }
      case 'qingtui':
        sims.push(new QingtuiSim({ apps: creds, ...(options.lifetime ? { tokenLifetimeSeconds: options.lifetime } : {}) }));
        break;
      case 'dingtalk':
        sims.push(new DingTalkSim({ apps: creds.map((c) => ({ appKey: c.appId, appSecret: c.appSecret })), ...lifetime }));
        break;
      case 'wecom':
        sims.push(new WeComSim({ apps: uniqueBy(all, (c) => `${c.appId}\u0000${c.appSecret}`).map((c) => ({ corpId: c.appId, corpSecret: c.appSecret })), ...lifetime }));
        break;
      case 'wechat': {
        // The 5-minute windows keep their share of a 2-hour lifetime (300 / 7200).
        const window = options.lifetime ? Math.max(1, Math.floor(options.lifetime / 24)) : undefined;
        sims.push(new WeChatSim({ apps: creds, ...lifetime, ...(window ? { rotationOverlapSeconds: window, renewWindowSeconds: window } : {}) }));
        break;
      }
      default:
        break;
    }
  }
  return sims;
}

/** The first item of each key. */
function uniqueBy<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** `tokenhub sim`: the simulators with the demo apps, for trying tokenhub (or anything else) offline. */
export async function runSim(options: { host: string; port: number; lifetime: number }): Promise<RunningSimulators> {
  const config = await demoConfig('x'.repeat(32), 'http://127.0.0.1');
  const sims = await startSimulators({ host: options.host, port: options.port, sims: simulatorsFor(Object.values(config.apps), { lifetime: options.lifetime }) });
  console.log(`platform simulators on ${sims.url}`);
  for (const [id, app] of Object.entries(config.apps)) {
    console.log(`  ${id.padEnd(14)} ${app.platform.padEnd(8)} baseUrl ${sims.baseUrl(app.platform)}  appId ${app.appId}  appSecret ${app.appSecret}`);
  }
  // Store apps' tickets go to a tokenhub on its default address, with the demo's app ids.
  for (const { id, app, sim } of storeApps(config, sims)) {
    const url = `http://127.0.0.1:8700/v1/apps/${id}/events`;
    sim.setEventUrl(app.appId, url);
    console.log(`  ${id.padEnd(14)} pushes app_tickets to ${url} (on app_ticket/resend and hourly)`);
  }
  console.log(`control: POST ${sims.url}/_sim/{platform}/fault {"mode":"down"}, POST …/revoke {"token":"…"}, GET …/stats, POST …/reset`);
  return sims;
}

/** The store apps of a config, each with the simulator that pushes its tickets. */
export function storeApps(config: LoadedConfig, sims: RunningSimulators): { id: string; app: AppConfig; sim: FeishuSim }[] {
  const out: { id: string; app: AppConfig; sim: FeishuSim }[] = [];
  for (const [id, app] of Object.entries(config.apps)) {
    if ((app.platform !== 'feishu' && app.platform !== 'lark') || app.appType !== 'store') continue;
    const sim = sims.sim(app.platform);
    if (sim instanceof FeishuSim) out.push({ id, app, sim });
  }
  return out;
}
