// The Python client's tests (clients/python/tests, `python3 -m unittest`) against a real tokenhub
// and the simulators over loopback HTTP: this file starts them and passes where they are in the
// environment, as a user running the tests by hand would (clients/python/README.md).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { FeishuSim, WeChatSim } from '../../src/sim/index.js';
import { startStack, type Stack } from '../helpers/stack.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The interpreter: `python3`, or another one to try (TOKENHUB_PYTHON=/path/to/python3.9). */
const PYTHON = process.env.TOKENHUB_PYTHON ?? 'python3';
const secret = (name: string): string => `${name}-${randomBytes(8).toString('hex')}`;

const FEISHU = { appId: 'cli_python_main', appSecret: secret('feishu') };
const STORE = { appId: 'cli_python_store', appSecret: secret('store'), verificationToken: secret('vt'), encryptKey: secret('ek') };
const WECHAT = { appId: 'wx0python0main', appSecret: secret('wechat') };

/** Runs `PYTHON args` in `cwd`; its exit code and everything it printed. */
function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** This process's environment without proxy settings: the tests talk to loopback servers only. */
function withoutProxies(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(https?|all|no)_proxy$/i.test(name)));
}

describe('the Python client (clients/python)', () => {
  let stack: Stack;
  let feishu: FeishuSim;

  before(async () => {
    const found = spawnSync(PYTHON, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    if (found.error !== undefined || found.status !== 0) {
      assert.fail(`${PYTHON} is not on PATH (${found.error?.message ?? found.stderr}): the Python client's tests need Python 3.9 or later (Debian: apt-get install python3)`);
    }
    const [major = 0, minor = 0] = found.stdout.trim().split('.').map(Number);
    assert.ok(major === 3 && minor >= 9, `${PYTHON} is Python ${found.stdout.trim()}; the client needs 3.9 or later`);

    feishu = new FeishuSim({ apps: [FEISHU], storeApps: [STORE] });
    stack = await startStack({
      sims: [feishu, new WeChatSim({ apps: [WECHAT] })],
      apps: {
        'feishu-main': { platform: 'feishu', ...FEISHU, baseUrl: 'sim:feishu' },
        'feishu-store': { platform: 'feishu', appType: 'store', ...STORE, baseUrl: 'sim:feishu' },
        'wechat-main': { platform: 'wechat', ...WECHAT, baseUrl: 'sim:wechat' },
      },
    });
    // The platform pushes the store app's app_ticket to tokenhub's events URL.
    feishu.setEventUrl(STORE.appId, `${stack.url}/v1/apps/feishu-store/events`);
    const pushed = await feishu.pushTicket(STORE.appId);
    assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
  });
  after(() => stack?.close());

  it('python3 -m unittest passes every test, none skipped, against tokenhub and the simulators', async (t) => {
    const env = {
      ...withoutProxies(),
      TOKENHUB_URL: stack.url,
      TOKENHUB_KEY: stack.key,
      TOKENHUB_SIM_URL: stack.sims.url,
      TOKENHUB_TEST_FEISHU_APP: 'feishu-main',
      TOKENHUB_TEST_FEISHU_APP_ID: FEISHU.appId,
      TOKENHUB_TEST_STORE_APP: 'feishu-store',
      TOKENHUB_TEST_STORE_APP_ID: STORE.appId,
      TOKENHUB_TEST_WECHAT_APP: 'wechat-main',
      TOKENHUB_TEST_WECHAT_APP_ID: WECHAT.appId,
      PYTHONDONTWRITEBYTECODE: '1',
    };
    const { code, output } = await run(['-m', 'unittest', 'discover', '-s', 'clients/python/tests', '-v'], env, 120_000);
    assert.equal(code, 0, `python3 -m unittest failed:\n${output}`);
    const ran = /^Ran (\d+) tests? in \S+/m.exec(output);
    assert.ok(ran !== null && Number(ran[1]) > 0, `no tests ran:\n${output}`);
    t.diagnostic(`${PYTHON}: ${ran[0].trim()}`);
    // "OK (skipped=3)" would mean tests that did not see tokenhub: every one must have run.
    assert.match(output, /^OK$/m, `tests were skipped or failed:\n${output}`);
    assert.doesNotMatch(output, /\.\.\. skipped/, `tests were skipped:\n${output}`);
    // The client spoke to this tokenhub: the store app's tenants got tokens through it.
    assert.ok(feishu.counters.count('tenant_access_token', STORE.appId) > 0);
  });
});
