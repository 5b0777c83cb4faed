// Reloading the config of a running `tokenhub serve` (SIGHUP and POST /v1/admin/reload), counting
// the token calls that reach the simulator: unchanged apps keep their tokens with no call, added
// and changed ones are fetched, removed ones are gone, a broken file changes nothing.
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FEISHU_ENDPOINTS, FeishuSim, startSimulators, type RunningSimulators } from '../../src/sim/index.js';
import type { Child } from '../helpers/child.js';
import { call, spawnServer } from '../helpers/hubs.js';

const ADMIN = 'reload-admin-key-0123456789abcdef';
const READER = 'reload-reader-key-0123456789abcdef';
const SECRETS = { a: 'secret-a-0123456789', b: 'secret-b-0123456789', b2: 'secret-b-rotated-9876543210', c: 'secret-c-0123456789' };

describe('tokenhub serve: reloading the config', () => {
  let dir: string;
  let sims: RunningSimulators;
  let sim: FeishuSim;
  let child: Child;
  let url: string;
  const calls = (appId: string): number => sim.counters.count(FEISHU_ENDPOINTS.tenant, appId);
  const app = (appId: string, secret: string): Record<string, unknown> => ({ platform: 'feishu', appId, appSecret: secret, baseUrl: sims.baseUrl('feishu') });
  const config = (apps: Record<string, unknown>, clients: unknown[]): string =>
    JSON.stringify({ listen: { host: '127.0.0.1', port: 0 }, log: { level: 'info' }, clients, apps });
  const token = async (key: string, id: string): Promise<{ status: number; body: any }> => call(url, key, 'GET', `/v1/apps/${id}/tokens/tenant_access_token`);
  /** The next reload's log line (from the lines printed after `from`). */
  const reloadLine = async (from: number): Promise<Record<string, any>> => {
    const pattern = /config reload/;
    for (let i = 0; i < 500; i++) {
      const line = child.lines.slice(from).find((l) => pattern.test(l));
      if (line !== undefined) return JSON.parse(line) as Record<string, any>;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no reload line; output:\n${child.lines.join('\n')}`);
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenhub-reload-'));
    sim = new FeishuSim({ apps: [{ appId: 'cli_a', appSecret: SECRETS.a }, { appId: 'cli_b', appSecret: SECRETS.b }, { appId: 'cli_c', appSecret: SECRETS.c }] });
    sims = await startSimulators({ sims: [sim] });
    ({ child, url } = await spawnServer(dir, 'reload', {
      clients: [{ name: 'ops', key: ADMIN, apps: ['*'], admin: true }, { name: 'reader', key: READER, apps: ['a', 'b'] }],
      apps: { a: app('cli_a', SECRETS.a), b: app('cli_b', SECRETS.b) },
    }));
  });
  after(async () => {
    await child?.kill();
    await sims.close();
  });

  it('adds, changes, removes apps and clients at once; unchanged apps keep their tokens; a broken file is refused and changes nothing', async () => {
    const file = join(dir, 'reload.json');
    const a1 = (await token(READER, 'a')).body.token as string;
    const b1 = (await token(READER, 'b')).body.token as string;
    assert.deepEqual([calls('cli_a'), calls('cli_b')], [1, 1]);

    // SIGHUP: c added (and the reader may use it), b's secret rotated on the platform and in the file.
    sim.setSecret('cli_b', SECRETS.b2);
    await writeFile(file, config({ a: app('cli_a', SECRETS.a), b: app('cli_b', SECRETS.b2), c: app('cli_c', SECRETS.c) }, [
      { name: 'ops', key: ADMIN, apps: ['*'], admin: true },
      { name: 'reader', key: READER, apps: ['a', 'b', 'c'] },
    ]));
    let from = child.lines.length;
    child.process.kill('SIGHUP');
    const reloaded = await reloadLine(from);
    assert.equal(reloaded.msg, 'config reloaded');
    assert.deepEqual([reloaded.added, reloaded.changed, reloaded.removed, reloaded.unchanged], [['c'], ['b'], [], 1]);
    assert.equal(reloaded.level, 'info');

    const a2 = await token(READER, 'a');
    assert.equal(a2.body.token, a1, 'an unchanged app keeps its token');
    assert.equal(calls('cli_a'), 1, 'and makes no call');
    const b2 = await token(READER, 'b');
    assert.equal(b2.status, 200);
    // Feishu hands back the same token while it has 30 minutes left; what counts is the call, with the new secret.
    assert.equal(calls('cli_b'), 2, 'a changed secret starts afresh: one call');
    const c = await token(READER, 'c');
    assert.equal(c.status, 200, 'an added app is served at once');
    assert.equal(calls('cli_c'), 1);

    // POST /v1/admin/reload: a removed, the reader removed. Only an admin may ask.
    await writeFile(file, config({ b: app('cli_b', SECRETS.b2), c: app('cli_c', SECRETS.c) }, [{ name: 'ops', key: ADMIN, apps: ['*'], admin: true }]));
    const refused = await call(url, READER, 'POST', '/v1/admin/reload');
    assert.deepEqual([refused.status, refused.body.error.code], [403, 'TOKENHUB_FORBIDDEN']);
    const answer = await call(url, ADMIN, 'POST', '/v1/admin/reload');
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(answer.body, { added: [], changed: [], removed: ['a'], unchanged: ['b', 'c'], restartNeeded: [], clients: 1 });
    assert.equal((await token(ADMIN, 'a')).body.error.code, 'TOKENHUB_APP_NOT_FOUND');
    assert.equal((await token(READER, 'b')).status, 401, 'a removed client is refused at once, on a connection that proved its key before');
    const b3 = await token(ADMIN, 'b');
    assert.equal(b3.body.token, b2.body.token);

    // A broken file: refused with every problem listed, over HTTP and on SIGHUP; the running config stays.
    await writeFile(file, config({ b: { ...app('cli_b', SECRETS.b2), platform: 'slack' }, c: app('cli_c', SECRETS.c), d: { platform: 'feishu' } }, [{ name: 'ops', key: ADMIN, apps: ['*'], admin: true }]));
    const broken = await call(url, ADMIN, 'POST', '/v1/admin/reload');
    assert.deepEqual([broken.status, broken.body.error.code, broken.headers['x-tokenhub-error']], [400, 'TOKENHUB_RELOAD_REFUSED', 'TOKENHUB_RELOAD_REFUSED']);
    assert.ok(broken.body.error.issues.some((i: string) => /^apps\.b\.platform: must be one of/.test(i)), JSON.stringify(broken.body));
    assert.ok(broken.body.error.issues.some((i: string) => /^apps\.d\.appId: required/.test(i)), JSON.stringify(broken.body));
    await writeFile(file, '{ not json: [');
    from = child.lines.length;
    child.process.kill('SIGHUP');
    const refusedLine = await reloadLine(from);
    assert.equal(refusedLine.msg, 'config reload refused: the running config stays');
    assert.equal(refusedLine.level, 'error');
    assert.match(refusedLine.issues[0], /not valid YAML/);
    const before = sim.counters.count();
    assert.equal((await token(ADMIN, 'b')).body.token, b2.body.token);
    assert.equal((await token(ADMIN, 'c')).body.token, c.body.token);
    assert.equal(sim.counters.count(), before, 'served as before, no call');
    assert.equal(child.process.exitCode, null, 'still running');

    // Nothing secret in any line it printed.
    const output = child.lines.join('\n');
    for (const secret of [ADMIN, READER, ...Object.values(SECRETS), a1, b1, b2.body.token, c.body.token]) assert.ok(!output.includes(secret), 'a key, secret or token in the log');
  });
});
