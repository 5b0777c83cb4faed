/**
 * The proxy's options and their defaults, apart from the route so that the config can name them
 * without importing the server (one-way imports: config -> options, never back).
 */

/** How the proxy talks to the platforms. */
export interface ProxyOptions {
  /** Time allowed to open a connection to the platform. */
  connectTimeoutMs: number;
  /** Time allowed from sending a call until the platform's response headers. */
  headersTimeoutMs: number;
  /** Longest pause allowed between two chunks of the platform's response body. */
  bodyTimeoutMs: number;
  /**
   * Request bodies up to this size are held so that the call can be sent again after a
   * token-invalid answer (larger ones stream through and are not retried); JSON answers up to
   * this size are read to look for the platform's token-invalid code.
   */
  bufferLimitBytes: number;
  /** Headers of `WITHHELD_HEADERS` that are forwarded all the same (lower case). */
  forwardHeaders: readonly WithheldHeader[];
}

/**
 * Headers that say who the caller is or where it came from, not what it asks the platform: a
 * caller's cookies, and addresses that a platform may trust for its IP allow-list. Not forwarded
 * unless `forwardHeaders` names them.
 */
export const WITHHELD_HEADERS = ['cookie', 'forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-real-ip'] as const;
export type WithheldHeader = (typeof WITHHELD_HEADERS)[number];

export const DEFAULT_PROXY_OPTIONS = {
  connectTimeoutMs: 5_000,
  headersTimeoutMs: 60_000,
  bodyTimeoutMs: 60_000,
  bufferLimitBytes: 1024 * 1024,
  forwardHeaders: [],
} as const satisfies ProxyOptions;
