import { chmod, readFile, writeFile } from 'node:fs/promises';
import type { LoadedConfig } from '../config.js';
import { ConfigError } from '../core/errors.js';
import { createHub, type Hub } from '../hub.js';
import { createLogger } from '../logger.js';
import { keyRing } from '../stores/index.js';
import { ValueCodec } from '../stores/crypto.js';

/** The format of a backup file: JSON whose `data` is the grants sealed with the store's key. */
const FORMAT = 'tokenhub-grants/1';
/** Bound into the seal, so that no other sealed value passes for a backup. */
const CONTEXT = 'tokenhub:grants-backup';

interface BackupEntry {
  readonly app: string;
  readonly name: string;
  readonly value: string;
}

/** What an import did, by count. */
export interface ImportResult {
  /** Written where the store had none. */
  readonly restored: number;
  /** Left as they were: the store holds a grant of that name already (grants rotate: the store's is the newer). */
  readonly kept: number;
  /** For apps the config no longer has. */
  readonly skipped: number;
}

/**
 * `tokenhub grants export`: every app's grants (authorizer refresh tokens, permanent codes), read
 * from the configured store and sealed with its encryption key (AES-256-GCM), so the backup holds
 * no grant in clear. The file store must not be held by a running tokenhub (its lock); Redis may.
 */
export async function exportGrants(config: LoadedConfig, file: string): Promise<number> {
  const codec = backupCodec(config);
  return withHub(config, async (hub) => {
    const entries: BackupEntry[] = [];
    for (const app of hub.broker.apps()) {
      for (const { name, grant } of await hub.broker.grants(app.id).list()) entries.push({ app: app.id, name, value: grant.value });
    }
    const body = { format: FORMAT, exportedAt: new Date().toISOString(), keyId: codec.keyId, count: entries.length, data: codec.seal(JSON.stringify(entries), CONTEXT) };
    await writeFile(file, `${JSON.stringify(body)}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    return entries.length;
  });
}

/**
 * `tokenhub grants import`: the grants of a backup written back where the store has none of that
 * name (a lost store, a new Redis). A grant the store holds is left alone: grants rotate, and the
 * store's is newer than any backup. Each write is a compare-and-set, as everywhere.
 */
export async function importGrants(config: LoadedConfig, file: string): Promise<ImportResult> {
  const codec = backupCodec(config);
  let parsed: { format?: unknown; data?: unknown };
  try {
    parsed = JSON.parse(await readFile(file, 'utf8')) as typeof parsed;
  } catch (err) {
    throw new ConfigError([`${file}: not a grants backup (${(err as Error).message})`]);
  }
  if (parsed.format !== FORMAT || typeof parsed.data !== 'string') throw new ConfigError([`${file}: not a grants backup (format ${String(parsed.format)})`]);
  let entries: BackupEntry[];
  try {
    entries = JSON.parse(codec.open(parsed.data, CONTEXT).value) as BackupEntry[];
  } catch (err) {
    throw new ConfigError([`${file}: cannot be opened with store.encryptionKey or store.previousEncryptionKeys (${(err as Error).message})`]);
  }
  return withHub(config, async (hub) => {
    let restored = 0;
    let kept = 0;
    let skipped = 0;
    for (const { app, name, value } of entries) {
      if (!hub.broker.has(app)) {
        skipped++;
        continue;
      }
      const written = await hub.broker.grants(app).put(name, value, 0);
      if (written === undefined) kept++;
      else restored++;
    }
    return { restored, kept, skipped };
  });
}

function backupCodec(config: LoadedConfig): ValueCodec {
  const keys = keyRing(config.store as { encryptionKey?: string; previousEncryptionKeys?: string[] });
  if (keys === undefined) throw new ConfigError(['store.encryptionKey: needed to encrypt and open grant backups (a backup is never written in plain text)']);
  return new ValueCodec(keys);
}

/** A hub on the configured store, not listening, closed afterwards. */
async function withHub<T>(config: LoadedConfig, work: (hub: Hub) => Promise<T>): Promise<T> {
  const hub = createHub(config, { logger: createLogger('silent') });
  await hub.store.open?.();
  try {
    return await work(hub);
  } finally {
    hub.broker.close();
    await hub.store.close();
  }
}
