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
  readonly #proven = new WeakMap<object, { header: string; client: ClientEntry }>();

  constructor(clients: readonly ClientEntry[]) {
    this.#clients = clients;
  }

  /** The client whose key the request carries (`Authorization: Bearer` or `X-Tokenhub-Key`). */
  authenticate(headers: IncomingHttpHeaders): ClientEntry {
    if (presentedKey(headers) === undefined) throw new TokenHubError('TOKENHUB_UNAUTHORIZED', 401, 'missing client key: send Authorization: Bearer <key>');
    const client = this.identify(headers);
    if (!client) throw new TokenHubError('TOKENHUB_UNAUTHORIZED', 401, 'unknown client key');
    return client;
  }

  /**
   * Like `identify`, remembering per connection the last header that proved a key: later requests
   * on that connection with the very same header skip the hash. Comparing with what this same
   * connection sent before can reveal nothing about any other client's key.
   */
  identifyOn(socket: object, headers: IncomingHttpHeaders): ClientEntry | undefined {
    const header = headers.authorization ?? headers['x-tokenhub-key'];
    const proven = this.#proven.get(socket);
    if (proven !== undefined && header === proven.header) return proven.client;
    const client = this.identify(headers);
    if (client !== undefined && typeof header === 'string') this.#proven.set(socket, { header, client });
    return client;
  }

  /** The client whose key the request carries, or `undefined`; never throws. */
  identify(headers: IncomingHttpHeaders): ClientEntry | undefined {
    const key = presentedKey(headers);
    if (key === undefined) return undefined;
    const digest = hash('sha256', key, 'buffer');
    let found: ClientEntry | undefined;
    for (const client of this.#clients) {
      if (timingSafeEqual(digest, client.keySha256) && found === undefined) found = client;
    }
    return found;
  }

  allows(client: ClientEntry, app: string): boolean {
    return mayUse(client, app);
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
