import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AuditAction, AuditLog } from '../audit/audit-log.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * What the route audits (`audit` in the config): set by the route as it learns it, written once
     * the answer is sent, with its outcome. Holds a token value on its way to being hashed: never log it.
     */
    audit: AuditRecord | undefined;
  }
}

/** What a route knows of an audited request; the client comes from authentication, the outcome from the answer unless set. */
export interface AuditRecord {
  action: AuditAction;
  app?: string | undefined;
  kind?: string | undefined;
  tenantKey?: string | undefined;
  /** The value handed out or used; only its id is written. */
  token?: string | undefined;
  outcome?: string | undefined;
}

/**
 * The `onResponse` hook that writes the audit line of each request a route marked: outcome `ok`
 * for a 2xx/3xx answer, otherwise tokenhub's error code (or the status), unless the route set it.
 */
export function auditHook(audit: AuditLog): (req: FastifyRequest, reply: FastifyReply, done: () => void) => void {
  return (req, reply, done) => {
    const record = req.audit;
    const client = req.client;
    if (record !== undefined && client !== undefined) {
      const code = reply.getHeader('x-tokenhub-error');
      const outcome = record.outcome ?? (reply.statusCode < 400 ? 'ok' : typeof code === 'string' ? code : String(reply.statusCode));
      audit.write({ ...record, client: client.name, outcome });
    }
    done();
  };
}
