import { createHash } from 'node:crypto';
import type { EventContext, FetchContext, Logger } from '../../core/types.js';

/**
 * Grant names of the codes kept: `pending_code:<sha256(code)[:32]>`. They sit beside the tenants'
 * grants (durable, encrypted, shared by every instance, in `tokenhub grants export`), under a
 * prefix no tenant's grant has.
 */
export const PENDING_CODE_PREFIX = 'pending_code:';

/** State set while codes are kept, so that a ticket push lists the grants only then. */
export const PENDING_CODES_STATE = 'pending_codes';

/** What a pushed authorization says of its code. */
export interface PendingCodeInfo {
  /** The push's `InfoType` (`authorized`, `create_auth`, …), for the logs. */
  readonly infoType: string;
  /** Epoch ms after which the platform takes the code no more. */
  readonly expiresAt: number;
  /** The tenant it authorizes, where the push names it (WeChat's `AuthorizerAppid`), for the logs. */
  readonly tenantKey?: string;
}

interface KeptCode extends PendingCodeInfo {
  readonly code: string;
  readonly receivedAt: number;
  /** An instance is exchanging it until then: the others leave it. */
  readonly claimedUntil?: number;
}

export interface PendingCodesOptions {
  /** Exchanges the code for the tenant's grant, kept before it resolves; answers the tenant key. */
  exchange(code: string, context: FetchContext): Promise<string>;
  /** Whether a failure of the exchange is the platform refusing the code itself (used, expired, invalid): it is dropped, not retried. */
  refused(err: unknown): boolean;
  /** First wait before a retry, doubled after each failed round. Default 1 s. */
  retryFirstMs?: number;
  /** Longest wait between retries. Default 30 s. */
  retryMaxMs?: number;
  /** How long an instance may take over one exchange before another may try. Default 60 s. */
  claimMs?: number;
  /**
   * How long a push waits for its exchange before it is answered (the exchange goes on after);
   * the platforms want their answer quickly (WeCom: within 1000 ms). Default 800 ms.
   */
  answerWithinMs?: number;
}

export const DEFAULT_PENDING_CODES_OPTIONS = { retryFirstMs: 1_000, retryMaxMs: 30_000, claimMs: 60_000, answerWithinMs: 800 } as const;

/**
 * A pushed authorization's code is kept, durably, before it is exchanged, and until it can be (no
 * ticket has come yet, the platform answers 5xx or slowly, the app's token cannot be had), instead
 * of answering the push with an error: the push is acknowledged (`success`, which is all the
 * platforms ask) within `answerWithinMs` whatever the exchange does, nothing is lost if the process
 * ends, and the platform does not push it again and again. It is exchanged once, by one instance (claimed by compare-and-set), at the next
 * ticket push and by retries with backoff, while the platform still takes it; a code past its
 * validity, or one the platform refuses, is dropped with an error in the log (the tenant must
 * authorize again).
 *
 * @example
 * ```ts
 * const codes = new PendingCodes({ exchange: (code, context) => exchange(code, context), refused: (err) => isCodeRefused(err) });
 * // an `authorized` push:
 * await codes.take(fields.AuthorizationCode, { infoType: 'authorized', expiresAt }, context);
 * // a new ticket pushed:
 * void codes.drain(context);
 * ```
 */
export class PendingCodes {
  readonly #exchange: PendingCodesOptions['exchange'];
  readonly #refused: PendingCodesOptions['refused'];
  readonly #retryFirstMs: number;
  readonly #retryMaxMs: number;
  readonly #claimMs: number;
  readonly #answerWithinMs: number;
  #timer: NodeJS.Timeout | undefined;
  #retryMs: number;
  #draining: Promise<void> | undefined;

  constructor(options: PendingCodesOptions) {
    this.#exchange = options.exchange;
    this.#refused = options.refused;
    this.#retryFirstMs = options.retryFirstMs ?? DEFAULT_PENDING_CODES_OPTIONS.retryFirstMs;
    this.#retryMaxMs = options.retryMaxMs ?? DEFAULT_PENDING_CODES_OPTIONS.retryMaxMs;
    this.#claimMs = options.claimMs ?? DEFAULT_PENDING_CODES_OPTIONS.claimMs;
    this.#answerWithinMs = options.answerWithinMs ?? DEFAULT_PENDING_CODES_OPTIONS.answerWithinMs;
    this.#retryMs = this.#retryFirstMs;
  }

