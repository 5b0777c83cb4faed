import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { TokenHubError } from '../core/errors.js';
import { silentLogger, type Lease, type Logger, type StoreChange, type StoredGrant, type StoredToken, type TokenStore } from '../core/types.js';
import { TEMP_SUFFIX, removeFileDurably, writeFileAtomic } from './atomic-file.js';
import { CHECK_CONTEXT, CHECK_PLAINTEXT, UnreadableValueError, ValueCodec, verifyKeyCheck, type KeyRing } from './crypto.js';
import { DirLock, type DirLockOptions } from './dir-lock.js';
import { deleteGrantRecord, grantRecordExpired, liveGrant, putGrantRecord, type GrantRecord } from './grant-records.js';
import { LocalLeases } from './local-leases.js';
import { DEFAULT_SWEEP_INTERVAL_MS, pastRetention } from './retention.js';
import { ChangeWaiters } from './waiters.js';

export interface FileStoreOptions {
  /** The data directory (created with mode 0700 if missing). */
  path: string;
  /**
   * The keys every value is encrypted with at rest, or `'none'` to write plain text (a warning is
   * logged at open). Required, so that plain text on disk is never an accident.
   */
  encryption: KeyRing | 'none';
  logger?: Logger;
  now?: () => number;
  lock?: DirLockOptions;
  /** How often tokens past their expiry and retention are deleted (see `TOKEN_RETENTION_MS`). Default 10 min. */
  sweepIntervalMs?: number;
}

/** One entry on disk, as parsed. */
type Entry =
  | { type: 'token'; key: string; token: StoredToken }
  | { type: 'state'; key: string; value: string; expiresAt: number | null }
  | { type: 'quota'; key: string; used: number; expiresAt: number }
  | { type: 'grant'; key: string; record: GrantRecord; expiresAt: number | null };

const FORMAT = 1;
const META_FILE = 'tokenhub.json';
const LOCK_FILE = 'tokenhub.lock';
const ENTRIES_DIR = 'entries';
const QUARANTINE_DIR = 'quarantine';

/**
 * The store of one node that restarts: every token and every piece of provider state is a
 * file of its own under `entries/`, replaced atomically (temporary file, fsync, rename, fsync
 * of the directory) before the write is acknowledged, so a `kill -9` or a power cut loses no
 * acknowledged write and a damaged file costs that entry alone: it is logged by name and moved
 * to `quarantine/`. The directory is locked to one process; that process keeps every entry in
 * memory (a few per app), so reads cost no I/O and leases need no file.
 *
 * File format (JSON): `{"format":1,"type":…,"key":…,"version":…,"expiresAt":…,"data":…,"sum":…}`,
 * where `data` is the value sealed by {@link ValueCodec} (encrypted when a key is set) and
 * `sum` a SHA-256 over the other fields, which catches a truncated or altered file. A quota
 * count's `data` is the count in plain digits: it holds no secret. A grant's `version` is its
 * compare-and-set version and `expiresAt` null; a deleted grant's mark has `data` "" and the
 * mark's expiry (see `GRANT_TOMBSTONE_MS`), so that a delete is one atomic replacement too.
 *
 * Quota counts are written like the rest, before the take is answered: a process that crashes
 * and restarts within a window goes on from its count instead of zero, so a crash loop cannot
 * spend a platform's hourly budget again on every start. A count that could not be written is
 * still enforced in memory for the rest of the process's life (the failure is logged).
 *
 * @example
 * const store = new FileStore({ path: '/var/lib/tokenhub', encryption: { current: key, previous: [] } });
 * await store.open();
 */
