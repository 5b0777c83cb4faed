import { createHash } from 'node:crypto';
import { EventRejected } from '../../core/events.js';
import type { IncomingEvent, StateAccess } from '../../core/types.js';
import { MessageCrypto, type MessageSecrets } from './msg-crypto.js';
import { DEFAULT_MAX_XML_BYTES, parseXmlRecord } from './xml.js';

export { EventRejected };

/** What a third-party app's pushes are checked against. */
export interface PushCheckerOptions extends MessageSecrets {
  /**
   * The receive ids a push may be encrypted for (WeChat Open Platform: the component appid; WeCom:
   * the suite id). Anything else is refused as meant for another receiver.
   */
  readonly receiveIds: readonly string[];
  /** The receive ids of the GET URL check, where they differ (WeCom: the provider's corp id). Default: `receiveIds`. */
  readonly urlCheckReceiveIds?: readonly string[];
  /** Pushes signed further than this from now, either way, are refused as stale. Default 5 minutes. */
  readonly maxSkewMs?: number;
  /** Largest body read. Default 64 KiB. */
  readonly maxBodyBytes?: number;
}

export const DEFAULT_PUSH_OPTIONS = {
  maxSkewMs: 5 * 60_000,
  maxBodyBytes: DEFAULT_MAX_XML_BYTES,
} as const;

/** The state names the checker uses in the app's state: one marker per push taken (`push_seen:<hash>`). */
export const PUSH_STATE = { seen: 'push_seen:' } as const;

/** A push (or URL check) that passed every check. */
export interface OpenedPush {
  /** The decrypted message as the platform wrote it: an XML document for a push, the echostr's plaintext for a URL check. */
  readonly message: string;
  /** The decrypted document's fields (`InfoType`, `ComponentVerifyTicket`, `SuiteTicket`, …); empty for a URL check. */
  readonly fields: Readonly<Record<string, string>>;
  /** The outer document's fields but `Encrypt` (`AppId`, `ToUserName`, `AgentID`); empty for a URL check. */
  readonly envelope: Readonly<Record<string, string>>;
  /** The receive id the message was encrypted for (one of the accepted ones). */
  readonly receiveId: string;
  /** The signed timestamp, epoch milliseconds. */
  readonly signedAt: number;
  readonly nonce: string;
}

/** A push taken by {@link PushChecker.open}, with the way to give its replay marker back. */
export interface TakenPush extends OpenedPush {
  /** Removes the replay marker: the push was not kept after all, and the platform's redelivery must not pass for a replay. */
  forget(): Promise<void>;
}

/** The query a signed push or URL check carries (Fastify's parsed query). */
type Query = Readonly<Record<string, string | undefined>>;

const MAX_NONCE_LENGTH = 128;

/**
 * Checks what the platform sends to a third-party app's events URL: the signature (constant
 * time), the timestamp's window, the decryption, the receive id and, for pushes, replays (a
 * marker per timestamp and nonce in the app's durable state, added atomically, so every instance
 * sharing the store refuses a replay). Every failure is an `EventRejected` and changes nothing:
 * 400 malformed, undecryptable or meant for another receiver; 401 unsigned, badly signed or
 * stale; 409 a replay. The same for the WeChat Open Platform and WeCom; what a push means is the
 * provider's.
 *
 * @example
 * ```ts
 * const checker = new PushChecker({ token, encodingAESKey, receiveIds: [componentAppId] });
 * const events: EventReceiver = {
 *   methods: ['POST'],
 *   receive: (event, context) =>
 *     checker.accept(event, context, async (push) => {
 *       if (push.fields.InfoType === 'component_verify_ticket') await keepTicket(push.fields.ComponentVerifyTicket, context);
 *       return { body: 'success', contentType: 'text/plain; charset=utf-8' };
 *     }),
 * };
 * ```
 */
export class PushChecker {
  readonly crypto: MessageCrypto;
  readonly #receiveIds: readonly string[];
  readonly #urlCheckReceiveIds: readonly string[];
  readonly #maxSkewMs: number;
  readonly #maxBodyBytes: number;

