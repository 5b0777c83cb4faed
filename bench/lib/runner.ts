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

/**
 * Runs `bench/targets/<name>.ts` with tsx and waits for its `READY {json}` line. `nodeArgs` go to
 * the target's node (`--expose-gc`, `--cpu-prof`).
 */
export async function startTarget(name: string, env: Record<string, string> = {}, nodeArgs: string[] = []): Promise<Target> {
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', new URL(`../targets/${name}.ts`, import.meta.url).pathname], {
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
export async function load(
  url: string,
  options: { seconds: number; connections: number; headers?: Record<string, string>; method?: 'GET' | 'POST'; body?: string },
): Promise<LoadResult> {
  const result = await autocannon({
    url,
    duration: options.seconds,
    connections: options.connections,
    pipelining: 1,
    headers: options.headers ?? {},
    ...(options.method ? { method: options.method } : {}),
    ...(options.body === undefined ? {} : { body: options.body }),
  });
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

/** `3` when every value is 3, else `lo–hi`: counts over several runs. */
export function range(values: number[]): string {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  return lo === hi ? String(lo) : `${lo}–${hi}`;
}

/** A markdown table from rows of cells. */
export function table(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** One server of a cached-read comparison; the first of a comparison is the baseline. */
export interface Contender {
  label: string;
  target: Target;
  /** Default: the target's `url`, with `Authorization: Bearer <key>` when it printed a `key`. */
  url?: string;
  /** A POST with this JSON body instead of a GET. */
  post?: unknown;
}

export interface ComparedRow {
  label: string;
  requestsPerSecond: number;
  p99Ms: number;
  cpuUsPerRequest: number;
  /** Throughput over the baseline's. */
  ratio: number;
  /** The baseline's CPU per request over this one's. */
  cpuRatio: number;
  /** Each round's throughput ratio to the baseline's round next to it: the spread of the run. */
  roundRatios: number[];
}

/**
 * Closed-loop load on each contender in turn, `rounds` times, interleaved so that drift in the
 * machine hits all alike; medians of throughput, p99 and server CPU per request (from /proc).
 */
export async function compare(
  contenders: Contender[],
  options: { seconds: number; rounds: number; connections: number },
): Promise<{ rows: ComparedRow[]; failed: number }> {
  const runs = contenders.map((c) => ({
    c,
    url: c.url ?? c.target.info.url!,
    headers: { ...(c.target.info.key ? { authorization: `Bearer ${c.target.info.key}` } : {}), ...(c.post === undefined ? {} : { 'content-type': 'application/json' }) },
    request: c.post === undefined ? {} : { method: 'POST' as const, body: JSON.stringify(c.post) },
    rps: [] as number[],
    p99: [] as number[],
    cpuUs: [] as number[],
  }));
  let failed = 0;
  for (const run of runs) await load(run.url, { seconds: 1, connections: options.connections, headers: run.headers, ...run.request });
  for (let i = 0; i < options.rounds; i++) {
    for (const run of runs) {
      const before = await run.c.target.cpuMs();
      const r = await load(run.url, { seconds: options.seconds, connections: options.connections, headers: run.headers, ...run.request });
      const cpu = (await run.c.target.cpuMs()) - before;
      run.rps.push(r.requestsPerSecond);
      run.p99.push(r.p99Ms);
      run.cpuUs.push((cpu * 1000) / r.requests);
      failed += r.errors + r.non2xx;
    }
  }
  const base = runs[0]!;
  const rows = runs.map((run) => ({
    label: run.c.label,
    requestsPerSecond: median(run.rps),
    p99Ms: median(run.p99),
    cpuUsPerRequest: median(run.cpuUs),
    ratio: median(run.rps) / median(base.rps),
    cpuRatio: median(base.cpuUs) / median(run.cpuUs),
    roundRatios: run.rps.map((rps, i) => rps / base.rps[i]!),
  }));
  return { rows, failed };
}

/** The table of a comparison, as docs/benchmarks.md shows it. */
export function comparisonTable(rows: ComparedRow[]): string {
  return table(
    ['server', 'requests/s', 'p99 latency', 'throughput ratio to bare', 'rounds (ratio)', 'server CPU per request', 'CPU ratio (bare / this)'],
    rows.map((r) => [
      r.label,
      Math.round(r.requestsPerSecond),
      `${r.p99Ms} ms`,
      r.ratio.toFixed(2),
      `${Math.min(...r.roundRatios).toFixed(2)}–${Math.max(...r.roundRatios).toFixed(2)}`,
      `${r.cpuUsPerRequest.toFixed(1)} µs`,
      r.cpuRatio.toFixed(2),
    ]),
  );
}
