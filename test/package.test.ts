import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { FeishuSim } from '../src/sim/index.js';
import { startStack, type Stack } from './helpers/stack.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const USE = (load: string): string => `${load}
const hub = new TokenHubClient({ url: process.env.TOKENHUB_URL, key: process.env.TOKENHUB_KEY });
hub.getToken('main', 'tenant_access_token').then(async (token) => {
  const err = await hub.getToken('nope', 'tenant_access_token').catch((e) => e);
  console.log(JSON.stringify({ token, errorClass: err instanceof TokenHubClientError, code: err.code }));
});
`;

const TYPED = `import { TokenHubClient, TokenHubClientError, isTokenHubError, type CardSignature, type JsapiSignature, type TokenInfo } from 'tokenhub/client';
const hub = new TokenHubClient({ url: 'http://127.0.0.1:8700', key: process.env.TOKENHUB_KEY });
export const info: Promise<TokenInfo> = hub.getTokenInfo('feishu-main', 'tenant_access_token', { minTtl: 60 });
export const sig: Promise<JsapiSignature> = hub.jsapiSignature('wecom-main', 'https://app.example.com/', { kind: 'agent_jsapi_ticket' });
export const agent = (s: JsapiSignature): string | undefined => s.agentId;
export const card: Promise<CardSignature> = hub.cardSignature('wechat-main', { cardId: 'p1', code: '1' });
export const code = (e: unknown): string | undefined => (e instanceof TokenHubClientError ? e.code : undefined);
export const status = (e: unknown): number | undefined => (isTokenHubError(e) ? e.status : undefined);
`;

// The ESM and the CommonJS copy of the client in one process: each recognises the other's errors.
const BRAND = `import { createRequire } from 'node:module';
import * as esm from 'tokenhub/client';
const cjs = createRequire(import.meta.url)('tokenhub/client');
const fromEsm = new esm.TokenHubClientError('TOKENHUB_CLIENT_TIMEOUT', 'esm');
const fromCjs = new cjs.TokenHubClientError('TOKENHUB_CLIENT_TIMEOUT', 'cjs');
console.log(JSON.stringify({
  twoClasses: esm.TokenHubClientError !== cjs.TokenHubClientError,
  esmSeesCjs: [fromCjs instanceof esm.TokenHubClientError, esm.isTokenHubError(fromCjs)],
  cjsSeesEsm: [fromEsm instanceof cjs.TokenHubClientError, cjs.isTokenHubError(fromEsm)],
  others: [new Error('x') instanceof esm.TokenHubClientError, cjs.isTokenHubError({ code: 'TOKENHUB_CLIENT_TIMEOUT' }), esm.isTokenHubError(null)],
}));
`;

// One tarball for the whole file: packing (the build) is the slow part.
let dir: string;
let tarball: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tokenhub-pack-'));
  // `npm pack` runs the `prepare` build, as a publish or a git install would.
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  tarball = join(dir, filename);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('tokenhub/client from the packed package, with no dependency installed', () => {
  let app: string;
  let stack: Stack;
  before(async () => {
    await run('tar', ['-xzf', tarball, '-C', dir]);
    app = join(dir, 'app');
    await mkdir(join(app, 'node_modules'), { recursive: true });
    // No dependency is installed beside it: the client must need none.
    await rename(join(dir, 'package'), join(app, 'node_modules', 'tokenhub'));
    await writeFile(join(app, 'esm.mjs'), USE(`import { TokenHubClient, TokenHubClientError } from 'tokenhub/client';`));
    await writeFile(join(app, 'cjs.cjs'), USE(`const { TokenHubClient, TokenHubClientError } = require('tokenhub/client');`));
    await writeFile(join(app, 'brand.mjs'), BRAND);
    await writeFile(join(app, 'typed.mts'), TYPED);
    await writeFile(join(app, 'typed.cts'), TYPED);
    const sim = new FeishuSim({ apps: [{ appId: 'cli_pack', appSecret: 'pack-secret-0123456789' }] });
    stack = await startStack({ sims: [sim], apps: { main: { platform: 'feishu', appId: 'cli_pack', appSecret: 'pack-secret-0123456789', baseUrl: 'sim:feishu' } } });
  });
  after(async () => {
    await stack?.close();
  });

  for (const script of ['esm.mjs', 'cjs.cjs']) {
    it(`tokenhub/client works from ${script.startsWith('esm') ? 'import' : 'require'}`, async () => {
      const { stdout } = await run(process.execPath, [script], { cwd: app, env: { ...process.env, TOKENHUB_URL: stack.url, TOKENHUB_KEY: stack.key } });
      const out = JSON.parse(stdout);
      assert.equal(out.token, (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token);
      assert.equal(out.errorClass, true);
      assert.equal(out.code, 'TOKENHUB_APP_NOT_FOUND');
    });
  }

  it("an error of the ESM copy is recognised by the CommonJS copy and the other way round (instanceof, isTokenHubError)", async () => {
    const { stdout } = await run(process.execPath, ['brand.mjs'], { cwd: app });
    assert.deepEqual(JSON.parse(stdout), { twoClasses: true, esmSeesCjs: [true, true], cjsSeesEsm: [true, true], others: [false, false, false] });
  });

  it('its types resolve for TypeScript consumers of either module system', async () => {
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck'];
    const types = ['--typeRoots', join(ROOT, 'node_modules', '@types'), '--types', 'node'];
    await run(process.execPath, [TSC, ...args, ...types, 'typed.mts', 'typed.cts'], { cwd: app }).catch((err: { stdout?: string }) => {
      assert.fail(`tsc: ${err.stdout ?? String(err)}`);
    });
  });
});

/** What each export of package.json must offer (a few names each); an export missing here fails the test. */
const EXPECTED: Record<string, { esm: readonly string[]; cjs: readonly string[] | 'not offered' }> = {
  '.': { esm: ['createHub', 'loadConfig', 'parseConfig', 'TokenHubError', 'ConfigError', 'ERRORS', 'MemoryStore', 'PLATFORM_NAMES', 'platforms'], cjs: 'not offered' },
  './sim': { esm: ['FeishuSim', 'DingTalkSim', 'WeComSim', 'WeChatSim', 'QingtuiSim', 'startSimulators', 'Faults'], cjs: 'not offered' },
  './client': { esm: ['TokenHubClient', 'TokenHubClientError', 'isTokenHubError'], cjs: ['TokenHubClient', 'TokenHubClientError', 'isTokenHubError'] },
  './package.json': { esm: ['default'], cjs: ['name', 'version'] },
};

// Loads every export of the installed package.json by each module system; prints what each offered.
const LOAD_ALL = `import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
const require = createRequire(import.meta.url);
const { exports } = JSON.parse(readFileSync('node_modules/tokenhub/package.json', 'utf8'));
const out = {};
for (const [path, target] of Object.entries(exports)) {
  const spec = 'tokenhub' + path.slice(1);
  const conditions = typeof target === 'string' ? ['default'] : Object.keys(target);
  const attributes = path.endsWith('.json') ? { with: { type: 'json' } } : undefined;
  const esm = await import(spec, attributes).then((m) => Object.keys(m), (e) => 'failed: ' + e.message);
  let cjs;
  try {
    cjs = Object.keys(require(spec));
  } catch (e) {
    cjs = e.code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' ? 'not offered' : 'failed: ' + e.message;
  }
  out[path] = { conditions, esm, cjs };
}
console.log(JSON.stringify(out));
`;

// The server, a simulator and the client from the installed package, as a user's own test would use them.
const SERVE = `import { createHub, parseConfig } from 'tokenhub';
import { FeishuSim, startSimulators } from 'tokenhub/sim';
import { TokenHubClient } from 'tokenhub/client';
const sim = new FeishuSim({ apps: [{ appId: 'cli_pack', appSecret: 'pack-secret-0123456789' }] });
const sims = await startSimulators({ sims: [sim] });
const key = 'pack-client-key-0123456789';
const config = parseConfig(JSON.stringify({
  listen: { host: '127.0.0.1', port: 0 },
  log: { level: 'silent' },
  clients: [{ name: 'pack', key, apps: ['*'] }],
  apps: { main: { platform: 'feishu', appId: 'cli_pack', appSecret: 'pack-secret-0123456789', baseUrl: sims.baseUrl('feishu') } },
}));
const hub = createHub(config);
const url = await hub.listen();
const token = await new TokenHubClient({ url, key }).getToken('main', 'tenant_access_token');
console.log(JSON.stringify({ valid: sim.isValid(token) }));
await hub.close();
await sims.close();
`;

// The console's files must be in the package: the build copies them next to the compiled server.
const CONSOLE = `import { createHub, parseConfig } from 'tokenhub';
const config = parseConfig(JSON.stringify({
  listen: { host: '127.0.0.1', port: 0 },
  log: { level: 'silent' },
  clients: [{ name: 'ops', key: 'pack-admin-key-0123456789', apps: ['*'], admin: true }],
  apps: { main: { platform: 'feishu', appId: 'cli_pack', appSecret: 'pack-secret-0123456789', baseUrl: 'http://127.0.0.1:9' } },
}));
const hub = createHub(config);
const url = await hub.listen();
const out = {};
for (const path of ['/console', '/console/console.js', '/console/console.css']) out[path] = (await fetch(url + path)).status;
out.version = (await (await fetch(url + '/v1/admin/status', { headers: { authorization: 'Bearer pack-admin-key-0123456789' } })).json()).version;
console.log(JSON.stringify(out));
await hub.close();
`;

const TYPED_SERVER = `import { createHub, loadConfig, type HubOptions, type LoadedConfig, type TokenStore } from 'tokenhub';
import { FeishuSim, type FeishuSimOptions } from 'tokenhub/sim';
export const start = async (file: string, store?: TokenStore): Promise<string> => {
  const config: LoadedConfig = await loadConfig(file);
  const options: HubOptions = store ? { store } : {};
  return createHub(config, options).listen();
};
const simOptions: FeishuSimOptions = { apps: [{ appId: 'cli_a', appSecret: 's' }] };
export const sim = new FeishuSim(simOptions);
`;

describe('every export of the packed package, installed with --omit=dev', () => {
  let project: string;
  before(async () => {
    project = join(dir, 'project');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true }));
    // --prefer-offline: the dependencies come from npm's cache where they are (npm ci filled it), else the registry.
    await run('npm', ['install', tarball, '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: project, maxBuffer: 16 * 1024 * 1024 });
    await writeFile(join(project, 'load-all.mjs'), LOAD_ALL);
    await writeFile(join(project, 'serve.mjs'), SERVE);
    await writeFile(join(project, 'typed.mts'), TYPED_SERVER);
    await writeFile(join(project, 'console.mjs'), CONSOLE);
  });

  it('each export loads by each module system it offers (ESM for all; CommonJS for the client and package.json), with the names it should have', async () => {
    const { stdout } = await run(process.execPath, ['load-all.mjs'], { cwd: project });
    const loaded = JSON.parse(stdout) as Record<string, { conditions: string[]; esm: string[] | string; cjs: string[] | string }>;
    assert.deepEqual(Object.keys(loaded).sort(), Object.keys(EXPECTED).sort(), 'package.json exports differ from the ones this test checks');
    for (const [path, expected] of Object.entries(EXPECTED)) {
      const got = loaded[path]!;
      assert.ok(Array.isArray(got.esm), `import of ${path}: ${String(got.esm)}`);
      for (const name of expected.esm) assert.ok(got.esm.includes(name), `import of ${path} has no ${name}`);
      if (expected.cjs === 'not offered') {
        // Said so in package.json: only an "import" condition.
        assert.deepEqual(got.conditions, ['import'], `${path} offers more than import`);
        assert.equal(got.cjs, 'not offered', `require of ${path}`);
      } else {
        assert.ok(Array.isArray(got.cjs), `require of ${path}: ${String(got.cjs)}`);
        for (const name of expected.cjs) assert.ok(got.cjs.includes(name), `require of ${path} has no ${name}`);
      }
    }
  });

  it('a hub, a simulator and the client from the installed package hand out a token the platform accepts', async () => {
    const { stdout } = await run(process.execPath, ['serve.mjs'], { cwd: project, timeout: 20_000 });
    assert.deepEqual(JSON.parse(stdout), { valid: true });
  });

  it('the installed server serves the console and tells its version', async () => {
    const { stdout } = await run(process.execPath, ['console.mjs'], { cwd: project, timeout: 20_000 });
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.deepEqual(JSON.parse(stdout), { '/console': 200, '/console/console.js': 200, '/console/console.css': 200, version });
  });

  it('the types of tokenhub and tokenhub/sim resolve for TypeScript consumers', async () => {
    const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck'];
    const types = ['--typeRoots', join(ROOT, 'node_modules', '@types'), '--types', 'node'];
    await run(process.execPath, [TSC, ...args, ...types, 'typed.mts'], { cwd: project }).catch((err: { stdout?: string }) => {
      assert.fail(`tsc: ${err.stdout ?? String(err)}`);
    });
  });

  it('npx tokenhub runs with no build tools installed', async () => {
    const { stdout } = await run(join(project, 'node_modules', '.bin', 'tokenhub'), ['--help'], { cwd: project });
    assert.match(stdout, /\bserve\b/);
  });
});
