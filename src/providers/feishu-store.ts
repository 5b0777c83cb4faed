import { TokenHubError, UpstreamError } from '../core/errors.js';
import type { FetchContext, FetchRequest, FetchedToken, Provider, StateAccess, Token } from '../core/types.js';
import { tokenAsBearer } from './business.js';
import { FEISHU_BASE_URLS, feishuAnswer, isFeishuTokenRejected, parseFeishuToken, type FeishuPlatform } from './feishu.js';
import { openEvent, type EventHeaders, type EventSecrets, type OpenedEvent } from './feishu-events.js';
import { callPlatform, endpoint } from './http.js';

/** Names of the durable per-app state of a store app. */
export const FEISHU_STORE_STATE = {
  /** The last app_ticket the platform pushed. */
  ticket: 'app_ticket',
  /** Set when `app_ticket/resend` was called; expires after the resend interval. */
  resentAt: 'app_ticket_resent_at',
} as const;

export interface FeishuStoreProviderOptions {
  platform: FeishuPlatform;
  appId: string;
  appSecret: string;
  baseUrl?: string | undefined;
  verificationToken: string;
  encryptKey?: string | undefined;
  /** At most one `app_ticket/resend` call per app in this interval. Default 60 s. */
  resendIntervalMs?: number;
  /** How long a pushed ticket is kept. Default 12 h. */
  ticketTtlMs?: number;
  /** The wait suggested to callers while the ticket is pending (`Retry-After`). Default 2 s. */
  pendingRetryMs?: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;

export const DEFAULT_FEISHU_STORE_OPTIONS = {
  resendIntervalMs: MINUTE,
  // Unverified: the ticket's real lifetime is not documented; the official SDKs keep it about
  // 12 hours and the platform pushes a new one hourly. A stale one costs a 10012 and a resend.
  ticketTtlMs: 12 * 60 * MINUTE,
  pendingRetryMs: 2 * SECOND,
} as const;

const TICKET_INVALID = 10012;

/**
 * Feishu and Lark store (ISV) apps: the `app_access_token` from the app_ticket the platform pushes
 * to the app's event URL, and one `tenant_access_token` per tenant that installed the app.
 * Without a ticket it asks the platform to resend one and reports the token as pending.
 */
export class FeishuStoreProvider implements Provider {
  readonly platform: FeishuPlatform;
  readonly kinds = ['tenant_access_token', 'app_access_token'] as const;
  // The 30-minute rule holds for store apps too (see FeishuProvider).
  readonly refreshAheadMs = 25 * MINUTE;
  readonly sameTokenWhileMs = 30 * MINUTE;
  readonly businessKind = 'tenant_access_token';
  readonly #appId: string;
  readonly #appSecret: string;
  readonly #baseUrl: string;
  readonly #secrets: EventSecrets;
  readonly #resendIntervalMs: number;
  readonly #ticketTtlMs: number;
  readonly #pendingRetryMs: number;

  constructor(options: FeishuStoreProviderOptions) {
    this.platform = options.platform;
    this.#appId = options.appId;
    this.#appSecret = options.appSecret;
    this.#baseUrl = options.baseUrl ?? FEISHU_BASE_URLS[options.platform];
    this.#secrets = { appId: options.appId, verificationToken: options.verificationToken, encryptKey: options.encryptKey };
    this.#resendIntervalMs = options.resendIntervalMs ?? DEFAULT_FEISHU_STORE_OPTIONS.resendIntervalMs;
    this.#ticketTtlMs = options.ticketTtlMs ?? DEFAULT_FEISHU_STORE_OPTIONS.ticketTtlMs;
    this.#pendingRetryMs = options.pendingRetryMs ?? DEFAULT_FEISHU_STORE_OPTIONS.pendingRetryMs;
  }

