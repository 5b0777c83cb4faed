import { TokenHubError, UpstreamError } from '../core/errors.js';
import type { FetchContext, FetchedToken, KindSpec, Token } from '../core/types.js';

const SECOND = 1000;

/**
 * A kind fetched with the current token of another kind of the same app: a JS-SDK ticket from
 * the access token, a store app's tenant token from its app token.
 */
export interface DerivedKind extends KindSpec {
  readonly derivedFrom: string;
}

/** The kinds of `specs` fetched with another kind's token. */
export function derivedKinds(specs: readonly KindSpec[]): ReadonlyMap<string, DerivedKind> {
  return new Map(specs.filter((k): k is DerivedKind => k.derivedFrom !== undefined).map((k) => [k.name, k]));
}

/**
 * Makes `call` with the app's current token of kind `from`. When the platform answers that this
 * token is bad, it is reported (compare-and-refresh: replaced once however many fetches report
 * it) and `call` is made once more with the replacement: once, not a loop.
 *
 * @example
 * ```ts
 * return withToken(this.platform, context, 'access_token', undefined, (token) => this.#ticket(token, context.signal));
 * ```
 */
export async function withToken<T = FetchedToken>(
  platform: string,
  context: FetchContext,
  from: string,
  tenantKey: string | undefined,
  call: (token: string) => Promise<T>,
): Promise<T> {
  const options = tenantKey === undefined ? {} : { tenantKey };
  const token = await dependency(platform, from, () => context.token(from, options));
  try {
    return await call(token.value);
  } catch (err) {
    if (!isTokenInvalid(err)) throw err;
    const replaced = await dependency(platform, from, () => context.invalidate(from, token.value, options));
    // Reported again so soon that the broker serves the reported token on: calling with it would only be refused again.
    if (replaced.value === token.value) throw err;
    // Refused with the replacement as well: that answer is final for this fetch (the broker backs off).
    return await call(replaced.value);
  }
}

function isTokenInvalid(err: unknown): err is UpstreamError {
  return err instanceof UpstreamError && err.failure === 'token-invalid';
}

/** The dependency's failure as this kind's own, keeping its class (a pending ticket stays pending). */
async function dependency(platform: string, kind: string, work: () => Promise<Token>): Promise<Token> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof TokenHubError)) throw err;
    const cause = err.cause instanceof UpstreamError ? err.cause : undefined;
    // tokenhub's own verdict on the request (a tenant whose grant is not kept: 404) is this kind's too, told as it is.
    if (cause === undefined && err.statusCode >= 400 && err.statusCode < 500) throw err;
    const failure = cause?.failure ?? (err.statusCode === 502 ? 'credentials' : 'transient');
    throw new UpstreamError(failure, failure === 'pending' ? err.message : `${kind}: ${cause?.message ?? err.message}`, {
      platform,
      cause: err,
      ...(err.platformCode === undefined ? {} : { platformCode: err.platformCode }),
      ...(err.retryAfterSeconds === undefined ? {} : { retryAfterMs: err.retryAfterSeconds * SECOND }),
      ...(cause?.waitingFor === undefined ? {} : { waitingFor: cause.waitingFor }),
    });
  }
}
