import { createHash, randomBytes } from 'node:crypto';
import type { ClientEntry } from '../../src/config.js';
import { Broker } from '../../src/core/broker.js';
import { TokenHubError, UpstreamError } from '../../src/core/errors.js';
import { grantScope } from '../../src/core/keys.js';
import type {
  Authorization,
  AuthorizationApi,
  EventAnswer,
  EventContext,
  EventReceiver,
  FetchContext,
  FetchRequest,
  FetchedToken,
  IncomingEvent,
  KindSpec,
  Provider,
  TokenStore,
} from '../../src/core/types.js';
import { tokenInQuery } from '../../src/providers/business.js';
import { kindsOf } from '../../src/providers/kinds.js';
import { PushChecker } from '../../src/providers/third-party/push.js';
import { buildServer } from '../../src/server/app.js';
import { Metrics } from '../../src/server/metrics.js';
import { MemoryStore } from '../../src/stores/memory.js';

/** The fake's kinds: an app token from a pushed ticket, and a tenant's token from its grant. */
export const FAKE_KINDS: readonly KindSpec[] = [
  { name: 'app_token', tenantScoped: false },
  { name: 'tenant_token', tenantScoped: true, derivedFrom: 'app_token' },
];

/** What the fake keeps in the app's grants, per tenant. */
interface FakeGrant {
  readonly refresh: string;
  readonly authorizedAt: number;
  readonly name: string;
}

export interface FakeThirdPartyOptions {
  appId: string;
  /** The receive id of the GET URL check (the provider's corp id, say). */
  corpId: string;
  token: string;
  encodingAESKey: string;
}

/**
 * A third-party app that talks to nothing, for the routes' tests: the platform's side is a table
 * of authorization codes (`issueCode`), each exchanged once for a grant; its app token needs a
 * pushed ticket, a tenant's token the tenant's grant (refreshed by compare-and-set at each fetch,
 * as a platform that hands out a new refresh token each time). Its events URL takes the URL check
 * (GET) and encrypted XML pushes: `InfoType` `ticket` (`Ticket`), `auth` (`AuthCode`), `cancel`
 * (`TenantKey`), answered `success` as text.
 */
export class FakeThirdPartyProvider implements Provider {
  readonly platform = 'fake3p';
  readonly kindSpecs = FAKE_KINDS;
  readonly kinds = kindsOf(FAKE_KINDS).kinds;
  readonly tenantScoped = kindsOf(FAKE_KINDS).tenantScoped;
  readonly refreshAheadMs = 60_000;
  readonly businessKind = 'app_token';
  readonly checker: PushChecker;
  /** Codes the platform would accept, by code: the tenant each authorizes. */
  readonly codes = new Map<string, { tenantKey: string; name: string }>();
  /** Calls the platform would have had, by what they were. */
  readonly calls: string[] = [];
  /** Set to make `authorize` fail after the code was taken, as a platform unreachable mid-way. */
  failNextExchange = false;
  /** Set to make `list` answer a detail that looks like a secret (a provider's bug the routes must catch). */
  leakDetails = false;
  readonly #appId: string;

  constructor(options: FakeThirdPartyOptions) {
    this.#appId = options.appId;
    this.checker = new PushChecker({ token: options.token, encodingAESKey: options.encodingAESKey, receiveIds: [options.appId], urlCheckReceiveIds: [options.corpId] });
  }

  /** A code the platform accepts once, for `tenantKey`. */
  issueCode(tenantKey: string, name = `tenant ${tenantKey}`): string {
    const code = `code-${randomBytes(6).toString('hex')}`;
    this.codes.set(code, { tenantKey, name });
    return code;
  }

  businessUrl(path: string): URL {
    return new URL(`http://127.0.0.1:9${path}`);
  }

  readonly attachToken = tokenInQuery;
  isTokenRejected(): boolean {
    return false;
  }

  async fetch(request: FetchRequest, context: FetchContext): Promise<FetchedToken> {
    if (request.kind === 'app_token') {
      const ticket = await context.state.get('ticket');
      if (ticket === undefined) throw new UpstreamError('pending', 'no ticket pushed yet', { platform: this.platform, retryAfterMs: 100 });
      this.calls.push(`app_token:${ticket}`);
      return { value: `app-${ticket}-${randomBytes(4).toString('hex')}`, expiresInMs: 7_200_000 };
    }
    const tenantKey = request.tenantKey!;
    const app = await context.token('app_token');
    let token = '';
    const grant = await context.grants.update(`tenant:${tenantKey}`, (current) => {
      if (current === undefined) return undefined;
      const kept = JSON.parse(current.value) as FakeGrant;
      this.calls.push(`tenant_token:${tenantKey}:${kept.refresh}`);
      token = `tenant-${tenantKey}-${randomBytes(4).toString('hex')}-${app.value.length}`;
      // The platform hands out a new refresh token with every token.
      return JSON.stringify({ ...kept, refresh: `r-${randomBytes(4).toString('hex')}` } satisfies FakeGrant);
    });
    if (grant === undefined) throw new TokenHubError('TOKENHUB_GRANT_NOT_FOUND', `no authorization of tenant ${tenantKey} is kept`);
    return { value: token, expiresInMs: 7_200_000 };
  }

