import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { decrypt, encrypt, getSignature } from '@wecom/crypto';
import { EventRejected } from '../../core/events.js';
import { buildXmlRecord } from './xml.js';

/**
 * The message crypto of the platforms' third-party apps (WeChat Open Platform components, WeCom
 * suites; the official samples call it WXBizMsgCrypt): AES-256-CBC with the key
 * base64(encodingAESKey + "="), the IV its first 16 bytes, PKCS#7 padding to 32 bytes; plaintext
 * = 16 random bytes ‖ 4-byte big-endian length ‖ message ‖ receive id; `msg_signature` = SHA-1
 * of the sorted [token, timestamp, nonce, Encrypt]. The AES and the SHA-1 are WeCom's own package
 * (`@wecom/crypto`); what it leaves to its caller is here: the key's form, constant-time
 * comparison, and telling a wrong key from a message for someone else (see {@link MessageCrypto.decrypt}).
 */

/** What a third-party app's messages are signed and encrypted with, as set on the platform's console. */
export interface MessageSecrets {
  /** The `Token` of the message settings. */
  readonly token: string;
  /** The `EncodingAESKey`: 43 letters and digits. */
  readonly encodingAESKey: string;
}

/** A message sealed as the platform sends it (and as replies go back): the fields of the `<xml>` envelope and the query. */
export interface SealedMessage {
  /** `Encrypt`: base64 of the ciphertext. */
  readonly encrypt: string;
  /** `msg_signature` / `MsgSignature`: lower-case hex. */
  readonly signature: string;
  /** Seconds since the epoch, as the platform writes it. */
  readonly timestamp: string;
  readonly nonce: string;
}

/** A decrypted message and the receive id it was encrypted for. */
export interface OpenedMessage {
  readonly message: string;
  readonly receiveId: string;
}

const ENCODING_AES_KEY = /^[A-Za-z0-9]{43}$/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** What every receive id looks like (an appid, a suite id, a corp id); random bytes never do. */
const RECEIVE_ID = /^[A-Za-z0-9_.-]{1,128}$/;

/**
 * Signs, encrypts and decrypts an app's messages. Pure: no clock, no state.
 *
 * @example
 * ```ts
 * const crypto = new MessageCrypto({ token: 'QDG6eK', encodingAESKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C' });
 * crypto.verify(query.msg_signature, query.timestamp, query.nonce, query.echostr); // true
 * crypto.decrypt(query.echostr); // { message: '1616140317555161061', receiveId: 'wx5823bf96d3bd56c7' }
 * ```
 */
export class MessageCrypto {
  readonly #token: string;
  readonly #key: string;

  /** Throws a `TypeError` naming `token` or `encodingAESKey` when it has not the platform's form. */
  constructor(secrets: MessageSecrets) {
    if (typeof secrets.token !== 'string' || secrets.token === '') throw new TypeError('token: the message token is required');
    // 43 characters of base64 without padding decode to 32 bytes; anything else is a mistyped key.
    if (typeof secrets.encodingAESKey !== 'string' || !ENCODING_AES_KEY.test(secrets.encodingAESKey)) {
      throw new TypeError('encodingAESKey: must be the 43 letters and digits of the EncodingAESKey');
    }
    this.#token = secrets.token;
    this.#key = secrets.encodingAESKey;
  }

  /** `msg_signature` of a message: SHA-1 of the sorted token, timestamp, nonce and Encrypt, in hex. */
  signature(timestamp: string, nonce: string, encrypted: string): string {
    return getSignature(this.#token, timestamp, nonce, encrypted);
  }

  /** Whether `signature` is the message's `msg_signature`, compared in constant time whatever its shape. */
  verify(signature: string, timestamp: string, nonce: string, encrypted: string): boolean {
    const expected = createHash('sha256').update(this.signature(timestamp, nonce, encrypted)).digest();
    const given = createHash('sha256').update(signature.toLowerCase()).digest();
    return timingSafeEqual(expected, given);
  }

  /** `Encrypt` of `message` for `receiveId`; `random` (16 bytes) only for tests against fixed vectors. */
  encrypt(message: string, receiveId: string, random: Buffer = randomBytes(16)): string {
    if (random.length !== 16) throw new RangeError('random: 16 bytes');
    return encrypt(this.#key, message, receiveId, random);
  }

  /**
   * Decrypts an `Encrypt` (or an `echostr`). Throws `EventRejected` (400) for anything that is not
   * a message encrypted with this key. `@wecom/crypto` checks neither the padding's bytes nor the
   * length field: a wrong key yields random bytes where the receive id goes, which never look like
   * an id; that is how a wrong key is told from a message for another receiver (the caller's check).
   */
  decrypt(encrypted: string): OpenedMessage {
    const bytes = BASE64.test(encrypted) ? Buffer.from(encrypted, 'base64') : undefined;
    if (bytes === undefined || bytes.length < 32 || bytes.length % 16 !== 0) {
      throw new EventRejected(400, 'the encrypted message is not base64 of whole AES blocks');
    }
    let opened: { message: string; id: string };
    try {
      opened = decrypt(this.#key, encrypted);
    } catch {
      throw new EventRejected(400, 'the encrypted message cannot be decrypted with the configured encodingAESKey');
    }
    if (!RECEIVE_ID.test(opened.id) && opened.id !== '') {
      throw new EventRejected(400, 'the encrypted message cannot be decrypted with the configured encodingAESKey');
    }
    return { message: opened.message, receiveId: opened.id };
  }

  /**
   * {@link decrypt}, then the receive id: one of `receiveIds`, or `EventRejected` (400) naming the
   * id it was encrypted for. An empty id (WeCom's apps of individual developers) passes only when
   * listed: otherwise it is what a wrong key leaves when its length field points past the end.
   */
  open(encrypted: string, receiveIds: readonly string[]): OpenedMessage {
    const opened = this.decrypt(encrypted);
    if (receiveIds.includes(opened.receiveId)) return opened;
    if (opened.receiveId === '') throw new EventRejected(400, 'the encrypted message cannot be decrypted with the configured encodingAESKey');
    throw new EventRejected(400, `the message is encrypted for receive id ${opened.receiveId}, not for this app (${receiveIds.join(', ')})`);
  }

  /** Encrypts and signs `message` for `receiveId`, as the platform sends a push and as an encrypted reply goes back. */
  seal(message: string, receiveId: string, options: { timestamp: string; nonce: string; random?: Buffer }): SealedMessage {
    if (!/^\d{1,12}$/.test(options.timestamp)) throw new TypeError('timestamp: seconds since the epoch, in digits');
    const encrypted = this.encrypt(message, receiveId, options.random);
    return { encrypt: encrypted, signature: this.signature(options.timestamp, options.nonce, encrypted), timestamp: options.timestamp, nonce: options.nonce };
  }

  /**
   * An encrypted reply: `<xml><Encrypt/><MsgSignature/><TimeStamp/><Nonce/></xml>` (for the
   * platforms that take one instead of plain `success`).
   *
   * @example
   * reply = crypto.reply('<xml>…</xml>', 'wx_component_appid', { timestamp: String(Math.floor(now / 1000)), nonce: '1372623149' });
   */
  reply(message: string, receiveId: string, options: { timestamp: string; nonce: string; random?: Buffer }): string {
    const sealed = this.seal(message, receiveId, options);
    return buildXmlRecord({ Encrypt: sealed.encrypt, MsgSignature: sealed.signature, TimeStamp: Number(sealed.timestamp), Nonce: sealed.nonce });
  }
}
