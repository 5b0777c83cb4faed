import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { FeishuSim } from '../src/sim/index.js';
import { runChild, type Child } from './helpers/child.js';
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

/** Type-checks `files` in `cwd` as a strict TypeScript consumer of either module system would (Node's types from this checkout). */
async function typecheck(cwd: string, files: string[]): Promise<void> {
  const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck'];
  const types = ['--typeRoots', join(ROOT, 'node_modules', '@types'), '--types', 'node'];
  await run(process.execPath, [TSC, ...args, ...types, ...files], { cwd }).catch((err: { stdout?: string }) => {
    assert.fail(`tsc: ${err.stdout ?? String(err)}`);
  });
}

/** An empty project `name` in the test's directory, with only a package.json. */
async function emptyProject(name: string): Promise<string> {
  const path = join(dir, name);
  await mkdir(path);
  await writeFile(join(path, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }));
  return path;
}

/** Runs `npm pack` with `args` in the repository; the tarball's path. */
async function pack(args: string[]): Promise<string> {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir, ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
  return join(dir, filename);
}

/** Every package folder under a node_modules, scoped and nested ones included. */
async function installed(modules: string): Promise<string[]> {
  if (!existsSync(modules)) return [];
  const out: string[] = [];
  for (const entry of await readdir(modules, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(modules, entry.name);
    if (entry.name.startsWith('@')) out.push(...(await installed(path)));
    else if (existsSync(join(path, 'package.json'))) out.push(path, ...(await installed(join(path, 'node_modules'))));
  }
  return out;
}

// One tarball of each package for the whole file: packing (the build) is the slow part.
let dir: string;
let tarball: string;
let clientTarball: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tokenhub-pack-'));
  // `npm pack` runs the `prepack` build (the server and the client), as a publish would.
  tarball = await pack([]);
  // The client's own `prepack` would build it again: the server's build just did.
  clientTarball = await pack(['--workspace', '@tokenhub/client', '--ignore-scripts']);
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

it("the build (npm pack's) leaves the checkout's bin executable: npx in a checkout runs it as it is, across rebuilds", async () => {
  const { bin } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> };
  for (const path of Object.values(bin)) assert.equal((await stat(join(ROOT, path))).mode & 0o111, 0o111, path);
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
    await typecheck(app, ['typed.mts', 'typed.cts']);
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
    project = await emptyProject('project');
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
    await typecheck(project, ['typed.mts']);
  });

  it('npx --no-install tokenhub runs the installed binary, with no build tools installed', async () => {
    // --no-install: npx must find the local one; it fails rather than fetch a registry package of that name.
    const { stdout } = await run('npx', ['--no-install', 'tokenhub', '--help'], { cwd: project });
    assert.match(stdout, /\bserve\b/);
  });

  it('the installed tree holds no package that only the development needs: no TypeScript, no tsx', async () => {
    const lock = JSON.parse(await readFile(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean; link?: boolean }> };
    const nameOf = (path: string): string => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const entries = Object.entries(lock.packages).filter(([path, entry]) => path.includes('node_modules/') && !entry.link);
    const production = new Set(entries.filter(([, entry]) => !entry.dev).map(([path]) => nameOf(path)));
    // A name npm marks dev in every place of the lock file: nothing the server runs needs it.
    const devOnly = new Set(entries.filter(([path]) => !production.has(nameOf(path))).map(([path]) => nameOf(path)));
    assert.ok(devOnly.has('typescript') && devOnly.has('tsx') && devOnly.has('eslint'), 'the lock file marks the build tools dev');
    const names = await Promise.all((await installed(join(project, 'node_modules'))).map(async (path) => (JSON.parse(await readFile(join(path, 'package.json'), 'utf8')) as { name: string }).name));
    assert.ok(names.includes('fastify') && names.includes('tokenhub'), `installed: ${names.join(', ')}`);
    assert.deepEqual(names.filter((name) => devOnly.has(name) || name === '@tokenhub/client'), []);
  });

  it('every installed package takes every Node version tokenhub declares (npm warns no EBADENGINE)', async () => {
    const { stdout } = await run(process.execPath, [join(ROOT, 'scripts', 'check-engines.js'), project, join(project, 'node_modules', 'tokenhub', 'package.json')]);
    assert.match(stdout, /^check-engines: \d+ packages take node 20\.18\.1/);
  });

  describe('tokenhub serve and tokenhub sim, run from the installed package', () => {
    const key = 'pack-served-key-0123456789';
    let sims: Child;
    let server: Child;
    let simUrl: string;
    let feishuUrl: string;
    let url: string;
    before(async () => {
      const bin = join(project, 'node_modules', '.bin', 'tokenhub');
      sims = runChild(bin, ['sim', '--port', '0', '--lifetime', '600'], { cwd: project });
      simUrl = /on (http:\S+)/.exec(await sims.waitFor(/^platform simulators on http/, 60_000))![1]!;
      const [, baseUrl, appId, appSecret] = /baseUrl (\S+) +appId (\S+) +appSecret (\S+)/.exec(await sims.waitFor(/^ +feishu-main +feishu +baseUrl/))!;
      feishuUrl = baseUrl!;
      const config = ['listen: { host: 127.0.0.1, port: 0 }', 'log: { level: info, format: json }', 'clients:', '  - { name: pack, key: "${PACK_KEY}", apps: ["*"] }', 'apps:', `  main: { platform: feishu, appId: ${appId}, appSecret: "\${PACK_SECRET}", baseUrl: "${baseUrl}" }`];
      await writeFile(join(project, 'tokenhub.yaml'), `${config.join('\n')}\n`);
      server = runChild(bin, ['serve', '--config', 'tokenhub.yaml'], { cwd: project, env: { PACK_KEY: key, PACK_SECRET: appSecret } });
      url = (JSON.parse(await server.waitFor(/tokenhub ready/, 60_000)) as { url: string }).url;
    });
    after(async () => {
      await Promise.all([server?.kill('SIGTERM'), sims?.kill('SIGTERM')]);
    });

    it('hands out a token over HTTP for its client key, one the platform accepts, fetched once; a wrong key is 401', async () => {
      const get = (k: string): Promise<Response> => fetch(`${url}/v1/apps/main/tokens/tenant_access_token`, { headers: { authorization: `Bearer ${k}` } });
      const answers = await Promise.all(Array.from({ length: 5 }, () => get(key)));
      const bodies = (await Promise.all(answers.map((res) => res.json()))) as { token: string; expiresIn: number }[];
      assert.deepEqual(answers.map((res) => res.status), [200, 200, 200, 200, 200]);
      assert.equal(new Set(bodies.map((b) => b.token)).size, 1);
      assert.ok(bodies[0]!.expiresIn >= 599 && bodies[0]!.expiresIn <= 600, `expiresIn ${bodies[0]!.expiresIn}`);
      const business = await fetch(`${feishuUrl}/open-apis/contact/v3/users`, { headers: { authorization: `Bearer ${bodies[0]!.token}` } });
      assert.equal(((await business.json()) as { code: number }).code, 0);
      const stats = (await (await fetch(`${simUrl}/_sim/feishu/stats`)).json()) as { counters: { endpoints: Record<string, { total: number }> } };
      assert.equal(stats.counters.endpoints['tenant_access_token/internal']?.total, 1);
      const wrong = await get('not-the-key-0123456789');
      assert.equal(wrong.status, 401);
      assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'TOKENHUB_UNAUTHORIZED');
    });

    describe('@tokenhub/client packed and installed alone', () => {
      let app: string;
      before(async () => {
        app = await emptyProject('client-app');
        await run('npm', ['install', clientTarball, '--no-audit', '--no-fund', '--loglevel=error'], { cwd: app });
        const load = { esm: `import { TokenHubClient, TokenHubClientError } from '@tokenhub/client';`, cjs: `const { TokenHubClient, TokenHubClientError } = require('@tokenhub/client');` };
        await writeFile(join(app, 'esm.mjs'), USE(load.esm));
        await writeFile(join(app, 'cjs.cjs'), USE(load.cjs));
        await writeFile(join(app, 'typed.mts'), TYPED.replace("from 'tokenhub/client'", "from '@tokenhub/client'"));
        await writeFile(join(app, 'typed.cts'), TYPED.replace("from 'tokenhub/client'", "from '@tokenhub/client'"));
      });

      it('installs nothing but itself', async () => {
        assert.deepEqual((await readdir(join(app, 'node_modules'))).sort(), ['.package-lock.json', '@tokenhub']);
        assert.deepEqual(await readdir(join(app, 'node_modules', '@tokenhub')), ['client']);
        assert.deepEqual((await installed(join(app, 'node_modules'))).map((path) => path.slice(app.length + 1)), ['node_modules/@tokenhub/client']);
        const manifest = JSON.parse(await readFile(join(app, 'node_modules', '@tokenhub', 'client', 'package.json'), 'utf8')) as Record<string, unknown>;
        assert.deepEqual([manifest.dependencies, manifest.peerDependencies, manifest.optionalDependencies], [undefined, undefined, undefined]);
        assert.ok(existsSync(join(app, 'node_modules', '@tokenhub', 'client', 'LICENSE')) && existsSync(join(app, 'node_modules', '@tokenhub', 'client', 'README.md')));
      });

      for (const script of ['esm.mjs', 'cjs.cjs']) {
        it(`getToken works from ${script.startsWith('esm') ? 'import' : 'require'} against the served hub; its errors carry the contract's codes`, async () => {
          const { stdout } = await run(process.execPath, [script], { cwd: app, env: { ...process.env, TOKENHUB_URL: url, TOKENHUB_KEY: key } });
          const out = JSON.parse(stdout);
          const current = (await (await fetch(`${url}/v1/apps/main/tokens/tenant_access_token`, { headers: { authorization: `Bearer ${key}` } })).json()) as { token: string };
          assert.deepEqual(out, { token: current.token, errorClass: true, code: 'TOKENHUB_APP_NOT_FOUND' });
        });
      }

      it('its types resolve for TypeScript consumers of either module system', async () => {
        await typecheck(app, ['typed.mts', 'typed.cts']);
      });
    });
  });
});
