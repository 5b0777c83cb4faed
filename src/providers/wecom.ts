import type { Dispatcher } from 'undici';
import type { FailureClass } from '../core/errors.js';
import type { BusinessAnswer, FetchContext, FetchRequest, FetchedToken, Provider, TokenSourceRules } from '../core/types.js';
import { errcodeIn, tokenInQuery } from './business.js';
import { ACCESS_TOKEN_ONLY, kindsOf } from './kinds.js';
import { byTable, readErrcodeToken } from './errcode.js';
import { callPlatform, endpoint } from './http.js';

/** WeCom's API host. */
export const WECOM_BASE_URL = 'https://qyapi.weixin.qq.com';

/** What each WeCom `errcode` means to tokenhub (PLATFORMS.md; WeCom's global error codes). */
export const WECOM_CODES: ReadonlyMap<number, FailureClass> = new Map<number, FailureClass>([
  [-1, 'transient'], // system busy: the broker retries, at most 3 attempts per fetch
  [40001, 'credentials'], // on gettoken: the secret is wrong (not a stale token)
  [40013, 'credentials'], // invalid corp id
  [40091, 'credentials'], // secret malformed
  [41002, 'credentials'], // corpid missing
  [41004, 'credentials'], // corpsecret missing
  [60020, 'credentials'], // caller IP not among the app's trusted IPs
  [40014, 'token-invalid'],
  [42001, 'token-invalid'],
  [45009, 'rate-limited'],
  [45033, 'rate-limited'], // too many concurrent calls
]);

/** Codes a business API answers when the token it was given is no longer good. 40001 is not one: on WeCom it means a wrong secret. */
export const WECOM_TOKEN_INVALID_CODES: readonly number[] = [40014, 42001];

/** Options of {@link WeComProvider}. */
export interface WeComProviderOptions {
  /** Where the token calls go (an undici dispatcher: a `MockAgent` in tests). Default: the connections shared by every provider. */
  dispatcher?: Dispatcher | undefined;
  /** The corp id (`appId` in the config). */
  corpId: string;
  /** The app's (agent's) secret: each app of a corp has its own, and its own token. */
  corpSecret: string;
  baseUrl?: string | undefined;
}

const MINUTE = 60_000;

/**
 * A fetch within the token's life returns the same token with a renewed life (自动续期), so an
 * early refresh costs one call and leaves room for retries before expiry.
 */
export const WECOM_RULES = { refreshAheadMs: 15 * MINUTE } as const satisfies TokenSourceRules;

/**
 * WeCom (企业微信) apps: `access_token` from `GET /cgi-bin/gettoken`. The broker keys the token by
 * corp id and a hash of the secret, so two apps of one corp never share a token.
 *
 * @example
 * ```ts
 * const provider = new WeComProvider({ corpId: 'ww1234', corpSecret: process.env.WECOM_SECRET! });
 * ```
 */
export class WeComProvider implements Provider {
  readonly platform = 'wecom';
  readonly kindSpecs = ACCESS_TOKEN_ONLY;
  readonly kinds = kindsOf(ACCESS_TOKEN_ONLY).kinds;
  readonly tenantScoped = kindsOf(ACCESS_TOKEN_ONLY).tenantScoped;
  readonly businessKind = 'access_token';
  readonly refreshAheadMs = WECOM_RULES.refreshAheadMs;
  readonly #corpId: string;
  readonly #corpSecret: string;
  readonly #baseUrl: string;

  readonly #dispatcher: Dispatcher | undefined;
  constructor(options: WeComProviderOptions) {
    this.#dispatcher = options.dispatcher;
    this.#corpId = options.corpId;
    this.#corpSecret = options.corpSecret;
    this.#baseUrl = options.baseUrl ?? WECOM_BASE_URL;
  }

  readonly attachToken = tokenInQuery;
  readonly isTokenRejected = ({ body }: BusinessAnswer): boolean => errcodeIn(body, WECOM_TOKEN_INVALID_CODES);
  readonly businessUrl = (path: string): URL => endpoint(this.#baseUrl, path);

  async fetch(_request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'GET',
      url: endpoint(this.#baseUrl, '/cgi-bin/gettoken', { corpid: this.#corpId, corpsecret: this.#corpSecret }),
      signal: context.signal,
    });
    return readErrcodeToken(this.platform, res, { tokenField: 'access_token', expiresField: 'expires_in', classify: classify });
  }
}

const classify = byTable(WECOM_CODES);
