import type { AdminStatus, TokenState } from '../server/admin-status.js';
import type { Attention } from '../server/attention.js';

export const DEFAULT_STATUS_URL = 'http://127.0.0.1:8700';

/** Exit codes of `tokenhub status`: a script or a health check can tell them apart. */
export const STATUS_EXIT = {
  ok: 0,
  /** The status could not be had (unreachable, refused key, not an admin). */
  failed: 1,
  /** The status came, and something in it is marked as an error. */
  attention: 2,
} as const;

export interface StatusOptions {
  url?: string | undefined;
  key?: string | undefined;
  json?: boolean | undefined;
  timeoutMs?: number | undefined;
}

/**
 * `tokenhub status`: the admin status of a running tokenhub, as a table (or the JSON). Returns the
 * exit code; what went wrong goes to `err`, one line.
 */
export async function runStatus(options: StatusOptions, out: (text: string) => void, err: (text: string) => void): Promise<number> {
  const base = options.url ?? DEFAULT_STATUS_URL;
  const key = options.key;
  if (key === undefined || key === '') {
    err('no key: pass --key KEY or set TOKENHUB_KEY (the key of a client with admin: true)');
    return STATUS_EXIT.failed;
  }
  let url: URL;
  try {
    url = new URL('v1/admin/status', base.endsWith('/') ? base : `${base}/`);
  } catch {
    err(`not a URL: ${base}`);
    return STATUS_EXIT.failed;
  }
  let res: Response;
  try {
    res = await fetch(url, { headers: { authorization: `Bearer ${key}` }, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
  } catch (e) {
    const { cause } = e as { cause?: { code?: string; message?: string } };
    const why = cause?.code ?? cause?.message ?? (e as Error).message;
    err(`cannot reach tokenhub at ${base}: ${why}`);
    return STATUS_EXIT.failed;
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    err(`${base} did not answer with tokenhub's JSON (HTTP ${res.status})`);
    return STATUS_EXIT.failed;
  }
  if (!res.ok) {
    const error = (body as { error?: { code?: string; message?: string } }).error;
    err(`${error?.code ?? `HTTP ${res.status}`}: ${error?.message ?? 'refused'}`);
    return STATUS_EXIT.failed;
  }
  const status = body as AdminStatus;
  out(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, base));
  return status.attention.errors > 0 ? STATUS_EXIT.attention : STATUS_EXIT.ok;
}

/** The status as a terminal table: a header, then one row per token, each app's own marks below its rows. */
export function formatStatus(status: AdminStatus, base: string): string {
  const now = Date.parse(status.now);
  const store = `${status.store.type} ${status.store.reachable ? 'reachable' : 'UNREACHABLE'}${status.store.lastError ? ` (last error ${ago(status.store.lastError.at, now)}: ${status.store.lastError.message})` : ''}`;
  const { errors, warnings } = status.attention;
  const lines = [
    `tokenhub ${status.version} at ${base}, up ${duration(status.uptimeSeconds * 1000)}; store: ${store}`,
    `${status.apps.length} apps; ${errors === 0 && warnings === 0 ? 'nothing needs attention' : `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`}`,
    '',
  ];
  const rows: string[][] = [['APP', 'KIND', 'LEFT', 'LAST REFRESH', 'NEXT REFRESH', 'UPSTREAM', 'STATE']];
  const notes: Map<number, string[]> = new Map();
  for (const app of status.apps) {
    app.tokens.forEach((token, i) => rows.push([i === 0 ? app.id : '', token.kind, ...tokenColumns(token, now)]));
    const below = [
      ...(app.health?.ticket ? [`${app.health.ticket.name}: ${app.health.ticket.present ? (app.health.ticket.ageSeconds === undefined ? 'kept' : `${duration(app.health.ticket.ageSeconds * 1000)} old`) : app.health.ticket.refused ? 'refused' : 'none yet'}`] : []),
      ...app.attention.map(mark),
      ...app.tokens.flatMap((t) => t.attention.map((a) => `${t.kind}: ${a.message}`)),
    ];
    if (below.length > 0) notes.set(rows.length - 1, below);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  rows.forEach((row, i) => {
    lines.push(row.map((cell, c) => (c === row.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd());
    for (const note of notes.get(i) ?? []) lines.push(`${' '.repeat(widths[0]! + 2)}> ${note}`);
  });
  return `${lines.join('\n')}\n`;
}

function tokenColumns(token: TokenState, now: number): string[] {
  const upstream = `${token.upstream.calls}${token.upstream.failures > 0 ? ` (${token.upstream.failures} failed)` : ''}`;
  const state = [...(isRefreshing(token) ? ['refreshing'] : []), ...token.attention.map((a) => `${a.level === 'error' ? 'ERROR' : 'warn'} ${a.reason}`)];
  if ('tenantScoped' in token) {
    const left = token.nextExpiresAt === undefined ? '-' : remaining(token.nextExpiresAt, now);
    return [`${left} (${token.valid}/${token.tenants} tenants)`, '-', '-', upstream, state.join(', ') || (token.tenants === 0 ? 'no tenant yet' : 'ok')];
  }
  const left = token.expiresAt === undefined ? '-' : remaining(token.expiresAt, now);
  const last = token.lastRefreshAt === undefined ? '-' : ago(token.lastRefreshAt, now);
  const next = token.nextRefreshAt === undefined ? '-' : `in ${duration(Date.parse(token.nextRefreshAt) - now)}`;
  return [left, last, next, upstream, state.join(', ') || (token.expiresAt === undefined ? 'not fetched yet' : 'ok')];
}

const isRefreshing = (token: TokenState): boolean => ('tenantScoped' in token ? token.refreshing > 0 : token.refreshing);
const mark = (a: Attention): string => `${a.level === 'error' ? 'ERROR' : 'warn'} ${a.reason}: ${a.message}`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

function remaining(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  return ms <= 0 ? 'expired' : duration(ms);
}

function ago(iso: string, now: number): string {
  return `${duration(now - Date.parse(iso))} ago`;
}

/** `1h59m12s`, `12m5s`, `42s`: short, for a column. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h >= 48) return `${Math.floor(h / 24)}d${h % 24}h`;
  if (h > 0) return `${h}h${m}m${s % 60}s`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}
