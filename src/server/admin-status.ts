import type { Broker, SlotStatus, TenantKindStatus } from '../core/broker.js';
import type { ProviderHealth } from '../core/types.js';
import { healthAttention, tokenAttention, type Attention } from './attention.js';
import type { StoreHealth, StoreState } from './store-health.js';
import type { UpstreamCount, UpstreamTally } from './upstream-tally.js';

/** One token (or one tenant-scoped kind, counted) as the operators' status shows it. Never a token value. */
export type TokenState = (SlotStatus | TenantKindStatus) & {
  /** Upstream calls for this kind since start. */
  upstream: UpstreamCount;
  attention: Attention[];
};

export interface AppState {
  id: string;
  platform: string;
  kinds: readonly string[];
  defaultKind: string;
  tenantScopedKinds: string[];
  /** Every kind of the app, fetched or not: a kind nobody asked for yet has only `kind` and `refreshing`. */
  tokens: TokenState[];
  /** Upstream calls of every kind together since start. */
  upstream: { calls: number; failures: number };
  /** Calls counted against each of the platform's limits in its current window (this instance). */
  budgets: { window: string; used: number; limit: number }[];
  /** What the provider says of the app's dependencies (a pushed ticket's age), where it says anything. */
  health?: ProviderHealth;
  /** What needs attention at the app's level (its ticket, its grants); its tokens carry their own. */
  attention: Attention[];
}

/** `GET /v1/admin/status`: the whole of one tokenhub instance. */
export interface AdminStatus {
  version: string;
  startedAt: string;
  uptimeSeconds: number;
  /** The server's clock when this was made: a page counts time left from it. */
  now: string;
  store: StoreState;
  apps: AppState[];
  /** Marks of every app and token, counted by level. */
  attention: { errors: number; warnings: number };
}

export interface AdminStatusSources {
  broker: Broker;
  store: StoreHealth;
  upstream: UpstreamTally;
  version: string;
  startedAt: number;
  now: () => number;
}

/** The operators' status, made afresh: the broker's view of every app and token, the store's ping, the counts since start. */
export async function adminStatus(sources: AdminStatusSources): Promise<AdminStatus> {
  const { broker, upstream, now } = sources;
  const [store, healths] = await Promise.all([sources.store.check(), Promise.all(broker.apps().map((a) => appHealth(broker, a.id)))]);
  const at = now();
  const budgets = [...broker.budgets()];
  const apps = broker.apps().map((a, i): AppState => {
    const { provider } = a;
    const seen = new Map<string, SlotStatus | TenantKindStatus>([...broker.status(a.id), ...broker.tenantStatus(a.id)].map((t) => [t.kind, t]));
    const tokens = provider.kinds.map((kind): TokenState => {
      const token = seen.get(kind) ?? (provider.tenantScoped(kind) ? { kind, tenantScoped: true as const, tenants: 0, valid: 0, refreshing: 0, failing: 0 } : { kind, refreshing: false });
      return { ...token, upstream: upstream.of(a.id, kind), attention: tokenAttention(token, at) };
    });
    const health = healths[i];
    return {
      id: a.id,
      platform: provider.platform,
      kinds: provider.kinds,
      defaultKind: provider.businessKind,
      tenantScopedKinds: provider.kinds.filter((k) => provider.tenantScoped(k)),
      tokens,
      upstream: upstream.total(a.id),
      budgets: budgets.filter((b) => b.app === a.id).map(({ window, used, limit }) => ({ window, used, limit })),
      ...(health === undefined ? {} : { health }),
      attention: healthAttention(health),
    };
  });
  const marks = apps.flatMap((a) => [...a.attention, ...a.tokens.flatMap((t) => t.attention)]);
  return {
    version: sources.version,
    startedAt: new Date(sources.startedAt).toISOString(),
    uptimeSeconds: Math.max(0, Math.floor((at - sources.startedAt) / 1000)),
    now: new Date(at).toISOString(),
    store,
    apps,
    attention: { errors: marks.filter((m) => m.level === 'error').length, warnings: marks.filter((m) => m.level === 'warning').length },
  };
}

/** How long a provider's health may take (it reads the store) before the status goes without it. */
const HEALTH_TIMEOUT_MS = 1_000;

/** The provider's health of an app; one whose store read fails or hangs says nothing rather than holding up the whole status. */
async function appHealth(broker: Broker, id: string): Promise<ProviderHealth | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), HEALTH_TIMEOUT_MS);
  });
  try {
    return await Promise.race([broker.health(id), timeout]);
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
