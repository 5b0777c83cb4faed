import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** A child process, its stdout (and stderr, each line prefixed `stderr: `) read line by line. */
export interface Child {
  readonly process: ChildProcess;
  /** Every line it printed so far. */
  readonly lines: string[];
  /** Resolves with the first line (printed from now on or already) matching `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGKILL, and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Resolves with the exit code once the process ended and its output was read. */
  exited: Promise<number | null>;
}

/** A TypeScript file run through tsx. */
export function runTs(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Child {
  return runChild(process.execPath, ['--import', 'tsx', script, ...args], { env });
}

export interface ChildOptions {
  /** Added to this process's environment; with `exactEnv`, the whole environment. */
  env?: NodeJS.ProcessEnv;
  exactEnv?: boolean;
  cwd?: string;
  /** Run as this user (the caller must be root). */
  user?: { uid: number; gid: number } | undefined;
}

/** Any executable as a child process, its output read line by line. */
export function runChild(command: string, args: string[], options: ChildOptions = {}): Child {
  const env = options.exactEnv ? options.env : { ...process.env, ...options.env };
  const child = spawn(command, args, { env, cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'], ...options.user });
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const onLine = (line: string): void => {
    lines.push(line);
    for (const w of [...waiters]) w();
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', (l) => onLine(`stderr: ${l}`));
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    process: child,
    lines,
    exited,
    waitFor(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const found = lines.find((l) => pattern.test(l));
          if (found === undefined) return;
          cleanup();
          resolve(found);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output:\n${lines.join('\n')}`));
        }, timeoutMs);
        // 'close' comes after the last line of output has been read, unlike 'exit'.
        const onExit = (): void => {
          if (!waiters.has(check)) return;
          cleanup();
          reject(new Error(`exited before printing ${pattern}; output:\n${lines.join('\n')}`));
        };
        const cleanup = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('close', onExit);
        };
        waiters.add(check);
        child.once('close', onExit);
        check();
      });
    },
    async kill(signal = 'SIGKILL') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}
