import type { Dispatcher } from 'undici';
import { createHash } from 'node:crypto';
import { UpstreamError } from '../core/errors.js';
import type { EventAnswer, EventContext, EventReceiver, FetchContext, FetchRequest, FetchedToken, HealthContext, IncomingEvent, KindSpec, PageSigning, Provider, ProviderHealth, StateAccess } from '../core/types.js';
import { tokenAsBearer } from './business.js';
import { kindsOf } from './kinds.js';
import { FEISHU_BASE_URLS, FEISHU_RULES, feishuAnswer, feishuPages, fetchFeishuTicket, isFeishuTokenRejected, parseFeishuToken, type FeishuPlatform } from './feishu.js';
import { DEFAULT_MAX_SKEW_MS, EventRejected, openEvent, type EventHeaders, type EventIdentity, type EventSecrets, type OpenedEvent } from './feishu-events.js';
import { callPlatform, endpoint } from './http.js';
import { PushedTicket, type PushedTicketOptions, type TicketOutcome } from './third-party/pushed-ticket.js';
import { withToken } from './tickets.js';

export { readTicket, type TicketOutcome } from './third-party/pushed-ticket.js';

/** Names of the durable per-app state of a store app. */
export const FEISHU_STORE_STATE = {
  /** The newest app_ticket the platform pushed: `{"ticket":…,"at":<its create time, epoch ms>}` (older versions wrote the bare ticket). */
  ticket: 'app_ticket',
  /** Set when `app_ticket/resend` was called; expires after the resend interval. */
  resentAt: 'app_ticket_resent_at',
  /** The replay cache: `event_seen:<hash>` per event id and per nonce taken, for the replay window. */
  seen: 'event_seen:',
} as const;

/** An event taken by {@link FeishuStoreProvider.acceptEvent}. */
export type AcceptedEvent =
  | Exclude<OpenedEvent, { type: 'app_ticket' }>
  | { readonly type: 'app_ticket'; readonly outcome: TicketOutcome };

export interface FeishuStoreProviderOptions extends PushedTicketOptions {
  /** Where the token calls go (an undici dispatcher: a `MockAgent` in tests). Default: the connections shared by every provider. */
  dispatcher?: Dispatcher | undefined;
  platform: FeishuPlatform;
  appId: string;
  appSecret: string;
  baseUrl?: string | undefined;
  verificationToken: string;
  encryptKey?: string | undefined;
  /** At most one `app_ticket/resend` call per app in this interval. Default 60 s. */
  resendIntervalMs?: number;
  /** Signed events further than this from now are refused; seen ids are kept twice as long. Default 5 min. */
  maxSkewMs?: number;
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;

export const DEFAULT_FEISHU_STORE_OPTIONS = {
  resendIntervalMs: MINUTE,
  // Unverified: the ticket's real lifetime is not documented; the official SDKs keep it about
  // 12 hours and the platform pushes a new one hourly. A stale one costs a 10012 and a resend.
  ticketTtlMs: 12 * 60 * MINUTE,
  pendingRetryMs: 2 * SECOND,
  // The platform pushes a new ticket hourly: two missed pushes mean the events URL is not reached.
  ticketStaleMs: 2 * 60 * MINUTE,
} as const;

const TICKET_INVALID = 10012;

/** A store app's kinds: the app token from the pushed ticket, one tenant token per tenant from it. */
export const FEISHU_STORE_KINDS: readonly KindSpec[] = [
  { name: 'tenant_access_token', tenantScoped: true, derivedFrom: 'app_access_token' },
  { name: 'app_access_token', tenantScoped: false },
  // Each tenant's JS-SDK ticket, fetched with that tenant's token.
  { name: 'jsapi_ticket', tenantScoped: true, derivedFrom: 'tenant_access_token' },
];

/**
 * Feishu and Lark store (ISV) apps: the `app_access_token` from the app_ticket the platform pushes
 * to the app's event URL, and one `tenant_access_token` per tenant that installed the app.
 * Without a ticket it asks the platform to resend one and reports the token as pending.
 */
export class FeishuStoreProvider implements Provider {
  readonly platform: FeishuPlatform;
  readonly kindSpecs = FEISHU_STORE_KINDS;
  readonly kinds = kindsOf(FEISHU_STORE_KINDS).kinds;
  readonly tenantScoped = kindsOf(FEISHU_STORE_KINDS).tenantScoped;
  readonly pages: PageSigning;
  // The 30-minute rule holds for store apps too (see FeishuProvider).
  readonly refreshAheadMs = FEISHU_RULES.refreshAheadMs;
  readonly sameTokenWhileMs = FEISHU_RULES.sameTokenWhileMs;
  readonly businessKind = 'tenant_access_token';
  readonly #appId: string;
  readonly #appSecret: string;
  readonly #baseUrl: string;
  readonly #secrets: EventSecrets;
  readonly #ticket: PushedTicket;
  readonly #maxSkewMs: number;
  readonly warnings: readonly string[];