export class FileStore implements TokenStore {
  readonly name = 'file';
  readonly #dir: string;
  readonly #codec: ValueCodec;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #lockOptions: DirLockOptions;
  readonly #sweepIntervalMs: number;
  #sweep: NodeJS.Timeout | undefined;
  readonly #tokens = new Map<string, StoredToken>();
  readonly #state = new Map<string, { value: string; expiresAt: number | null }>();
  readonly #quotas = new Map<string, { used: number; expiresAt: number }>();
  /** Grants and the marks of deleted ones. */
  readonly #grants = new Map<string, GrantRecord>();
  readonly #waiters = new ChangeWaiters();
  readonly #leases: LocalLeases;
  /** Per file, the last write queued: writes of one entry run in order, each writing the latest value. */
  readonly #writes = new Map<string, Promise<void>>();
  /** Per file, the write queued but not begun: later changes join it (a burst of quota takes costs a few writes, not one each). */
  readonly #unstarted = new Map<string, Promise<void>>();
  #opening: Promise<void> | undefined;
  #lock: DirLock | undefined;
  #closed = false;

  constructor(options: FileStoreOptions) {
    if (typeof options.path !== 'string' || options.path === '') throw new TypeError('path: the data directory is required');
    if (options.encryption === undefined) {
      throw new TypeError("encryption: give the store's keys (store.encryptionKey), or 'none' to write tokens in plain text");
    }
    this.#dir = resolve(options.path);
    this.#codec = new ValueCodec(options.encryption === 'none' ? undefined : options.encryption);
    this.#sweepIntervalMs = options.sweepIntervalMs ?? DEFAULT_SWEEP_INTERVAL_MS;
    this.#log = options.logger ?? silentLogger;
    this.#now = options.now ?? Date.now;
    this.#leases = new LocalLeases(this.#now, this.#waiters);
    this.#lockOptions = { logger: this.#log, ...options.lock };
  }

  /** The data directory. */
  get path(): string {
    return this.#dir;
  }

  open(): Promise<void> {
    this.#opening ??= this.#open();
    return this.#opening;
  }

  async getToken(key: string): Promise<StoredToken | undefined> {
    await this.#ready();
    return this.#live(key);
  }

  async putToken(key: string, token: StoredToken): Promise<StoredToken> {
    await this.#ready();
    const stored = this.#live(key);
    if (stored && stored.version >= token.version) return stored;
    const copy = { value: token.value, expiresAt: token.expiresAt, obtainedAt: token.obtainedAt, version: token.version };
    this.#tokens.set(key, copy);
    this.#waiters.wake(key);
    await this.#persist('token', key);
    return copy;
  }

  /** The stored token unless past its retention (then its file is deleted). Synchronous, so a compare-and-set stays atomic. */
  #live(key: string): StoredToken | undefined {
    const token = this.#tokens.get(key);
    if (token && pastRetention(token, this.#now())) {
      this.#tokens.delete(key);
      this.#persist('token', key).catch(() => {});
      return undefined;
    }
    return token;
  }

