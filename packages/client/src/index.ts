/**
 * `@tokenhub/client`: tokenhub's client for Node (ESM and CommonJS), with no dependency beyond the
 * runtime's `fetch`. The `tokenhub` package ships the same build as `tokenhub/client`.
 *
 * @example
 * ```ts
 * import { TokenHubClient } from '@tokenhub/client';
 * const hub = new TokenHubClient({ url: 'http://127.0.0.1:8700', key: process.env.TOKENHUB_KEY });
 * const token = await hub.getToken('feishu-main', 'tenant_access_token');
 * ```
 */
export {
  DEFAULT_CLIENT_OPTIONS,
  TokenHubClient,
  type AppInfo,
  type CardSignature,
  type CardSignatureFields,
  type GetTokenOptions,
  type InvalidateOptions,
  type JsapiSignature,
  type JsapiSignatureOptions,
  type JsapiTicketKind,
  type ProxyRequestInit,
  type TokenHubClientOptions,
  type TokenInfo,
} from './client.js';
export { TokenHubClientError, isTokenHubError, type ClientErrorCode, type ErrorCode, type TokenHubClientErrorOptions } from './errors.js';