  readonly #dispatcher: Dispatcher | undefined;
  constructor(options: FeishuStoreProviderOptions) {
    this.#dispatcher = options.dispatcher;
    this.platform = options.platform;
    this.#appId = options.appId;
    this.#appSecret = options.appSecret;
    this.#baseUrl = options.baseUrl ?? FEISHU_BASE_URLS[options.platform];
    this.#secrets = { appId: options.appId, verificationToken: options.verificationToken, encryptKey: options.encryptKey };
    this.#maxSkewMs = options.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    const d = DEFAULT_FEISHU_STORE_OPTIONS;
    this.#ticket = new PushedTicket({
      platform: options.platform,
      name: FEISHU_STORE_STATE.ticket,
      defaults: d,
      refusedCodes: [TICKET_INVALID],
      arrival: `tokenhub asked ${options.platform} to resend it to the app's events URL (POST /v1/apps/{app}/events) and waits for it`,
      // The resend was answered by a push: should that ticket be refused too, the next may be asked for at once.
      ask: { marker: FEISHU_STORE_STATE.resentAt, intervalMs: options.resendIntervalMs ?? d.resendIntervalMs, call: (context) => this.#resend(context), liftedByPush: true },
    }, options);
    this.pages = feishuPages(options.appId);
    this.warnings =
      options.encryptKey === undefined
        ? ['store app without encryptKey: its events arrive neither encrypted nor signed, so only the verification token vouches for them; set an Encrypt Key on the platform console and as encryptKey in the config']
        : [];
  }