  async deleteToken(key: string): Promise<void> {
    await this.#ready();
    if (!this.#tokens.delete(key)) return;
    await this.#persist('token', key);
  }

  async getState(key: string): Promise<string | undefined> {
    await this.#ready();
    const entry = this.#state.get(key);
    if (entry && entry.expiresAt !== null && entry.expiresAt <= this.#now()) {
      this.#state.delete(key);
      this.#persist('state', key).catch(() => {});
      return undefined;
    }
    return entry?.value;
  }

  async setState(key: string, value: string, ttlMs?: number): Promise<void> {
    await this.#ready();
    this.#state.set(key, { value, expiresAt: ttlMs === undefined ? null : this.#now() + ttlMs });
    await this.#persist('state', key);
  }

  async addState(key: string, value: string, ttlMs: number): Promise<boolean> {
    await this.#ready();
    // One process holds the directory, and nothing is awaited between the look and the write.
    const entry = this.#state.get(key);
    if (entry && (entry.expiresAt === null || entry.expiresAt > this.#now())) return false;
    this.#state.set(key, { value, expiresAt: this.#now() + ttlMs });
    await this.#persist('state', key);
    return true;
  }

  async takeQuota(key: string, limit: number, ttlMs: number): Promise<number | undefined> {
    await this.#ready();
    // One process holds the directory, and nothing is awaited between the look and the count.
    let entry = this.#liveQuota(key);
    if ((entry?.used ?? 0) >= limit) return undefined;
    if (!entry) this.#quotas.set(key, (entry = { used: 0, expiresAt: this.#now() + ttlMs }));
    const used = ++entry.used;
    // Counted either way: a failed write (logged by #persist) loses the count's survival of a restart, not the budget.
    await this.#persist('quota', key).catch(() => {});
    return used;
  }

  async quotaUsed(key: string): Promise<number> {
    await this.#ready();
    return this.#liveQuota(key)?.used ?? 0;
  }

  /** The count under `key` unless expired (then its file is deleted). */
  #liveQuota(key: string): { used: number; expiresAt: number } | undefined {
    const entry = this.#quotas.get(key);
    if (entry && entry.expiresAt <= this.#now()) {
      this.#quotas.delete(key);
      this.#persist('quota', key).catch(() => {});
      return undefined;
    }
    return entry;
  }

  async getGrant(key: string): Promise<StoredGrant | undefined> {
    await this.#ready();
    return liveGrant(this.#grants.get(key));
  }

  /** Answered once the entry is on disk (fsynced): a grant acknowledged survives kill -9. */
  async putGrant(key: string, value: string, expectedVersion: number): Promise<StoredGrant | undefined> {
    await this.#ready();
    // One process holds the directory, and nothing is awaited between the look and the write.
    const next = putGrantRecord(this.#grants.get(key), value, expectedVersion, this.#now());
    if (next === undefined) return undefined;
    this.#grants.set(key, next);
    // A failed write leaves the new grant in memory (the platform may have replaced the old one
    // already) and is thrown: the caller reads back to know; the next write of the key retries it.
    await this.#persistGrant(key);
    return liveGrant(next);
  }

  async deleteGrant(key: string, expectedVersion?: number): Promise<boolean> {
    await this.#ready();
    const mark = deleteGrantRecord(this.#grants.get(key), expectedVersion, this.#now());
    if (mark === undefined) return false;
    this.#grants.set(key, mark);
    await this.#persistGrant(key);
    return true;
  }

  async #persistGrant(key: string): Promise<void> {
    try {
      await this.#persist('grant', key);
    } catch (err) {
      throw new TokenHubError('TOKENHUB_STORE_UNAVAILABLE', `cannot write a grant to ${this.#dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  }

  async listGrants(prefix: string): Promise<{ key: string; grant: StoredGrant }[]> {
    await this.#ready();
    const found: { key: string; grant: StoredGrant }[] = [];
    for (const [key, record] of this.#grants) {
      const grant = key.startsWith(prefix) ? liveGrant(record) : undefined;
      if (grant) found.push({ key, grant });
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Deletes the entries of tokens past their expiry and retention, of expired state and of
   * expired quota counts (and the marks of grants deleted a week ago; a grant itself never). Runs
   * at open and then every `sweepIntervalMs`; resolves when the files are gone.
   */
  async sweep(): Promise<void> {
    if (this.#closed || this.#lock === undefined) return;
    const now = this.#now();
    const removals: Promise<void>[] = [];
    for (const [key, token] of this.#tokens) {
      if (!pastRetention(token, now)) continue;
      this.#tokens.delete(key);
      removals.push(this.#persist('token', key));
    }
    for (const [key, entry] of this.#state) {
      if (entry.expiresAt === null || entry.expiresAt > now) continue;
      this.#state.delete(key);
      removals.push(this.#persist('state', key));
    }
    for (const [key, entry] of this.#quotas) {
      if (entry.expiresAt > now) continue;
      this.#quotas.delete(key);
      removals.push(this.#persist('quota', key));
    }
    for (const [key, record] of this.#grants) {
      if (!grantRecordExpired(record, now)) continue;
      this.#grants.delete(key);
      removals.push(this.#persist('grant', key));
    }
    await Promise.allSettled(removals);
  }

  async deleteState(key: string): Promise<void> {
    await this.#ready();
    if (!this.#state.delete(key)) return;
    await this.#persist('state', key);
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    await this.#ready();
    return this.#leases.acquire(key, ttlMs, this.#tokens.get(key)?.version ?? 0);
  }

  waitForChange(key: string, timeoutMs: number): Promise<void> {
    return this.#waiters.wait(key, timeoutMs);
  }

  /** One process per data dir: there are no other holders to hear from. */
  subscribe(_listener: (change: StoreChange) => void): () => void {
    return () => {};
  }

  async ping(): Promise<void> {
    await this.#ready();
    await stat(join(this.#dir, ENTRIES_DIR));
  }

  /** Waits for the writes in flight, then gives up the directory. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweep);
    this.#waiters.wakeAll();
    await this.#opening?.catch(() => {});
    await Promise.allSettled([...this.#writes.values()]);
    await this.#lock?.release();
  }

  async #ready(): Promise<void> {
    if (this.#closed) throw new TokenHubError('TOKENHUB_STORE_UNAVAILABLE', 'the file store is closed');
    await this.open();
  }

  async #open(): Promise<void> {
    await mkdir(join(this.#dir, ENTRIES_DIR), { recursive: true, mode: 0o700 });
    await this.#checkPermissions();
    this.#lock = await DirLock.acquire(join(this.#dir, LOCK_FILE), this.#lockOptions);
    try {
      const check = await this.#readMeta();
      const found = verifyKeyCheck(this.#codec, check, this.#dir);
      const stale = await this.#load(found !== 'absent');
      if (stale.length > 0) {
        this.#log.info({ dir: this.#dir, entries: stale.length, keyId: this.#codec.keyId }, 'encrypting entries written in plain text or with a previous key');
        await Promise.all(stale.map(({ type, key }) => this.#persist(type, key)));
      }
      if (found !== 'current') await this.#writeMeta();
      if (!this.#codec.encrypted) {
        this.#log.warn({ dir: this.#dir }, 'store.encryptionKey is not set (encryption: none): tokens, refresh tokens and tickets are stored in plain text');
      }
      this.#sweep = setInterval(() => void this.sweep(), this.#sweepIntervalMs).unref();
      this.#log.info({ dir: this.#dir, tokens: this.#tokens.size, state: this.#state.size, quotas: this.#quotas.size, grants: this.#grants.size, encrypted: this.#codec.encrypted, keyId: this.#codec.keyId }, 'file store open');
    } catch (err) {
      await this.#lock.release();
      throw err;
    }
  }

  async #checkPermissions(): Promise<void> {
    const mode = (await stat(this.#dir)).mode & 0o777;
    if ((mode & 0o077) === 0) return;
    try {
      await chmod(this.#dir, mode & 0o700);
      this.#log.warn({ dir: this.#dir, was: mode.toString(8) }, 'the data dir was readable by others: made it private (0700)');
    } catch {
      this.#log.warn({ dir: this.#dir, mode: mode.toString(8) }, 'the data dir is readable by other users and cannot be made private');
    }
  }

  async #readMeta(): Promise<string | undefined> {
    let text: string;
    try {
      text = await readFile(join(this.#dir, META_FILE), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    try {
      const meta = JSON.parse(text) as { format?: unknown; check?: unknown };
      if (meta.format !== FORMAT) throw new Error(`format ${String(meta.format)}`);
      return typeof meta.check === 'string' ? meta.check : undefined;
    } catch (err) {
      // The entries still say whether the key opens them; the meta file is written anew.
      this.#log.error({ file: join(this.#dir, META_FILE), err: (err as Error).message }, 'the store meta file is damaged: cannot check the encryption key up front');
      await this.#quarantine(join(this.#dir, META_FILE), META_FILE);
      return undefined;
    }
  }

  async #writeMeta(): Promise<void> {
    const meta: { format: number; check?: string } = { format: FORMAT };
    if (this.#codec.encrypted) meta.check = this.#codec.seal(CHECK_PLAINTEXT, CHECK_CONTEXT);
    await writeFileAtomic(join(this.#dir, META_FILE), `${JSON.stringify(meta)}\n`);
  }

  /**
   * Reads every entry; returns the ones to write again (plain text or a previous key). Without a
   * check value to go by (a new or damaged meta file), entries sealed with a key that is not
   * configured stop the start rather than all going to quarantine.
   */
  async #load(checked: boolean): Promise<{ type: Entry['type']; key: string }[]> {
    const dir = join(this.#dir, ENTRIES_DIR);
    const parsed: { name: string; file: string; entry?: Entry; stale?: boolean; error?: Error }[] = [];
    for (const name of await readdir(dir)) {
      const file = join(dir, name);
      if (name.endsWith(TEMP_SUFFIX)) {
        // A write cut short by a crash: the previous version of its entry is intact.
        await unlink(file).catch(() => {});
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        const { entry, stale } = this.#parse(await readFile(file, 'utf8'));
        if (fileName(entry.type, entry.key) !== name) throw new Error('the file name does not match the key inside');
        parsed.push({ name, file, entry, stale });
      } catch (err) {
        parsed.push({ name, file, error: err as Error });
      }
    }
    const foreign = parsed.find((p) => p.error instanceof UnreadableValueError && p.error.missingKeyId !== undefined);
    if (!checked && foreign) {
      throw new TokenHubError('TOKENHUB_STORE_KEY_MISMATCH', `the data in ${this.#dir} cannot be opened with the configured keys (${foreign.error!.message}); nothing was changed`);
    }
    const stale: { type: Entry['type']; key: string }[] = [];
    for (const { name, file, entry, stale: isStale, error } of parsed) {
      if (!entry) {
        this.#log.error({ file, err: error?.message }, 'store entry unreadable: moved to quarantine; the other entries are kept');
        await this.#quarantine(file, name);
        continue;
      }
      const expired = entry.type === 'token' ? pastRetention(entry.token, this.#now()) : entry.expiresAt !== null && entry.expiresAt <= this.#now();
      if (expired) {
        await removeFileDurably(file);
        continue;
      }
      if (entry.type === 'token') this.#tokens.set(entry.key, entry.token);
      else if (entry.type === 'state') this.#state.set(entry.key, { value: entry.value, expiresAt: entry.expiresAt });
      else if (entry.type === 'grant') this.#grants.set(entry.key, entry.record);
      else this.#quotas.set(entry.key, { used: entry.used, expiresAt: entry.expiresAt });
      if (isStale) stale.push({ type: entry.type, key: entry.key });
    }
    return stale;
  }

  #parse(text: string): { entry: Entry; stale: boolean } {
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new Error(`not JSON (${text.length} bytes): truncated or overwritten`);
    }
    const { format, type, key, version, expiresAt, data, sum } = raw;
    if (format !== FORMAT) throw new Error(`unknown format ${JSON.stringify(format)}`);
    if (sum !== checksum([format, type, key, version, expiresAt, data])) throw new Error('checksum mismatch: the file was altered or damaged');
    if (typeof key !== 'string' || typeof data !== 'string') throw new Error('no key or data');
    if (type === 'quota') {
      const used = /^[1-9][0-9]*$/.test(data) ? Number(data) : NaN;
      if (!Number.isSafeInteger(used) || typeof expiresAt !== 'number') throw new Error('a quota entry with a bad count or expiry');
      return { entry: { type, key, used, expiresAt }, stale: false };
    }
    if (type === 'grant') {
      if (!Number.isSafeInteger(version) || (version as number) < 1) throw new Error('a grant entry with a bad version');
      if (data === '') {
        if (typeof expiresAt !== 'number') throw new Error("a deleted grant's mark without an expiry");
        return { entry: { type, key, record: { value: undefined, version: version as number, expiresAt }, expiresAt }, stale: false };
      }
      if (expiresAt !== null) throw new Error('a grant entry with an expiry');
      const opened = this.#codec.open(data, key);
      return { entry: { type, key, record: { value: opened.value, version: version as number, expiresAt: null }, expiresAt: null }, stale: opened.stale };
    }
    const opened = this.#codec.open(data, key);
    if (type === 'token') {
      const inner = JSON.parse(opened.value) as { value?: unknown; obtainedAt?: unknown };
      if (typeof inner.value !== 'string' || typeof expiresAt !== 'number' || typeof inner.obtainedAt !== 'number' || typeof version !== 'number') {
        throw new Error('a token entry without value, expiry or version');
      }
      return { entry: { type, key, token: { value: inner.value, expiresAt, obtainedAt: inner.obtainedAt, version } }, stale: opened.stale };
    }
    if (type === 'state') {
      if (expiresAt !== null && typeof expiresAt !== 'number') throw new Error('a state entry with a bad expiry');
      return { entry: { type, key, value: opened.value, expiresAt }, stale: opened.stale };
    }
    throw new Error(`unknown entry type ${JSON.stringify(type)}`);
  }

  #serialize(type: Entry['type'], key: string): string | undefined {
    const token = type === 'token' ? this.#tokens.get(key) : undefined;
    const state = type === 'state' ? this.#state.get(key) : undefined;
    const quota = type === 'quota' ? this.#quotas.get(key) : undefined;
    const grant = type === 'grant' ? this.#grants.get(key) : undefined;
    let fields: [number, string, string, number | null, number | null, string];
    if (token) {
      const data = this.#codec.seal(JSON.stringify({ value: token.value, obtainedAt: token.obtainedAt }), key);
      fields = [FORMAT, 'token', key, token.version, token.expiresAt, data];
    } else if (state) {
      fields = [FORMAT, 'state', key, null, state.expiresAt, this.#codec.seal(state.value, key)];
    } else if (quota) {
      fields = [FORMAT, 'quota', key, null, quota.expiresAt, String(quota.used)];
    } else if (grant) {
      fields = [FORMAT, 'grant', key, grant.version, grant.expiresAt, grant.value === undefined ? '' : this.#codec.seal(grant.value, key)];
    } else {
      return undefined;
    }
    const [format, , , version, expiresAt, data] = fields;
    return `${JSON.stringify({ format, type, key, version, expiresAt, data, sum: checksum(fields) })}\n`;
  }

  /** Queues a write of the key's current value (or its removal) behind the writes already queued. */
  #persist(type: Entry['type'], key: string): Promise<void> {
    const name = fileName(type, key);
    const waiting = this.#unstarted.get(name);
    if (waiting) return waiting;
    const file = join(this.#dir, ENTRIES_DIR, name);
    const previous = this.#writes.get(name) ?? Promise.resolve();
    const next: Promise<void> = previous
      .catch(() => {})
      .then(async () => {
        // From here on a change needs a write of its own: this one reads the value now.
        this.#unstarted.delete(name);
        const text = this.#serialize(type, key);
        if (text === undefined) await removeFileDurably(file);
        else await writeFileAtomic(file, text);
      });
    this.#writes.set(name, next);
    this.#unstarted.set(name, next);
    const forget = (): void => {
      if (this.#writes.get(name) === next) this.#writes.delete(name);
    };
    next.then(forget, (err: unknown) => {
      forget();
      this.#log.error({ file, err: (err as Error).message }, 'cannot write a store entry');
    });
    return next;
  }

  async #quarantine(file: string, name: string): Promise<void> {
    const dir = join(this.#dir, QUARANTINE_DIR);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await rename(file, join(dir, `${name}.${new Date(this.#now()).toISOString().replace(/[:.]/g, '-')}`));
    } catch (err) {
      this.#log.error({ file, err: (err as Error).message }, 'cannot move an unreadable entry to quarantine');
    }
  }
}

/** Store keys name no secret, but tenant keys may hold any character: file names are their hash. */
function fileName(type: Entry['type'], key: string): string {
  return `${type}-${createHash('sha256').update(key).digest('hex').slice(0, 40)}.json`;
}

function checksum(fields: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(fields)).digest('hex').slice(0, 32);
}
