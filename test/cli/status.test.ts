import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { duration } from '../../src/cli/status.js';
import { FeishuSim } from '../../src/sim/index.js';
import { startStack, type Stack } from '../helpers/stack.js';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const ADMIN_KEY = 'status-admin-key-0123456789';
const PLAIN_KEY = 'status-plain-key-0123456789';

async function status(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  // Without TOKENHUB_URL / TOKENHUB_KEY from the caller's shell.
  const { TOKENHUB_URL: _u, TOKENHUB_KEY: _k, ...clean } = process.env;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ['--import', 'tsx', CLI, 'status', ...args], { env: { ...clean, ...env }, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('tokenhub status', () => {
  let stack: Stack;
  let sim: FeishuSim;
  before(async () => {
    sim = new FeishuSim({ apps: [{ appId: 'cli_status', appSecret: 'status-secret-xxxxxxxxxx' }] });
    stack = await startStack({
      sims: [sim],
      config: { clients: [{ name: 'ops', key: ADMIN_KEY, apps: ['*'], admin: true }, { name: 'billing', key: PLAIN_KEY, apps: ['*'] }] },
      apps: {
        main: { platform: 'feishu', appId: 'cli_status', appSecret: 'status-secret-xxxxxxxxxx', baseUrl: 'sim:feishu' },
        broken: { platform: 'feishu', appId: 'cli_status', appSecret: 'wrong-secret-xxxxxxxxxxx', baseUrl: 'sim:feishu' },
      },
    });
    await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token');
  });
  after(() => stack.close());

  it('prints every app and token as a table, from --url and --key', async () => {
    const res = await status(['--url', stack.url, '--key', ADMIN_KEY]);
    assert.equal(res.code, 0, res.stderr);
    const lines = res.stdout.split('\n');
    assert.match(lines[0]!, new RegExp(`^tokenhub \\d+\\.\\d+\\.\\d+\\S* at ${stack.url}, up \\d+s; store: memory reachable$`));
    assert.match(lines[1]!, /^2 apps; nothing needs attention$/);
    assert.match(res.stdout, /^APP\s+KIND\s+LEFT\s+LAST REFRESH\s+NEXT REFRESH\s+UPSTREAM\s+STATE$/m);
    assert.match(res.stdout, /^main\s+tenant_access_token\s+1h59m\d+s\s+\d+s ago\s+in 1h\d+m\d+s\s+1\s+ok$/m);
    assert.match(res.stdout, /^\s+app_access_token\s+-\s+-\s+-\s+0\s+not fetched yet$/m);
    assert.match(res.stdout, /^broken\s+tenant_access_token/m);
  });

  it('exits 2 when something is marked as an error, naming it; --json prints the status itself (from TOKENHUB_URL, TOKENHUB_KEY)', async () => {
    assert.equal((await stack.call('GET', '/v1/apps/broken/tokens/tenant_access_token')).status, 502);
    const res = await status([], { TOKENHUB_URL: stack.url, TOKENHUB_KEY: ADMIN_KEY });
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stdout, /^2 apps; 1 error, 0 warnings$/m);
    assert.match(res.stdout, /^broken\s+tenant_access_token\s+-\s+-\s+-\s+\d+ \(\d+ failed\)\s+ERROR credentials\.rejected$/m);
    assert.match(res.stdout, /^\s+> tenant_access_token: feishu refused the token request/m);

    const json = await status(['--json'], { TOKENHUB_URL: stack.url, TOKENHUB_KEY: ADMIN_KEY });
    assert.equal(json.code, 2);
    const parsed = JSON.parse(json.stdout);
    assert.deepEqual(parsed.apps.map((a: { id: string }) => a.id), ['main', 'broken']);
    assert.equal(parsed.attention.errors, 1);
  });

  it('exits 1 with one line for no key, a key that is not an admin, an unknown key and an unreachable tokenhub', async () => {
    // A port nothing listens on.
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const closed = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    server.close();
    const cases: [string[], RegExp][] = [
      [['--url', stack.url], /^tokenhub: no key: pass --key KEY or set TOKENHUB_KEY/],
      [['--url', stack.url, '--key', PLAIN_KEY], /^tokenhub: TOKENHUB_FORBIDDEN: client billing is not an admin/],
      [['--url', stack.url, '--key', 'unknown-key-0123456789'], /^tokenhub: TOKENHUB_UNAUTHORIZED: unknown client key/],
      [['--url', closed, '--key', ADMIN_KEY], new RegExp(`^tokenhub: cannot reach tokenhub at ${closed}: ECONNREFUSED`)],
    ];
    for (const [args, reason] of cases) {
      const res = await status(args);
      assert.equal(res.code, 1, args.join(' '));
      assert.equal(res.stdout, '');
      assert.match(res.stderr, reason);
      assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
      assert.ok(!res.stderr.includes(ADMIN_KEY));
    }
  });

  it('has --help, naming the environment variables and the exit codes', async () => {
    const res = await status(['--help']);
    assert.equal(res.code, 0);
    assert.match(res.stdout, /^Usage: tokenhub status \[options\]/);
    for (const word of ['TOKENHUB_URL', 'TOKENHUB_KEY', '--json', 'exit 2']) assert.ok(res.stdout.includes(word), word);
  });

  it('durations are short and exact to the second', () => {
    assert.deepEqual([0, 42_000, 725_000, 7_152_900, 200 * 3600_000].map(duration), ['0s', '42s', '12m5s', '1h59m12s', '8d8h']);
  });
});
