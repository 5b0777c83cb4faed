/**
 * Every error tokenhub reports has a stable `code`, an HTTP status and, where a
 * platform answered, that platform's own code. `ERRORS` is the one table of codes: every
 * throw site names a code and takes its status from here; docs/errors.md documents the same
 * table at length (test/core/errors.test.ts keeps the two in step).
 */

/** One code of the table: the status it is answered with, what happened, how to fix it. */
export interface ErrorSpec {
  readonly status: number;
  /** What happened, in one line. */
  readonly meaning: string;
  /** What the caller or the operator can do. */
  readonly fix: string;
  /** Further statuses of the same code, each for a narrower case (the code says what, the status whose). */
  readonly also?: Readonly<Record<number, { readonly meaning: string; readonly fix: string }>>;
  /** Raised while tokenhub starts or loads a config, not as an answer to a request (`status` is what code embedding tokenhub sees). */
  readonly startup?: true;
}

const TABLE = {
  TOKENHUB_BAD_REQUEST: {
    status: 400,
    meaning: 'A malformed request: a bad parameter, body, path or header, or a min_ttl the platform cannot meet.',
    fix: 'Fix the request; the message names the part.',
  },
  TOKENHUB_UNKNOWN_KIND: { status: 400, meaning: 'The platform has no such token kind.', fix: 'Use a kind the message lists.' },
  TOKENHUB_UNAUTHORIZED: {
    status: 401,
    meaning: "No client key, an unknown one or a malformed Authorization header; on an events URL, a push that fails the platform's checks.",
    fix: "Send Authorization: Bearer <client key>; for an events URL, copy the app's event settings from the platform's console.",
  },
  TOKENHUB_FORBIDDEN: {
    status: 403,
    meaning: "The client's apps list does not name this app, or a client without admin: true called an operations route (/v1/admin/*).",
    fix: 'Add the app to the client in the config, or use another client (an admin one for /v1/admin/*).',
  },
  TOKENHUB_URL_NOT_ALLOWED: {
    status: 403,
    meaning: "A JS-SDK signature was asked for a page URL that matches none of the app's jsapiUrls; nothing was signed.",
    fix: "Ask for the page's own URL, or add a pattern for it to apps.<id>.jsapiUrls.",
  },
  TOKENHUB_APP_NOT_FOUND: { status: 404, meaning: 'No app with this id in the config.', fix: 'Check the id: GET /v1/apps lists yours.' },
  TOKENHUB_EVENT_REPLAYED: {
    status: 409,
    meaning: 'An events URL got an event or nonce it took within the last 10 minutes; nothing changed.',
    fix: "Nothing, if it is the platform's redelivery; otherwise someone replays captured requests.",
  },
  TOKENHUB_NOT_FOUND: { status: 404, meaning: 'No such route, the events URL of an app that takes no events, or the authorizations of an app that has none.', fix: 'See docs/api.md.' },
  TOKENHUB_GRANT_NOT_FOUND: {
    status: 404,
    meaning: 'A third-party app keeps no authorization of this tenant: it never authorized the app, or cancelled it.',
    fix: "Have the tenant authorize the app (the install link), or use a tenant key GET /v1/apps/{app}/authorizations lists.",
  },
  TOKENHUB_GRANT_CONFLICT: {
    status: 409,
    meaning: 'A grant kept changing while tokenhub updated it (other instances wrote it at the same time); the stored one is intact.',
    fix: 'Retry; if it persists, look for instances that refresh the same grant in a loop.',
  },
  TOKENHUB_PAYLOAD_TOO_LARGE: { status: 413, meaning: 'The request body is over the limit of its route.', fix: 'Send only the body the route takes.' },
  TOKENHUB_REQUEST_TIMEOUT: { status: 408, meaning: "An events URL's request did not arrive whole in time; the connection is closed.", fix: 'Send the request at once.' },
  TOKENHUB_UNSUPPORTED_MEDIA_TYPE: { status: 415, meaning: 'The body is not application/json.', fix: 'Send Content-Type: application/json.' },
  TOKENHUB_PLATFORM_REFUSED: {
    status: 502,
    meaning: 'The platform refused to issue a token (bad secret, unknown or disabled app, IP not allowed); platformCode says why.',
    fix: "Fix the app's credentials or its state on the platform; tokenhub retries by itself after a backoff.",
  },
  TOKENHUB_UPSTREAM_UNREACHABLE: {
    status: 502,
    meaning: "Proxy: the platform's API could not be reached for the proxied call.",
    fix: 'Check the network path to the platform; retry if the call is safe to repeat.',
  },
  TOKENHUB_PLATFORM_UNAVAILABLE: {
    status: 503,
    meaning: 'The platform is unreachable or answered garbage, and no token with enough life is at hand.',
    fix: 'Retry after Retry-After; tokenhub retries with backoff.',
  },
  TOKENHUB_RATE_LIMITED: {
    status: 503,
    meaning: "The platform asked tokenhub to slow down, or tokenhub's budget of the platform's limit is spent, and no valid token is at hand.",
    fix: "Retry after Retry-After; look for what else spends the app's quota.",
    also: {
      429: { meaning: 'This client is over its budget of reports; the other clients are not touched.', fix: 'Retry after Retry-After; report a token only when a platform call said it is invalid.' },
    },
  },
  TOKENHUB_TICKET_PENDING: {
    status: 503,
    meaning: 'A ticket the platform pushes to the app has not come yet, or the platform refused it; tokenhub asked for it again.',
    fix: "Retry after Retry-After; check that the platform's event URL points at the app's events URL.",
  },
  TOKENHUB_REFRESH_LIMITED: { status: 503, meaning: 'A forced refresh is not allowed now (the platform limits them).', fix: 'Retry after Retry-After.' },
  TOKENHUB_STORE_UNAVAILABLE: { status: 503, meaning: 'The store does not answer.', fix: 'Check the store (Redis, the data directory).' },
  TOKENHUB_SHUTTING_DOWN: {
    status: 503,
    meaning: 'This instance is stopping: it finishes the requests in flight and takes no new ones.',
    fix: 'Retry on another instance, or after Retry-After once it is back.',
  },
  TOKENHUB_GRANTS_LOST: {
    status: 503,
    meaning: "A third-party app's grants are gone from the store, which held them before (a flushed Redis, a new data directory): the tenants' tokens cannot be had.",
    fix: 'Restore the grants from a backup (tokenhub grants import); those not in it need the tenant to authorize again.',
  },
  TOKENHUB_UPSTREAM_TIMEOUT: {
    status: 504,
    meaning: 'Proxy: the platform did not answer the proxied call in time.',
    fix: 'Retry if the call is safe to repeat; raise the proxy timeouts for slow APIs.',
  },
  TOKENHUB_STORE_LOCKED: {
    status: 500,
    startup: true,
    meaning: "The file store's data directory is held by another live tokenhub process.",
    fix: 'Stop the other process, or give this one its own store.path.',
  },
  TOKENHUB_STORE_KEY_MISMATCH: {
    status: 500,
    startup: true,
    meaning: 'The store holds data encrypted with another key than the configured ones, or encrypted data while no key is set.',
    fix: 'Set the key the data was written with; to rotate, put the old key in store.previousEncryptionKeys.',
  },
  TOKENHUB_RELOAD_REFUSED: {
    status: 400,
    meaning: 'POST /v1/admin/reload: the config file does not load (the answer lists each problem), or this tokenhub has none; the running config stays.',
    fix: 'Fix the config where the answer says and reload again.',
  },
  TOKENHUB_CONFIG_INVALID: { status: 500, startup: true, meaning: 'The config does not load; the message names each place.', fix: 'Fix the config where the message says.' },
  TOKENHUB_INTERNAL: { status: 500, meaning: 'A bug.', fix: 'Report it with the log line of the request.' },
} satisfies Record<`TOKENHUB_${string}`, ErrorSpec>;

