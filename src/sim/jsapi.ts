import { createHash } from 'node:crypto';
import type { SimToken } from './tokens.js';

/**
 * The JS-SDK page signature of all four platforms:
 * `sha1("jsapi_ticket=" + t + "&noncestr=" + n + "&timestamp=" + ts + "&url=" + url)` in lowercase
 * hex, values raw (no URL escaping), `url` without its `#…` part. The simulators' own copy, as an
 * independent check on the server's.
 *
 * @example
 * ```ts
 * jsapiSignature('sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg',
 *   'Wm3WZYTPz0wzccnW', 1414587457, 'http://mp.weixin.qq.com?params=value');
 * // '0f9de62fce790f9a083d5c99e95740ceb90c27ed'
 * ```
 */
export function jsapiSignature(ticket: string, nonceStr: string, timestamp: string | number, url: string): string {
  return signedString(ticket, nonceStr, timestamp, withoutFragment(url));
}

/**
 * WeChat's card signature (`cardSign`, `cardExt.signature`): the values only (the card `api_ticket`
 * among them), sorted as strings, concatenated, SHA-1 in lowercase hex.
 *
 * @example
 * ```ts
 * cardSignature([apiTicket, '1414587457', 'nonce', 'pDF3iY9tv9zCGCj4jTXFOo1DxHdo']);
 * ```
 */
export function cardSignature(values: readonly string[]): string {
  return sha1([...values].sort().join(''));
}

/** What a simulator's verifier answers: what the platform's client would make of the page's config. */
export type JsapiVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** How a simulator checks a signed config. */
export interface SignatureCheck {
  /** The tickets remembered for the app (valid, expired and revoked), to tell "wrong" from "no longer valid". */
  readonly tickets: readonly SimToken[];
  /** The simulator's clock, epoch milliseconds. */
  readonly now: number;
  /** A timestamp farther than this from `now` is refused. */
  readonly maxSkewMs: number;
  /** The page's timestamp unit: seconds (WeChat, WeCom, DingTalk) or milliseconds (Feishu/Lark). */
  readonly timestampUnit: 'seconds' | 'milliseconds';
}

/** The fields of a page's config a signature covers, and the names the page gives them (for the reasons). */
export interface SignedFields {
  readonly timestamp: { readonly name: string; readonly value: unknown };
  readonly nonceStr: { readonly name: string; readonly value: unknown };
  readonly signature: { readonly name: string; readonly value: unknown };
}

/** Default of the verifiers' `jsapiMaxSkewSeconds`: a config signed more than 10 minutes away from the clock is refused. */
export const DEFAULT_JSAPI_MAX_SKEW_SECONDS = 600;

/**
 * Checks a page's `config` signature as the platform's client does: every field present, the
 * timestamp near the clock, and the signature made from one of the app's valid tickets for the
 * page's URL (without its fragment).
 *
 * @example
 * ```ts
 * verifyPageSignature(config, { timestamp: field(config, 'timestamp'), … }, { tickets, now, maxSkewMs: 600_000, timestampUnit: 'seconds' });
 * ```
 */
export function verifyPageSignature(config: Record<string, unknown>, fields: SignedFields, check: SignatureCheck): JsapiVerdict {
  const url = text(config.url);
  if (url === undefined) return refuse('url: expected the page URL (a non-empty string)');
  const mistakes: Mistake[] = url.includes('#')
    ? [{ sign: (ticket, nonceStr, timestamp) => signedString(ticket, nonceStr, timestamp, url), reason: 'url: the signature covers the #fragment; sign the URL without it' }]
    : [];
  return verifySigned(fields, check, (ticket, nonceStr, timestamp) => jsapiSignature(ticket, nonceStr, timestamp, url), mistakes);
}

/**
 * Checks a WeChat card signature: `values` are the signed values besides the ticket, the timestamp
 * and the nonce (card id, code, openid…).
 */