  readonly attachToken = tokenAsBearer;
  readonly isTokenRejected = isFeishuTokenRejected;
  readonly businessUrl = (path: string): URL => endpoint(this.#baseUrl, path);

  /**
   * The app's events URL: the platform pushes app_tickets there. A new ticket wakes the broker
   * (a fetch waiting for it goes at once); a duplicate or an older one leaves waits and backoffs
   * as they are.
   */
  readonly events: EventReceiver = {
    methods: ['POST'],
    receive: async (event: IncomingEvent, context: EventContext): Promise<EventAnswer> => {
      const opened = await this.acceptEvent(event.raw, event.headers, context.state, context.now());
      switch (opened.type) {
        case 'url_verification':
          return { body: { challenge: opened.challenge } };
        case 'app_ticket':
          if (this.#ticket.announce(opened.outcome, context) !== 'new') return { body: { ok: true, ignored: 'app_ticket', reason: opened.outcome } };
          return { body: { ok: true, kept: 'app_ticket' } };
        case 'other':
          return { body: { ok: true, ignored: opened.eventType } };
      }
    },
  };

  /**
   * Checks a pushed event (see {@link openEvent}), refuses a replay, and keeps the ticket it
   * carries in `state` unless it is the one stored or older. Throws `EventRejected` for a forged,
   * broken or replayed event, which then changes nothing.
   */
  async acceptEvent(raw: Buffer, headers: EventHeaders, state: StateAccess, now: number): Promise<AcceptedEvent> {
    const opened = openEvent(raw, headers, this.#secrets, { now, maxSkewMs: this.#maxSkewMs });
    // Answering a challenge again changes nothing: no need to remember it.
    if (opened.type === 'url_verification') return opened;
    const marks = await this.#markSeen(opened.identity, state);
    try {
      if (opened.type === 'other') return opened;
      const createdAt = opened.identity.createdAt ?? opened.identity.signedAt ?? now;
      return { type: 'app_ticket', outcome: await this.#ticket.keep(opened.ticket, createdAt, state) };
    } catch (err) {
      // Not kept: the platform delivers it again, and that must not pass for a replay.
      await Promise.allSettled(marks.map((name) => state.delete(name)));
      throw err;
    }
  }

  /**
   * The replay cache: one marker per event id and per nonce, in the app's durable state so that
   * every instance sharing the store sees it, added atomically (of two deliveries of one event
   * racing to two instances, one wins). Markers live twice the skew window: a signed request
   * passes while its timestamp is within the window of now, on either side. The markers' names
   * are hashes, never the ids themselves. Returns the names it set.
   */
  async #markSeen(identity: EventIdentity, state: StateAccess): Promise<string[]> {
    const ids: [string, string | undefined][] = [
      ['event id', identity.eventId],
      ['nonce', identity.nonce],
    ];
    const set: string[] = [];
    for (const [what, id] of ids) {
      if (id === undefined) continue;
      const name = FEISHU_STORE_STATE.seen + createHash('sha256').update(`${what}\0${id}`).digest('hex').slice(0, 32);
      if (await state.add(name, '1', 2 * this.#maxSkewMs)) {
        set.push(name);
        continue;
      }
      await Promise.allSettled(set.map((n) => state.delete(n)));
      throw new EventRejected(409, `replayed event: this ${what} was taken already`);
    }
    return set;
  }

  /** The kept app_ticket: there or not, its age, refused or stale. Never the ticket itself. */
  async health(context: HealthContext): Promise<ProviderHealth> {
    return { ticket: await this.#ticket.health(context) };
  }

  async fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    if (request.kind === 'app_access_token') return this.#appToken(context);
    const tenantKey = request.tenantKey;
    if (tenantKey === undefined) throw new UpstreamError('credentials', `a ${request.kind} needs a tenant_key`, { platform: this.platform });
    if (request.kind === 'jsapi_ticket') {
      return withToken(this.platform, context, 'tenant_access_token', tenantKey, (token) => fetchFeishuTicket(this.platform, this.#baseUrl, this.#dispatcher, token, context.signal));
    }
    return this.#tenantToken(tenantKey, context);
  }

  /** The app token from the kept app_ticket; without one, a resend is asked for (10012 refuses it). */
  #appToken(context: FetchContext): Promise<FetchedToken> {
    return this.#ticket.use(context, async (ticket) => {
      const res = await callPlatform(this.platform, {
        dispatcher: this.#dispatcher,
        method: 'POST',
        url: endpoint(this.#baseUrl, '/open-apis/auth/v3/app_access_token'),
        json: { app_id: this.#appId, app_secret: this.#appSecret, app_ticket: ticket },
        signal: context.signal,
      });
      return parseFeishuToken(this.platform, 'app_access_token', res);
    });
  }

  async #resend(context: FetchContext): Promise<void> {
    const res = await callPlatform(this.platform, {
      dispatcher: this.#dispatcher,
      method: 'POST',
      url: endpoint(this.#baseUrl, '/open-apis/auth/v3/app_ticket/resend'),
      json: { app_id: this.#appId, app_secret: this.#appSecret },
      signal: context.signal,
    });
    feishuAnswer(this.platform, res);
  }

  #tenantToken(tenantKey: string, context: FetchContext): Promise<FetchedToken> {
    // Here "token invalid" can only mean the app token we sent: withToken replaces it (compare-and-refresh) once.
    return withToken(this.platform, context, 'app_access_token', undefined, async (appToken) => {
      const res = await callPlatform(this.platform, {
        dispatcher: this.#dispatcher,
        method: 'POST',
        url: endpoint(this.#baseUrl, '/open-apis/auth/v3/tenant_access_token'),
        json: { app_access_token: appToken, tenant_key: tenantKey },
        signal: context.signal,
      });
      return parseFeishuToken(this.platform, 'tenant_access_token', res);
    });
  }
}
