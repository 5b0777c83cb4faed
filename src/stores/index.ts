import { silentLogger, type Logger, type TokenStore } from '../core/types.js';
import type { StoreConfig } from '../config.js';
import { parseEncryptionKey, type KeyRing } from './crypto.js';
import { FileStore } from './file.js';
import { MemoryStore } from './memory.js';
import { RedisStore } from './redis.js';

export { FileStore, type FileStoreOptions } from './file.js';
export { MemoryStore } from './memory.js';
export { RedisStore, DEFAULT_REDIS_STORE_OPTIONS, type RedisStoreOptions } from './redis.js';

/** Builds the configured store; `open()` (called by the hub before it listens) connects, locks and checks the key. */
/** `now` is the hub's clock: retention and leases count by it (the redis store keeps time by the server's). */
export function createStore(config: StoreConfig, logger: Logger = silentLogger, now?: () => number): TokenStore {
  const clock = now ? { now } : {};
  switch (config.type) {
    case 'memory':
      return new MemoryStore(clock);
    case 'file':
      return new FileStore({ path: config.path, encryption: encryption(config), logger, ...clock });
    case 'redis':
      return new RedisStore({
        url: config.url,
        sentinels: config.sentinels,
        name: config.name,
        cluster: config.cluster,
        password: config.password,
        keyPrefix: config.keyPrefix,
        encryption: encryption(config),
        logger,
      });
  }
}

/** A persistent store's keys, or `'none'` only where the config says so in as many words. */
function encryption(config: Parameters<typeof keyRing>[0] & { encryption?: 'none' | undefined }): KeyRing | 'none' {
  const keys = keyRing(config);
  if (keys) return keys;
  if (config.encryption === 'none') return 'none';
  throw new TypeError('store.encryptionKey: required (or write `encryption: none` to store tokens in plain text)');
}

/** The keys of a validated config (their format was checked when the config was loaded). */
export function keyRing(config: { encryptionKey?: string | undefined; previousEncryptionKeys?: string[] | undefined }): KeyRing | undefined {
  if (config.encryptionKey === undefined) return undefined;
  const parse = (text: string, where: string): Buffer => {
    const key = parseEncryptionKey(text);
    if (!key) throw new TypeError(`${where}: not a 32-byte key`);
    return key;
  };
  return {
    current: parse(config.encryptionKey, 'store.encryptionKey'),
    previous: (config.previousEncryptionKeys ?? []).map((k, i) => parse(k, `store.previousEncryptionKeys[${i}]`)),
  };
}
