import type { LoadedConfig } from '../config.js';
import { TokenHubError } from '../core/errors.js';
import { createHub } from '../hub.js';
import { createLogger } from '../logger.js';
import { MemoryStore } from '../stores/memory.js';

/** What `tokenhub check` found for one app. */
export interface AppCheck {
  readonly app: string;
  readonly platform: string;
  readonly kind: string;
  /** `ok`: a token was had; `failed`: the platform refused or could not be reached; `pending`: it waits for a push no check can make. */
  readonly outcome: 'ok' | 'failed' | 'pending';
  readonly detail: string;
}

/**
 * `tokenhub check`: fetches one token per app of a config that loaded, with a memory store (the
 * configured store may be held by a running tokenhub, and a check must not take its lock or
 * write to it). The kind fetched is each app's first that needs no tenant and no other token.
 * An app that waits for a pushed ticket (store apps, third-party apps) cannot be checked from
 * here: it is reported `pending`, not failed.
 */
export async function checkConfig(config: LoadedConfig, timeoutMs = 15_000): Promise<AppCheck[]> {
  const hub = createHub(config, { logger: createLogger('silent'), store: new MemoryStore() });
  try {
    return await Promise.all(
      hub.broker.apps().map(async (app): Promise<AppCheck> => {
        const { provider } = app;
        const spec = provider.kindSpecs?.find((k) => !k.tenantScoped && k.derivedFrom === undefined);
        const kind = spec?.name ?? provider.kinds.find((k) => !provider.tenantScoped(k)) ?? provider.businessKind;
        const base = { app: app.id, platform: provider.platform, kind };
        try {
          const token = await withTimeout(hub.broker.getToken(app.id, kind), timeoutMs);
          return { ...base, outcome: 'ok', detail: `expires in ${Math.round((token.expiresAt - Date.now()) / 1000)} s` };
        } catch (err) {
          if (err instanceof TokenHubError) {
            const outcome = err.code === 'TOKENHUB_TICKET_PENDING' ? 'pending' : 'failed';
            return { ...base, outcome, detail: `${err.code}${err.platformCode === undefined ? '' : ` (${String(err.platformCode)})`}: ${err.message}` };
          }
          return { ...base, outcome: 'failed', detail: (err as Error).message };
        }
      }),
    );
  } finally {
    hub.broker.close();
  }
}

/** The checks as lines for a terminal. */
export function checkReport(checks: readonly AppCheck[]): string {
  const width = Math.max(3, ...checks.map((c) => c.app.length));
  return checks.map((c) => `${c.outcome === 'ok' ? 'ok     ' : c.outcome === 'pending' ? 'pending' : 'FAILED '}  ${c.app.padEnd(width)}  ${c.platform} ${c.kind}: ${c.detail}`).join('\n') + '\n';
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}
