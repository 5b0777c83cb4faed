import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

/** A server under test, in a process of its own so that it does not share a core with the load generator. */
export interface Target {
  /** What the target printed on its READY line: at least `url`. */
  info: Record<string, string>;
  /** CPU time (user + system) the target process has used so far, in milliseconds (Linux). */
  cpuMs(): Promise<number>;
  stop(): Promise<void>;
}

/** Runs `bench/targets/<name>.ts` with tsx and waits for its `READY {json}` line. */
export async function startTarget(name: string, env: Record<string, string> = {}): Promise<Target> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', new URL(`../targets/${name}.ts`, import.meta.url).pathname], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const info = await new Promise<Record<string, string>>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('READY ')) resolve(JSON.parse(line.slice(6)) as Record<string, string>);
    });
    child.once('exit', (code) => reject(new Error(`target ${name} exited with ${code} before it was ready`)));
  });
  return {
    info,
    cpuMs: async () => {
      // Fields 14 and 15 of /proc/PID/stat: utime and stime in clock ticks (100 per second on Linux).
      const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) * 10;
    },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

/** Closed-loop load: `connections` keep-alive connections, each sending the next request when the last answered. */
export async function load(url: string, options: { seconds: number; connections: number; headers?: Record<string, string> }): Promise<LoadResult> {
  const result = await autocannon({ url, duration: options.seconds, connections: options.connections, pipelining: 1, headers: options.headers ?? {} });
  return {
    requests: result.requests.total,
    requestsPerSecond: result.requests.average,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
  };
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** A markdown table from rows of cells. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}
