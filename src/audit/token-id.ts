import { createHmac, randomBytes } from 'node:crypto';

/** Hex characters of a token id: 64 bits, enough to tell tokens apart, far too few to learn anything of one. */
export const TOKEN_ID_LENGTH = 16;

/**
 * Token ids for the audit log: the HMAC-SHA256 of a token's value under a key, truncated. The
 * same token has the same id in every line (so a line can be matched with a platform's log of
 * the token), and the value cannot be had back from it. With the configured key ids agree
 * across restarts and instances; without one the key is random per process.
 *
 * @example
 * const ids = new TokenIds(process.env.AUDIT_KEY);
 * ids.of('t-g1044…'); // '3f9a0c1d2b4e5f60'
 */
export class TokenIds {
  readonly #key: Buffer;

  constructor(key?: string) {
    this.#key = key === undefined ? randomBytes(32) : Buffer.from(key, 'utf8');
  }

  of(value: string): string {
    return createHmac('sha256', this.#key).update(value).digest('hex').slice(0, TOKEN_ID_LENGTH);
  }
}
