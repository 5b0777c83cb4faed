import type { Logger } from '../core/types.js';
import { BatchedFile } from './batched-file.js';
import { TokenIds } from './token-id.js';

/** What an audit line records: a token handed out, a report, a signature, a proxied call, an admin action. */
export type AuditAction = 'token' | 'report' | 'signature' | 'card-signature' | 'proxy' | `admin.${string}`;

/** One audited request. `token` is the value handed out or used: only its id is written, never the value. */
export interface AuditEntry {
  readonly client: string;
  readonly action: AuditAction;
  readonly app?: string | undefined;
  readonly kind?: string | undefined;
  readonly tenantKey?: string | undefined;
  /** `ok`, the error code, or the proxy's outcome (`retried`, `rejected`, `client_closed`). */
  readonly outcome: string;
  readonly token?: string | undefined;
}

export interface AuditLogOptions {
  path: string;
  /** The key of token ids (default: random per process). */
  tokenIdKey?: string | undefined;
  now?: () => number;
  /** Told of each line dropped because the disk does not keep up (the buffer is full). */
  onDrop?: () => void;
  log?: Logger;
}

/** Lines held in memory at most while the disk is slower than the requests (then new ones are dropped, counted). */
const MAX_BUFFER_BYTES = 16 * 1024 * 1024;

/**
 * The audit log: one JSON line per audited request, appended to a file. Lines are written
 * asynchronously and batched (batched-file.ts): while one write is on its way to the disk the
 * next lines gather into the next write, so a request never waits for the disk.
 *
 * A line: `{"time":"2026-12-02T09:00:00.000Z","client":"billing","action":"token","app":"feishu-main",
 * "kind":"tenant_access_token","outcome":"ok","tokenId":"3f9a0c1d2b4e5f60"}` (`tenantKey` after `kind`
 * when there is one; `tokenId` when a token was handed out or used).
 */
export class AuditLog {
  readonly #dest: BatchedFile;
  readonly #ids: TokenIds;
  readonly #now: () => number;
  #opened: Promise<void> | undefined;
  /** The cached read's line after its time, per issued token and client (a cached read builds one string). */
  readonly #readLines = new WeakMap<object, Map<object, string>>();
  #isoAt = -1;
  #iso = '';

  constructor(options: AuditLogOptions) {
    this.#ids = new TokenIds(options.tokenIdKey);
    this.#now = options.now ?? Date.now;
    let failed = false;
    this.#dest = new BatchedFile(options.path, {
      maxBufferBytes: MAX_BUFFER_BYTES,
      ...(options.onDrop ? { onDrop: options.onDrop } : {}),
      onError: (err) => {
        // Said once: every write after would say it again.
        if (!failed) options.log?.error({ err: err.code ?? err.message, path: options.path }, 'audit log cannot be written');
        failed = true;
      },
    });
  }

  /** Opens the file (lines written before wait for it); rejects when it cannot be, so that a start fails. */
  open(): Promise<void> {
    this.#opened ??= this.#dest.open();
    return this.#opened;
  }

  /** Appends the line of `entry`. Never throws, never waits. */
  write(entry: AuditEntry): void {
    let line = `{"time":"${this.#time()}","client":${JSON.stringify(entry.client)},"action":${JSON.stringify(entry.action)}`;
    if (entry.app !== undefined) line += `,"app":${JSON.stringify(entry.app)}`;
    if (entry.kind !== undefined) line += `,"kind":${JSON.stringify(entry.kind)}`;
    if (entry.tenantKey !== undefined) line += `,"tenantKey":${JSON.stringify(entry.tenantKey)}`;
    line += `,"outcome":${JSON.stringify(entry.outcome)}`;
    if (entry.token !== undefined) line += `,"tokenId":"${this.#ids.of(entry.token)}"`;
    this.#dest.write(`${line}}\n`);
  }

  /**
   * The line of a cached read answered by the fast path: the same line `write` makes for a token
   * handed out, built from parts kept per client, app, kind and token.
   */
  tokenRead(client: { readonly name: string }, app: string, kind: string, token: { readonly value: string }): void {
    let byClient = this.#readLines.get(token);
    if (byClient === undefined) this.#readLines.set(token, (byClient = new Map()));
    let rest = byClient.get(client);
    if (rest === undefined) {
      rest = `","client":${JSON.stringify(client.name)},"action":"token","app":${JSON.stringify(app)},"kind":${JSON.stringify(kind)},"outcome":"ok","tokenId":"${this.#ids.of(token.value)}"}\n`;
      byClient.set(client, rest);
    }
    this.#dest.write(`{"time":"${this.#time()}${rest}`);
  }

  /** Opens the file again under its path (after log rotation moved it). */
  reopen(): void {
    this.#dest.reopen();
  }

  /** Writes what is buffered and closes the file. */
  close(): Promise<void> {
    return this.#dest.close();
  }

  /** The ISO time, made once per millisecond. */
  #time(): string {
    const now = this.#now();
    if (now !== this.#isoAt) {
      this.#isoAt = now;
      this.#iso = new Date(now).toISOString();
    }
    return this.#iso;
  }
}
