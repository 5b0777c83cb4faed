import type { ErrorCode } from '../core/errors.js';

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
}
