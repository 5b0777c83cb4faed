import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Every fault a simulator can inject into its token endpoints. */
export const FAULT_MODES = [
  'none',
  'down',
  'hang',
  'status500',
  'html',
  'garbage',
  'truncated',
  'missing-fields',
  'slow',
  'ratelimit',
] as const;

/**
 * A fault injected into a simulator's token endpoints:
 * - `down`: the connection is reset with no response;
 * - `hang`: no response until the client gives up (or the server closes);
 * - `status500`: HTTP 500 with a plain-text body;
 * - `html`: HTTP 200 with a `text/html` gateway/ban page;
 * - `garbage`: HTTP 200 `application/json` with bytes that are not JSON;
 * - `truncated`: HTTP 200 with a JSON success body cut in the middle;
 * - `missing-fields`: HTTP 200 with a success body that lacks the token;
 * - `slow`: the normal answer after `delayMs`;
 * - `ratelimit`: the platform's own rate-limit answer, advising `retryAfterSeconds`.
 */
export type FaultMode = (typeof FAULT_MODES)[number];

export interface FaultOptions {
  /** Delay of the `slow` mode, in milliseconds. */
  delayMs?: number;
  /** Wait advised by the `ratelimit` mode, in seconds. */
  retryAfterSeconds?: number;
}

/** The current fault with its effective options. */
export interface FaultState {
  readonly mode: FaultMode;
  readonly delayMs: number;
  readonly retryAfterSeconds: number;
}

/** Defaults of {@link FaultOptions}, applied on every {@link Faults.set} that leaves them out. */
export const DEFAULT_FAULT_OPTIONS = { delayMs: 2000, retryAfterSeconds: 2 } as const;

/** How one platform answers the faults whose shape is its own. */
export interface PlatformFaultAnswers {
  /** Send the platform's rate-limit answer. */
  ratelimit(reply: FastifyReply, retryAfterSeconds: number): void;
  /** A success body without the token (Feishu: `{"code":0,"msg":"ok"}`). */
  readonly okWithoutToken: Readonly<Record<string, unknown>>;
  /** A complete success body as text; `truncated` sends its first half. */
  readonly sampleOk: string;
}

/** Looks like JSON at a glance (a brace, quotes) but is not: a NUL, a stray byte, no closing brace. */
const GARBAGE = Buffer.concat([Buffer.from('{"code":0,"msg":"ok"\u0000'), Buffer.from([0xff, 0xfe, 0x8b, 0x1f]), Buffer.from('@@<<')]);

const BAN_PAGE =
  '<!DOCTYPE html><html><head><title>Access Denied</title></head>' +
  '<body><h1>Access Denied</h1><p>Your request has been blocked by the gateway. Please try again later.</p></body></html>';

/**
 * Fault injection for a simulator's token endpoints, shared by every platform simulator.
 *
 * @example
 * ```ts
 * sim.faults.set('ratelimit', { retryAfterSeconds: 5 });
 * // in a token route handler:
 * if (await this.faults.apply(request, reply, answers)) return reply;
 * ```
 */
export class Faults {
  #state: FaultState = { mode: 'none', ...DEFAULT_FAULT_OPTIONS };
  readonly #hung = new Set<Socket>();

  /** The active fault (`none` when healthy). */
  get mode(): FaultMode {
    return this.#state.mode;
  }

  /** The active fault with its options. */
  get state(): FaultState {
    return this.#state;
  }

  /** Switch to `mode`; options left out take their defaults. Throws a `TypeError` naming a bad argument. */
  set(mode: FaultMode, options: FaultOptions = {}): void {
    if (!(FAULT_MODES as readonly string[]).includes(mode)) {
      throw new TypeError(`mode: expected one of ${FAULT_MODES.join(', ')}, got ${JSON.stringify(mode)}`);
    }
    const delayMs = options.delayMs ?? DEFAULT_FAULT_OPTIONS.delayMs;
    const retryAfterSeconds = options.retryAfterSeconds ?? DEFAULT_FAULT_OPTIONS.retryAfterSeconds;
    if (!Number.isFinite(delayMs) || delayMs < 0) {
      throw new TypeError(`delayMs: expected a number >= 0, got ${String(delayMs)}`);
    }
    if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
      throw new TypeError(`retryAfterSeconds: expected an integer >= 0, got ${String(retryAfterSeconds)}`);
    }
    this.#state = { mode, delayMs, retryAfterSeconds };
  }

  /**
   * Apply the active fault to a token request. Resolves `true` when the fault took over the
   * response (the handler must stop and return `reply`), `false` when the handler should answer
   * normally (no fault, or `slow` after its delay).
   */
  async apply(request: FastifyRequest, reply: FastifyReply, answers: PlatformFaultAnswers): Promise<boolean> {
    const { mode, delayMs, retryAfterSeconds } = this.#state;
    const socket = request.raw.socket;
    switch (mode) {
      case 'none':
        return false;
      case 'slow':
        await sleepUnlessClosed(delayMs, socket);
        return false;
      case 'down':
        reply.hijack();
        // An RST rather than a FIN, so clients see ECONNRESET as with a dropped upstream.
        socket.resetAndDestroy();
        return true;
      case 'hang':
        reply.hijack();
        this.#hung.add(socket);
        socket.once('close', () => this.#hung.delete(socket));
        return true;
      case 'status500':
        reply.code(500).type('text/plain; charset=utf-8').send('Internal Server Error');
        return true;
      case 'html':
        reply.code(200).type('text/html; charset=utf-8').send(BAN_PAGE);
        return true;
      case 'garbage':
        reply.code(200).type('application/json; charset=utf-8').send(GARBAGE);
        return true;
      case 'truncated':
        reply
          .code(200)
          .type('application/json; charset=utf-8')
          .send(answers.sampleOk.slice(0, Math.floor(answers.sampleOk.length / 2)));
        return true;
      case 'missing-fields':
        reply.code(200).send(answers.okWithoutToken);
        return true;
      case 'ratelimit':
        answers.ratelimit(reply, retryAfterSeconds);
        return true;
    }
  }

  /** Destroy the connections held open by `hang`, so that a server can close. */
  closeHung(): void {
    for (const socket of this.#hung) socket.destroy();
    this.#hung.clear();
  }
}

/** Wait `ms`, but stop early when the client goes away, so no timer outlives its request. */
function sleepUnlessClosed(ms: number, socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.once('close', done);
  });
}
