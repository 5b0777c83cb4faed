import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
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

const TYPED = `import { TokenHubClient, TokenHubClientError, isTokenHubError, type TokenInfo } from 'tokenhub/client';
const hub = new TokenHubClient({ url: 'http://127.0.0.1:8700', key: process.env.TOKENHUB_KEY });
export const info: Promise<TokenInfo> = hub.getTokenInfo('feishu-main', 'tenant_access_token', { minTtl: 60 });
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

describe('the packed package', () => {
  let dir: string;
  let app: string;
  let stack: Stack;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenhub-pack-'));
    // `npm pack` runs the `prepare` build, as a publish or a git install would.
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    const [{ filename }] = JSON.parse(stdout) as [{ filename: string }];
    await run('tar', ['-xzf', join(dir, filename), '-C', dir]);
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
    if (dir) await rm(dir, { recursive: true, force: true });
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
