import type { FastifyPluginAsync } from 'fastify';
import type { ClientEntry } from '../../config.js';
import { ConfigError, ReloadRefusedError, TokenHubError } from '../../core/errors.js';
import type { ReloadResult } from '../../reload/plan.js';
import { clientOf } from '../auth.js';

/** Whether `client` may use the admin routes (`clients[].admin: true`). */
export function isAdmin(client: ClientEntry): boolean {
  return client.admin === true;
}

/** Throws 403 unless `client` is an admin. */
export function requireAdmin(client: ClientEntry): void {
  if (!isAdmin(client)) throw new TokenHubError('TOKENHUB_FORBIDDEN', `client ${client.name} is not an admin (clients[].admin)`);
}

/**
 * `POST /v1/admin/reload` (admin clients): reads the config file again and applies it, as SIGHUP
 * does. 200 with what changed; 400 `TOKENHUB_RELOAD_REFUSED` listing every problem of a config
 * that does not load, the running one kept.
 */
export const reloadRoutes: FastifyPluginAsync<{ reload: (() => Promise<ReloadResult>) | undefined }> = async (app, { reload }) => {
  app.post('/v1/admin/reload', async (req) => {
    req.audit = { action: 'admin.reload' };
    requireAdmin(clientOf(req));
    if (reload === undefined) throw new ReloadRefusedError(['this tokenhub was started without a config file to read again']);
    try {
      return await reload();
    } catch (err) {
      if (err instanceof ConfigError) throw new ReloadRefusedError(err.issues);
      throw err;
    }
  });
};
