// `npm run openapi`: writes docs/openapi.json, the document GET /openapi.json serves, made from
// a hub whose config has an app of every platform and app type (the demo's). The routes, and so
// the document, are the same for any config; test/server/openapi.test.ts fails when the file is
// not what the code makes.
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { demoConfig } from '../src/cli/sim.js';
import { createHub } from '../src/hub.js';
import { createLogger } from '../src/logger.js';

export const OPENAPI_FILE = fileURLToPath(new URL('../docs/openapi.json', import.meta.url));

/** The OpenAPI document as docs/openapi.json holds it: JSON, two-space indents, a final newline. */
export async function generateOpenapi(): Promise<string> {
  // Never started: no port is opened and no platform is called.
  const hub = createHub(demoConfig('openapi-generator-key-0000000000', 'http://127.0.0.1:9'), { logger: createLogger('silent') });
  try {
    await hub.server.ready();
    return `${JSON.stringify(hub.server.swagger(), null, 2)}\n`;
  } finally {
    await hub.close();
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await writeFile(OPENAPI_FILE, await generateOpenapi());
  console.log(`wrote ${OPENAPI_FILE}`);
}
