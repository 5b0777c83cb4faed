import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FeishuSim, RunningSimulators } from '../../src/sim/index.js';
import { call, failingServer, feishuPlatform, spawnServer, startHub } from '../helpers/hubs.js';

const TENANT = '/tokens/tenant_access_token';
const CALLS = 'tenant_access_token/internal';

/** The content of every file under `dir` but the lock (which a dead holder leaves behind). */
async function allBytes(dir: string): Promise<string> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name !== 'tokenhub.lock') out.push(await readFile(join(entry.parentPath, entry.name), 'utf8'));
  }
  return out.join('\n');
}

describe('file store: a restarted node calls no platform for tokens it still holds', () => {
  let sim: FeishuSim;
  let sims: RunningSimulators;
  let apps: Record<string, Record<string, unknown>>;
  let work: string;
  const key = `test-${randomBytes(16).toString('hex')}`;
  before(async () => {
    ({ sim, sims, apps } = await feishuPlatform(3));
    work = await mkdtemp(join(tmpdir(), 'tokenhub-e2e-'));
  });
  after(async () => {
    await sims.close();
    await rm(work, { recursive: true, force: true });
  });

  it('in process: tokens and provider state (tickets, refresh tokens) survive a restart; zero upstream calls after it', async () => {
    const dir = join(work, 'inproc');
    // Plain text, as written out: it starts, with one warning.
    const config = { store: { type: 'file', path: dir, encryption: 'none' } };
    sim.counters.reset();
    const first = await startHub({ apps, key, config });
    assert.equal(first.logs.text.match(/plain text/g)?.length, 1, first.logs.text);
    const tokens = await Promise.all([0, 1, 2].map(async (i) => (await first.call('GET', `/v1/apps/app${i}${TENANT}`)).body.token as string));
    await first.hub.broker.state('app0').set('app_ticket', 'TICKET-1', 3_600_000);
    await first.hub.broker.state('app1').set('refresh_token', 'REFRESH-1');
    assert.equal(sim.counters.count(CALLS), 3);
    await first.close();

    const second = await startHub({ apps, key, config });
    try {
      const again = await Promise.all([0, 1, 2].map(async (i) => (await second.call('GET', `/v1/apps/app${i}${TENANT}`)).body.token as string));
      assert.deepEqual(again, tokens);
      assert.equal(sim.counters.count(CALLS), 3, 'the restarted node called the platform');
      assert.equal(await second.hub.broker.state('app0').get('app_ticket'), 'TICKET-1');
      assert.equal(await second.hub.broker.state('app1').get('refresh_token'), 'REFRESH-1');
      // A stored token is also the base of the refresh schedule: the app lists it with its expiry.
      const listed = (await second.call('GET', '/v1/apps')).body.apps.find((a: { id: string }) => a.id === 'app0');
      assert.ok(Date.parse(listed.tokens[0].expiresAt) > Date.now() + 7_000_000);
    } finally {
      await second.close();
    }
  });

  it('serve refuses a file store without encryptionKey (and without `encryption: none`): exit non-zero, one line naming store.encryptionKey', async () => {
    const dir = join(work, 'unkeyed');
    const config = { store: { type: 'file', path: dir }, clients: [{ name: 'test', key, apps: ['*'] }], apps };
    const refused = await failingServer(work, 'unkeyed', config);
    assert.notEqual(refused.code, 0);
    assert.equal(refused.output.trim().split('\n').length, 1, refused.output);
    assert.match(refused.output, /^stderr: tokenhub: invalid config: store\.encryptionKey: required for a file store/);
    // Refused at load: the data dir was never made.
    await assert.rejects(readdir(dir), { code: 'ENOENT' });
  });

  it('real processes: kill -9, then a restart serves the same tokens with zero upstream calls; nothing readable on disk; a damaged file is reported and costs one call', async () => {
    const dir = join(work, 'child');
    const storeKey = randomBytes(32).toString('base64');
    const env = { STORE_KEY: storeKey };
    const config = { store: { type: 'file', path: dir, encryptionKey: '${STORE_KEY}' }, clients: [{ name: 'test', key, apps: ['*'] }], apps };
    sim.counters.reset();

    const first = await spawnServer(work, 'first', config, env);
    let tokens: string[];
    try {
      tokens = await Promise.all([0, 1, 2].map(async (i) => (await call(first.url, key, 'GET', `/v1/apps/app${i}${TENANT}`)).body.token as string));
      assert.equal(sim.counters.count(CALLS), 3);
      // Another tokenhub on the same data dir refuses to start, and says why.
      const rival = await failingServer(work, 'rival', config, env);
      assert.notEqual(rival.code, 0);
      assert.match(rival.output, new RegExp(`tokenhub: cannot start: the data dir is in use by another tokenhub \\(pid ${first.child.process.pid}`));
    } finally {
      await first.child.kill('SIGKILL');
    }

    const bytes = await allBytes(dir);
    for (const token of tokens) assert.ok(!bytes.includes(token.slice(2)), 'a token is readable on disk');
    for (const app of Object.values(apps)) assert.ok(!bytes.includes(app.appSecret as string), 'a secret is on disk');

    // A wrong key is a clear startup error, and leaves the data alone.
    const wrong = await failingServer(work, 'wrong', config, { STORE_KEY: randomBytes(32).toString('hex') });
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.output, /store\.encryptionKey does not open the data in/);
    assert.equal(await allBytes(dir), bytes);

    const second = await spawnServer(work, 'second', config, env);
    try {
      const again = await Promise.all([0, 1, 2].map(async (i) => (await call(second.url, key, 'GET', `/v1/apps/app${i}${TENANT}`)).body.token as string));
      assert.deepEqual(again, tokens);
      assert.equal(sim.counters.count(CALLS), 3, 'the restart called the platform');
    } finally {
      await second.child.kill('SIGKILL');
    }

    // Damage one entry: the others are served from disk, the damaged one is fetched once, and the log names the file.
    const entries = (await readdir(join(dir, 'entries'))).filter((n) => n.startsWith('token-'));
    assert.equal(entries.length, 3);
    const damaged = entries[0]!;
    await writeFile(join(dir, 'entries', damaged), '{"format":1,"key":"tok:');
    const third = await spawnServer(work, 'third', config, env);
    try {
      const served = await Promise.all([0, 1, 2].map(async (i) => (await call(third.url, key, 'GET', `/v1/apps/app${i}${TENANT}`)).body));
      for (const body of served) assert.ok(sim.isValid(body.token), JSON.stringify(body));
      // (Feishu hands out the same token again while 30 minutes or more are left.)
      assert.deepEqual(served.map((b) => b.token), tokens);
      assert.equal(sim.counters.count(CALLS), 4, 'one call for the damaged entry, none for the others');
      assert.ok(third.child.lines.some((l) => l.includes('store entry unreadable') && l.includes(damaged)), 'the damaged file is not named in the log');
    } finally {
      await third.child.kill('SIGTERM');
    }
  });
});
