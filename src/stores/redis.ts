import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import { TokenHubError } from '../core/errors.js';
import { silentLogger, type Lease, type Logger, type StoreChange, type StoredGrant, type StoredToken, type TokenStore } from '../core/types.js';
import { CHECK_CONTEXT, CHECK_PLAINTEXT, ValueCodec, verifyKeyCheck, type KeyRing } from './crypto.js';
import { GRANT_TOMBSTONE_MS } from './grant-records.js';
import { TOKEN_RETENTION_MS } from './retention.js';
import { ChangeWaiters } from './waiters.js';

export interface RedisStoreOptions {
  /** `redis://[:password@]host:port[/db]` or `rediss://…` (TLS). Give one of url, sentinels or cluster. */
  url?: string | undefined;
  /** Sentinel addresses, with `name` the monitored master's name. */
  sentinels?: readonly { host: string; port: number }[] | undefined;
  name?: string | undefined;
  /** Cluster seed nodes. */
  cluster?: readonly { host: string; port: number }[] | undefined;
  /** Password for sentinel and cluster setups (a url carries its own). */
  password?: string | undefined;
  /** Prefix of every key and of the change channel; no braces (they would break the hash tags). */
  keyPrefix?: string | undefined;
  /**
   * The keys every value is encrypted with at rest, or `'none'` to store plain text (a warning is
   * logged at open). Required, so that plain text in Redis is never an accident.
   */
  encryption: KeyRing | 'none';
  logger?: Logger;
  /** A command not answered in this time fails, so that the broker goes on with its local copy. */
  commandTimeoutMs?: number;
  /** How long `open()` waits to reach Redis. */
  connectTimeoutMs?: number;
  /** Upper bound of the delay between reconnection attempts. */
  maxReconnectDelayMs?: number;
  /**
   * Replicas a grant write waits for (`WAIT`, up to `grantReplicaTimeoutMs`) before it is
   * answered, so that a failover right after it does not lose it. Default: 1 with sentinels (the
   * setup that fails over), 0 otherwise. Fewer acknowledgements are logged, not refused: the
   * grant is written on the master.
   */
  grantReplicas?: number | undefined;
  grantReplicaTimeoutMs?: number | undefined;
}

export const DEFAULT_REDIS_STORE_OPTIONS = {
  keyPrefix: 'tokenhub:',
  commandTimeoutMs: 1_000,
  connectTimeoutMs: 5_000,
  maxReconnectDelayMs: 2_000,
  grantReplicaTimeoutMs: 1_000,
} as const;

/** While the change channel is down, a waiter looks again this often instead of waiting for a message. */
const UNSUBSCRIBED_RECHECK_MS = 200;
/** A fence counter lives this long after its last lease. */
const FENCE_RETENTION_MS = 7 * 24 * 3600_000;

type Client = Redis | Cluster;

/** A grant the store holds but cannot open (see `getGrant`). */
const UNREADABLE = Symbol('unreadable grant');
const GRANT_KEPT = 'a grant, kept as it is (give the key that wrote it in store.previousEncryptionKeys)';

/** A Lua script, registered on each client with ioredis' `defineCommand` (EVALSHA, reloaded after a Redis restart). */
interface Script {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly lua: string;
}

const script = (name: string, numberOfKeys: number, lua: string): Script => ({ name, numberOfKeys, lua });

// Compare-and-set on the version: a token is written only over an older one, so a holder whose
// lease expired while it fetched cannot replace what its successor wrote. Returns the winner
// when the write is refused, nil when it was made (and announced).
const PUT = script('tokenhubPut', 1, `
local cur = redis.call('HGET', KEYS[1], 'v')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then
  return redis.call('HMGET', KEYS[1], 'v', 'd')
end
redis.call('HSET', KEYS[1], 'v', ARGV[1], 'd', ARGV[2])
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return false
`);

// The lease: a lock with an owner and an expiry, and a fence above every earlier fence and
// above the stored version.
const ACQUIRE = script('tokenhubAcquire', 3, `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local fence = redis.call('INCR', KEYS[2])
local stored = tonumber(redis.call('HGET', KEYS[3], 'v') or '0')
if stored >= fence then
  fence = stored + 1
  redis.call('SET', KEYS[2], fence)
end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return fence
`);

