import type { TestContext } from 'node:test';
import { request } from 'undici';
import type { BusinessCall } from '../../src/core/types.js';
import { startStack, type Stack, type StackOptions } from './stack.js';

/** A stack closed when the test ends. */
export async function stackFor(t: TestContext, options: StackOptions): Promise<Stack> {
  const stack = await startStack(options);
  t.after(() => stack.close());
  return stack;
}

/** A token from tokenhub: the answer, asserting nothing. */
export function getToken(stack: Stack, app: string, query = ''): ReturnType<Stack['call']> {
  return stack.call('GET', `/v1/apps/${app}/tokens/access_token${query}`);
}

export function invalidate(stack: Stack, app: string, token: string): ReturnType<Stack['call']> {
  return stack.call('POST', `/v1/apps/${app}/tokens/access_token/invalidate`, { body: { token } });
}

/**
 * A business call to the platform simulator at the provider's URL for `path`, with `token` put
 * where the provider puts it, and the provider's verdict on the answer: what the proxy does.
 */
export async function businessCall(
  stack: Stack,
  app: string,
  path: string,
  token: string,
  init: { method?: 'GET' | 'POST'; body?: unknown } = {},
): Promise<{ status: number; body: any; rejected: boolean; call: BusinessCall }> {
  const { provider } = stack.hub.broker.app(app);
  const [pathname = path, query] = path.split('?');
  const url = provider.businessUrl(pathname);
  if (query !== undefined) url.search = query;
  const call: BusinessCall = { url, headers: {} };
  provider.attachToken(call, token);
  const res = await request(call.url, {
    method: init.method ?? 'GET',
    headers: { ...call.headers, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await res.body.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* an HTML page */
  }
  return { status: res.statusCode, body, rejected: provider.isTokenRejected({ status: res.statusCode, body }), call };
}
