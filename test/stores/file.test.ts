import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { StoredToken } from '../../src/core/types.js';
import { createLogger } from '../../src/logger.js';
import { keyId } from '../../src/stores/crypto.js';
import { FileStore } from '../../src/stores/file.js';
import { keyRing } from '../../src/stores/index.js';
import { TOKEN_RETENTION_MS } from '../../src/stores/retention.js';
import { runTs } from '../helpers/child.js';
import { LogCapture, eventually, sleep } from '../helpers/stack.js';
import { storeConformance } from './conformance.js';

const conformanceKeys = { current: randomBytes(32), previous: [] };
async function conformanceStore(now?: () => number) {
  const dir = await mkdtemp(join(tmpdir(), 'tokenhub-file-'));
  const store = new FileStore({ path: dir, encryption: conformanceKeys, ...(now ? { now } : {}) });
  return {
    store,
    async cleanup() {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

storeConformance({ name: 'file', shared: false, create: () => conformanceStore(), createWithClock: (now) => conformanceStore(now) });

describe('file store: bounded', () => {
  const entryFiles = async (dir: string): Promise<string[]> => (await readdir(join(dir, 'entries'))).filter((n) => n.endsWith('.json')).sort();

  it('deletes the entry files of tokens past expiry + retention: periodically while it runs, and at open', async () => {
    const dir = await tempDir();
    let clock = 1_900_000_000_000;
    const token = (value: string, expiresAt: number): StoredToken => ({ value, version: 1, expiresAt, obtainedAt: clock });
    const store = new FileStore({ path: dir, encryption: 'none', now: () => clock, sweepIntervalMs: 20 });
    try {
      await store.open();
      for (let i = 0; i < 20; i++) await store.putToken(`tok:tenant${i}`, token(`t-${i}`, clock + 7_200_000));
      await store.putToken('tok:busy', token('t-busy', clock + 3 * TOKEN_RETENTION_MS));
      await store.setState('state:marker', 'x', 1_000);
      assert.equal((await entryFiles(dir)).length, 22);
      clock += 7_200_000 + TOKEN_RETENTION_MS;
      // Nothing reads them: the sweep alone removes them.
      await eventually(async () => (await entryFiles(dir)).length === 1);
      assert.equal((await store.getToken('tok:busy'))?.value, 't-busy');
    } finally {
      await store.close();
    }

    // Closed with one live entry; reopened a retention later, that one is gone at open.
    clock += 3 * TOKEN_RETENTION_MS;
    const later = new FileStore({ path: dir, encryption: 'none', now: () => clock });
    try {
      await later.open();
      assert.deepEqual(await entryFiles(dir), []);
      assert.equal(await later.getToken('tok:busy'), undefined);
    } finally {
      await later.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

const CHILD = fileURLToPath(new URL('../helpers/file-store-child.ts', import.meta.url));

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'tokenhub-file-'));
}

/** Every byte of every file under `dir`, to grep for values that must not be there. */
async function everything(dir: string): Promise<string> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.push(await readFile(join(entry.parentPath, entry.name), 'utf8'));
  }
  return out.join('\n');
}

const token = (version: number, value: string): StoredToken => ({ value, version, expiresAt: Date.now() + 7_200_000, obtainedAt: Date.now() - 1_000 });

describe('file store on disk', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const newDir = async (): Promise<string> => {
    const dir = await tempDir();
    dirs.push(dir);
    return dir;
  };

  it('tokens, versions and state (with its TTL) survive a reopen; fences go on above the stored version', async () => {
    const dir = await newDir();
    const first = new FileStore({ path: dir, encryption: 'none' });
    await first.open();
    await first.putToken('tok:feishu:cli_1:abc:tenant_access_token', token(7, 't-kept'));
    await first.setState('state:qingtui:app:refresh_token', 'refresh-kept');
    await first.setState('state:feishu:cli_2:app_ticket', 'ticket-short', 500);
    await first.close();

    const second = new FileStore({ path: dir, encryption: 'none' });
    await second.open();
    assert.equal((await second.getToken('tok:feishu:cli_1:abc:tenant_access_token'))?.value, 't-kept');
    assert.equal((await second.getToken('tok:feishu:cli_1:abc:tenant_access_token'))?.version, 7);
    assert.equal(await second.getState('state:qingtui:app:refresh_token'), 'refresh-kept');
    assert.equal(await second.getState('state:feishu:cli_2:app_ticket'), 'ticket-short');
    const lease = await second.acquire('tok:feishu:cli_1:abc:tenant_access_token', 1_000);
    assert.ok(lease && lease.fence > 7);
    await second.close();

    await sleep(600);
    const third = new FileStore({ path: dir, encryption: 'none' });
    await third.open();
    assert.equal(await third.getState('state:feishu:cli_2:app_ticket'), undefined, 'the TTL did not survive the restart');
    await third.close();
  });

  it('grants survive a reopen with their versions, and so do the marks of deleted ones', async () => {
    const dir = await newDir();
    const keys = { current: randomBytes(32), previous: [] };
    const first = new FileStore({ path: dir, encryption: keys });
    await first.open();
    await first.putGrant('grant:wechat:wx_c:authorizer:wx1', 'refresh-1', 0);
    await first.putGrant('grant:wechat:wx_c:authorizer:wx1', 'refresh-2', 1);
    await first.putGrant('grant:wechat:wx_c:authorizer:wx2', 'gone', 0);
    await first.deleteGrant('grant:wechat:wx_c:authorizer:wx2');
    await first.close();
    assert.equal((await readdir(join(dir, 'entries'))).filter((n) => n.startsWith('grant-')).length, 2, 'one file per grant, the deleted one a mark');

    const second = new FileStore({ path: dir, encryption: keys });
    await second.open();
    assert.deepEqual(await second.getGrant('grant:wechat:wx_c:authorizer:wx1'), { value: 'refresh-2', version: 2 });
    assert.equal(await second.getGrant('grant:wechat:wx_c:authorizer:wx2'), undefined);
    assert.equal(await second.putGrant('grant:wechat:wx_c:authorizer:wx2', 'late', 1), undefined, 'the delete was forgotten');
    assert.deepEqual(await second.putGrant('grant:wechat:wx_c:authorizer:wx2', 'again', 0), { value: 'again', version: 2 });
    assert.deepEqual((await second.listGrants('grant:wechat:wx_c:')).map((g) => g.key), ['grant:wechat:wx_c:authorizer:wx1', 'grant:wechat:wx_c:authorizer:wx2']);
    await second.close();
  });

  it("quota counts survive a reopen, so a crash loop cannot spend a window's budget again; expired ones are deleted at open", async () => {
    const dir = await newDir();
    const keys = { current: randomBytes(32), previous: [] };
    const first = new FileStore({ path: dir, encryption: keys });
    await first.open();
    assert.deepEqual(await Promise.all([1, 2, 3].map(() => first.takeQuota('quota:wecom:0f1e2d:jsapi:1900000000000', 5, 60_000))), [1, 2, 3]);
    assert.equal(await first.takeQuota('quota:short', 5, 300), 1);
    await first.close();
    const files = (await readdir(join(dir, 'entries'))).filter((n) => n.startsWith('quota-'));
    assert.equal(files.length, 2);
    // A count is no secret: written in plain digits, still under the checksum.
    const counts = await Promise.all(files.map(async (n) => JSON.parse(await readFile(join(dir, 'entries', n), 'utf8')) as { data: string }));
    assert.deepEqual(counts.map((c) => c.data).sort(), ['1', '3']);

    await sleep(400);
    const second = new FileStore({ path: dir, encryption: keys });
    await second.open();
    assert.equal(await second.quotaUsed('quota:wecom:0f1e2d:jsapi:1900000000000'), 3);
    assert.deepEqual([await second.takeQuota('quota:wecom:0f1e2d:jsapi:1900000000000', 5, 60_000), await second.takeQuota('quota:wecom:0f1e2d:jsapi:1900000000000', 5, 60_000)], [4, 5]);
    assert.equal(await second.takeQuota('quota:wecom:0f1e2d:jsapi:1900000000000', 5, 60_000), undefined);
    assert.equal(await second.quotaUsed('quota:short'), 0);
    assert.equal((await readdir(join(dir, 'entries'))).filter((n) => n.startsWith('quota-')).length, 1, 'the expired count is still on disk');
    await second.close();
  });

  it('the directory is private and every file is 0600', async () => {
    const dir = await newDir();
    await chmod(dir, 0o755);
    const store = new FileStore({ path: dir, encryption: 'none' });
    await store.open();
    await store.putToken('tok:a', token(1, 't-a'));
    assert.equal((await stat(dir)).mode & 0o777, 0o700);
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) assert.equal((await stat(join(entry.parentPath, entry.name))).mode & 0o077, 0, entry.name);
    }
    await store.close();
  });

  it("without a key only when told `encryption: 'none'`, and it says so at startup", async () => {
    const dir = await newDir();
    // @ts-expect-error: the option is required; a caller in plain JavaScript may still leave it out
    assert.throws(() => new FileStore({ path: dir }), { name: 'TypeError', message: /^encryption: .*'none'/ });
    const logs = new LogCapture();
    const store = new FileStore({ path: dir, encryption: 'none', logger: createLogger('info', logs) });
    await store.open();
    assert.match(logs.text, /store\.encryptionKey is not set \(encryption: none\): tokens, refresh tokens and tickets are stored in plain text/);
    await store.close();
  });

  describe('a damaged entry', () => {
    it('is reported by file name, moved to quarantine, and costs no other entry', async () => {
      const dir = await newDir();
      const store = new FileStore({ path: dir, encryption: 'none' });
      await store.open();
      for (let i = 0; i < 5; i++) await store.putToken(`tok:app${i}`, token(1, `t-${i}`));
      await store.setState('state:ticket', 'ticket-1');
      await store.close();

      const files = (await readdir(join(dir, 'entries'))).sort();
      const truncated = files[0]!;
      const garbled = files[1]!;
      const edited = files[2]!;
      const text = await readFile(join(dir, 'entries', truncated), 'utf8');
      await writeFile(join(dir, 'entries', truncated), text.slice(0, text.length / 2));
      await writeFile(join(dir, 'entries', garbled), Buffer.from([0, 1, 2, 0xff, 0xfe]));
      // Valid JSON, one digit changed: only the checksum notices.
      const original = await readFile(join(dir, 'entries', edited), 'utf8');
      await writeFile(join(dir, 'entries', edited), original.replace(/"version":(\d+)|"expiresAt":(\d)/, (m) => m.replace(/\d$/, (d) => String((Number(d) + 1) % 10))));
      // A temporary file left by a write cut short.
      await writeFile(join(dir, 'entries', '.x.json.123.abcd.tmp'), 'half');

      const logs = new LogCapture();
      const again = new FileStore({ path: dir, encryption: 'none', logger: createLogger('info', logs) });
      await again.open();
      for (const name of [truncated, garbled, edited]) assert.match(logs.text, new RegExp(`store entry unreadable.*${name}|${name}.*store entry unreadable`));
      let kept = 0;
      for (let i = 0; i < 5; i++) if ((await again.getToken(`tok:app${i}`))?.value === `t-${i}`) kept++;
      const stateKept = (await again.getState('state:ticket')) === 'ticket-1' ? 1 : 0;
      assert.equal(kept + stateKept, 3, 'the intact entries are all there');
      const quarantined = await readdir(join(dir, 'quarantine'));
      assert.equal(quarantined.length, 3);
      assert.ok(!(await readdir(join(dir, 'entries'))).some((n) => n.endsWith('.tmp')), 'the temporary file is cleaned up');
      // The store goes on working, the lost entries can be written anew.
      await again.putToken('tok:app0', token(9, 't-new'));
      assert.equal((await again.getToken('tok:app0'))?.value, 't-new');
      await again.close();
    });
  });

  describe('encryption at rest', () => {
    const keyA = randomBytes(32);
    const keyB = randomBytes(32);

    it('no token, state value or secret is readable in the files', async () => {
      const dir = await newDir();
      const store = new FileStore({ path: dir, encryption: { current: keyA, previous: [] } });
      await store.open();
      await store.putToken('tok:a', token(1, 't-g104SECRETTOKENVALUE'));
      await store.setState('state:refresh', 'REFRESHTOKENVALUE');
      await store.setState('state:ticket', 'APPTICKETVALUE', 60_000);
      await store.putGrant('grant:component:authorizer:wx1', 'AUTHORIZERREFRESHVALUE', 0);
      const bytes = await everything(dir);
      for (const secret of ['SECRETTOKENVALUE', 'REFRESHTOKENVALUE', 'APPTICKETVALUE', 'AUTHORIZERREFRESHVALUE', keyA.toString('base64'), keyA.toString('hex')]) {
        assert.ok(!bytes.includes(secret), `${secret} is readable on disk`);
      }
      await store.close();
      const again = new FileStore({ path: dir, encryption: { current: keyA, previous: [] } });
      await again.open();
      assert.equal((await again.getToken('tok:a'))?.value, 't-g104SECRETTOKENVALUE');
      assert.equal(await again.getState('state:refresh'), 'REFRESHTOKENVALUE');
      assert.equal((await again.getGrant('grant:component:authorizer:wx1'))?.value, 'AUTHORIZERREFRESHVALUE');
      await again.close();
    });

    it('a wrong key or a missing key stops the start and changes nothing', async () => {
      const dir = await newDir();
      const store = new FileStore({ path: dir, encryption: { current: keyA, previous: [] } });
      await store.open();
      await store.putToken('tok:a', token(1, 't-a'));
      await store.close();
      const before = await everything(dir);

      await assert.rejects(new FileStore({ path: dir, encryption: { current: keyB, previous: [] } }).open(), {
        code: 'TOKENHUB_STORE_KEY_MISMATCH',
        message: new RegExp(`store\\.encryptionKey does not open the data in .*written with key id ${keyId(keyA)}`),
      });
      await assert.rejects(new FileStore({ path: dir, encryption: 'none' }).open(), { code: 'TOKENHUB_STORE_KEY_MISMATCH', message: /encrypted .*store\.encryptionKey is not set/ });
      assert.equal(await everything(dir), before, 'a refused start changed the files');
      const right = new FileStore({ path: dir, encryption: { current: keyA, previous: [] } });
      await right.open();
      assert.equal((await right.getToken('tok:a'))?.value, 't-a');
      await right.close();
    });

    it('without the check value (meta file lost), entries under an unknown key still stop the start instead of going to quarantine', async () => {
      const dir = await newDir();
      const store = new FileStore({ path: dir, encryption: { current: keyA, previous: [] } });
      await store.open();
      await store.putToken('tok:a', token(1, 't-a'));
      await store.close();
      await rm(join(dir, 'tokenhub.json'));
      await assert.rejects(new FileStore({ path: dir, encryption: { current: keyB, previous: [] } }).open(), { code: 'TOKENHUB_STORE_KEY_MISMATCH' });
      await assert.rejects(new FileStore({ path: dir, encryption: 'none' }).open(), { code: 'TOKENHUB_STORE_KEY_MISMATCH' });
      assert.equal((await readdir(join(dir, 'entries'))).length, 1, 'the entry was moved away');
      const right = new FileStore({ path: dir, encryption: { current: keyA, previous: [] } });
      await right.open();
      assert.equal((await right.getToken('tok:a'))?.value, 't-a');
      await right.close();
      assert.match(await readFile(join(dir, 'tokenhub.json'), 'utf8'), new RegExp(`"check":"e1:${keyId(keyA)}:`));
    });

    it('rotation: with the old key among the previous ones every entry is read and encrypted again under the new key', async () => {
      const dir = await newDir();
      const old = new FileStore({ path: dir, encryption: { current: keyA, previous: [] } });
      await old.open();
      await old.putToken('tok:a', token(3, 't-a'));
      await old.setState('state:s', 'refresh-s');
      await old.putGrant('grant:g', 'permanent-code-g', 0);
      await old.close();

      const rotating = new FileStore({ path: dir, encryption: { current: keyB, previous: [keyA] } });
      await rotating.open();
      assert.equal((await rotating.getToken('tok:a'))?.value, 't-a');
      await rotating.close();
      assert.ok(!(await everything(dir)).includes(`e1:${keyId(keyA)}:`), 'something is still under the old key');

      const rotated = new FileStore({ path: dir, encryption: { current: keyB, previous: [] } });
      await rotated.open();
      assert.equal((await rotated.getToken('tok:a'))?.value, 't-a');
      assert.equal(await rotated.getState('state:s'), 'refresh-s');
      assert.deepEqual(await rotated.getGrant('grant:g'), { value: 'permanent-code-g', version: 1 });
      await rotated.close();
    });

    it('a store written in plain text is encrypted once a key is set', async () => {
      const dir = await newDir();
      const plain = new FileStore({ path: dir, encryption: 'none' });
      await plain.open();
      await plain.putToken('tok:a', token(1, 't-PLAINVALUE'));
      await plain.close();
      assert.ok((await everything(dir)).includes('t-PLAINVALUE'));
      const keyed = new FileStore({ path: dir, encryption: { current: keyA, previous: [] } });
      await keyed.open();
      assert.equal((await keyed.getToken('tok:a'))?.value, 't-PLAINVALUE');
      await keyed.close();
      assert.ok(!(await everything(dir)).includes('PLAINVALUE'));
    });
  });

  describe('one process per data dir', () => {
    it('a second store on a locked dir fails clearly; the lock is released on close', async () => {
      const dir = await newDir();
      const first = new FileStore({ path: dir, encryption: 'none' });
      await first.open();
      await assert.rejects(new FileStore({ path: dir, encryption: 'none' }).open(), { code: 'TOKENHUB_STORE_LOCKED', message: new RegExp(`in use by another tokenhub \\(pid ${process.pid}`) });
      await first.close();
      const second = new FileStore({ path: dir, encryption: 'none' });
      await second.open();
      await second.close();
    });

    it('a live process holding the dir keeps others out; once it is killed (-9) its lock is taken over at once', async () => {
      const dir = await newDir();
      const child = runTs(CHILD, ['hold', dir]);
      try {
        await child.waitFor(/^ready$/);
        await assert.rejects(new FileStore({ path: dir, encryption: 'none' }).open(), { code: 'TOKENHUB_STORE_LOCKED', message: new RegExp(`pid ${child.process.pid}`) });
      } finally {
        await child.kill();
      }
      const started = Date.now();
      const store = new FileStore({ path: dir, encryption: 'none' });
      await store.open();
      assert.ok(Date.now() - started < 3_000);
      await store.close();
    });
  });

  it('every acknowledged grant survives kill -9 in the middle of writing, at its version', async () => {
    const dir = await newDir();
    const key = randomBytes(32).toString('base64');
    const child = runTs(CHILD, ['grants', dir], { STORE_KEY: key });
    let acked: number;
    try {
      await child.waitFor(/^ack 30$/);
    } finally {
      await child.kill();
      acked = Math.max(...child.lines.filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4))));
    }
    const store = new FileStore({ path: dir, encryption: keyRing({ encryptionKey: key }) ?? 'none' });
    await store.open();
    for (let g = 0; g < 5; g++) {
      // Write i went to grant g = i % 5 as its version ceil(i / 5).
      const last = acked - ((((acked - g) % 5) + 5) % 5);
      const stored = await store.getGrant(`grant:g${g}`);
      const written = Number(stored?.value.slice('refresh-'.length));
      assert.ok(stored && written >= last && written % 5 === g, `grant:g${g}: ${JSON.stringify(stored)} < ${last}`);
      assert.equal(stored.version, Math.ceil(written / 5), `grant:g${g}: version ${stored.version} after write ${written}`);
    }
    await store.close();
  });

  it('every acknowledged write survives kill -9 in the middle of writing', async () => {
    const dir = await newDir();
    const key = randomBytes(32).toString('base64');
    const child = runTs(CHILD, ['write', dir], { STORE_KEY: key });
    let acked: number;
    try {
      await child.waitFor(/^ack 40$/);
    } finally {
      await child.kill();
      acked = Math.max(...child.lines.filter((l) => l.startsWith('ack ')).map((l) => Number(l.slice(4))));
    }
    assert.ok(acked >= 40);
    const logs = new LogCapture();
    const store = new FileStore({ path: dir, encryption: keyRing({ encryptionKey: key }) ?? 'none', logger: createLogger('info', logs) });
    await store.open();
    assert.doesNotMatch(logs.text, /unreadable/);
    // The last acknowledged write of each key is there (or a later one the child made before it died).
    for (let k = 0; k < 7; k++) {
      const last = acked - ((((acked - k) % 7) + 7) % 7);
      const stored = await store.getToken(`tok:k${k}`);
      assert.ok(stored && stored.version >= last && stored.value === `t-${stored.version}`, `tok:k${k}: ${JSON.stringify(stored)} < ${last}`);
    }
    for (let s = 0; s < 11; s++) {
      const last = acked - ((((acked - s) % 11) + 11) % 11);
      const value = await store.getState(`state:s${s}`);
      assert.ok(value !== undefined && Number(value.slice('refresh-'.length)) >= last, `state:s${s}: ${value} < ${last}`);
    }
    await store.close();
  });
});
