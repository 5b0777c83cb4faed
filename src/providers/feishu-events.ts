import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto';
import { EventRejected } from '../core/events.js';

export { EventRejected };

/**
 * Opening the events Feishu and Lark push to a store app's event URL: decryption, the signature,
 * the verification token, and reading `url_verification` and `app_ticket` out of the 1.0 and 2.0
 * schemas. Pure: no I/O, no clock of its own.
 */

/** What an app checks its events with, as set on the platform's console. */
export interface EventSecrets {
  /** The app id events must name. */
  readonly appId: string;
  readonly verificationToken: string;
  /** When set, every event arrives encrypted and signed with it. */
  readonly encryptKey?: string | undefined;
}

/**
 * What tells one delivery of an event from another, for the caller's replay cache and for
 * ordering tickets. Read only from an event that passed every check.
 */
export interface EventIdentity {
  /** Schema 2.0 `header.event_id`, 1.0 `uuid`. */
  readonly eventId: string | undefined;
  /** `X-Lark-Request-Nonce` of a signed request. */
  readonly nonce: string | undefined;
  /** When the platform created the event, epoch ms: 2.0 `header.create_time` (ms), 1.0 `ts` (s). */
  readonly createdAt: number | undefined;
  /** `X-Lark-Request-Timestamp` of a signed request, epoch ms. */
  readonly signedAt: number | undefined;
}

/** An event that passed every check. */
export type OpenedEvent =
  | { readonly type: 'url_verification'; readonly challenge: string; readonly identity: EventIdentity }
  | { readonly type: 'app_ticket'; readonly ticket: string; readonly identity: EventIdentity }
  /** An authentic event of another type: acknowledged, not used. */
  | { readonly type: 'other'; readonly eventType: string; readonly identity: EventIdentity };

/** Headers whose names are lower case (Node's `IncomingHttpHeaders`). */
export type EventHeaders = Readonly<Record<string, string | string[] | undefined>>;

export interface OpenEventOptions {
  /** Now, in epoch milliseconds. */
  now: number;
  /** Signed requests older or newer than this are refused as replays. Default 5 minutes. */
  maxSkewMs?: number;
}

export const DEFAULT_MAX_SKEW_MS = 5 * 60_000;

/** Longest ticket accepted: real ones are a few dozen characters. */
const MAX_TICKET_LENGTH = 1024;
/** Longest event id and nonce accepted: real ones are 32 to 36 characters. */
const MAX_ID_LENGTH = 128;

/**
 * Checks and reads one pushed event from its raw body. Throws {@link EventRejected} for anything
 * forged, stale, undecryptable, malformed or meant for another app. With an encrypt key every
 * event must be signed (the signature headers, within `maxSkewMs` of now) but `url_verification`,
 * which the console sends unsigned: its decryption is what authenticates it. Replays of a signed
 * event within the window pass here: the caller keeps the seen {@link EventIdentity} values.
 *
 * @example
 * const opened = openEvent(rawBody, req.headers, { appId: 'cli_a1', verificationToken, encryptKey }, { now: Date.now() });
 * if (opened.type === 'app_ticket') await saveTicket(opened.ticket);
 */
export function openEvent(raw: Buffer, headers: EventHeaders, secrets: EventSecrets, options: OpenEventOptions): OpenedEvent {
  const outer = parseObject(raw.toString('utf8'), 'the body is not a JSON object');
  let event: Record<string, unknown>;
  let signed: Signed | undefined;
  if (secrets.encryptKey !== undefined) {
    signed = checkSignature(raw, headers, secrets.encryptKey, options);
    if (typeof outer.encrypt !== 'string') {
      throw new EventRejected(400, 'the app has an encrypt key, so events must arrive encrypted ({"encrypt": "…"})');
    }
    event = parseObject(decryptEvent(outer.encrypt, secrets.encryptKey), 'the decrypted event is not a JSON object');
    if (signed === undefined && event.type !== 'url_verification') {
      throw new EventRejected(401, 'unsigned event: the app has an encrypt key, so every event but url_verification must carry X-Lark-Request-Timestamp, X-Lark-Request-Nonce and X-Lark-Signature');
    }
  } else {
    if (outer.encrypt !== undefined) throw new EventRejected(400, 'the event is encrypted but the app has no encryptKey configured');
    event = outer;
  }
  return readEvent(event, secrets, signed);
}

/** What a valid signature vouches for. */
interface Signed {
  readonly nonce: string;
  readonly atMs: number;
}

/**
 * Decrypts an `encrypt` field: AES-256-CBC, key = SHA-256(encrypt key), IV = the first 16 bytes of
 * the base64-decoded data, PKCS#7 padding.
 */
export function decryptEvent(encrypted: string, encryptKey: string): string {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(encrypted)) throw new EventRejected(400, 'the encrypted event is not base64');
  const data = Buffer.from(encrypted, 'base64');
  if (data.length < 32 || data.length % 16 !== 0) throw new EventRejected(400, 'the encrypted event has the wrong length for AES-256-CBC');
  const key = createHash('sha256').update(encryptKey, 'utf8').digest();
  try {
    const decipher = createDecipheriv('aes-256-cbc', key, data.subarray(0, 16));
    return Buffer.concat([decipher.update(data.subarray(16)), decipher.final()]).toString('utf8');
  } catch {
    // A wrong key shows as bad padding: say so without telling which.
    throw new EventRejected(400, 'the event cannot be decrypted with the configured encryptKey');
  }
}

/** `X-Lark-Signature` = hex SHA-256 of timestamp + nonce + encrypt key + raw body. */
export function eventSignature(timestamp: string, nonce: string, encryptKey: string, raw: Buffer): string {
  return createHash('sha256').update(timestamp + nonce + encryptKey, 'utf8').update(raw).digest('hex');
}