export function verifyCardSignature(fields: SignedFields, values: readonly string[], check: SignatureCheck): JsapiVerdict {
  return verifySigned(fields, check, (ticket, nonceStr, timestamp) => cardSignature([ticket, timestamp, nonceStr, ...values]));
}

/** A field's {name, value} pair as {@link SignedFields} wants it. */
export function field(config: Record<string, unknown>, name: string): { name: string; value: unknown } {
  return { name, value: config[name] };
}

/** A non-empty string, or a finite number as the page would print it; else undefined. */
export function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

/** A refusal with its reason, as the verifiers answer it. */
export function refuse(reason: string): JsapiVerdict {
  return { ok: false, reason };
}

const OK: JsapiVerdict = { ok: true };

type Signer = (ticket: string, nonceStr: string, timestamp: string) => string;

/** A common way of signing wrongly, recognised to give a precise reason. */
interface Mistake {
  readonly sign: Signer;
  readonly reason: string;
}

function verifySigned(fields: SignedFields, check: SignatureCheck, sign: Signer, mistakes: readonly Mistake[] = []): JsapiVerdict {
  const timestamp = text(fields.timestamp.value);
  const nonceStr = text(fields.nonceStr.value);
  const signature = fields.signature.value;
  if (timestamp === undefined) return refuse(`${fields.timestamp.name}: missing`);
  if (nonceStr === undefined) return refuse(`${fields.nonceStr.name}: missing`);
  if (typeof signature !== 'string' || signature === '') return refuse(`${fields.signature.name}: missing`);

  if (!/^\d+$/.test(timestamp)) return refuse(`${fields.timestamp.name}: expected whole ${check.timestampUnit}, got ${timestamp}`);
  const unitMs = check.timestampUnit === 'seconds' ? 1000 : 1;
  const skewMs = Math.abs(Number(timestamp) * unitMs - check.now);
  if (skewMs > check.maxSkewMs) {
    // A unit mix-up is the likely cause of a huge skew: say so.
    const other = check.timestampUnit === 'seconds' ? Math.abs(Number(timestamp) - check.now) : Math.abs(Number(timestamp) * 1000 - check.now);
    const hint = other <= check.maxSkewMs ? ` (it looks like ${check.timestampUnit === 'seconds' ? 'milliseconds' : 'seconds'}; expected ${check.timestampUnit})` : '';
    return refuse(`${fields.timestamp.name}: ${Math.round(skewMs / 1000)} s away from the clock, more than the ${check.maxSkewMs / 1000} s allowed${hint}`);
  }
  if (!/^[0-9a-f]{40}$/.test(signature)) return refuse(`${fields.signature.name}: expected 40 lowercase hex digits`);

  const valid = check.tickets.filter((t) => !t.revoked && check.now < t.expiresAt);
  if (valid.some((t) => sign(t.value, nonceStr, timestamp) === signature)) return OK;
  const dead = check.tickets.find((t) => !valid.includes(t) && sign(t.value, nonceStr, timestamp) === signature);
  if (dead !== undefined) return refuse(`${fields.signature.name}: made with a ticket that is no longer valid (${dead.revoked ? 'revoked' : 'expired'})`);
  const mistake = mistakes.find((m) => valid.some((t) => m.sign(t.value, nonceStr, timestamp) === signature));
  if (mistake !== undefined) return refuse(mistake.reason);
  if (valid.length === 0) return refuse('no valid ticket: the app has fetched none, or they expired or were revoked');
  return refuse(`${fields.signature.name}: does not match the app's valid tickets for this url, nonceStr and timestamp`);
}

function signedString(ticket: string, nonceStr: string, timestamp: string | number, url: string): string {
  return sha1(`jsapi_ticket=${ticket}&noncestr=${nonceStr}&timestamp=${String(timestamp)}&url=${url}`);
}

function withoutFragment(url: string): string {
  const hash = url.indexOf('#');
  return hash === -1 ? url : url.slice(0, hash);
}

function sha1(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex');
}