/** Every code tokenhub answers or throws with (the client adds its own `TOKENHUB_CLIENT_…`). */
export type ErrorCode = keyof typeof TABLE;

/** code → status, meaning, fix: the table every throw site takes its status from. */
export const ERRORS: Readonly<Record<ErrorCode, ErrorSpec>> = TABLE;

/** Every status `code` is answered with: its own, then the table's `also`. */
export function statusesOf(code: ErrorCode): number[] {
  const spec = ERRORS[code];
  return [spec.status, ...Object.keys(spec.also ?? {}).map(Number)];
}

export interface TokenHubErrorOptions {
  cause?: unknown;
  platform?: string;
  platformCode?: number | string;
  /** Seconds a caller should wait before trying again (sent as `Retry-After`). */
  retryAfterSeconds?: number;
  /** One of the statuses the table lists under the code's `also`; by default the code's own. */
  status?: number;
}

export class TokenHubError extends Error {
  override readonly name: string = 'TokenHubError';
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly platform: string | undefined;
  readonly platformCode: number | string | undefined;
  readonly retryAfterSeconds: number | undefined;

  /**
   * @example
   * ```ts
   * throw new TokenHubError('TOKENHUB_FORBIDDEN', `client ${name} may not use app ${id}`); // 403, from ERRORS
   * ```
   */
  constructor(code: ErrorCode, message: string, options: TokenHubErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const status = options.status ?? ERRORS[code].status;
    // A status the table does not give the code is a bug at the throw site, not a caller's error.
    if (!statusesOf(code).includes(status)) throw new TypeError(`${code} is never answered with ${status}: ERRORS gives ${statusesOf(code).join(', ')}`);
    this.code = code;
    this.statusCode = status;
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
    super('TOKENHUB_CONFIG_INVALID', `invalid config: ${issues.join('; ')}`);
    this.issues = issues;
  }
}