  readonly authorizations: AuthorizationApi = {
    authorize: (code, context) => this.#exchange(code, context),
    list: async (context) =>
      (await context.grants.list('tenant:')).map(({ name, grant }): Authorization => {
        const kept = JSON.parse(grant.value) as FakeGrant;
        return {
          tenantKey: name.slice('tenant:'.length),
          authorizedAt: kept.authorizedAt,
          state: 'active',
          name: kept.name,
          scopes: [1, 2],
          ...(this.leakDetails ? { refreshToken: kept.refresh, permanentCode: kept.refresh } : {}),
        };
      }),
    revoke: (tenantKey, context) => context.grants.delete(`tenant:${tenantKey}`),
    preAuthCode: async (context) => {
      await context.token('app_token');
      this.calls.push('pre_auth_code');
      return { preAuthCode: `pre-${randomBytes(6).toString('hex')}`, expiresInMs: 1_200_000 };
    },
  };

  readonly events: EventReceiver = {
    methods: ['GET', 'POST'],
    receive: async (event: IncomingEvent, context: EventContext): Promise<EventAnswer> => {
      if (event.method === 'GET') return { body: this.checker.checkUrl(event.query, context.now()).message, contentType: 'text/plain; charset=utf-8' };
      return this.checker.accept(event, context, async ({ fields }) => {
        if (fields.InfoType === 'ticket' && fields.Ticket) {
          await context.state.set('ticket', fields.Ticket, 60 * 60_000);
          context.wake();
        } else if (fields.InfoType === 'auth' && fields.AuthCode) {
          await this.#exchange(fields.AuthCode, context.fetchContext());
        } else if (fields.InfoType === 'cancel' && fields.TenantKey) {
          await context.grants.delete(`tenant:${fields.TenantKey}`);
        }
        return { body: 'success', contentType: 'text/plain; charset=utf-8' };
      });
    },
  };

  /** The platform's side of a code: taken once; the grant kept before the answer. */
  async #exchange(code: string, context: FetchContext): Promise<Authorization> {
    await context.token('app_token');
    const authorized = this.codes.get(code);
    this.calls.push(`exchange:${code}`);
    if (authorized === undefined) throw new TokenHubError('TOKENHUB_BAD_REQUEST', 'the authorization code is invalid, expired or used', { platform: this.platform, platformCode: 61009 });
    this.codes.delete(code);
    if (this.failNextExchange) {
      this.failNextExchange = false;
      throw new UpstreamError('transient', 'the platform did not answer', { platform: this.platform });
    }
    const authorizedAt = context.now();
    const grant: FakeGrant = { refresh: `r-${randomBytes(4).toString('hex')}`, authorizedAt, name: authorized.name };
    // Authorized anew over an old authorization: the new grant replaces it, whatever its version.
    await context.grants.update(`tenant:${authorized.tenantKey}`, () => JSON.stringify(grant));
    return { tenantKey: authorized.tenantKey, authorizedAt, state: 'active', name: authorized.name, appId: this.#appId };
  }
}

/** A client key of {@link fakeServer} allowed every app, and one allowed only `plain`. */
export const ALL_APPS_KEY = 'all-apps-client-key-0123456789';
export const PLAIN_ONLY_KEY = 'other-apps-client-key-012345678';
/** The fake app's ids and message settings. */
export const FAKE_APP = { appId: 'fake_component', corpId: 'fake_corp', token: 'fake-token', encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' } as const;

export function clientEntry(name: string, key: string, apps: string[], reportsPerMinute?: number): ClientEntry {
  return { name, keySha256: createHash('sha256').update(key).digest(), apps, ...(reportsPerMinute === undefined ? {} : { reportsPerMinute }) };
}

/**
 * A server (not listening: `server.inject`) with the fake third-party app `tp` and `plain`, the
 * same provider without authorizations, on `store`; {@link ALL_APPS_KEY} may use both.
 */
export function fakeServer(store: TokenStore = new MemoryStore(), provider = new FakeThirdPartyProvider(FAKE_APP), options: { reportsPerMinute?: number } = {}) {
  const broker = new Broker({ store });
  broker.register({ id: 'tp', provider, fingerprint: `fake3p:${FAKE_APP.appId}:secret1`, grantScope: grantScope('fake3p', FAKE_APP.appId) });
  const plain = new FakeThirdPartyProvider(FAKE_APP);
  Object.defineProperty(plain, 'authorizations', { value: undefined });
  broker.register({ id: 'plain', provider: plain, fingerprint: 'fake3p:plain:secret' });
  const clients = [clientEntry('all', ALL_APPS_KEY, ['*'], options.reportsPerMinute), clientEntry('others', PLAIN_ONLY_KEY, ['plain'])];
  const server = buildServer({ broker, store, clients, metrics: new Metrics(() => broker), logger: false });
  return {
    server,
    broker,
    provider,
    store,
    async close() {
      await server.close();
      broker.close();
      await store.close();
    },
  };
}
