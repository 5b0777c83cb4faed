import { createDecipheriv, createHash, timingSafeEqual } from 'node:crypto';

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

/** An event that passed every check. */
export type OpenedEvent =
  | { readonly type: 'url_verification'; readonly challenge: string }
  | { readonly type: 'app_ticket'; readonly ticket: string }
  /** An authentic event of another type: acknowledged, not used. */
  | { readonly type: 'other'; readonly eventType: string };

/** Why an event was refused. `status` is the HTTP status to answer with; `message` holds no secret. */
export class EventRejected extends Error {
  override readonly name = 'EventRejected';
  readonly status: 400 | 401;

  constructor(status: 400 | 401, message: string) {
    super(message);
    this.status = status;
  }
}

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

/**
 * Checks and reads one pushed event from its raw body. Throws {@link EventRejected} for anything
 * forged, stale, undecryptable, malformed or meant for another app.
 *
 * @example
 * const opened = openEvent(rawBody, req.headers, { appId: 'cli_a1', verificationToken, encryptKey }, { now: Date.now() });
 * if (opened.type === 'app_ticket') await saveTicket(opened.ticket);
 */
export function openEvent(raw: Buffer, headers: EventHeaders, secrets: EventSecrets, options: OpenEventOptions): OpenedEvent {
  const outer = parseObject(raw.toString('utf8'), 'the body is not a JSON object');
  let event: Record<string, unknown>;
  if (secrets.encryptKey !== undefined) {
    checkSignature(raw, headers, secrets.encryptKey, options);
    if (typeof outer.encrypt !== 'string') {
      throw new EventRejected(400, 'the app has an encrypt key, so events must arrive encrypted ({"encrypt": "…"})');
    }
    event = parseObject(decryptEvent(outer.encrypt, secrets.encryptKey), 'the decrypted event is not a JSON object');
  } else {
    if (outer.encrypt !== undefined) throw new EventRejected(400, 'the event is encrypted but the app has no encryptKey configured');
    event = outer;
  }
  return readEvent(event, secrets);
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

/** Checks the signature headers when the request carries them; a partial set is refused. */
function checkSignature(raw: Buffer, headers: EventHeaders, encryptKey: string, options: OpenEventOptions): void {
  const timestamp = header(headers, 'x-lark-request-timestamp');
  const nonce = header(headers, 'x-lark-request-nonce');
  const signature = header(headers, 'x-lark-signature');
  // The platform signs events but not the url_verification request; decryption authenticates that one.
  if (timestamp === undefined && nonce === undefined && signature === undefined) return;
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
}

/** Reads a decrypted (or plain) event of either schema and checks its verification token and app id. */
function readEvent(event: Record<string, unknown>, secrets: EventSecrets): OpenedEvent {
  if (event.type === 'url_verification') {
    checkToken(event.token, secrets.verificationToken);
    if (typeof event.challenge !== 'string' || event.challenge === '' || event.challenge.length > MAX_TICKET_LENGTH) {
      throw new EventRejected(400, 'url_verification without a challenge');
    }
    return { type: 'url_verification', challenge: event.challenge };
  }
  let eventType: unknown;
  let appIds: unknown[];
  const body = isObject(event.event) ? event.event : undefined;
  if (event.schema === '2.0') {
    const head = isObject(event.header) ? event.header : undefined;
    if (head === undefined) throw new EventRejected(400, 'a schema 2.0 event without a header');
    checkToken(head.token, secrets.verificationToken);
    eventType = head.event_type;
    appIds = [head.app_id, body?.app_id];
  } else if (event.type === 'event_callback') {
    checkToken(event.token, secrets.verificationToken);
    eventType = body?.type;
    appIds = [body?.app_id];
  } else {
    throw new EventRejected(400, 'neither a url_verification, an event_callback (schema 1.0) nor a schema 2.0 event');
  }
  if (typeof eventType !== 'string' || eventType === '') throw new EventRejected(400, 'the event names no event type');
  if (eventType !== 'app_ticket') return { type: 'other', eventType: eventType.slice(0, 100) };
  const named = appIds.filter((id) => id !== undefined);
  if (named.length === 0 || named.some((id) => id !== secrets.appId)) {
    throw new EventRejected(400, `the app_ticket event is not for this app (expected app_id ${secrets.appId})`);
  }
  const ticket = body?.app_ticket;
  if (typeof ticket !== 'string' || ticket === '' || ticket.length > MAX_TICKET_LENGTH) {
    throw new EventRejected(400, 'the app_ticket event carries no app_ticket');
  }
  return { type: 'app_ticket', ticket };
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
