import assert from 'node:assert/strict';
import { TokenHubClientError } from '../../packages/client/src/index.js';

/** Awaits `promise`, which must reject with a `TokenHubClientError` having the `expected` fields. */
export async function rejects(promise: Promise<unknown>, expected: Partial<TokenHubClientError>): Promise<TokenHubClientError> {
  const err = await promise.then(
    () => assert.fail('expected a TokenHubClientError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TokenHubClientError, String(err));
  for (const [k, v] of Object.entries(expected)) assert.equal((err as unknown as Record<string, unknown>)[k], v, `${k}: ${err.message}`);
  return err;
}
