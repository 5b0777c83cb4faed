/**
 * The codes of tokenhub's error answers (docs/errors.md has what each means and how to fix it).
 * Written out here so that the client depends on nothing of the server; test/core/errors.test.ts
 * holds this list to the server's table.
 */
export type ErrorCode =
  | 'TOKENHUB_BAD_REQUEST'
  | 'TOKENHUB_UNKNOWN_KIND'
  | 'TOKENHUB_UNAUTHORIZED'
  | 'TOKENHUB_FORBIDDEN'
  | 'TOKENHUB_URL_NOT_ALLOWED'
  | 'TOKENHUB_APP_NOT_FOUND'
  | 'TOKENHUB_EVENT_REPLAYED'
  | 'TOKENHUB_NOT_FOUND'
  | 'TOKENHUB_GRANT_NOT_FOUND'
  | 'TOKENHUB_GRANT_CONFLICT'
  | 'TOKENHUB_PAYLOAD_TOO_LARGE'
  | 'TOKENHUB_REQUEST_TIMEOUT'
  | 'TOKENHUB_UNSUPPORTED_MEDIA_TYPE'
  | 'TOKENHUB_PLATFORM_REFUSED'
  | 'TOKENHUB_UPSTREAM_UNREACHABLE'
  | 'TOKENHUB_PLATFORM_UNAVAILABLE'
  | 'TOKENHUB_RATE_LIMITED'
  | 'TOKENHUB_TICKET_PENDING'
  | 'TOKENHUB_REFRESH_LIMITED'
  | 'TOKENHUB_STORE_UNAVAILABLE'
  | 'TOKENHUB_SHUTTING_DOWN'
  | 'TOKENHUB_GRANTS_LOST'
  | 'TOKENHUB_UPSTREAM_TIMEOUT'
  | 'TOKENHUB_RELOAD_REFUSED'
  | 'TOKENHUB_INTERNAL';

/** Failures the client finds itself, before or without an answer from tokenhub. */
export type ClientErrorCode =
  /** tokenhub could not be reached (connection refused, reset, DNS). */
  | 'TOKENHUB_CLIENT_UNREACHABLE'
  /** tokenhub did not answer within `timeoutMs`. */
  | 'TOKENHUB_CLIENT_TIMEOUT'
  /** tokenhub answered something that is not its JSON (a reverse proxy's error page, say). */
  | 'TOKENHUB_CLIENT_BAD_RESPONSE';

export interface TokenHubClientErrorOptions {
  status?: number | undefined;
  platform?: string | undefined;
  platformCode?: number | string | undefined;
  retryAfter?: number | undefined;
  cause?: unknown;
}

/**
 * Marks tokenhub's client errors. `Symbol.for` gives one symbol per process, so that the ESM and
 * the CommonJS copies of this module (two classes) recognise each other's errors.
 */
const BRAND: unique symbol = Symbol.for('tokenhub.error') as never;

/**
 * What `TokenHubClient` throws for tokenhub's error answers (`code`, HTTP `status`, and where a
 * platform refused, `platform` and `platformCode`) and for failures to reach it (a bad argument is a
 * `TypeError`). The message never holds a client key or a token.
 *
 * @example
 * ```ts
 * try {
 *   await hub.getToken('feishu-main');
 * } catch (err) {
 *   if (err instanceof TokenHubClientError && err.retryAfter !== undefined) await sleep(err.retryAfter * 1000);
 * }
 * ```
 */
export class TokenHubClientError extends Error {
  override readonly name = 'TokenHubClientError';
  /** tokenhub's error code (`TOKENHUB_PLATFORM_REFUSED`, …) or a `TOKENHUB_CLIENT_…` code. */
  readonly code: ErrorCode | ClientErrorCode;
  /** The HTTP status tokenhub answered with; undefined when it did not answer. */
  readonly status: number | undefined;
  /** The platform involved, where one is. */
  readonly platform: string | undefined;
  /** The platform's own error code, where the platform refused. */
  readonly platformCode: number | string | undefined;
  /** Seconds to wait before asking again, where tokenhub said so. */
  readonly retryAfter: number | undefined;

  constructor(code: ErrorCode | ClientErrorCode, message: string, options: TokenHubClientErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = options.status;
    this.platform = options.platform;
    this.platformCode = options.platformCode;
    this.retryAfter = options.retryAfter;
  }

  /** On the prototype, so that it is no instance's own property (not in `Object.keys`, nor in `util.inspect`). */
  get [BRAND](): true {
    return true;
  }

  /**
   * `err instanceof TokenHubClientError` holds for an error of either copy of the client (ESM or
   * CommonJS) loaded in one process; a subclass keeps the usual prototype check.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    if (this !== TokenHubClientError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return isTokenHubError(value);
  }
}

/**
 * Whether `value` is an error `TokenHubClient` threw, whichever copy of the client made it.
 *
 * @example
 * ```ts
 * const { isTokenHubError } = require('@tokenhub/client');
 * if (isTokenHubError(err) && err.code === 'TOKENHUB_PLATFORM_REFUSED') alert(err.platformCode);
 * ```
 */
export function isTokenHubError(value: unknown): value is TokenHubClientError {
  return typeof value === 'object' && value !== null && (value as { [BRAND]?: unknown })[BRAND] === true;
}
