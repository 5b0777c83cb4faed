/**
 * Every error tokenhub reports has a stable `code`, an HTTP status and, where a
 * platform answered, that platform's own code. The table in docs/errors.md lists them.
 */

export type ErrorCode =
  | 'TOKENHUB_BAD_REQUEST'
  | 'TOKENHUB_UNKNOWN_KIND'
  | 'TOKENHUB_UNAUTHORIZED'
  | 'TOKENHUB_FORBIDDEN'
  | 'TOKENHUB_APP_NOT_FOUND'
  | 'TOKENHUB_NOT_FOUND'
  | 'TOKENHUB_PAYLOAD_TOO_LARGE'
  | 'TOKENHUB_UNSUPPORTED_MEDIA_TYPE'
  | 'TOKENHUB_EVENT_REPLAYED'
  | 'TOKENHUB_REQUEST_TIMEOUT'
  | 'TOKENHUB_PLATFORM_REFUSED'
  | 'TOKENHUB_PLATFORM_UNAVAILABLE'
  | 'TOKENHUB_RATE_LIMITED'
  | 'TOKENHUB_TICKET_PENDING'
  | 'TOKENHUB_REFRESH_LIMITED'
  | 'TOKENHUB_STORE_UNAVAILABLE'
  | 'TOKENHUB_UPSTREAM_UNREACHABLE'
  | 'TOKENHUB_UPSTREAM_TIMEOUT'
  | 'TOKENHUB_STORE_LOCKED'
  | 'TOKENHUB_STORE_KEY_MISMATCH'
  | 'TOKENHUB_CONFIG_INVALID'
  | 'TOKENHUB_INTERNAL';

export interface TokenHubErrorOptions {
  cause?: unknown;
  platform?: string;
  platformCode?: number | string;
  /** Seconds a caller should wait before trying again (sent as `Retry-After`). */
  retryAfterSeconds?: number;
}

export class TokenHubError extends Error {
  override readonly name: string = 'TokenHubError';
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly platform: string | undefined;
  readonly platformCode: number | string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, statusCode: number, message: string, options: TokenHubErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.statusCode = statusCode;
    this.platform = options.platform;
    this.platformCode = options.platformCode;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  /** The JSON body the HTTP API answers with. */
  toJSON(): { error: Record<string, unknown> } {
    const error: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.platform !== undefined) error.platform = this.platform;
    if (this.platformCode !== undefined) error.platformCode = this.platformCode;
    if (this.retryAfterSeconds !== undefined) error.retryAfter = this.retryAfterSeconds;
    return { error };
  }
}

/** A bad config: every problem, each naming its place (`apps.feishu-main.platform: …`). */
export class ConfigError extends TokenHubError {
  override readonly name = 'ConfigError';
  readonly issues: readonly string[];

  constructor(issues: readonly string[]) {
    super('TOKENHUB_CONFIG_INVALID', 500, `invalid config: ${issues.join('; ')}`);
    this.issues = issues;
  }
}

export const badRequest = (message: string): TokenHubError =>
  new TokenHubError('TOKENHUB_BAD_REQUEST', 400, message);

/**
 * How a platform answered a token request that did not yield a token.
 * The broker decides what to do from the class alone; providers map each
 * platform's codes onto these classes.
 */
export type FailureClass =
  /** The token (or a token this one depends on) is invalid or expired: fetch anew. */
  | 'token-invalid'
  /** Bad secret, unknown app, app disabled, IP not allowed: retrying will not help soon. */
  | 'credentials'
  /** The platform asked us to slow down. */
  | 'rate-limited'
  /** Network error, timeout, 5xx, HTML, malformed JSON, missing fields, "busy". */
  | 'transient'
  /** A precondition the platform pushes to us (a store app's ticket) is not here yet. */
  | 'pending'
  /** A forced refresh is not allowed right now (WeChat stable_token's daily limit). */
  | 'refresh-limited';

export interface UpstreamErrorOptions {
  platform: string;
  platformCode?: number | string;
  httpStatus?: number;
  /** The platform's own hint of when to retry, in milliseconds. */
  retryAfterMs?: number;
  cause?: unknown;
}

/** A failed upstream call, classified. Its message never holds a secret or a token. */
export class UpstreamError extends Error {
  override readonly name: string = 'UpstreamError';
  readonly failure: FailureClass;
  readonly platform: string;
  readonly platformCode: number | string | undefined;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(failure: FailureClass, message: string, options: UpstreamErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.failure = failure;
    this.platform = options.platform;
    this.platformCode = options.platformCode;
    this.httpStatus = options.httpStatus;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Turns a classified upstream failure into what a caller of tokenhub is told. */
export function toCallerError(err: unknown, retryAfterMs: number): TokenHubError {
  if (err instanceof TokenHubError) return err;
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  if (!(err instanceof UpstreamError)) {
    return new TokenHubError('TOKENHUB_INTERNAL', 500, 'internal error', { cause: err });
  }
  const base = { cause: err, platform: err.platform, ...(err.platformCode === undefined ? {} : { platformCode: err.platformCode }) };
  switch (err.failure) {
    case 'credentials':
      return new TokenHubError('TOKENHUB_PLATFORM_REFUSED', 502, `${err.platform} refused the token request: ${err.message}`, base);
    case 'rate-limited':
      return new TokenHubError('TOKENHUB_RATE_LIMITED', 503, `${err.platform} token requests are rate-limited and no valid token is at hand: ${err.message}`, { ...base, retryAfterSeconds });
    case 'pending':
      return new TokenHubError('TOKENHUB_TICKET_PENDING', 503, err.message, { ...base, retryAfterSeconds });
    case 'refresh-limited':
      return new TokenHubError('TOKENHUB_REFRESH_LIMITED', 503, err.message, { ...base, retryAfterSeconds });
    case 'token-invalid':
    case 'transient':
      return new TokenHubError('TOKENHUB_PLATFORM_UNAVAILABLE', 503, `${err.platform} is unavailable and no valid token is at hand: ${err.message}`, { ...base, retryAfterSeconds });
  }
}