  /**
   * A pushed code: kept (claimed by this instance), then exchanged; resolves once the exchange is
   * done or `answerWithinMs` passed (answer the push `success` then; the exchange goes on, and a
   * failed one is retried). Rejects only when the code could not be kept (the store failed: answer
   * 5xx, the platform pushes again). A redelivered push of a code already kept changes nothing.
   */
  async take(code: string, info: PendingCodeInfo, context: EventContext): Promise<void> {
    const now = context.now();
    const kept: KeptCode = { code, infoType: info.infoType, expiresAt: info.expiresAt, receivedAt: now, ...(info.tenantKey === undefined ? {} : { tenantKey: info.tenantKey }) };
    const name = nameOf(code);
    const claim = await context.grants.put(name, JSON.stringify({ ...kept, claimedUntil: now + this.#claimMs } satisfies KeptCode), 0);
    if (claim === undefined) return void logOf(context, info).info({}, 'a redelivered authorization push: its code is kept already');
    await context.state.set(PENDING_CODES_STATE, '1', Math.max(3_600_000, info.expiresAt - now + 60_000));
    const exchanged = this.#settle(name, kept, claim.version, context).then((left) => {
      if (left) this.#schedule(context, this.#retryFirstMs);
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([exchanged, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.#answerWithinMs)))]);
    clearTimeout(timer);
  }

  /** Exchanges every kept code the platform may still take (one drain at a time in this process). */
  drain(context: EventContext): Promise<void> {
    this.#draining ??= this.#drainOnce(context).finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  async #drainOnce(context: EventContext): Promise<void> {
    if ((await context.state.get(PENDING_CODES_STATE)) === undefined) return;
    const grants = context.grants;
    let left = 0;
    for (const { name, grant } of await grants.list(PENDING_CODE_PREFIX)) {
      const kept = readKept(grant.value);
      const now = context.now();
      if (kept === undefined) {
        await grants.delete(name, grant.version);
        continue;
      }
      const log = logOf(context, kept);
      if (kept.expiresAt <= now) {
        await grants.delete(name, grant.version);
        log.error({ receivedAt: new Date(kept.receivedAt).toISOString() }, 'a kept authorization code expired before the platform could exchange it: the tenant must authorize again');
        continue;
      }
      if (kept.claimedUntil !== undefined && kept.claimedUntil > now) {
        left++;
        continue;
      }
      const { claimedUntil: _claimed, ...unclaimed } = kept;
      const claim = await grants.put(name, JSON.stringify({ ...unclaimed, claimedUntil: now + this.#claimMs } satisfies KeptCode), grant.version);
      // Another instance took it first.
      if (claim === undefined) continue;
      if (await this.#settle(name, unclaimed, claim.version, context)) left++;
    }
    if (left > 0) this.#schedule(context, this.#retryMs);
    else this.#retryMs = this.#retryFirstMs;
  }

  /**
   * Exchanges a kept code this instance claimed (at `version`): deleted once its grant is kept or
   * the platform refused it, else unclaimed for a retry. Resolves whether it is left; never rejects.
   */
  async #settle(name: string, kept: KeptCode, version: number, context: EventContext): Promise<boolean> {
    const grants = context.grants;
    const log = logOf(context, kept);
    try {
      const tenantKey = await this.#exchange(kept.code, context.fetchContext());
      await grants.delete(name, version);
      log.info({ tenantKey }, 'authorization kept');
      await context.authorized(tenantKey);
      return false;
    } catch (err) {
      try {
        if (this.#refused(err)) {
          await grants.delete(name, version);
          log.error({ err: messageOf(err) }, 'the authorization code was refused (used, expired or invalid): unless its grant was kept, the tenant must authorize again');
          return false;
        }
        const { claimedUntil: _claimed, ...unclaimed } = kept;
        await grants.put(name, JSON.stringify(unclaimed), version);
        log.warn({ err: messageOf(err), expiresInS: Math.round((kept.expiresAt - context.now()) / 1000) }, 'the authorization code could not be exchanged now: kept, to be exchanged once the platform can');
      } catch (storeErr) {
        // Its claim runs out by itself: another round (or instance) takes it then.
        log.warn({ err: messageOf(storeErr) }, 'a kept authorization code: the store failed; tried again once its claim runs out');
      }
      return true;
    }
  }

  /** One retry timer per app, doubling its wait while codes stay; never keeps the process alive. */
  #schedule(context: EventContext, delayMs: number): void {
    if (this.#timer !== undefined) return;
    this.#retryMs = Math.min(this.#retryMaxMs, delayMs * 2);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // The hub closed, or a reload removed the app: its contexts say so, and retries stop.
      let closed: boolean;
      try {
        closed = context.fetchContext().signal.aborted;
      } catch {
        closed = true;
      }
      if (closed) return;
      this.drain(context).catch((err: unknown) => {
        context.log.warn({ err: messageOf(err) }, 'kept authorization codes: the retry failed; tried again later');
        this.#schedule(context, this.#retryMs);
      });
    }, delayMs);
    this.#timer.unref();
  }
}

function nameOf(code: string): string {
  return PENDING_CODE_PREFIX + createHash('sha256').update(code).digest('hex').slice(0, 32);
}

function readKept(value: string): KeptCode | undefined {
  try {
    const parsed = JSON.parse(value) as Partial<KeptCode>;
    if (typeof parsed.code !== 'string' || typeof parsed.expiresAt !== 'number' || typeof parsed.infoType !== 'string') return undefined;
    return parsed as KeptCode;
  } catch {
    return undefined;
  }
}

/** The context's log, every line naming the push's `InfoType` and tenant (never its code). */
function logOf(context: EventContext, info: PendingCodeInfo): Logger {
  const about = { infoType: info.infoType, ...(info.tenantKey === undefined ? {} : { tenantKey: info.tenantKey }) };
  const log = context.log;
  return {
    debug: (obj, msg) => log.debug({ ...about, ...obj }, msg),
    info: (obj, msg) => log.info({ ...about, ...obj }, msg),
    warn: (obj, msg) => log.warn({ ...about, ...obj }, msg),
    error: (obj, msg) => log.error({ ...about, ...obj }, msg),
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
