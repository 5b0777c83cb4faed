// A target's control port: a few named JSON actions that the bench process calls (heap after GC,
// event-loop delay, pushing a ticket), served by node:http on the target's own event loop.
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export type ProbeActions = Record<string, (body: Record<string, unknown>) => unknown>;

/** Serves `POST /<action>` with a JSON body and a JSON answer; resolves to the base URL. */
export function serveProbe(actions: ProbeActions): Promise<string> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const action = actions[(req.url ?? '/').slice(1)];
      const answer = (status: number, value: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value ?? null));
      };
      if (action === undefined) return answer(404, { error: `no action ${req.url}` });
      Promise.resolve()
        .then(() => action(chunks.length ? (JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>) : {}))
        .then((value) => answer(200, value), (err: unknown) => answer(500, { error: String(err) }));
    });
  });
  server.unref();
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address();
      resolve(`http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`);
    }),
  );
}

/** Calls an action of a target's probe. */
export async function callProbe<T = Record<string, unknown>>(url: string, action: string, body: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${url}/${action}`, { method: 'POST', body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`probe ${action}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export interface MemoryFigures {
  heapUsed: number;
  rss: number;
}

export interface LoopDelayFigures {
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * `memory`: heap used and RSS after a full GC (the target runs with `--expose-gc`);
 * `loop`: event-loop delay since the last `loop` call with `{ reset: true }`.
 */
export function processActions(): ProbeActions {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  const gc = (globalThis as { gc?: () => void }).gc;
  return {
    memory: (): MemoryFigures => {
      if (gc === undefined) throw new Error('run the target with --expose-gc');
      gc();
      gc();
      const { heapUsed, rss } = process.memoryUsage();
      return { heapUsed, rss };
    },
    loop: (body): LoopDelayFigures => {
      const figures = { p50Ms: delay.percentile(50) / 1e6, p99Ms: delay.percentile(99) / 1e6, maxMs: delay.max / 1e6 };
      if (body.reset === true) delay.reset();
      return figures;
    },
  };
}
