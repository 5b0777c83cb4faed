import { Agent, request, type Dispatcher } from 'undici';
import { UpstreamError } from '../core/errors.js';
import { noteUpstreamHost } from '../core/upstream-host.js';

/** Keep-alive connections to the platforms, shared by every provider. */
const agent = new Agent({ keepAliveTimeout: 30_000, connections: 32 });

/** The longest response body read from a platform's token endpoint. */
const MAX_BODY_BYTES = 256 * 1024;

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  contentType: string;
  text: string;
}

export interface UpstreamRequest {
  method: 'GET' | 'POST';
  url: URL;
  json?: unknown;
  /** Request headers besides the JSON content type (a token in a header). */
  headers?: Record<string, string>;
  signal: AbortSignal;
  /** Where the call goes (tests route it to a mock or a local server). Default: keep-alive connections shared by every provider. */
  dispatcher?: Dispatcher | undefined;
}

/**
 * One HTTP call to a platform. Network failures become transient `UpstreamError`s whose
 * messages name the path only: legacy endpoints carry the secret in the query string.
 */
export async function callPlatform(platform: string, req: UpstreamRequest): Promise<UpstreamResponse> {
  const where = `${req.method} ${req.url.pathname}`;
  noteUpstreamHost(req.signal, req.url.host);
  try {
    const res = await request(req.url, {
      method: req.method,
      dispatcher: req.dispatcher ?? agent,
      signal: req.signal,
      headers: { ...(req.json === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }), ...req.headers },
      ...(req.json === undefined ? {} : { body: JSON.stringify(req.json) }),
    });
    let size = 0;
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        res.body.destroy();
        throw new UpstreamError('transient', `${where} answered more than ${MAX_BODY_BYTES} bytes`, { platform, httpStatus: res.statusCode });
      }
      chunks.push(chunk as Buffer);
    }
    const contentType = String(res.headers['content-type'] ?? '');
    return { status: res.statusCode, headers: res.headers, contentType, text: Buffer.concat(chunks).toString('utf8') };
  } catch (err) {
    if (err instanceof UpstreamError) throw err;
    const reason = req.signal.aborted ? 'timed out' : `failed (${(err as { code?: string }).code ?? (err as Error).name})`;
    throw new UpstreamError('transient', `${where} ${reason}`, { platform, cause: stripUrl(err) });
  }
}

/** Whether a body is an HTML page (a gateway error, a ban page) rather than the platform's JSON. */
export function isHtml(res: UpstreamResponse): boolean {
  return res.contentType.includes('html') || /^\s*</.test(res.text);
}

/**
 * The JSON object a platform answered, or a transient failure for what is not one:
 * HTML, garbage, truncated JSON, 5xx.
 */
export function jsonObject(platform: string, res: UpstreamResponse): Record<string, unknown> {
  if (isHtml(res)) throw new UpstreamError('transient', `answered an HTML page (HTTP ${res.status})`, { platform, httpStatus: res.status });
  let parsed: unknown;
  try {
    parsed = JSON.parse(res.text);
  } catch {
    const what = res.status >= 500 ? `HTTP ${res.status}` : `malformed JSON (HTTP ${res.status}, ${res.text.length} bytes)`;
    throw new UpstreamError('transient', `answered ${what}`, { platform, httpStatus: res.status });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UpstreamError('transient', `answered JSON that is not an object (HTTP ${res.status})`, { platform, httpStatus: res.status });
  }
  return parsed as Record<string, unknown>;
}

/** A platform's `expire`/`expires_in`: a positive number of seconds. */
export function lifetimeSeconds(value: unknown): number | undefined {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : undefined;
}

/** Platform messages are short and never hold a secret, but are still trimmed before logging. */
export function platformMessage(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, 200) : 'no message';
}

/** Joins a configured base URL (which may carry a path prefix) and an endpoint path. */
export function endpoint(base: string, path: string, query?: Record<string, string>): URL {
  const url = new URL(base.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return url;
}

/** undici errors can carry the request URL; a secret in its query string must not reach a log. */
function stripUrl(err: unknown): unknown {
  if (err instanceof Error) {
    const clean = new Error(err.message.replace(/\?[^\s'"]*/g, '?…'));
    clean.name = err.name;
    return clean;
  }
  return err;
}
