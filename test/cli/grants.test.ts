import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { validateConfig } from '../../src/config.js';
import { createHub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { runTs } from '../helpers/child.js';

const CLI = new URL('../../src/cli/main.ts', import.meta.url).pathname;

it('grants export and import: a backup sealed with the store key brings every grant back into a lost store', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tokenhub-grants-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const key = randomBytes(32).toString('base64');
  const data = join(dir, 'data');
  const raw = {
    listen: { host: '127.0.0.1', port: 0 },
    store: { type: 'file', path: data, encryptionKey: key },
    clients: [{ name: 'c', key: 'grants-test-client-key-0123', apps: ['*'] }],
    apps: {
      a: { platform: 'feishu', appId: 'cli_grants_a', appSecret: 'secret-a', baseUrl: 'http://127.0.0.1:9' },
      b: { platform: 'wecom', appId: 'wwgrantscorp', appSecret: 'secret-b', baseUrl: 'http://127.0.0.1:9' },
    },
  };
  const file = join(dir, 'tokenhub.json');
  await writeFile(file, JSON.stringify(raw));
  const grantValues = { 'authorizer:wx1': `refresh-${randomBytes(8).toString('hex')}`, 'authorizer:wx2': `refresh-${randomBytes(8).toString('hex')}` };

  // Grants as a provider keeps them, in the configured file store.
  const write = async (work: (hub: ReturnType<typeof createHub>) => Promise<void>): Promise<void> => {
    const hub = createHub(validateConfig(raw), { logger: createLogger('silent') });
    await hub.store.open?.();
    try {
      await work(hub);
    } finally {
      hub.broker.close();
      await hub.store.close();
    }
  };
  await write(async (hub) => {
    for (const [name, value] of Object.entries(grantValues)) assert.ok(await hub.broker.grants('a').put(name, value, 0));
    assert.ok(await hub.broker.grants('b').put('corp:ww1', 'permanent-code-1', 0));
  });

  const backup = join(dir, 'grants.backup');
  const exported = runTs(CLI, ['grants', 'export', '--config', file, '--out', backup]);
  assert.equal(await exported.exited, 0, exported.lines.join('\n'));
  assert.match(exported.lines.join('\n'), /3 grants written/);
  const text = await readFile(backup, 'utf8');
  for (const value of [...Object.values(grantValues), 'permanent-code-1']) assert.ok(!text.includes(value), 'a grant in clear in the backup');
  assert.equal((await stat(backup)).mode & 0o777, 0o600);

  // The store is lost; one grant has meanwhile been rotated into a new store by a provider.
  await rm(data, { recursive: true, force: true });
  await write(async (hub) => {
    assert.ok(await hub.broker.grants('a').put('authorizer:wx2', 'rotated-since-the-backup', 0));
  });
  const imported = runTs(CLI, ['grants', 'import', '--config', file, '--in', backup]);
  assert.equal(await imported.exited, 0, imported.lines.join('\n'));
  assert.match(imported.lines.join('\n'), /2 grants restored, 1 kept/);
  await write(async (hub) => {
    assert.equal((await hub.broker.grants('a').get('authorizer:wx1'))?.value, grantValues['authorizer:wx1']);
    assert.equal((await hub.broker.grants('a').get('authorizer:wx2'))?.value, 'rotated-since-the-backup', "the store's newer grant is kept");
    assert.equal((await hub.broker.grants('b').get('corp:ww1'))?.value, 'permanent-code-1');
  });
  const entries = await readdir(join(data, 'entries')).catch(() => [] as string[]);
  assert.ok(entries.length > 0);

  // Another key cannot open it, and says so.
  const other = join(dir, 'other.json');
  await writeFile(other, JSON.stringify({ ...raw, store: { type: 'file', path: join(dir, 'other-data'), encryptionKey: randomBytes(32).toString('base64') } }));
  const refused = runTs(CLI, ['grants', 'import', '--config', other, '--in', backup]);
  assert.equal(await refused.exited, 1);
  assert.match(refused.lines.join('\n'), /cannot be opened with store\.encryptionKey/);
});
