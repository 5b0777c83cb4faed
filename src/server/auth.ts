import { hash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { TokenHubError } from '../core/errors.js';
import type { ClientEntry } from '../config.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook of every route that is not public; read it with `clientOf`. */
    client: ClientEntry | undefined;
  }
  interface FastifyContextConfig {
    /**
     * `true` on the routes anyone may call: health, readiness, metrics, and the events URL that a
     * platform calls (it checks its own credentials). Every other route needs a known client key.
     */
    public?: boolean;
    /** `true` on the operations routes (`/v1/admin/*`): after the key check, only admin clients pass. */
    admin?: boolean;
  }
}

/**
 * Who is calling. Keys are kept as SHA-256 only, and the presented key's hash is compared
 * with every client's in constant time, so neither the keys nor their order leak by timing.
 */
export class ClientAuth {
  #clients: readonly ClientEntry[];
  #proven = new WeakMap<object, { name: KeyHeader; value: string; client: ClientEntry }>();

  constructor(clients: readonly ClientEntry[]) {
    this.#clients = clients;
  }

  /**
   * Replaces the clients (a reload): from the next request on only these keys are known. What
   * connections proved under the old list is forgotten, so a removed key is refused at once.
   */
  replace(clients: readonly ClientEntry[]): void {
    this.#clients = clients;
    this.#proven = new WeakMap();
  }

  /** The client whose key the request carries (`Authorization: Bearer` or `X-Tokenhub-Key`). */
  authenticate(headers: IncomingHttpHeaders): ClientEntry {
    const client = this.identify(headers);
    if (client === undefined) throw unauthorized(headers);
    return client;
  }

  /** The 401 for these headers when they carry no known key; `undefined` when they do. */
  refusal(headers: IncomingHttpHeaders): TokenHubError | undefined {
    return this.identify(headers) === undefined ? unauthorized(headers) : undefined;
  }

  /**
   * Like `identify`, remembering per connection the header (name and value) that last proved a
   * key: later requests on that connection with the very same header skip the hash. The name
   * counts: a value proven as `Authorization` is not a key when sent as `X-Tokenhub-Key`, and
   * vice versa. Comparing with what this same connection sent before can reveal nothing about
   * any other client's key.
   */
  identifyOn(socket: object, headers: IncomingHttpHeaders): ClientEntry | undefined {
    const name: KeyHeader = headers.authorization !== undefined ? 'authorization' : 'x-tokenhub-key';
    const value = headers[name];
    const proven = this.#proven.get(socket);
    if (proven !== undefined && name === proven.name && value === proven.value) return proven.client;
    const client = this.identify(headers);
    if (client !== undefined && typeof value === 'string') this.#proven.set(socket, { name, value, client });
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
    if (!mayUse(client, app)) throw new TokenHubError('TOKENHUB_FORBIDDEN', `client ${client.name} may not use app ${JSON.stringify(app)}`);
  }
}

/** The header a key is read from: `Authorization` whenever it is present, else `X-Tokenhub-Key`. */
type KeyHeader = 'authorization' | 'x-tokenhub-key';

/**
 * The client a request was authenticated as. Throws 401 when there is none, so that a route
 * reached without authentication (a bug) refuses instead of crashing or serving.
 */
export function clientOf(req: FastifyRequest): ClientEntry {
  const client = req.client;
  if (client === undefined) throw unauthorized({});
  return client;
}

function unauthorized(headers: IncomingHttpHeaders): TokenHubError {
  return presentedKey(headers) === undefined
    ? new TokenHubError('TOKENHUB_UNAUTHORIZED', 'missing client key: send Authorization: Bearer <key>')
    : new TokenHubError('TOKENHUB_UNAUTHORIZED', 'unknown client key');
}

/** Throws 403 unless `client` is an admin (`clients[].admin: true`). */
export function authorizeAdmin(client: ClientEntry): void {
  if (client.admin !== true) throw new TokenHubError('TOKENHUB_FORBIDDEN', `client ${client.name} is not an admin: the operations routes need a client with admin: true`);
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
