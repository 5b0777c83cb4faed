import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { PLATFORM_NAMES } from '../../src/platforms/index.js';
import { FeishuSim, startSimulators, type RunningSimulators } from '../../src/sim/index.js';
import { spawnServer } from '../helpers/hubs.js';
import { runTs } from '../helpers/child.js';
import { openSocket } from '../helpers/raw.js';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const KEY = 'cli-test-client-key-0123456789';

function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('tokenhub CLI', () => {
  let dir: string;
  let sims: RunningSimulators;
  let sim: FeishuSim;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenhub-cli-'));
    sim = new FeishuSim({ apps: [{ appId: 'cli_x', appSecret: 'cli-secret' }] });
    sims = await startSimulators({ sims: [sim] });
  });
  after(() => sims.close());

  it('--help lists the subcommands, and each has its own --help', () => {
    const help = run(['--help']);
    assert.equal(help.status, 0);
    for (const cmd of ['serve', 'sim', 'demo', 'hash-key', 'check', 'status']) assert.match(help.stdout, new RegExp(`\\b${cmd}\\b`));
    for (const platform of PLATFORM_NAMES) assert.match(help.stdout, new RegExp(`\\b${platform}\\b`), `--help does not name ${platform}`);
    for (const cmd of ['serve', 'sim', 'demo', 'hash-key', 'check', 'status']) {
      const sub = run([cmd, '--help']);
      assert.equal(sub.status, 0, `${cmd} --help`);
      assert.match(sub.stdout, new RegExp(`Usage: tokenhub ${cmd}`));
    }
  });

  it('serve exits non-zero with a one-line reason on a bad config', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, `clients: [{ name: c, key: ${KEY}, apps: ["*"] }]\napps: { a: { platform: slack, appId: x, appSecret: y } }\n`);
    const res = run(['serve', '--config', file]);
    assert.equal(res.status, 1);
    assert.equal(res.stderr.trim().split('\n').length, 1, res.stderr);
    assert.match(res.stderr, /^tokenhub: invalid config: apps\.a\.platform: must be one of/);

    const missing = run(['serve']);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /no config: pass --config FILE or set TOKENHUB_CONFIG/);
    const noFile = run(['serve', '--config', join(dir, 'nope.yaml')]);
    assert.match(noFile.stderr, /cannot read .*nope\.yaml/);
  });

  it('hash-key prints the SHA-256 a config can hold instead of the key', () => {
    const res = run(['hash-key', KEY]);
    assert.equal(res.status, 0);
    assert.match(res.stdout, /^keySha256: [0-9a-f]{64}$/m);
  });

  it('serve (config from TOKENHUB_CONFIG) logs one line when ready, serves tokens, and finishes requests in flight on SIGTERM', async () => {
    const file = join(dir, 'good.yaml');
    await writeFile(
      file,
      `listen: { host: 127.0.0.1, port: 0 }\nclients: [{ name: c, key: "\${CLI_KEY}", apps: ["*"] }]\napps:\n  x: { platform: feishu, appId: cli_x, appSecret: cli-secret, baseUrl: "${sims.baseUrl('feishu')}" }\n`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve'], { env: { ...process.env, TOKENHUB_CONFIG: file, CLI_KEY: KEY }, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const logged: string[] = [];
    const ready = await new Promise<{ url: string; msg: string }>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        logged.push(line);
        const entry = JSON.parse(line) as { msg: string; url: string };
        if (entry.msg === 'tokenhub ready') resolve(entry);
      });
      child.once('exit', () => reject(new Error('exited before it was ready')));
    });
    assert.equal(logged.length, 1, `more than the ready line: ${logged.join('\n')}`);
    const headers = { authorization: `Bearer ${KEY}` };
    const res = await fetch(`${ready.url}/v1/apps/x/tokens/tenant_access_token`, { headers });
    assert.equal(res.status, 200);
    const { token } = (await res.json()) as { token: string };

    // A request in flight (the platform is slow) when SIGTERM arrives still gets its answer.
    sim.revoke(token);
    sim.faults.set('slow', { delayMs: 800 });
    const inFlight = fetch(`${ready.url}/v1/apps/x/tokens/tenant_access_token/invalidate`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
    // A request whose headers were still arriving when SIGTERM came gets tokenhub's own 503 with its
    // code (never Fastify's), and the answer in flight tells its client to close the connection.
    const { host } = new URL(ready.url);
    const late = await openSocket(ready.url);
    let received = '';
    late.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    const closed = new Promise((resolve) => late.once('close', resolve));
    late.write(`GET /v1/apps/x/tokens/tenant_access_token HTTP/1.1\r\nHost: ${host}\r\n`);
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 100));
    late.write(`Authorization: Bearer ${KEY}\r\n\r\n`);
    await closed;
    assert.match(received, /^HTTP\/1\.1 503 /, received);
    assert.match(received, /x-tokenhub-error: TOKENHUB_SHUTTING_DOWN/i);
    assert.match(received, /retry-after: 1/i);
    assert.match(received, /connection: close/i);
    assert.match(received, /\{"error":\{"code":"TOKENHUB_SHUTTING_DOWN"/);
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('connection'), 'close');
    assert.notEqual(((await answer.json()) as { token: string }).token, token);
    assert.equal(await exited, 0);
    sim.faults.set('none');
  });

  it('check fetches one token per app: exit 0 when all are had, 1 naming each app that fails; a bad config names its key', async () => {
    const config = (apps: Record<string, unknown>) => ({ clients: [{ name: 'c', key: KEY, apps: ['*'] }], apps });
    const good = join(dir, 'check-good.json');
    await writeFile(good, JSON.stringify(config({ x: { platform: 'feishu', appId: 'cli_x', appSecret: 'cli-secret', baseUrl: sims.baseUrl('feishu') } })));
    const before = sim.counters.count();
    const ok = runTs(CLI, ['check', '--config', good]);
    assert.equal(await ok.exited, 0, ok.lines.join('\n'));
    assert.match(ok.lines.join('\n'), /^ok\s+x\s+feishu tenant_access_token: expires in \d+ s$/m);
    assert.equal(sim.counters.count() - before, 1, 'one token call for the one app');

    const bad = join(dir, 'check-bad.json');
    await writeFile(
      bad,
      JSON.stringify(
        config({
          x: { platform: 'feishu', appId: 'cli_x', appSecret: 'cli-secret', baseUrl: sims.baseUrl('feishu') },
          wrong: { platform: 'feishu', appId: 'cli_x', appSecret: 'not-the-secret', baseUrl: sims.baseUrl('feishu') },
        }),
      ),
    );
    const failed = runTs(CLI, ['check', '--config', bad]);
    assert.equal(await failed.exited, 1);
    const out = failed.lines.join('\n');
    assert.match(out, /^FAILED\s+wrong\s+feishu tenant_access_token: TOKENHUB_PLATFORM_REFUSED/m);
    assert.match(out, /1 of 2 apps failed: wrong$/m);
    assert.ok(!out.includes('not-the-secret') && !out.includes('cli-secret'), 'no secret in the output');

    const broken = join(dir, 'check-broken.json');
    await writeFile(broken, JSON.stringify(config({ x: { platform: 'nope', appId: 'a', appSecret: 'b' } })));
    const refused = runTs(CLI, ['check', '--config', broken]);
    assert.equal(await refused.exited, 1);
    assert.match(refused.lines.join('\n'), /apps\.x\.platform/);
  });

  it('SIGHUP reloads the config and the server goes on; SIGTERM during a slow request lets it finish, closes and exits 0', async () => {
    const { child, url } = await spawnServer(dir, 'signals', {
      clients: [{ name: 'c', key: KEY, apps: ['*'] }],
      apps: { x: { platform: 'feishu', appId: 'cli_x', appSecret: 'cli-secret', baseUrl: sims.baseUrl('feishu') } },
    });
    try {
      const headers = { authorization: `Bearer ${KEY}` };
      child.process.kill('SIGHUP');
      const line = JSON.parse(await child.waitFor(/SIGHUP/, 10_000)) as { level: string; msg: string; signal: string };
      assert.equal(line.signal, 'SIGHUP');
      assert.match(line.msg, /reloading the config/);
      const reloaded = JSON.parse(await child.waitFor(/config reloaded/, 10_000)) as { unchanged: number; added: string[] };
      assert.deepEqual([reloaded.unchanged, reloaded.added], [1, []]);
      // Still serving, twice over.
      child.process.kill('SIGHUP');
      const res = await fetch(`${url}/v1/apps/x/tokens/tenant_access_token`, { headers });
      assert.equal(res.status, 200);
      const { token } = (await res.json()) as { token: string };
      assert.equal(child.process.exitCode, null);

      sim.revoke(token);
      sim.faults.set('slow', { delayMs: 800 });
      const inFlight = fetch(`${url}/v1/apps/x/tokens/tenant_access_token/invalidate`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ token }) });
      await new Promise((r) => setTimeout(r, 200));
      child.process.kill('SIGTERM');
      const answer = await inFlight;
      assert.equal(answer.status, 200);
      assert.notEqual(((await answer.json()) as { token: string }).token, token);
      assert.equal(await child.exited, 0);
      const said = child.lines.map((l) => (l.startsWith('{') ? (JSON.parse(l) as { msg: string }).msg : l));
      assert.ok(said.some((m) => /shutting down/.test(m)), said.join('\n'));
      assert.ok(said.includes('stopped'), said.join('\n'));
      for (const l of child.lines) assert.ok(!l.includes(KEY) && !l.includes(token), 'a key or token in the log');
    } finally {
      sim.faults.set('none');
      await child.kill();
    }
  });
});
