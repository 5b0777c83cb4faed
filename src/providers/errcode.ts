import { UpstreamError, type FailureClass } from '../core/errors.js';
import type { FetchedToken } from '../core/types.js';
import { jsonObject, lifetimeSeconds, platformMessage, type UpstreamResponse } from './http.js';

/**
 * Helpers for the platforms whose answers carry an `errcode` (WeCom, WeChat, DingTalk's legacy
 * API): `0` or absent on success, anything else a failure, also under HTTP 200.
 */

/** What a platform code means to tokenhub, with the platform's hint of when to retry. */
export interface Classified {
  readonly failure: FailureClass;
  readonly retryAfterMs?: number;
}

/** The answer's `errcode`: `undefined` when absent, `NaN` when present but not a number. */
export function errcodeOf(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const raw = (body as { errcode?: unknown }).errcode;
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw === 'number') return raw;
  return typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
}

/** Classifies a code by a table; codes it does not know are refusals (502), which retrying soon will not fix. */
export function byTable(table: ReadonlyMap<number, FailureClass>): (code: number) => Classified {
  return (code) => ({ failure: table.get(code) ?? 'credentials' });
}

/** Where {@link readErrcodeToken} finds the token and how it classifies error codes. */
export interface ReadTokenOptions {
  /** The field holding the token (`access_token`). */
  readonly tokenField: string;
  /** The field holding the remaining lifetime in seconds (`expires_in`). */
  readonly expiresField: string;
  readonly classify: (code: number, body: Record<string, unknown>) => Classified;
}

/**
 * Reads a token answer of the errcode family, classifying every failure: 5xx, HTML, garbage and
 * a success body without the token are transient; a non-zero `errcode` is what `classify` says.
 */
export function readErrcodeToken(platform: string, res: UpstreamResponse, options: ReadTokenOptions): FetchedToken {
  return tokenFields(platform, res, errcodeAnswer(platform, res, options.classify), options.tokenField, options.expiresField);
}

/** The JSON body of an answer of the errcode family, or the classified failure its status or `errcode` says. */
export function errcodeAnswer(platform: string, res: UpstreamResponse, classify: ReadTokenOptions['classify']): Record<string, unknown> {
  if (res.status >= 500) throw new UpstreamError('transient', `answered HTTP ${res.status}`, { platform, httpStatus: res.status });
  const body = jsonObject(platform, res);
  const code = errcodeOf(body);
  if (code !== undefined && code !== 0) throw errcodeError(platform, res.status, code, body, classify);
  return body;
}

/** The failure for a non-zero errcode (a non-number one is transient: the answer is not the platform's). */
export function errcodeError(
  platform: string,
  httpStatus: number,
  code: number,
  body: Record<string, unknown>,
  classify: ReadTokenOptions['classify'],
): UpstreamError {
  if (Number.isNaN(code)) return new UpstreamError('transient', `answered an errcode that is not a number (HTTP ${httpStatus})`, { platform, httpStatus });
  const { failure, retryAfterMs } = classify(code, body);
  return new UpstreamError(failure, `errcode ${code}: ${platformMessage(body.errmsg)}`, {
    platform,
    platformCode: code,
    httpStatus,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** The token and its lifetime from a success body; a non-2xx status without an error code is classified by status. */
export function tokenFields(platform: string, res: UpstreamResponse, body: Record<string, unknown>, tokenField: string, expiresField: string): FetchedToken {
  if (res.status < 200 || res.status > 299) {
    const failure: FailureClass = res.status === 429 ? 'rate-limited' : 'credentials';
    throw new UpstreamError(failure, `answered HTTP ${res.status} without an error code`, { platform, httpStatus: res.status });
  }
  const value = body[tokenField];
  const expires = lifetimeSeconds(body[expiresField]);
  if (typeof value !== 'string' || value === '' || expires === undefined) {
    throw new UpstreamError('transient', `answered success without ${tokenField} or ${expiresField}`, { platform, httpStatus: res.status });
  }
  return { value, expiresInMs: expires * 1000 };
}

/** Sets a header, dropping any spelling of it the caller sent (`X-Acs-…` and `x-acs-…` are one header). */
export function setHeader(headers: Record<string, string>, name: string, value: string): void {
  const lower = name.toLowerCase();
  for (const key of Object.keys(headers)) if (key.toLowerCase() === lower) delete headers[key];
  headers[lower] = value;
}
