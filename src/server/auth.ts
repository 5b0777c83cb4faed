import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { TokenHubError } from '../core/errors.js';
import type { ClientEntry } from '../config.js';

/**
 * Who is calling. Keys are kept as SHA-256 only, and the presented key's hash is compared
 * with every client's in constant time, so neither the keys nor their order leak by timing.
 */
export class ClientAuth {
  readonly #clients: readonly ClientEntry[];

  constructor(clients: readonly ClientEntry[]) {
    this.#clients = clients;
  }

  /** The client whose key the request carries (`Authorization: Bearer` or `X-Tokenhub-Key`). */
  authenticate(headers: IncomingHttpHeaders): ClientEntry {
    const key = presentedKey(headers);
    if (key === undefined) throw new TokenHubError('TOKENHUB_UNAUTHORIZED', 401, 'missing client key: send Authorization: Bearer <key>');
    const digest = hash('sha256', key, 'buffer');
    let found: ClientEntry | undefined;
    for (const client of this.#clients) {
      if (timingSafeEqual(digest, client.keySha256) && found === undefined) found = client;
    }
    if (!found) throw new TokenHubError('TOKENHUB_UNAUTHORIZED', 401, 'unknown client key');
    return found;
  }

  /** Throws unless `client` may use `app`. */
  authorize(client: ClientEntry, app: string): void {
    if (!mayUse(client, app)) throw new TokenHubError('TOKENHUB_FORBIDDEN', 403, `client ${client.name} may not use app ${JSON.stringify(app)}`);
  }
}

export function mayUse(client: ClientEntry, app: string): boolean {
  return client.apps.includes('*') || client.apps.includes(app);
}

function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const auth = headers.authorization;
  if (auth !== undefined) {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(auth);
    return match?.[1];
  }
  const alt = headers['x-tokenhub-key'];
  return typeof alt === 'string' && alt !== '' ? alt : undefined;
}
