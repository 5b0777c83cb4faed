import { randomBytes } from 'node:crypto';
import { createHub } from '../hub.js';
import { createLogger } from '../logger.js';
import { startSimulators } from '../sim/index.js';
import { demoConfig, simulatorsFor } from './sim.js';

/** `npm start`: the simulators and tokenhub with the demo config, on loopback, offline. */
export async function runDemo(options: { port: number }): Promise<{ close(): Promise<void> }> {
  const key = `demo-${randomBytes(18).toString('base64url')}`;
  const apps = (await demoConfig(key, 'http://127.0.0.1')).apps;
  const sims = await startSimulators({ sims: simulatorsFor(Object.values(apps)) });
  const config = await demoConfig(key, sims.url);
  config.listen.port = options.port;
  const logger = createLogger(config.log.level);
  const hub = createHub(config, { logger });
  const url = await hub.listen();
  const [first] = Object.keys(apps);
  const kind = (id: string): string => hub.broker.app(id).provider.businessKind;
  const lines = [
    '',
    `tokenhub demo on ${url}, platform simulators on ${sims.url} (offline, memory store)`,
    '',
    `client key: ${key}`,
    '',
    'Try:',
    `  curl -s -H 'Authorization: Bearer ${key}' ${url}/v1/apps`,
    ...Object.keys(apps).map((id) => `  curl -s -H 'Authorization: Bearer ${key}' ${url}/v1/apps/${id}/tokens/${kind(id)}`),
    ...(first === undefined ? [] : [`  curl -s -X POST -H 'Authorization: Bearer ${key}' -H 'content-type: application/json' -d '{"token":"<a token>"}' ${url}/v1/apps/${first}/tokens/${kind(first)}/invalidate`]),
    `  curl -s ${url}/metrics | grep ^tokenhub_`,
    '',
    'Break the platform and watch tokenhub keep serving: ',
    `  curl -s -X POST -H 'content-type: application/json' -d '{"mode":"down"}' ${sims.url}/_sim/feishu/fault`,
    '',
  ];
  console.log(lines.join('\n'));
  return {
    async close() {
      await hub.close();
      await sims.close();
    },
  };
}