/**
 * Checks the signature headers when the request carries them (undefined when it carries none:
 * the caller accepts that for url_verification only); a partial set is refused.
 */
function checkSignature(raw: Buffer, headers: EventHeaders, encryptKey: string, options: OpenEventOptions): Signed | undefined {
  const timestamp = header(headers, 'x-lark-request-timestamp');
  const nonce = header(headers, 'x-lark-request-nonce');
  const signature = header(headers, 'x-lark-signature');
  if (timestamp === undefined && nonce === undefined && signature === undefined) return undefined;
  if (timestamp === undefined || nonce === undefined || signature === undefined) {
    throw new EventRejected(401, 'incomplete signature: X-Lark-Request-Timestamp, X-Lark-Request-Nonce and X-Lark-Signature go together');
  }
  const seconds = /^\d{1,12}$/.test(timestamp) ? Number(timestamp) : NaN;
  if (!Number.isFinite(seconds)) throw new EventRejected(401, 'X-Lark-Request-Timestamp is not a number of seconds');
  const maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  if (Math.abs(options.now - seconds * 1000) > maxSkewMs) {
    throw new EventRejected(401, `stale request: X-Lark-Request-Timestamp is more than ${Math.round(maxSkewMs / 1000)} s away from now`);
  }
  const expected = Buffer.from(eventSignature(timestamp, nonce, encryptKey, raw), 'hex');
  const given = /^[0-9a-fA-F]{64}$/.test(signature) ? Buffer.from(signature, 'hex') : Buffer.alloc(expected.length);
  // A malformed signature is compared too (against zeros), so that its shape is not told by timing.
  if (!timingSafeEqual(expected, given)) throw new EventRejected(401, 'bad X-Lark-Signature');
  if (nonce.length > MAX_ID_LENGTH) throw new EventRejected(400, `X-Lark-Request-Nonce is longer than ${MAX_ID_LENGTH} characters`);
  return { nonce, atMs: seconds * 1000 };
}

/** Reads a decrypted (or plain) event of either schema and checks its verification token and app id. */
function readEvent(event: Record<string, unknown>, secrets: EventSecrets, signed: Signed | undefined): OpenedEvent {
  const fromSignature = { nonce: signed?.nonce, signedAt: signed?.atMs };
  if (event.type === 'url_verification') {
    checkToken(event.token, secrets.verificationToken);
    if (typeof event.challenge !== 'string' || event.challenge === '' || event.challenge.length > MAX_TICKET_LENGTH) {
      throw new EventRejected(400, 'url_verification without a challenge');
    }
    return { type: 'url_verification', challenge: event.challenge, identity: { eventId: undefined, createdAt: undefined, ...fromSignature } };
  }
  let eventType: unknown;
  let appIds: unknown[];
  let identity: EventIdentity;
  const body = isObject(event.event) ? event.event : undefined;
  if (event.schema === '2.0') {
    const head = isObject(event.header) ? event.header : undefined;
    if (head === undefined) throw new EventRejected(400, 'a schema 2.0 event without a header');
    checkToken(head.token, secrets.verificationToken);
    eventType = head.event_type;
    appIds = [head.app_id, body?.app_id];
    identity = { eventId: eventId(head.event_id, 'header.event_id'), createdAt: createTime(head.create_time, 1, 'header.create_time'), ...fromSignature };
  } else if (event.type === 'event_callback') {
    checkToken(event.token, secrets.verificationToken);
    eventType = body?.type;
    appIds = [body?.app_id];
    identity = { eventId: eventId(event.uuid, 'uuid'), createdAt: createTime(event.ts, 1000, 'ts'), ...fromSignature };
  } else {
    throw new EventRejected(400, 'neither a url_verification, an event_callback (schema 1.0) nor a schema 2.0 event');
  }
  if (typeof eventType !== 'string' || eventType === '') throw new EventRejected(400, 'the event names no event type');
  if (eventType !== 'app_ticket') return { type: 'other', eventType: eventType.slice(0, 100), identity };
  const named = appIds.filter((id) => id !== undefined);
  if (named.length === 0 || named.some((id) => id !== secrets.appId)) {
    throw new EventRejected(400, `the app_ticket event is not for this app (expected app_id ${secrets.appId})`);
  }
  const ticket = body?.app_ticket;
  if (typeof ticket !== 'string' || ticket === '' || ticket.length > MAX_TICKET_LENGTH) {
    throw new EventRejected(400, 'the app_ticket event carries no app_ticket');
  }
  return { type: 'app_ticket', ticket, identity };
}

function eventId(value: unknown, where: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string' || value.length > MAX_ID_LENGTH) throw new EventRejected(400, `${where} is not a string of at most ${MAX_ID_LENGTH} characters`);
  return value;
}

/** A create time as the platform writes it (a string or number of `unit` ms), in epoch ms. */
function createTime(value: unknown, unitMs: number, where: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d{1,16}(\.\d{1,9})?$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0) throw new EventRejected(400, `${where} is not a time`);
  return Math.round(n * unitMs);
}

/** Constant time whatever the lengths: both sides are hashed first. */
function checkToken(given: unknown, expected: string): void {
  const a = createHash('sha256').update(typeof given === 'string' ? given : '').digest();
  const b = createHash('sha256').update(expected).digest();
  if (!timingSafeEqual(a, b) || typeof given !== 'string') throw new EventRejected(401, 'wrong verification token');
}

function header(headers: EventHeaders, name: string): string | undefined {
  const value = headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}

function parseObject(text: string, message: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new EventRejected(400, message);
  }
  if (!isObject(parsed)) throw new EventRejected(400, message);
  return parsed;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