// A delete, announced (whether a token was there or not: another instance may hold one in memory).
const DELETE_TOKEN = script('tokenhubDeleteToken', 1, `
redis.call('DEL', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
`);

// Only the owner releases: an expired holder must not delete its successor's lock.
const RELEASE = script('tokenhubRelease', 1, `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
`);

// Re-encryption during a key rotation, only if nobody wrote in between.
const REWRAP_TOKEN = script('tokenhubRewrapToken', 1, `
if redis.call('HGET', KEYS[1], 'd') == ARGV[1] then redis.call('HSET', KEYS[1], 'd', ARGV[2]) return 1 end
return 0
`);
const REWRAP_STATE = script('tokenhubRewrapState', 1, `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end
return 0
`);
// A budget shared by every instance: counted only below the limit, so a refused take costs
// nothing. The expiry is set by the first use alone: later uses do not extend the window.
const TAKE_QUOTA = script('tokenhubTakeQuota', 1, `
if tonumber(redis.call('GET', KEYS[1]) or '0') >= tonumber(ARGV[1]) then return false end
local used = redis.call('INCR', KEYS[1])
if used == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return used
`);
// A grant: a hash of `v` (its version, plain) and `d` (the sealed value), no expiry. Written only
// over the version the writer read (0: none live); a deleted one keeps `v` alone, with an expiry,
// so that a new grant starts above it and a write expecting a version from before the delete
// is refused. Returns the new version, or nil when refused.
const PUT_GRANT = script('tokenhubPutGrant', 1, `
local cur = redis.call('HMGET', KEYS[1], 'v', 'd')
local version = tonumber(cur[1] or '0')
local expected = tonumber(ARGV[1])
if cur[2] then
  if version ~= expected then return false end
elseif expected ~= 0 then
  return false
end
redis.call('HSET', KEYS[1], 'v', version + 1, 'd', ARGV[2])
redis.call('PERSIST', KEYS[1])
return version + 1
`);
// ARGV[1] is the expected version, or '' for any.
const DELETE_GRANT = script('tokenhubDeleteGrant', 1, `
local cur = redis.call('HMGET', KEYS[1], 'v', 'd')
if not cur[2] then return 0 end
if ARGV[1] ~= '' and tonumber(cur[1]) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HDEL', KEYS[1], 'd')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);
const SCRIPTS = [PUT, DELETE_TOKEN, ACQUIRE, RELEASE, REWRAP_TOKEN, REWRAP_STATE, TAKE_QUOTA, PUT_GRANT, DELETE_GRANT];

/** `client` with tokenhub's scripts defined on it. */
function withScripts<C extends Client>(client: C): C {
  for (const { name, numberOfKeys, lua } of SCRIPTS) client.defineCommand(name, { numberOfKeys, lua });
  return client;
}

/** Runs a script defined by `withScripts`. */
function run(client: Client, { name }: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
  return (client as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[name]!(...keys, ...args);
}

interface ChangeMessage {
  /** The store key. */
  k: string;
  /** `put` (a token was written), `delete` (one was deleted) or `release` (a lease ended). */
  t: 'put' | 'delete' | 'release';
  /** The instance that made the change. */
  i: string;
}

/**
 * The store of instances that act as one. Per token key (`{key}` is a hash tag, so that a
 * token, its lock and its fence live in one cluster slot):
 * - `<prefix>{key}:token` a hash: `v` the version (plain, for the compare-and-set) and `d` the
 *   sealed token;
 * - `<prefix>{key}:lock` the lease: a random owner id, with an expiry;
 * - `<prefix>{key}:fence` the fencing counter.
 *
 * State lives in `<prefix>{key}:state`, quota counts in `<prefix>{key}:quota` (a plain integer
 * with the window's expiry: a count is no secret), grants in `<prefix>{key}:grant` (a hash: `v`
 * the version, `d` the sealed value; no expiry), the key check in `<prefix>check`. Every
 * token write and delete and every lease release is published on `<prefix>changes`: waiters
 * wake on it (no polling), other instances adopt newer tokens and drop deleted ones. Commands
 * fail fast while Redis is unreachable (no offline queue, a command timeout), so callers fall
 * back at once; the clients reconnect by themselves, and on reconnection every token this
 * instance uses is announced to its listeners again, in case a change went unheard.
 *
 * @example
 * const store = new RedisStore({ url: 'redis://127.0.0.1:6379', keyPrefix: 'tokenhub:', encryption: { current: key, previous: [] } });
 * await store.open();
 */
export class RedisStore implements TokenStore {
  readonly name = 'redis';
  readonly #client: Client;
  readonly #sub: Client;
  readonly #prefix: string;
  readonly #channel: string;
  readonly #codec: ValueCodec;
  readonly #log: Logger;
  readonly #target: string;
  readonly #grantReplicas: number;
  readonly #grantReplicaTimeoutMs: number;
  readonly #instance = `${hostname()}:${process.pid}:${randomBytes(6).toString('hex')}`;
  readonly #waiters = new ChangeWaiters();
  readonly #listeners = new Set<(change: StoreChange) => void>();
  /** Token keys this instance has used: announced again after a reconnection. */
  readonly #known = new Set<string>();
  /** Unreadable values already reported, so a damaged entry is logged once, not on every read. */
  readonly #reported = new Set<string>();
  #opening: Promise<void> | undefined;
  #closed = false;
  #subscribed = false;
  #lost = false;

  constructor(options: RedisStoreOptions) {
    const modes = [options.url !== undefined, options.sentinels !== undefined, options.cluster !== undefined].filter(Boolean).length;
    if (modes !== 1) throw new TypeError('give exactly one of url, sentinels (with name) and cluster');
    if (options.sentinels !== undefined && !options.name) throw new TypeError('name: the master name is required with sentinels');
    const prefix = options.keyPrefix ?? DEFAULT_REDIS_STORE_OPTIONS.keyPrefix;
    if (/[{}]/.test(prefix)) throw new TypeError('keyPrefix: must not contain { or } (they would break the hash tags)');
    this.#prefix = prefix;
    this.#channel = `${prefix}changes`;
    if (options.encryption === undefined) {
      throw new TypeError("encryption: give the store's keys (store.encryptionKey), or 'none' to store tokens in plain text");
    }
    this.#codec = new ValueCodec(options.encryption === 'none' ? undefined : options.encryption);
    this.#log = options.logger ?? silentLogger;
    this.#grantReplicas = options.grantReplicas ?? (options.sentinels === undefined ? 0 : 1);
    this.#grantReplicaTimeoutMs = options.grantReplicaTimeoutMs ?? DEFAULT_REDIS_STORE_OPTIONS.grantReplicaTimeoutMs;
    const commandTimeout = options.commandTimeoutMs ?? DEFAULT_REDIS_STORE_OPTIONS.commandTimeoutMs;
    const connectTimeout = options.connectTimeoutMs ?? DEFAULT_REDIS_STORE_OPTIONS.connectTimeoutMs;
    const maxDelay = options.maxReconnectDelayMs ?? DEFAULT_REDIS_STORE_OPTIONS.maxReconnectDelayMs;
    const retryStrategy = (attempt: number): number => Math.round(Math.min(maxDelay, 50 * 2 ** attempt) * (0.5 + Math.random() / 2));
    // No offline queue and no retries: a command fails at once while Redis is away, so the
    // broker serves its local copy instead of hanging.
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout,
      connectTimeout,
      connectionName: 'tokenhub',
      ...(options.password === undefined ? {} : { password: options.password }),
    };
    if (options.cluster) {
      const nodes = options.cluster.map((n) => ({ host: n.host, port: n.port })) satisfies ClusterNode[];
      const make = (): Cluster =>
        new Cluster(nodes, { lazyConnect: true, enableOfflineQueue: false, clusterRetryStrategy: retryStrategy, redisOptions: common });
      this.#client = withScripts(make());
      this.#sub = make();
      this.#target = `cluster ${nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
    } else if (options.sentinels) {
      const make = (): Redis => new Redis({ ...common, retryStrategy, sentinels: options.sentinels!.map((s) => ({ ...s })), name: options.name! });
      this.#client = withScripts(make());
      this.#sub = make();
      this.#target = `sentinels ${options.sentinels.map((s) => `${s.host}:${s.port}`).join(',')} (master ${options.name})`;
    } else {
      const make = (): Redis => new Redis(options.url!, { ...common, retryStrategy });
      this.#client = withScripts(make());
      this.#sub = make();
      this.#target = redactUrl(options.url!);
    }
    this.#watch(this.#client, 'commands');
    this.#watch(this.#sub, 'changes');
    this.#sub.on('message', (channel: string, message: string) => {
      if (channel === this.#channel) this.#onMessage(message);
    });
  }

  open(): Promise<void> {
    this.#opening ??= this.#open().catch(async (err: unknown) => {
      this.#client.disconnect();
      this.#sub.disconnect();
      throw err;
    });
    return this.#opening;
  }

  async getToken(key: string): Promise<StoredToken | undefined> {
    this.#known.add(key);
    const [version, data] = await this.#client.hmget(this.#tokenKey(key), 'v', 'd');
    return this.#decodeToken(key, version ?? null, data ?? null);
  }

  async putToken(key: string, token: StoredToken): Promise<StoredToken> {
    this.#known.add(key);
    const data = this.#codec.seal(JSON.stringify({ value: token.value, expiresAt: token.expiresAt, obtainedAt: token.obtainedAt }), key);
    const winner = (await run(
      this.#client,
      PUT,
      [this.#tokenKey(key)],
      [token.version, data, Math.round(token.expiresAt + TOKEN_RETENTION_MS), this.#channel, this.#message(key, 'put')],
    )) as [string | null, string | null] | null;
    this.#waiters.wake(key);
    if (winner === null) return token;
    // Refused: a newer token is stored. An unreadable one is replaced by nothing; report ours as lost.
    return (await this.#decodeToken(key, winner[0], winner[1])) ?? token;
  }

  async deleteToken(key: string): Promise<void> {
    await run(this.#client, DELETE_TOKEN, [this.#tokenKey(key)], [this.#channel, this.#message(key, 'delete')]);
  }

  async getState(key: string): Promise<string | undefined> {
    const sealed = await this.#client.get(this.#stateKey(key));
    if (sealed === null) return undefined;
    try {
      return this.#codec.open(sealed, key).value;
    } catch (err) {
      this.#reportUnreadable(key, sealed, err);
      return undefined;
    }
  }

  async setState(key: string, value: string, ttlMs?: number): Promise<void> {
    const sealed = this.#codec.seal(value, key);
    if (ttlMs === undefined) await this.#client.set(this.#stateKey(key), sealed);
    else await this.#client.set(this.#stateKey(key), sealed, 'PX', Math.max(1, Math.round(ttlMs)));
  }

  async addState(key: string, value: string, ttlMs: number): Promise<boolean> {
    const sealed = this.#codec.seal(value, key);
    return (await this.#client.set(this.#stateKey(key), sealed, 'PX', Math.max(1, Math.round(ttlMs)), 'NX')) === 'OK';
  }

  async deleteState(key: string): Promise<void> {
    await this.#client.del(this.#stateKey(key));
  }

  async takeQuota(key: string, limit: number, ttlMs: number): Promise<number | undefined> {
    try {
      const used = await run(this.#client, TAKE_QUOTA, [this.#quotaKey(key)], [limit, Math.max(1, Math.round(ttlMs))]);
      return used === null ? undefined : Number(used);
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  async quotaUsed(key: string): Promise<number> {
    try {
      return Number((await this.#client.get(this.#quotaKey(key))) ?? 0);
    } catch (err) {
      throw this.#unavailable(err);
    }
  }

  /**
   * An unreadable grant (written with a key the store lacks, or damaged) is an error, never taken
   * for none: it is not written over, and an operator who restores the key has it back.
   */
  async getGrant(key: string): Promise<StoredGrant | undefined> {
    const grant = await this.#readGrant(key);
    if (grant === UNREADABLE) throw new TokenHubError('TOKENHUB_STORE_UNAVAILABLE', `the grant under ${key} cannot be read with the configured keys`);
    return grant;
  }

  async putGrant(key: string, value: string, expectedVersion: number): Promise<StoredGrant | undefined> {
    let version: unknown;
    try {
      version = await run(this.#client, PUT_GRANT, [this.#grantKey(key)], [expectedVersion, this.#codec.seal(value, key)]);
    } catch (err) {
      throw this.#unavailable(err);
    }
    if (version === null) return undefined;
    await this.#replicated(key);
    return { value, version: Number(version) };
  }

  async deleteGrant(key: string, expectedVersion?: number): Promise<boolean> {
    let deleted: boolean;
    try {
      deleted = Number(await run(this.#client, DELETE_GRANT, [this.#grantKey(key)], [expectedVersion ?? '', GRANT_TOMBSTONE_MS])) === 1;
    } catch (err) {
      throw this.#unavailable(err);
    }
    if (deleted) await this.#replicated(key);
    return deleted;
  }

  /**
   * A SCAN of every master for `<prefix>{<prefix of the keys>*}:grant`: it costs a pass over the
   * keyspace, which the rare callers (listing an app's authorizations) can afford.
   */
  async listGrants(prefix: string): Promise<{ key: string; grant: StoredGrant }[]> {
    const found: { key: string; grant: StoredGrant }[] = [];
    const match = `${globEscape(this.#prefix)}{${globEscape(prefix)}*}:grant`;
    for (const node of this.#masters()) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 500).catch((err: unknown) => {
          throw this.#unavailable(err);
        });
        cursor = next;
        for (const redisKey of keys) {
          const key = this.#keyOf(redisKey);
          // The pattern's * may also match past a `}` in the key: keep only exact matches.
          if (!key.startsWith(prefix) || this.#grantKey(key) !== redisKey) continue;
          // An unreadable grant (reported once) is left out of the list, not lost.
          const grant = await this.#readGrant(key);
          if (grant !== undefined && grant !== UNREADABLE) found.push({ key, grant });
        }
      } while (cursor !== '0');
    }
    return found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** Waits for the replicas a grant write should reach (see `grantReplicas`); logs when fewer answered. */
  async #replicated(key: string): Promise<void> {
    if (this.#grantReplicas === 0 || this.#client instanceof Cluster) return;
    try {
      const acknowledged = await this.#client.wait(this.#grantReplicas, this.#grantReplicaTimeoutMs);
      if (acknowledged < this.#grantReplicas) {
        this.#log.warn({ key, replicas: acknowledged, wanted: this.#grantReplicas, redis: this.#target }, 'a grant was written on the master but not yet copied to its replicas: a failover now could lose it');
      }
    } catch (err) {
      this.#log.warn({ key, redis: this.#target, err: (err as Error).message }, 'cannot tell whether a grant reached the replicas');
    }
  }

  async acquire(key: string, ttlMs: number): Promise<Lease | undefined> {
    this.#known.add(key);
    const owner = `${this.#instance}:${randomBytes(8).toString('hex')}`;
    const base = this.#base(key);
    const fence = await run(this.#client, ACQUIRE, [`${base}:lock`, `${base}:fence`, `${base}:token`], [owner, Math.max(1, Math.round(ttlMs)), FENCE_RETENTION_MS]);
    if (fence === null) return undefined;
    return {
      fence: Number(fence),
      release: async () => {
        await run(this.#client, RELEASE, [`${base}:lock`], [owner, this.#channel, this.#message(key, 'release')]);
        this.#waiters.wake(key);
      },
    };
  }

  /**
   * Woken by the change channel. The wait is cut to the lease's remaining time, so a holder
   * that died costs its successors no more than the lease; while Redis is away it returns at
   * once (the broker then fetches on its own).
   */
  async waitForChange(key: string, timeoutMs: number): Promise<void> {
    const waiting = this.#waiters.wait(key, timeoutMs);
    try {
      // Asked after the waiter is in place: a release after this answer is a message it hears.
      const left = await this.#client.pttl(`${this.#base(key)}:lock`);
      let wakeInMs = left < 0 ? 0 : left + 5;
      // Changes go unheard until the subscription is back: look again soon instead.
      if (!this.#subscribed) wakeInMs = Math.min(wakeInMs, UNSUBSCRIBED_RECHECK_MS);
      if (wakeInMs === 0) this.#waiters.wake(key);
      else if (wakeInMs < timeoutMs) setTimeout(() => this.#waiters.wake(key), wakeInMs).unref();
    } catch {
      this.#waiters.wake(key);
    }
    return waiting;
  }

  subscribe(listener: (change: StoreChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async ping(): Promise<void> {
    await this.open();
    await this.#client.ping();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiters.wakeAll();
    await Promise.all([this.#client, this.#sub].map((c) => c.quit().catch(() => c.disconnect())));
  }

  /** Where the store points, without a password (for logs and messages). */
  get target(): string {
    return this.#target;
  }

  async #open(): Promise<void> {
    try {
      await Promise.all([this.#client.connect(), this.#sub.connect()]);
      await this.#sub.subscribe(this.#channel);
    } catch (err) {
      throw new TokenHubError('TOKENHUB_STORE_UNAVAILABLE', `cannot reach Redis at ${this.#target}: ${(err as Error).message}`, { cause: err });
    }
    this.#subscribed = true;
    const checkKey = `${this.#prefix}check`;
    const found = verifyKeyCheck(this.#codec, (await this.#client.get(checkKey)) ?? undefined, `Redis (${this.#target}, prefix ${this.#prefix})`);
    if (this.#codec.encrypted && found !== 'current') {
      // First a check value readable by every key (so a rolling restart still verifies), then the entries.
      const rewrapped = await this.#rewrapAll();
      await this.#client.set(checkKey, this.#codec.seal(CHECK_PLAINTEXT, CHECK_CONTEXT));
      if (rewrapped > 0) this.#log.info({ entries: rewrapped, keyId: this.#codec.keyId }, 'encrypted entries written in plain text or with a previous key');
    }
    if (!this.#codec.encrypted) this.#log.warn({ redis: this.#target }, 'store.encryptionKey is not set (encryption: none): tokens, refresh tokens and tickets are stored in plain text in Redis');
    this.#log.info({ redis: this.#target, keyPrefix: this.#prefix, encrypted: this.#codec.encrypted, keyId: this.#codec.keyId }, 'redis store open');
  }

  /** Seals again, with the current key, every entry written in plain text or with a previous key. */
  async #rewrapAll(): Promise<number> {
    const match = `${globEscape(this.#prefix)}{*}:*`;
    let count = 0;
    for (const node of this.#masters()) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', 500);
        cursor = next;
        for (const redisKey of keys) {
          // Tokens and grants are hashes with the sealed value in `d`; a deleted grant's mark has none.
          const kind = redisKey.endsWith('}:token') || redisKey.endsWith('}:grant') ? 'hash' : redisKey.endsWith('}:state') ? 'state' : undefined;
          if (!kind) continue;
          const key = this.#keyOf(redisKey);
          const sealed = kind === 'hash' ? await this.#client.hget(redisKey, 'd') : await this.#client.get(redisKey);
          if (sealed === null) continue;
          let opened;
          try {
            opened = this.#codec.open(sealed, key);
          } catch (err) {
            this.#reportUnreadable(key, sealed, err, redisKey.endsWith('}:grant') ? GRANT_KEPT : undefined);
            continue;
          }
          if (!opened.stale) continue;
          count += Number(await run(this.#client, kind === 'hash' ? REWRAP_TOKEN : REWRAP_STATE, [redisKey], [sealed, this.#codec.seal(opened.value, key)]));
        }
      } while (cursor !== '0');
    }
    return count;
  }

  /** The master nodes whose keys a SCAN must visit: every master of a cluster, else the one server. */
  #masters(): Redis[] {
    return this.#client instanceof Cluster ? this.#client.nodes('master') : [this.#client];
  }

  /** The store key of `<prefix>{key}:<what>`. */
  #keyOf(redisKey: string): string {
    return redisKey.slice(this.#prefix.length + 1, redisKey.lastIndexOf('}:'));
  }

  async #readGrant(key: string): Promise<StoredGrant | undefined | typeof UNREADABLE> {
    let version: string | null | undefined;
    let data: string | null | undefined;
    try {
      [version, data] = await this.#client.hmget(this.#grantKey(key), 'v', 'd');
    } catch (err) {
      throw this.#unavailable(err);
    }
    if (version == null || data == null) return undefined;
    try {
      return { value: this.#codec.open(data, key).value, version: Number(version) };
    } catch (err) {
      this.#reportUnreadable(key, data, err, GRANT_KEPT);
      return UNREADABLE;
    }
  }

  #decodeToken(key: string, version: string | null, data: string | null): StoredToken | undefined {
    if (version === null || data === null) return undefined;
    try {
      const inner = JSON.parse(this.#codec.open(data, key).value) as { value: string; expiresAt: number; obtainedAt: number };
      return { value: inner.value, expiresAt: inner.expiresAt, obtainedAt: inner.obtainedAt, version: Number(version) };
    } catch (err) {
      // Treated as absent: the next holder of the lease fetches and writes over it (its fence is above the version).
      this.#reportUnreadable(key, data, err);
      return undefined;
    }
  }

  /** A failed command as the store's error: callers that must not guess at a budget tell it by its code. */
  #unavailable(err: unknown): TokenHubError {
    return new TokenHubError('TOKENHUB_STORE_UNAVAILABLE', `redis at ${this.#target}: ${(err as Error).message}`, { cause: err });
  }

  #reportUnreadable(key: string, sealed: string, err: unknown, outcome = 'treated as absent'): void {
    const id = `${key}\0${sealed}`;
    if (this.#reported.has(id)) return;
    this.#reported.add(id);
    this.#log.error({ key, redis: this.#target, err: (err as Error).message }, `store entry unreadable: ${outcome}`);
  }

  #onMessage(text: string): void {
    let message: ChangeMessage;
    try {
      message = JSON.parse(text) as ChangeMessage;
      if (typeof message.k !== 'string') return;
    } catch {
      return;
    }
    this.#waiters.wake(message.k);
    if (message.i === this.#instance) return;
    if (message.t === 'put') this.#announce(message.k);
    else if (message.t === 'delete') this.#announce(message.k, true);
  }

  #announce(key: string, deleted = false): void {
    const change: StoreChange = deleted ? { key, deleted } : { key };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, 'store change listener failed');
      }
    }
  }

  /** Logs a lost connection once, and on the way back announces every known token (changes may have gone unheard). */
  #watch(client: Client, role: 'commands' | 'changes'): void {
    let connected = false;
    client.on('error', (err: Error) => {
      if (this.#closed || this.#lost) return;
      this.#lost = true;
      this.#log.warn({ redis: this.#target, connection: role, err: err.message }, 'redis unreachable: serving local copies, reconnecting');
    });
    client.on('close', () => {
      if (role === 'changes') this.#subscribed = false;
      // Whoever waits for a message on the lost connection goes on without it.
      this.#waiters.wakeAll();
    });
    client.on('ready', () => {
      if (!connected || this.#closed) {
        connected = true;
        return;
      }
      const back = (): void => {
        if (this.#lost) {
          this.#lost = false;
          this.#log.info({ redis: this.#target }, 'redis reachable again');
        }
        for (const key of this.#known) this.#announce(key);
      };
      if (role === 'commands') return back();
      // ioredis subscribes again by itself; waiting for our own subscribe makes sure it took effect before reading.
      this.#sub.subscribe(this.#channel).then(
        () => {
          this.#subscribed = true;
          back();
        },
        () => {},
      );
    });
  }

  #message(key: string, type: ChangeMessage['t']): string {
    return JSON.stringify({ k: key, t: type, i: this.#instance } satisfies ChangeMessage);
  }

  #base(key: string): string {
    return `${this.#prefix}{${key}}`;
  }

  #tokenKey(key: string): string {
    return `${this.#base(key)}:token`;
  }

  #stateKey(key: string): string {
    return `${this.#base(key)}:state`;
  }

  #quotaKey(key: string): string {
    return `${this.#base(key)}:quota`;
  }

  #grantKey(key: string): string {
    return `${this.#base(key)}:grant`;
  }
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'redis (unparseable url)';
  }
}

function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