/** A reload refused because the config does not load: its answer lists every problem; the running config stays. */
export class ReloadRefusedError extends TokenHubError {
  override readonly name = 'ReloadRefusedError';
  readonly issues: readonly string[];

  constructor(issues: readonly string[]) {
    super('TOKENHUB_RELOAD_REFUSED', `config not reloaded, the running one stays: ${issues.join('; ')}`);
    this.issues = issues;
  }

  override toJSON(): { error: Record<string, unknown> } {
    const body = super.toJSON();
    body.error.issues = [...this.issues];
    return body;
  }
}

export const badRequest = (message: string): TokenHubError =>
  new TokenHubError('TOKENHUB_BAD_REQUEST', message);

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
  /** The failure is a third-party grant's (a tenant's or user's authorization was refused or revoked), not the app's credentials: alerted as `grant.rejected`. */
  grant?: boolean;
  /** On a `pending` failure: what is waited for (a pushed ticket's name), so that it is alerted once for the app as `ticket.missing` of it. */
  waitingFor?: string;
  /** The host the failed call went to (the broker sets it from the call when the provider did not). */
  host?: string;
}

/** A failed upstream call, classified. Its message never holds a secret or a token. */
export class UpstreamError extends Error {
  override readonly name: string = 'UpstreamError';
  readonly failure: FailureClass;
  readonly platform: string;
  readonly platformCode: number | string | undefined;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly grant: boolean;
  readonly waitingFor: string | undefined;
  /** Where the failed call went (a host, never a path or query); set once by the broker when the provider left it out. */
  host: string | undefined;

  constructor(failure: FailureClass, message: string, options: UpstreamErrorOptions) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.failure = failure;
    this.platform = options.platform;
    this.platformCode = options.platformCode;
    this.httpStatus = options.httpStatus;
    this.retryAfterMs = options.retryAfterMs;
    this.grant = options.grant === true;
    this.waitingFor = options.waitingFor;
    this.host = options.host;
  }
}

/** Turns a classified upstream failure into what a caller of tokenhub is told. */
export function toCallerError(err: unknown, retryAfterMs: number): TokenHubError {
  if (err instanceof TokenHubError) return err;
  const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  if (!(err instanceof UpstreamError)) {
    return new TokenHubError('TOKENHUB_INTERNAL', 'internal error', { cause: err });
  }
  const base = { cause: err, platform: err.platform, ...(err.platformCode === undefined ? {} : { platformCode: err.platformCode }) };
  switch (err.failure) {
    case 'credentials':
      return new TokenHubError('TOKENHUB_PLATFORM_REFUSED', `${err.platform} refused the token request: ${err.message}`, base);
    case 'rate-limited':
      return new TokenHubError('TOKENHUB_RATE_LIMITED', `${err.platform} token requests are rate-limited and no valid token is at hand: ${err.message}`, { ...base, retryAfterSeconds });
    case 'pending':
      return new TokenHubError('TOKENHUB_TICKET_PENDING', err.message, { ...base, retryAfterSeconds });
    case 'refresh-limited':
      return new TokenHubError('TOKENHUB_REFRESH_LIMITED', err.message, { ...base, retryAfterSeconds });
    case 'token-invalid':
    case 'transient':
      return new TokenHubError('TOKENHUB_PLATFORM_UNAVAILABLE', `${err.platform} is unavailable and no valid token is at hand: ${err.message}`, { ...base, retryAfterSeconds });
  }
}
