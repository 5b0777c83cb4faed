import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface BatchedFileOptions {
  /** The longest a line waits in memory before it is written. */
  delayMs?: number;
  /** Queued bytes that are written at once, without waiting for `delayMs`. */
  batchBytes?: number;
  /** Bytes waiting at most while the disk is slower than the writes; more lines are dropped. */
  maxBufferBytes?: number;
  /** Told of each line dropped. */
  onDrop?: () => void;
  /** Told of a failed write (the lines of that write are lost; the next ones are tried again). */
  onError?: (err: NodeJS.ErrnoException) => void;
}

export const DEFAULT_BATCHED_FILE = { delayMs: 50, batchBytes: 64 * 1024, maxBufferBytes: 16 * 1024 * 1024 } as const;

/**
 * Lines appended to a file in batches: `write` only queues; what was queued is written together
 * `delayMs` after the first line of a batch (or at once past `batchBytes`), one write in flight at
 * a time. A request that writes a line never waits for the disk, and a write carries many lines:
 * a write per line (sonic-boom in async mode, pino's destination, writes whenever it is idle)
 * costs a system call and a thread-pool round trip per request at tokenhub's rates; see
 * docs/benchmarks.md. A crash loses at most the last `delayMs` of lines.
 */
export class BatchedFile {
  readonly #path: string;
  readonly #delayMs: number;
  readonly #batchBytes: number;
  readonly #maxBytes: number;
  readonly #onDrop: () => void;
  readonly #onError: (err: NodeJS.ErrnoException) => void;
  #pending: string[] = [];
  #bytes = 0;
  #file: FileHandle | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The write (or reopen) in flight; lines queue behind it. */
  #busy: Promise<void> | undefined;
  #closed = false;

  constructor(path: string, options: BatchedFileOptions = {}) {
    this.#path = path;
    this.#delayMs = options.delayMs ?? DEFAULT_BATCHED_FILE.delayMs;
    this.#batchBytes = options.batchBytes ?? DEFAULT_BATCHED_FILE.batchBytes;
    this.#maxBytes = options.maxBufferBytes ?? DEFAULT_BATCHED_FILE.maxBufferBytes;
    this.#onDrop = options.onDrop ?? (() => {});
    this.#onError = options.onError ?? (() => {});
  }

  /** Opens the file for appending (its directory made if missing); rejects when it cannot be. */
  async open(): Promise<void> {
    await mkdir(dirname(this.#path), { recursive: true });
    this.#file = await open(this.#path, 'a');
    this.#schedule();
  }

  /** Queues `line` (with its newline). Never throws, never waits. */
  write(line: string): void {
    if (this.#closed) return;
    if (this.#bytes + line.length > this.#maxBytes) return this.#onDrop();
    this.#pending.push(line);
    this.#bytes += line.length;
    this.#schedule();
  }

  /** Closes the file and opens its path again (log rotation moved it), once what is queued is written. */
  reopen(): void {
    this.#run(async () => {
      await this.#drain();
      const old = this.#file;
      this.#file = undefined;
      await old?.close().catch(() => {});
      try {
        this.#file = await open(this.#path, 'a');
      } catch (err) {
        this.#onError(err as NodeJS.ErrnoException);
      }
    });
  }

  /** Writes what is queued and closes the file. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#busy !== undefined) await this.#busy;
    await this.#drain();
    await this.#file?.close().catch(() => {});
    this.#file = undefined;
  }

  /** A write of the batch: at once when it is large enough, else after the delay. */
  #schedule(): void {
    if (this.#busy !== undefined || this.#file === undefined || this.#pending.length === 0) return;
    if (this.#bytes >= this.#batchBytes) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#run(() => this.#drain());
    } else if (this.#timer === undefined && !this.#closed) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        if (this.#busy === undefined) this.#run(() => this.#drain());
      }, this.#delayMs);
      this.#timer.unref();
    }
  }

  #run(work: () => Promise<void>): void {
    const run = (this.#busy ?? Promise.resolve()).then(work).catch((err: unknown) => this.#onError(err as NodeJS.ErrnoException));
    this.#busy = run;
    void run.finally(() => {
      if (this.#busy === run) this.#busy = undefined;
      this.#schedule();
    });
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0 && this.#file !== undefined) {
      const text = this.#pending.join('');
      this.#pending = [];
      this.#bytes = 0;
      try {
        await this.#file.write(text);
      } catch (err) {
        this.#onError(err as NodeJS.ErrnoException);
      }
    }
  }
}
