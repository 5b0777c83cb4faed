import { randomBytes } from 'node:crypto';
import { createHub } from '../hub.js';
import { createLogger } from '../logger.js';
import { startSimulators } from '../sim/index.js';
import { startDemoPage } from './demo-page.js';
import { connectEvents, demoConfig, simulatorsFor } from './sim.js';

/** `npm start`: the simulators and tokenhub with the demo config, on loopback, offline. */
export async function runDemo(options: { port: number; key?: string }): Promise<{ url: string; simUrl: string; key: string; close(): Promise<void> }> {
  const key = options.key ?? `demo-${randomBytes(18).toString('base64url')}`;
  const apps = demoConfig(key, 'http://127.0.0.1').apps;
  const sims = await startSimulators({ sims: simulatorsFor(Object.values(apps)) });
  const config = demoConfig(key, sims.url);
  config.listen.port = options.port;
  const logger = createLogger(config.log.level, undefined, config.log.format);
  const hub = createHub(config, { logger });
  const url = await hub.listen();
  // The platform pushes a store app's ticket to its events URL; here that URL is ours.
  const events = await connectEvents(config, sims, url, { pushNow: true });
  const tokenPath = (id: string): string => {
    const { provider } = hub.broker.app(id);
    const kind = provider.businessKind;
    return `/v1/apps/${id}/tokens/${kind}${provider.tenantScoped(kind) ? '?tenant_key=demo_tenant' : ''}`;
  };
  // A signed page for the first app whose pages use a JS-SDK, served by a stand-in for the user's web app.
  const signing = Object.keys(apps).find((id) => hub.broker.app(id).provider.pages !== undefined);
  const page = signing === undefined ? undefined : await startDemoPage({ hubUrl: url, simUrl: sims.url, key, app: signing, platform: hub.broker.app(signing).provider.platform });
  const [first] = Object.keys(apps);
  if (first === undefined) throw new Error('the demo config has no app');
  const firstKind = hub.broker.app(first).provider.businessKind;
  const lines = [
    '',
    `tokenhub demo on ${url}, platform simulators on ${sims.url} (offline, memory store)`,
    '',
    `client key: ${key}`,
    '',
    `Console (paste the key; it is an admin's): ${url}/console`,
    '',
    'Try:',
    `  curl -s -H 'Authorization: Bearer ${key}' ${url}/v1/apps`,
    ...Object.keys(apps).map((id) => `  curl -s -H 'Authorization: Bearer ${key}' '${url}${tokenPath(id)}'`),
    `  curl -s -X POST -H 'Authorization: Bearer ${key}' -H 'content-type: application/json' -d '{"token":"<a token>"}' ${url}/v1/apps/${first}/tokens/${firstKind}/invalidate`,
    `  curl -s ${url}/metrics | grep ^tokenhub_`,
    '',
    ...(page === undefined
      ? []
      : [
          `A page signed for ${signing}'s JS-SDK (its server asks tokenhub; the ticket never leaves tokenhub): ${page.url}`,
          `  curl -s -X POST -H 'Authorization: Bearer ${key}' -H 'content-type: application/json' -d '{"url":"https://example.com/page"}' ${url}/v1/apps/${signing}/jsapi/signature`,
          '',
        ]),
    'Apps the platform pushes events to:',
    ...events,
    '',
    'Break the platform and watch tokenhub keep serving: ',
    `  curl -s -X POST -H 'content-type: application/json' -d '{"mode":"down"}' ${sims.url}/_sim/${config.apps[first]!.platform}/fault`,
    '',
  ];
  console.log(lines.join('\n'));
  return {
    url,
    simUrl: sims.url,
    key,
    async close() {
      await page?.close();
      await hub.close();
      await sims.close();
    },
  };
}
