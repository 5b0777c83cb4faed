import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, readFile, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { TokenHubError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/types.js';

// Not proper-lockfile: it tells a dead holder only by a stale mtime, so a restart after `kill -9`
// would wait out the staleness period; a pid and a process start time tell it at once on this host.
export interface DirLockOptions {
  logger?: Logger;
  /** How often the holder touches the lock file. */
  heartbeatMs?: number;
  /** A lock of another host untouched this long is taken as left behind by a dead process. */
  staleMs?: number;
}

export const DEFAULT_DIR_LOCK_OPTIONS = { heartbeatMs: 5_000, staleMs: 20_000 } as const;

/** Locks this process holds: its own pid in a lock file means "held here" only for these. */
const heldHere = new Set<string>();

interface Holder {
  pid: number;
  host: string;
  /** The process's start time as the kernel counts it, so that a reused pid is not taken for the holder. */
  start: string | undefined;
  since: string;
  id: string;
}

/**
 * One process per data directory: a lock file created atomically (link(2) of a complete
 * temporary file) holding the pid, host and start time of its holder, touched while held.
 * A lock left by a process that is gone (a `kill -9`) is taken over at once on the same host,
 * and after `staleMs` without a touch when it names another host (a container restarted with
 * a new hostname on the same volume).
 *
 * @example
 * const lock = await DirLock.acquire('/var/lib/tokenhub/tokenhub.lock', { logger });
 * …
 * await lock.release();
 */
export class DirLock {
  readonly #path: string;
  readonly #holder: Holder;
  readonly #log: Logger;
  readonly #timer: NodeJS.Timeout;

  private constructor(path: string, holder: Holder, log: Logger, heartbeatMs: number) {
    this.#path = path;
    this.#holder = holder;
    this.#log = log;
    this.#timer = setInterval(() => void this.#heartbeat(), heartbeatMs);
    this.#timer.unref();
  }

  /** Takes the lock or throws `TOKENHUB_STORE_LOCKED` naming the live holder. */
  static async acquire(path: string, options: DirLockOptions = {}): Promise<DirLock> {
    const log = options.logger ?? silentLogger;
    const staleMs = options.staleMs ?? DEFAULT_DIR_LOCK_OPTIONS.staleMs;
    const me: Holder = { pid: process.pid, host: hostname(), start: processStart(process.pid), since: new Date().toISOString(), id: randomBytes(8).toString('hex') };
    for (let attempt = 0; attempt < 5; attempt++) {
      if (await tryCreate(path, me)) {
        heldHere.add(path);
        return new DirLock(path, me, log, options.heartbeatMs ?? DEFAULT_DIR_LOCK_OPTIONS.heartbeatMs);
      }
      const seen = await readHolder(path);
      if (seen === 'missing') continue;
      if (seen !== 'unreadable' && (heldHere.has(path) || (await isAlive(path, seen, staleMs)))) {
        throw new TokenHubError(
          'TOKENHUB_STORE_LOCKED',
          `the data dir is in use by another tokenhub (pid ${seen.pid} on ${seen.host}, since ${seen.since}): run one tokenhub per data dir; ` +
            `if that process is gone, delete ${path}`,
        );
      }
      // Remove it only if it is still the one judged dead, not one a rival just created.
      const again = await readHolder(path);
      if (again === 'missing') continue;
      if (again === 'unreadable' || seen === 'unreadable' ? again !== seen : again.id !== seen.id) continue;
      log.warn({ lock: path, pid: seen === 'unreadable' ? undefined : seen.pid }, 'taking over a lock left by a process that is gone');
      await unlink(path).catch(() => {});
    }
    throw new TokenHubError('TOKENHUB_STORE_LOCKED', `could not take the lock ${path}: other processes keep taking it`);
  }

  async release(): Promise<void> {
    clearInterval(this.#timer);
    heldHere.delete(this.#path);
    const seen = await readHolder(this.#path);
    if (seen !== 'missing' && seen !== 'unreadable' && seen.id === this.#holder.id) await unlink(this.#path).catch(() => {});
  }

  async #heartbeat(): Promise<void> {
    try {
      const seen = await readHolder(this.#path);
      if (seen === 'missing' || seen === 'unreadable' || seen.id !== this.#holder.id) {
        this.#log.error({ lock: this.#path }, 'the data dir lock was removed or taken by another process: two tokenhubs may now share the data dir');
        if (seen === 'missing') await tryCreate(this.#path, this.#holder);
        return;
      }
      const now = new Date();
      await utimes(this.#path, now, now);
    } catch (err) {
      this.#log.warn({ lock: this.#path, err: (err as Error).message }, 'cannot touch the data dir lock');
    }
  }
}

async function tryCreate(path: string, holder: Holder): Promise<boolean> {
  const temp = `${path}.${process.pid}.${holder.id}`;
  await writeFile(temp, JSON.stringify(holder), { mode: 0o600 });
  try {
    await link(temp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(temp).catch(() => {});
  }
}

async function readHolder(path: string): Promise<Holder | 'missing' | 'unreadable'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
  try {
    const parsed = JSON.parse(text) as Partial<Holder>;
    if (typeof parsed.pid !== 'number' || typeof parsed.host !== 'string' || typeof parsed.id !== 'string') return 'unreadable';
    return { pid: parsed.pid, host: parsed.host, start: typeof parsed.start === 'string' ? parsed.start : undefined, since: String(parsed.since), id: parsed.id };
  } catch {
    return 'unreadable';
  }
}

async function isAlive(path: string, holder: Holder, staleMs: number): Promise<boolean> {
  if (holder.host === hostname()) {
    // Our own pid in the file is an earlier life of this container or machine, not us.
    if (holder.pid === process.pid) return false;
    try {
      process.kill(holder.pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    }
    const start = processStart(holder.pid);
    return holder.start === undefined || start === undefined || start === holder.start;
  }
  // Another host: alive while it keeps touching the file.
  const first = await stat(path).catch(() => undefined);
  if (!first) return false;
  const deadline = first.mtimeMs + staleMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, Math.min(1_000, deadline - Date.now())));
    const now = await stat(path).catch(() => undefined);
    if (!now) return false;
    if (now.mtimeMs !== first.mtimeMs) return true;
  }
  return false;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot); `undefined` off Linux. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
