import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { AuditLog } from '../../src/audit/audit-log.js';
import { TokenIds } from '../../src/audit/token-id.js';

const AT = Date.parse('2026-12-02T09:00:00Z');
const lines = async (path: string): Promise<Record<string, unknown>[]> =>
  (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('the audit log', () => {
  it('one JSON line per entry, in a fixed order: time, client, action, app, kind, tenant key, outcome, token id; never the value', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-audit-'));
    const path = join(dir, 'sub', 'audit.log');
    const audit = new AuditLog({ path, tokenIdKey: 'audit-key-0123456789', now: () => AT });
    await audit.open();
    audit.write({ client: 'billing "eu"', action: 'token', app: 'main', kind: 'tenant_access_token', tenantKey: 't1', outcome: 'ok', token: 't-secret-value' });
    audit.write({ client: 'ops', action: 'admin.reload', outcome: 'TOKENHUB_RELOAD_REFUSED' });
    audit.tokenRead({ name: 'billing "eu"' }, 'main', 'tenant_access_token', { value: 't-secret-value' });
    await audit.close();
    const text = await readFile(path, 'utf8');
    assert.ok(!text.includes('t-secret-value'));
    const id = new TokenIds('audit-key-0123456789').of('t-secret-value');
    assert.match(id, /^[0-9a-f]{16}$/);
    assert.deepEqual(text.split('\n'), [
      `{"time":"2026-12-02T09:00:00.000Z","client":"billing \\"eu\\"","action":"token","app":"main","kind":"tenant_access_token","tenantKey":"t1","outcome":"ok","tokenId":"${id}"}`,
      '{"time":"2026-12-02T09:00:00.000Z","client":"ops","action":"admin.reload","outcome":"TOKENHUB_RELOAD_REFUSED"}',
      `{"time":"2026-12-02T09:00:00.000Z","client":"billing \\"eu\\"","action":"token","app":"main","kind":"tenant_access_token","outcome":"ok","tokenId":"${id}"}`,
      '',
    ]);
  });

  it('token ids: the same under one key, different under another, random per process without one', () => {
    assert.equal(new TokenIds('k'.repeat(16)).of('v'), new TokenIds('k'.repeat(16)).of('v'));
    assert.notEqual(new TokenIds('k'.repeat(16)).of('v'), new TokenIds('j'.repeat(16)).of('v'));
    assert.notEqual(new TokenIds().of('v'), new TokenIds().of('v'));
    assert.notEqual(new TokenIds().of('v'), new TokenIds().of('w'));
  });

  it('reopens its path after log rotation moved the file; appends to an existing file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-audit-'));
    const path = join(dir, 'audit.log');
    const audit = new AuditLog({ path });
    await audit.open();
    audit.write({ client: 'c', action: 'token', outcome: 'ok' });
    await new Promise((r) => setTimeout(r, 50));
    await rename(path, `${path}.1`);
    audit.reopen();
    await new Promise((r) => setTimeout(r, 50));
    audit.write({ client: 'c', action: 'report', outcome: 'ok' });
    await audit.close();
    assert.deepEqual((await lines(`${path}.1`)).map((l) => l.action), ['token']);
    assert.deepEqual((await lines(path)).map((l) => l.action), ['report']);
    const again = new AuditLog({ path });
    await again.open();
    again.write({ client: 'c', action: 'proxy', outcome: 'ok' });
    await again.close();
    assert.deepEqual((await lines(path)).map((l) => l.action), ['report', 'proxy']);
  });

  it('a file that cannot be opened fails open() (so that the start fails)', async (t) => {
    if (process.getuid?.() === 0) return t.skip('root may write anywhere');
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-audit-'));
    await chmod(dir, 0o500);
    await assert.rejects(new AuditLog({ path: join(dir, 'audit.log') }).open(), /EACCES/);
  });

  it('a path under a file fails open()', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-audit-'));
    const file = join(dir, 'plain');
    const first = new AuditLog({ path: file });
    await first.open();
    await first.close();
    await assert.rejects(new AuditLog({ path: join(file, 'audit.log') }).open(), /ENOTDIR|EEXIST/);
  });
});
