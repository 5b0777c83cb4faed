import type { BusinessCall } from '../core/types.js';
import { errcodeOf } from './errcode.js';

/**
 * How the platforms take a token on a business call and say they rejected it, for the
 * providers' `attachToken` and `isTokenRejected`.
 */

/**
 * Puts `token` in the `access_token` query parameter (WeCom, WeChat, Qingtui, DingTalk's legacy API).
 *
 * @example
 * ```ts
 * tokenInQuery(call, token); // …/cgi-bin/user/get?userid=1&access_token=…
 * ```
 */
export function tokenInQuery(call: BusinessCall, token: string): void {
  call.url.searchParams.set('access_token', token);
}

/**
 * Puts `token` in `Authorization: Bearer` (Feishu, Lark).
 *
 * @example
 * ```ts
 * tokenAsBearer(call, token); // authorization: Bearer t-…
 * ```
 */
export function tokenAsBearer(call: BusinessCall, token: string): void {
  call.headers.authorization = `Bearer ${token}`;
}

/**
 * Whether an answer's `errcode` is one of `codes`; a numeric string counts as its number.
 *
 * @example
 * ```ts
 * errcodeIn({ errcode: '42001' }, [40014, 42001]); // true
 * ```
 */
export function errcodeIn(body: unknown, codes: readonly number[]): boolean {
  const code = errcodeOf(body);
  return code !== undefined && codes.includes(code);
}
