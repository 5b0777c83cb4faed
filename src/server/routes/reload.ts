import type { FastifyPluginAsync } from 'fastify';
import type { ClientEntry } from '../../config.js';
import { ConfigError, ReloadRefusedError, TokenHubError } from '../../core/errors.js';
import type { ReloadResult } from '../../reload/plan.js';
import { clientOf } from '../auth.js';
import { JSON_BODY_ERRORS } from '../openapi/errors.js';
import { ReloadResult as ReloadResultSchema } from '../openapi/schemas.js';

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
  const schema = {
    tags: ['operations'],
    operationId: 'reload',
    summary: 'Read the config file again and apply it, as SIGHUP does',
    description: 'Admin clients only. Unchanged apps keep their tokens; a config that does not load is refused with every problem and the running one stays.',
    docs: {
      answers: { 200: { description: 'What changed', body: ReloadResultSchema } },
      errors: ['TOKENHUB_FORBIDDEN', 'TOKENHUB_RELOAD_REFUSED', ...JSON_BODY_ERRORS],
    },
  } as const;
  app.post('/v1/admin/reload', { schema }, async (req) => {
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