  constructor(options: PushCheckerOptions) {
    this.crypto = new MessageCrypto(options);
    if (!Array.isArray(options.receiveIds) || options.receiveIds.length === 0) throw new TypeError('receiveIds: at least one receive id');
    this.#receiveIds = [...options.receiveIds];
    this.#urlCheckReceiveIds = [...(options.urlCheckReceiveIds ?? options.receiveIds)];
    this.#maxSkewMs = options.maxSkewMs ?? DEFAULT_PUSH_OPTIONS.maxSkewMs;
    this.#maxBodyBytes = options.maxBodyBytes ?? DEFAULT_PUSH_OPTIONS.maxBodyBytes;
  }

  /**
   * The GET URL check (`msg_signature`, `timestamp`, `nonce`, `echostr`): answers the echostr's
   * plaintext, which the platform expects back as the body. Takes no replay marker: answering a
   * check again changes nothing.
   */
  checkUrl(query: Query, now: number): OpenedPush {
    const echostr = query.echostr;
    if (echostr === undefined || echostr === '') throw new EventRejected(400, 'the URL check has no echostr');
    // A query parser that reads `+` as a space (as forms do) turns base64 into this: base64 has no spaces.
    const encrypted = echostr.replaceAll(' ', '+');
    const signed = this.#checkSignature(query, encrypted, now);
    const opened = this.crypto.open(encrypted, this.#urlCheckReceiveIds);
    return { message: opened.message, fields: {}, envelope: {}, receiveId: opened.receiveId, ...signed };
  }

  /**
   * A POST push (`<xml><Encrypt>…</Encrypt>…</xml>` signed in the query): every check, then the
   * replay marker. Call `forget()` when the push could not be kept after all.
   */
  async open(event: Pick<IncomingEvent, 'raw' | 'query'>, state: StateAccess, now: number): Promise<TakenPush> {
    const outer = parseXmlRecord(event.raw, { maxBytes: this.#maxBodyBytes });
    const encrypted = outer.Encrypt;
    if (encrypted === undefined || encrypted === '') throw new EventRejected(400, 'the pushed document has no <Encrypt>');
    const signed = this.#checkSignature(event.query, encrypted, now);
    const opened = this.crypto.open(encrypted, this.#receiveIds);
    const fields = parseXmlRecord(opened.message, { maxBytes: this.#maxBodyBytes });
    const { Encrypt: _encrypt, ...envelope } = outer;
    const marker = PUSH_STATE.seen + createHash('sha256').update(`${signed.signedAt}\0${signed.nonce}`).digest('hex').slice(0, 32);
    // Markers live twice the window: a push passes while its timestamp is within the window of now, on either side.
    if (!(await state.add(marker, '1', 2 * this.#maxSkewMs))) throw new EventRejected(409, 'replayed push: this timestamp and nonce were taken already');
    return { message: opened.message, fields, envelope, receiveId: opened.receiveId, ...signed, forget: () => state.delete(marker) };
  }

  /**
   * {@link open}, then `handle`; when `handle` fails the marker is given back (so the platform's
   * redelivery is taken) and its error thrown.
   */
  async accept<T>(event: Pick<IncomingEvent, 'raw' | 'query'>, context: { readonly state: StateAccess; now(): number }, handle: (push: OpenedPush) => Promise<T>): Promise<T> {
    const push = await this.open(event, context.state, context.now());
    try {
      return await handle(push);
    } catch (err) {
      await push.forget().catch(() => {});
      throw err;
    }
  }

  #checkSignature(query: Query, encrypted: string, now: number): { signedAt: number; nonce: string } {
    const signature = query.msg_signature;
    const timestamp = query.timestamp;
    const nonce = query.nonce;
    if (!signature || !timestamp || !nonce) throw new EventRejected(401, 'unsigned: a push carries msg_signature, timestamp and nonce in its query');
    if (!/^\d{1,12}$/.test(timestamp)) throw new EventRejected(401, 'timestamp is not a number of seconds');
    if (nonce.length > MAX_NONCE_LENGTH) throw new EventRejected(400, `nonce is longer than ${MAX_NONCE_LENGTH} characters`);
    if (!this.crypto.verify(signature, timestamp, nonce, encrypted)) throw new EventRejected(401, 'bad msg_signature');
    const signedAt = Number(timestamp) * 1000;
    if (Math.abs(now - signedAt) > this.#maxSkewMs) {
      throw new EventRejected(401, `stale push: its timestamp is more than ${Math.round(this.#maxSkewMs / 1000)} s away from now`);
    }
    return { signedAt, nonce };
  }
}
