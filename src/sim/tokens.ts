import type { FastifyReply } from 'fastify';
import { Counters } from './counters.js';

/** A token a simulator handed out. Times are epoch milliseconds on the simulator's clock. */
export interface SimToken {
  readonly value: string;
  /** Whose token it is: an app id, or app id + secret where a platform keys tokens so. */
  readonly owner: string;
  /** When it was issued. */
  readonly issuedAt: number;
  /** May move earlier (a rotation's overlap) or later (a platform that extends on repeat fetches). */
  expiresAt: number;
  revoked: boolean;
}

/** What a business endpoint finds when it looks a token up. */
export type TokenCheck =
  | { readonly status: 'valid'; readonly token: SimToken }
  | { readonly status: 'expired' | 'invalid' };

/** Expired tokens are remembered this long, so that business endpoints can answer "expired" rather than "invalid". */
const REMEMBER_EXPIRED_MS = 24 * 3600_000;

/**
 * The tokens of one simulator: who owns each, which is each owner's current one, and which
 * were revoked. The platform rules (same token while valid, rotation, overlap) live in each
 * platform's simulator; this only keeps the books.
 *
 * @example
 * ```ts
 * const tokens = new SimTokens(Date.now, () => randomBytes(16).toString('hex'));
 * const t = tokens.issue('ding_app', 7_200_000);
 * tokens.check(t.value); // { status: 'valid', token: t }
 * ```
 */
export class SimTokens {
  readonly #tokens = new Map<string, SimToken>();
  readonly #current = new Map<string, SimToken>();
  readonly #issued = new Counters();
  readonly #now: () => number;
  readonly #newValue: () => string;

  constructor(now: () => number, newValue: () => string) {
    this.#now = now;
    this.#newValue = newValue;
  }

  /** The owner's current token while it is valid. */
  current(owner: string): SimToken | undefined {
    const token = this.#current.get(owner);
    return token !== undefined && this.#usable(token) ? token : undefined;
  }

  /** A new token for `owner`, which becomes its current one. */
  issue(owner: string, lifetimeMs: number): SimToken {
    this.#prune();
    const now = this.#now();
    const token: SimToken = { value: this.#newValue(), owner, issuedAt: now, expiresAt: now + lifetimeMs, revoked: false };
    this.#tokens.set(token.value, token);
    this.#current.set(owner, token);
    this.#issued.increment('token', owner);
    return token;
  }

  check(value: string): TokenCheck {
    const token = this.#tokens.get(value);
    if (token === undefined || token.revoked) return { status: 'invalid' };
    if (this.#now() >= token.expiresAt) return { status: 'expired' };
    return { status: 'valid', token };
  }

  isValid(value: string): boolean {
    return this.check(value).status === 'valid';
  }

  /**
   * Make a token invalid at once. Unless `stillCurrent`, its owner gets a new token on the next
   * fetch; with it, the token endpoint keeps handing out the dead token (see the WeChat simulator).
   */
  revoke(value: string, options: { stillCurrent?: boolean } = {}): boolean {
    const token = this.#tokens.get(value);
    if (token === undefined || token.revoked) return false;
    token.revoked = true;
    if (options.stillCurrent !== true && this.#current.get(token.owner) === token) this.#current.delete(token.owner);
    return true;
  }

  /** The owner's current token while unexpired, even when revoked with `stillCurrent`. */
  currentEvenIfRevoked(owner: string): SimToken | undefined {
    const token = this.#current.get(owner);
    return token !== undefined && this.#now() < token.expiresAt ? token : undefined;
  }

  /** The tokens remembered (valid, expired within the last day, or revoked) whose owner passes `owns`. */
  known(owns: (owner: string) => boolean): SimToken[] {
    return [...this.#tokens.values()].filter((token) => owns(token.owner));
  }

  /** How many tokens were issued, for one owner or all. */
  issued(owner?: string): number {
    return this.#issued.count('token', owner);
  }

  #usable(token: SimToken): boolean {
    return !token.revoked && this.#now() < token.expiresAt;
  }

  #prune(): void {
    const horizon = this.#now() - REMEMBER_EXPIRED_MS;
    for (const [value, token] of this.#tokens) {
      if (token.expiresAt <= horizon) this.#tokens.delete(value);
    }
  }
}

/** Sends a scripted answer. */
export function sendScripted(reply: FastifyReply, answer: ScriptedAnswer): FastifyReply {
  void reply.code(answer.status ?? 200);
  if (typeof answer.body === 'string') return reply.type('text/html; charset=utf-8').send(answer.body);
  return reply.type('application/json; charset=utf-8').send(answer.body);
}

/** An answer queued ahead of a simulator's own rules. */
export interface ScriptedAnswer {
  /** HTTP status. Default 200. */
  readonly status?: number;
  /** Sent as JSON when an object, as `text/html` when a string. */
  readonly body: Record<string, unknown> | string;
}

/**
 * Answers a simulator's token endpoints give ahead of their own rules, for error codes no
 * fault mode produces (`-1` busy, `45009`, …).
 *
 * @example
 * ```ts
 * sim.script.push({ body: { errcode: -1, errmsg: 'system busy' } }, 2); // the next two token calls
 * sim.script.push({ body: { errcode: 45009, errmsg: 'api freq out of limit' } }, Infinity); // until cleared
 * sim.script.push(null); sim.script.push({ body: { errcode: -1 } }); // the next call by the rules, the one after busy
 * ```
 */
export class Script {
  readonly #queue: { answer: ScriptedAnswer | null; left: number }[] = [];

  /** Answer the next `times` token calls with `answer` (after answers queued before it); `null` lets the rules answer them. */
  push(answer: ScriptedAnswer | null, times = 1): void {
    if (!(times > 0)) throw new TypeError(`times: expected a number > 0, got ${String(times)}`);
    this.#queue.push({ answer, left: times });
  }

  /** Sends the answer for this call, if one is queued; `true` when it did. */
  answer(reply: FastifyReply): boolean {
    const answer = this.take();
    if (answer === undefined) return false;
    sendScripted(reply, answer);
    return true;
  }

  /** The answer for this call, if one is queued. */
  take(): ScriptedAnswer | undefined {
    const head = this.#queue[0];
    if (head === undefined) return undefined;
    head.left--;
    if (head.left <= 0) this.#queue.shift();
    return head.answer ?? undefined;
  }

  clear(): void {
    this.#queue.length = 0;
  }

  get pending(): boolean {
    return this.#queue.length > 0;
  }
}
