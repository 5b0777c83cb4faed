import { createCipheriv, createHash, randomBytes, randomUUID } from 'node:crypto';
import { request } from 'undici';

/**
 * How Feishu and Lark push an event to an app's event URL, written apart from tokenhub's reader
 * (src/providers/feishu-events.ts) so that a mistake in one is not mirrored in the other.
 */

/** The event-subscription settings of a store app on the platform's console. */
export interface EventSettings {
  readonly appId: string;
  readonly verificationToken: string;
  readonly encryptKey?: string | undefined;
}

export interface BuildEventOptions {
  /** Encrypt with the app's encrypt key. Default: when it has one. */
  encrypt?: boolean;
  /** Add the signature headers (they need the encrypt key). Default: when it has one. */
  sign?: boolean;
  /** `X-Lark-Request-Timestamp` in epoch seconds. Default now. */
  timestamp?: number;
}

/** A push ready to send: the exact body and its headers. */
export interface BuiltEvent {
  readonly body: string;
  readonly headers: Record<string, string>;
}

/** An app_ticket event in schema 1.0 (`event_callback`) or 2.0 (`header` + `event`). */
export function appTicketEvent(settings: EventSettings, ticket: string, schema: '1.0' | '2.0', now: number): Record<string, unknown> {
  const event = { app_id: settings.appId, app_ticket: ticket, type: 'app_ticket' };
  if (schema === '1.0') {
    return { uuid: randomUUID(), ts: String(now / 1000), type: 'event_callback', token: settings.verificationToken, event };
  }
  return {
    schema: '2.0',
    header: {
      event_id: randomBytes(16).toString('hex'),
      event_type: 'app_ticket',
      create_time: String(now),
      token: settings.verificationToken,
      app_id: settings.appId,
      tenant_key: '',
    },
    event,
  };
}

/** The `url_verification` request the console sends when the event URL is saved. */
export function urlVerificationEvent(settings: EventSettings, challenge: string): Record<string, unknown> {
  return { challenge, token: settings.verificationToken, type: 'url_verification' };
}

/** Serializes an event as the platform sends it: encrypted and signed when the app has an encrypt key. */
export function buildEvent(settings: EventSettings, event: unknown, options: BuildEventOptions = {}): BuiltEvent {
  const key = settings.encryptKey;
  const encrypt = options.encrypt ?? key !== undefined;
  const sign = options.sign ?? key !== undefined;
  if ((encrypt || sign) && key === undefined) throw new TypeError(`app ${settings.appId} has no encrypt key to encrypt or sign with`);
  const body = encrypt ? JSON.stringify({ encrypt: encryptEvent(JSON.stringify(event), key!) }) : JSON.stringify(event);
  const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
  if (sign) {
    const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
    const nonce = randomBytes(8).toString('hex');
    headers['x-lark-request-timestamp'] = timestamp;
    headers['x-lark-request-nonce'] = nonce;
    headers['x-lark-signature'] = createHash('sha256').update(timestamp + nonce + key! + body).digest('hex');
  }
  return { body, headers };
}

/** AES-256-CBC with key SHA-256(encrypt key), a random IV in front of the ciphertext, PKCS#7, base64. */
export function encryptEvent(plain: string, encryptKey: string): string {
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', createHash('sha256').update(encryptKey).digest(), iv);
  return Buffer.concat([iv, cipher.update(plain, 'utf8'), cipher.final()]).toString('base64');
}

/** What an event URL answered. `status` 0: it could not be reached. */
export interface PushResult {
  readonly status: number;
  readonly body: unknown;
}

/** POSTs a built event to an event URL, as the platform does (it gives up after a few seconds). */
export async function postEvent(url: string, built: BuiltEvent): Promise<PushResult> {
  try {
    const res = await request(url, { method: 'POST', headers: built.headers, body: built.body, headersTimeout: 5000, bodyTimeout: 5000 });
    const text = await res.body.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: res.statusCode, body };
  } catch (error) {
    return { status: 0, body: (error as Error).message };
  }
}
