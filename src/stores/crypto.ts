import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { TokenHubError } from '../core/errors.js';

/** AES-256 keys are 32 bytes. */
export const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const SEALED = 'e1:';
const PLAIN = 'p:';

export const ENCRYPTION_KEY_HINT = 'must be 32 bytes: 44 base64 characters (openssl rand -base64 32) or 64 hex characters';

/**
 * A 32-byte key written as 64 hex characters or as base64 (standard or URL-safe, padded or
 * not); `undefined` when it is neither or not 32 bytes long.
 *
 * @example
 * parseEncryptionKey(execSync('openssl rand -base64 32').toString()); // a 32-byte Buffer
 */
export function parseEncryptionKey(text: string): Buffer | undefined {
  const t = text.trim();
  // Hex first: 64 hex characters are valid base64 too, of 48 bytes.
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (!/^[A-Za-z0-9+/_-]{43}={0,1}$/.test(t)) return undefined;
  const key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return key.length === KEY_BYTES ? key : undefined;
}

/** A short public name of a key (a hash): recorded beside each value so that a rotation knows which key opens it. */
export function keyId(key: Buffer): string {
  return createHash('sha256').update('tokenhub key id\0').update(key).digest('hex').slice(0, 8);
}

/** The keys of a store: the current one encrypts, every one of them decrypts. */
export interface KeyRing {
  readonly current: Buffer;
  readonly previous: readonly Buffer[];
}

/** A value the store holds but cannot read: written with a key it lacks, or damaged. */
export class UnreadableValueError extends Error {
  override readonly name = 'UnreadableValueError';
  /** The id of a key that is not configured, when that is why. */
  readonly missingKeyId: string | undefined;

  constructor(message: string, missingKeyId?: string) {
    super(message);
    this.missingKeyId = missingKeyId;
  }
}

/** What {@link ValueCodec.open} found. */
export interface OpenedValue {
  readonly value: string;
  /** Written in plain text or with a previous key while a current key is set: write it again. */
  readonly stale: boolean;
  /** The key id it was written with (`undefined`: plain text). */
  readonly keyId: string | undefined;
}

/**
 * Seals values for a store: AES-256-GCM with a random IV per value and the value's store key
 * as additional data (so a sealed value cannot be moved to another key), prefixed with the
 * id of the key that sealed it. Without keys values are marked plain and kept as they are.
 *
 * Sealed: `e1:<key id>:<base64url(iv | tag | ciphertext)>`; plain: `p:<value>`.
 *
 * @example
 * const codec = new ValueCodec({ current: key, previous: [] });
 * const sealed = codec.seal('t-abc', 'tok:feishu:cli_1:…');
 * codec.open(sealed, 'tok:feishu:cli_1:…').value; // 't-abc'
 */
export class ValueCodec {
  readonly #current: { id: string; key: Buffer } | undefined;
  readonly #keys = new Map<string, Buffer>();

  constructor(keys?: KeyRing) {
    if (!keys) return;
    for (const key of [keys.current, ...keys.previous]) {
      if (key.length !== KEY_BYTES) throw new RangeError(`encryption keys must be ${KEY_BYTES} bytes`);
      if (!this.#keys.has(keyId(key))) this.#keys.set(keyId(key), key);
    }
    this.#current = { id: keyId(keys.current), key: keys.current };
  }

  /** Whether values are encrypted. */
  get encrypted(): boolean {
    return this.#current !== undefined;
  }

  /** The id of the key that encrypts (`undefined` without one). */
  get keyId(): string | undefined {
    return this.#current?.id;
  }

  /** Ids of every key that can decrypt. */
  get keyIds(): string[] {
    return [...this.#keys.keys()];
  }

  seal(value: string, context: string): string {
    if (!this.#current) return PLAIN + value;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#current.key, iv);
    cipher.setAAD(Buffer.from(context));
    const body = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return `${SEALED}${this.#current.id}:${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  /** Throws {@link UnreadableValueError} when the value was sealed with a key not configured, or fails authentication. */
  open(sealed: string, context: string): OpenedValue {
    if (sealed.startsWith(PLAIN)) return { value: sealed.slice(PLAIN.length), stale: this.encrypted, keyId: undefined };
    if (!sealed.startsWith(SEALED)) throw new UnreadableValueError('not a stored value (unknown format)');
    const rest = sealed.slice(SEALED.length);
    const colon = rest.indexOf(':');
    const id = rest.slice(0, colon);
    if (colon < 0) throw new UnreadableValueError('not a stored value (no key id)');
    const key = this.#keys.get(id);
    if (!key) {
      throw new UnreadableValueError(
        this.encrypted
          ? `encrypted with key id ${id}, which is neither store.encryptionKey (${this.keyId}) nor one of store.previousEncryptionKeys`
          : `encrypted with key id ${id} and store.encryptionKey is not set`,
        id,
      );
    }
    const raw = Buffer.from(rest.slice(colon + 1), 'base64url');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new UnreadableValueError(`damaged (too short), key id ${id}`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(context));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const value = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      return { value, stale: id !== this.#current?.id, keyId: id };
    } catch {
      throw new UnreadableValueError(`damaged or not written with key id ${id} (authentication failed)`);
    }
  }
}

/** The context of the check value: a known plaintext whose decryption proves the key. */
export const CHECK_CONTEXT = 'tokenhub:key-check';
export const CHECK_PLAINTEXT = 'tokenhub key check v1';

/**
 * The key id a check value was sealed with (`undefined`: it is not sealed), read without
 * decrypting, for error messages.
 */
export function sealedKeyId(sealed: string): string | undefined {
  if (!sealed.startsWith(SEALED)) return undefined;
  const rest = sealed.slice(SEALED.length);
  return rest.slice(0, Math.max(0, rest.indexOf(':')));
}

/** What the check value of a store says about the configured keys. */
export type KeyCheck =
  /** No check value yet: a new store, or one written without a key. */
  | 'absent'
  /** Written with the current key. */
  | 'current'
  /** Written with one of the previous keys: a rotation is under way. */
  | 'previous';

/**
 * Compares the configured keys with a store's check value (`where` names the store in
 * messages). A key that cannot open it, or an encrypted store opened without a key, stops
 * the start with `TOKENHUB_STORE_KEY_MISMATCH` before anything is read or written.
 */
export function verifyKeyCheck(codec: ValueCodec, check: string | undefined, where: string): KeyCheck {
  if (check === undefined) return 'absent';
  const id = sealedKeyId(check);
  if (id === undefined) return 'absent';
  if (!codec.encrypted) {
    throw new TokenHubError('TOKENHUB_STORE_KEY_MISMATCH', `the data in ${where} are encrypted (key id ${id}) and store.encryptionKey is not set`);
  }
  try {
    const opened = codec.open(check, CHECK_CONTEXT);
    if (opened.value !== CHECK_PLAINTEXT) throw new UnreadableValueError('unexpected check value');
    return opened.stale ? 'previous' : 'current';
  } catch {
    throw new TokenHubError(
      'TOKENHUB_STORE_KEY_MISMATCH',
      `store.encryptionKey does not open the data in ${where}: they were written with key id ${id}, the configured keys have ids ${codec.keyIds.join(', ')}; ` +
        'a wrong key? (nothing was read or changed; for a rotation put the old key in store.previousEncryptionKeys)',
    );
  }
}
