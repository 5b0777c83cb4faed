import { createHash, randomInt } from 'node:crypto';
import { encrypt, getSignature } from '@wecom/crypto';
import { request } from 'undici';
import type { Counters } from './counters.js';

/**
 * How the WeChat Open Platform and WeCom push encrypted XML events (the scheme of the official
 * WXBizMsgCrypt samples), sealed with WeCom's own `@wecom/crypto` package, apart from tokenhub's
 * reader, so that a mistake in one is not mirrored in the other.
 */

/** What a platform's console holds for an app's callback: its Token, its EncodingAESKey, and the receive id sealed into each message. */
export interface WxCryptoSettings {
  readonly token: string;
  readonly encodingAESKey: string;
  /** WeChat Open Platform: the component appid; WeCom suites: the suite id (the provider corp id for the URL check). */
  readonly receiveId: string;
}

/** Fixed parts of a sealed message, for reproducible pushes (the official vectors). */
export interface SealOptions {
  /** Epoch seconds. Default: the clock passed to {@link seal}. */
  timestamp?: number | string;
  /** Default: 9 or 10 random digits, as the platforms send. */
  nonce?: string;
  /** The 16 random bytes in front of the message. Default: random. */
  random?: Buffer;
}

/** A message encrypted and signed: what goes into the push's body (`Encrypt`) and query. */
export interface Sealed {
  /** `base64(AES-256-CBC(random ‖ length ‖ message ‖ receive id))`. */
  readonly encrypt: string;
  readonly timestamp: string;
  readonly nonce: string;
  /** `sha1(sorted([token, timestamp, nonce, encrypt]).join(''))`, hex. */
  readonly msgSignature: string;
}

/**
 * Encrypts `message` with the app's EncodingAESKey and receive id and signs it with its Token.
 *
 * @example
 * ```ts
 * const sealed = seal({ token: 'QDG6eK', encodingAESKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C', receiveId: 'wx5823bf96d3bd56c7' }, '<xml>…</xml>', Date.now());
 * ```
 */
export function seal(settings: WxCryptoSettings, message: string, nowMs: number, options: SealOptions = {}): Sealed {
  const timestamp = String(options.timestamp ?? Math.floor(nowMs / 1000));
  const nonce = options.nonce ?? String(randomInt(100_000_000, 10_000_000_000));
  const encrypted = options.random === undefined ? encrypt(settings.encodingAESKey, message, settings.receiveId) : encrypt(settings.encodingAESKey, message, settings.receiveId, options.random);
  return { encrypt: encrypted, timestamp, nonce, msgSignature: getSignature(settings.token, timestamp, nonce, encrypted) };
}

/** The plain `signature` WeChat adds beside `msg_signature`: `sha1(sorted([token, timestamp, nonce]).join(''))`. */
export function plainSignature(token: string, timestamp: string, nonce: string): string {
  return createHash('sha1').update([token, timestamp, nonce].sort().join('')).digest('hex');
}

/** A value as XML character data; a `]]>` inside is split across two sections. */
export function cdata(value: string): string {
  return `<![CDATA[${value.replaceAll(']]>', ']]]]><![CDATA[>')}]]>`;
}

/**
 * `<xml><Name><![CDATA[value]]></Name>…</xml>` in the fields' order; numbers bare, as the
 * platforms send `CreateTime` and `TimeStamp`.
 *
 * @example
 * ```ts
 * xml({ AppId: 'wx1', CreateTime: 1413192605, InfoType: 'component_verify_ticket' });
 * // '<xml><AppId><![CDATA[wx1]]></AppId><CreateTime>1413192605</CreateTime><InfoType>…'
 * ```
 */
export function xml(fields: Readonly<Record<string, string | number>>): string {
  let body = '';
  for (const [name, value] of Object.entries(fields)) body += `<${name}>${typeof value === 'number' ? String(value) : cdata(value)}</${name}>`;
  return `<xml>${body}</xml>`;
}

/** A push ready to send: its method, the query to add to the callback URL, and the body. */
export interface WxPush {
  readonly method: 'GET' | 'POST';
  readonly query: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** What a callback URL answered. `status` 0: it could not be reached (the body says why). */
export interface WxPushResult {
  readonly status: number;
  readonly body: string;
  /** HTTP 200 with exactly the expected body (`success`, or the URL check's plaintext). */
  readonly delivered: boolean;
}

/**
 * Sends a push to a callback URL as the platform does (the query added to the URL's own, XML as
 * `text/xml`), giving up after `timeoutMs`; delivered when the answer is 200 and exactly `expected`.
 */
export async function deliver(url: string, push: WxPush, expected: string, timeoutMs: number): Promise<WxPushResult> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return { status: 0, body: `not a URL: ${url}`, delivered: false };
  }
  for (const [name, value] of Object.entries(push.query)) target.searchParams.set(name, value);
  try {
    const res = await request(target, {
      method: push.method,
      ...(push.body === undefined ? {} : { body: push.body, headers: { 'content-type': 'text/xml; charset=utf-8' } }),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const body = await res.body.text();
    return { status: res.statusCode, body, delivered: res.statusCode === 200 && body === expected };
  } catch (error) {
    return { status: 0, body: (error as Error).message, delivered: false };
  }
}

/** One push as the simulator remembers it. */
export interface PushRecord extends WxPushResult {
  /** `InfoType` of the pushed message (`component_verify_ticket`, `create_auth`, …), or `echostr` for WeCom's URL check. */
  readonly infoType: string;
  /** The app it was for (component appid, suite id). */
  readonly appId: string;
  /** Where it went; undefined when the app had no callback URL. */
  readonly url: string | undefined;
  /** Simulator clock, epoch milliseconds. */
  readonly at: number;
}

/** Counter names of the pushes: every attempt, those delivered, those not (each counted by `InfoType`). */
export interface PushCounterNames {
  readonly push: string;
  readonly delivered: string;
  readonly failed: string;
}

/** How many pushes a {@link PushLog} keeps. */
const KEPT_PUSHES = 200;

/**
 * The last pushes of a simulator, counted in its counters by `InfoType`.
 *
 * @example
 * ```ts
 * const log = new PushLog(counters, { push: 'push', delivered: 'push delivered', failed: 'push failed' });
 * log.add({ infoType: 'suite_ticket', appId, url, at: now, ...(await deliver(url, push, 'success', 1000)) });
 * ```
 */
export class PushLog {
  readonly #records: PushRecord[] = [];
  readonly #counters: Counters;
  readonly #names: PushCounterNames;

  constructor(counters: Counters, names: PushCounterNames) {
    this.#counters = counters;
    this.#names = names;
  }

  add(record: PushRecord): PushRecord {
    this.#counters.increment(this.#names.push, record.infoType);
    this.#counters.increment(record.delivered ? this.#names.delivered : this.#names.failed, record.infoType);
    this.#records.push(record);
    if (this.#records.length > KEPT_PUSHES) this.#records.shift();
    return record;
  }

  /** The pushes remembered, oldest first, of one `InfoType` or all. */
  list(infoType?: string): readonly PushRecord[] {
    return infoType === undefined ? [...this.#records] : this.#records.filter((r) => r.infoType === infoType);
  }

  clear(): void {
    this.#records.length = 0;
  }
}

/** The answer recorded for a push to an app that has no callback URL. */
export const NO_CALLBACK_URL: WxPushResult = { status: 0, body: 'no event URL set', delivered: false };
