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
}

export const DEFAULT_PENDING_CODES_OPTIONS = { retryFirstMs: 1_000, retryMaxMs: 30_000, claimMs: 60_000 } as const;

/**
 * A pushed authorization's code that cannot be exchanged at once (no ticket has come yet, the
 * platform answers 5xx, the app's token cannot be had) is kept, durably, until it can, instead of
 * answering the push with an error: the push is acknowledged (`success`, which is all the
 * platforms ask), nothing is lost if the process ends, and the platform does not push it again
 * and again. It is exchanged once, by one instance (claimed by compare-and-set), at the next
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
  #timer: NodeJS.Timeout | undefined;
  #retryMs: number;
  #draining: Promise<void> | undefined;

  constructor(options: PendingCodesOptions) {
    this.#exchange = options.exchange;
    this.#refused = options.refused;
    this.#retryFirstMs = options.retryFirstMs ?? DEFAULT_PENDING_CODES_OPTIONS.retryFirstMs;
    this.#retryMaxMs = options.retryMaxMs ?? DEFAULT_PENDING_CODES_OPTIONS.retryMaxMs;
    this.#claimMs = options.claimMs ?? DEFAULT_PENDING_CODES_OPTIONS.claimMs;
    this.#retryMs = this.#retryFirstMs;
  }

  /**
   * A pushed code: exchanged now if the platform can, else kept for later. Resolves once the
   * grant or the code is kept (answer the push `success` then); rejects only when neither could
   * be kept (the store failed: answer 5xx, the platform pushes again).
   */
  async take(code: string, info: PendingCodeInfo, context: EventContext): Promise<void> {
    const log = logOf(context, info);
    try {
      const tenantKey = await this.#exchange(code, context.fetchContext());
      log.info({ tenantKey }, 'authorization kept');
      await context.authorized(tenantKey);
      return;
    } catch (err) {
      if (this.#refused(err)) {
        log.error({ err: messageOf(err) }, 'the pushed authorization code was refused: the tenant must authorize again');
        return;
      }
      await this.#keep(code, info, context);
      log.warn({ err: messageOf(err), expiresInS: Math.round((info.expiresAt - context.now()) / 1000) }, 'the pushed authorization code could not be exchanged now: kept, to be exchanged once the platform can');
    }
    this.#schedule(context, this.#retryFirstMs);
  }

  /** Exchanges every kept code the platform may still take (one drain at a time in this process). */
  drain(context: EventContext): Promise<void> {
    this.#draining ??= this.#drainOnce(context).finally(() => {
      this.#draining = undefined;
    });
    return this.#draining;
  }

  async #keep(code: string, info: PendingCodeInfo, context: EventContext): Promise<void> {
    const now = context.now();
    const kept: KeptCode = { code, infoType: info.infoType, expiresAt: info.expiresAt, receivedAt: now, ...(info.tenantKey === undefined ? {} : { tenantKey: info.tenantKey }) };
    // Already kept (a redelivery): put answers undefined and the first stays.
    await context.grants.put(nameOf(code), JSON.stringify(kept), 0);
    await context.state.set(PENDING_CODES_STATE, '1', Math.max(3_600_000, info.expiresAt - now + 60_000));
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
      try {
        const tenantKey = await this.#exchange(kept.code, context.fetchContext());
        await grants.delete(name, claim.version);
        log.info({ tenantKey }, 'authorization kept (a code kept until the platform could exchange it)');
        await context.authorized(tenantKey);
      } catch (err) {
        if (this.#refused(err)) {
          await grants.delete(name, claim.version);
          log.error({ err: messageOf(err) }, 'a kept authorization code was refused (used, expired or invalid): unless its grant was kept, the tenant must authorize again');
        } else {
          await grants.put(name, JSON.stringify(unclaimed), claim.version);
          log.warn({ err: messageOf(err) }, 'a kept authorization code could not be exchanged yet: tried again later');
          left++;
        }
      }
    }
    if (left > 0) this.#schedule(context, this.#retryMs);
    else this.#retryMs = this.#retryFirstMs;
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