  tenantScoped(kind: string): boolean {
    return kind === 'tenant_access_token';
  }
  readonly attachToken = tokenAsBearer;
  readonly isTokenRejected = isFeishuTokenRejected;
  readonly businessUrl = (path: string): URL => endpoint(this.#baseUrl, path);

  /**
   * Checks a pushed event (see {@link openEvent}) and keeps the ticket it carries in `state`.
   * Throws `EventRejected` for a forged or broken event, which then changes nothing.
   */
  async acceptEvent(raw: Buffer, headers: EventHeaders, state: StateAccess, now: number): Promise<OpenedEvent> {
    const opened = openEvent(raw, headers, this.#secrets, { now });
    if (opened.type === 'app_ticket') {
      await state.set(FEISHU_STORE_STATE.ticket, opened.ticket, this.#ticketTtlMs);
      // The resend was answered: should this ticket be refused too, the next one may be asked for at once.
      await state.delete(FEISHU_STORE_STATE.resentAt);
    }
    return opened;
  }

  async fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    if (request.kind === 'app_access_token') return this.#appToken(context);
    if (request.tenantKey === undefined) throw new UpstreamError('credentials', 'a tenant_access_token needs a tenant_key', { platform: this.platform });
    return this.#tenantToken(request.tenantKey, context);
  }

  async #appToken(context: FetchContext): Promise<FetchedToken> {
    const ticket = await context.state.get(FEISHU_STORE_STATE.ticket);
    if (ticket === undefined) return this.#pending(context, 'no app_ticket has arrived yet');
    const res = await callPlatform(this.platform, {
      method: 'POST',
      url: endpoint(this.#baseUrl, '/open-apis/auth/v3/app_access_token'),
      json: { app_id: this.#appId, app_secret: this.#appSecret, app_ticket: ticket },
      signal: context.signal,
    });
    try {
      return parseFeishuToken(this.platform, 'app_access_token', res);
    } catch (err) {
      if (!(err instanceof UpstreamError) || err.platformCode !== TICKET_INVALID) throw err;
      // Drop it unless a newer one arrived meanwhile.
      if ((await context.state.get(FEISHU_STORE_STATE.ticket)) === ticket) await context.state.delete(FEISHU_STORE_STATE.ticket);
      return this.#pending(context, `the platform refused the app_ticket (code ${TICKET_INVALID})`, TICKET_INVALID);
    }
  }

  /** Asks for a ticket (at most once per interval) and reports the token as pending. */
  async #pending(context: FetchContext, why: string, platformCode?: number): Promise<never> {
    const resentAt = await context.state.get(FEISHU_STORE_STATE.resentAt);
    if (resentAt === undefined) {
      await this.#resend(context);
      await context.state.set(FEISHU_STORE_STATE.resentAt, String(context.now()), this.#resendIntervalMs);
    }
    throw new UpstreamError('pending', `${why}; tokenhub asked ${this.platform} to resend it to the app's events URL (POST /v1/apps/{app}/events) and waits for it`, {
      platform: this.platform,
      retryAfterMs: this.#pendingRetryMs,
      ...(platformCode === undefined ? {} : { platformCode }),
    });
  }

  async #resend(context: FetchContext): Promise<void> {
    const res = await callPlatform(this.platform, {
      method: 'POST',
      url: endpoint(this.#baseUrl, '/open-apis/auth/v3/app_ticket/resend'),
      json: { app_id: this.#appId, app_secret: this.#appSecret },
      signal: context.signal,
    });
    feishuAnswer(this.platform, res);
  }

  async #tenantToken(tenantKey: string, context: FetchContext): Promise<FetchedToken> {
    let appToken = await this.#dependency(() => context.token('app_access_token'));
    for (let attempt = 1; ; attempt++) {
      const res = await callPlatform(this.platform, {
        method: 'POST',
        url: endpoint(this.#baseUrl, '/open-apis/auth/v3/tenant_access_token'),
        json: { app_access_token: appToken.value, tenant_key: tenantKey },
        signal: context.signal,
      });
      try {
        return parseFeishuToken(this.platform, 'tenant_access_token', res);
      } catch (err) {
        // Here "token invalid" can only mean the app token we sent: replace it (compare-and-refresh) once.
        if (attempt > 1 || !(err instanceof UpstreamError) || err.failure !== 'token-invalid') throw err;
        const rejected = appToken.value;
        appToken = await this.#dependency(() => context.invalidate('app_access_token', rejected));
      }
    }
  }

  /** The app token's failure as this token's own, keeping its class (pending stays pending). */
  async #dependency(work: () => Promise<Token>): Promise<Token> {
    try {
      return await work();
    } catch (err) {
      if (!(err instanceof TokenHubError)) throw err;
      const cause = err.cause instanceof UpstreamError ? err.cause : undefined;
      const failure = cause?.failure ?? (err.statusCode === 502 ? 'credentials' : 'transient');
      throw new UpstreamError(failure, failure === 'pending' ? err.message : `app_access_token: ${cause?.message ?? err.message}`, {
        platform: this.platform,
        cause: err,
        ...(err.platformCode === undefined ? {} : { platformCode: err.platformCode }),
        ...(err.retryAfterSeconds === undefined ? {} : { retryAfterMs: err.retryAfterSeconds * SECOND }),
      });
    }
  }
}

/** Whether a provider takes pushed events (a Feishu/Lark store app). */
export function takesEvents(provider: Provider): provider is FeishuStoreProvider {
  return provider instanceof FeishuStoreProvider;
}
