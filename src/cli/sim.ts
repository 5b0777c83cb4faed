import { validateConfig, type AppConfig, type LoadedConfig } from '../config.js';
import { platformOf, platforms, simulatorNameOf } from '../platforms/index.js';
import { startSimulators, type PlatformSim, type RunningSimulators } from '../sim/index.js';

/**
 * The demo config: every platform's demo apps (from its descriptor) behind one client key, the
 * memory store, on tokenhub's default address.
 */
export function demoConfig(clientKey: string, simUrl: string): LoadedConfig {
  return validateConfig({
    listen: { host: '127.0.0.1', port: 8700 },
    store: { type: 'memory' },
    log: { level: 'info' },
    // An admin, so that the demo's key also opens the console.
    clients: [{ name: 'demo', key: clientKey, apps: ['*'], admin: true }],
    apps: Object.assign({}, ...platforms.map((p) => p.demoApps(simUrl))) as Record<string, unknown>,
  });
}

/** One simulator per platform name, knowing the given apps' credentials. */
export function simulatorsFor(apps: Iterable<AppConfig>, options: { lifetime?: number } = {}): PlatformSim[] {
  const byName = new Map<string, AppConfig[]>();
  for (const app of apps) byName.set(simulatorNameOf(app), [...(byName.get(simulatorNameOf(app)) ?? []), app]);
  return [...byName].map(([name, list]) => platformOf(list[0]!).createSimulator(name, list, options.lifetime ? { lifetime: options.lifetime } : {}));
}

/** `tokenhub sim`: the simulators with the demo apps, for trying tokenhub (or anything else) offline. */
export async function runSim(options: { host: string; port: number; lifetime: number }): Promise<RunningSimulators> {
  const config = demoConfig('x'.repeat(32), 'http://127.0.0.1');
  const sims = await startSimulators({ host: options.host, port: options.port, sims: simulatorsFor(Object.values(config.apps), { lifetime: options.lifetime }) });
  console.log(`platform simulators on ${sims.url}`);
  for (const [id, app] of Object.entries(config.apps)) {
    console.log(`  ${id.padEnd(14)} ${app.platform.padEnd(8)} baseUrl ${sims.baseUrl(simulatorNameOf(app))}  appId ${app.appId}  appSecret ${app.appSecret}`);
  }
  // Pushed events go to a tokenhub on its default address, with the demo's app ids.
  for (const line of await connectEvents(config, sims, 'http://127.0.0.1:8700', { pushNow: false })) console.log(line);
  console.log(`control: POST ${sims.url}/_sim/{platform}/fault {"mode":"down"}, POST …/revoke {"token":"…"}, GET …/stats, POST …/reset, POST …/jsapi/verify {<the page's config>,"url"}, POST …/jsapi/fault`);
  return sims;
}

/**
 * Points the simulators at tokenhub's events URL of every app whose platform pushes events
 * (a store app's app_tickets); returns a line per app for the console.
 */
export async function connectEvents(config: LoadedConfig, sims: RunningSimulators, tokenhubUrl: string, options: { pushNow: boolean }): Promise<string[]> {
  const lines: string[] = [];
  for (const [id, app] of Object.entries(config.apps)) {
    const events = platformOf(app).events;
    if (events === undefined || !events.takes(app)) continue;
    lines.push(`  ${id.padEnd(14)} ${await events.connect(sims.sim(simulatorNameOf(app)), app, `${tokenhubUrl}/v1/apps/${id}/events`, options)}`);
  }
  return lines;
}
