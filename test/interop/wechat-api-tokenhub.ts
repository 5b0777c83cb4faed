/**
 * `wechat-api` (node-webot) with tokenhub as its token and ticket store: the "token from outside"
 * hooks it documents (`getToken`/`saveToken` in the constructor, `registerTicketHandle`), each a
 * read of tokenhub's HTTP API. Used by test/interop/wechat-api.test.ts and bench/wechat-api.ts.
 *
 * @example
 * ```ts
 * const api = wechatApiWithTokenhub({ url: 'http://127.0.0.1:8700', key: process.env.TOKENHUB_KEY!, app: 'wechat-main', appId: 'wx1234' });
 * api.getJsConfig({ url: 'https://app.example.com/page', jsApiList: ['updateAppMessageShareData'] }, (err, config) => { … });
 * ```
 */
import WechatAPI from 'wechat-api';

export interface WechatApiTokenhubOptions {
  /** tokenhub's base URL. */
  url: string;
  /** A client key allowed the app. */
  key: string;
  /** The app's id in tokenhub's config. */
  app: string;
  /** The Official Account's appid: `getJsConfig` puts it in the page's config. */
  appId: string;
  /** The platform's base URL instead of `https://api.weixin.qq.com` (a simulator's). */
  endpoint?: string;
}

/** tokenhub refused a token or ticket read; `code` is its stable error code. */
export class TokenhubAnswerError extends Error {
  override readonly name = 'TokenhubAnswerError';
  readonly status: number;
  readonly code: string | undefined;

  constructor(status: number, code: string | undefined, message: string | undefined) {
    super(`tokenhub answered ${status} ${code ?? ''}: ${message ?? ''}`);
    this.status = status;
    this.code = code;
  }
}

/** tokenhub's token kinds for wechat-api's ticket types. */
const TICKET_KINDS = { jsapi: 'jsapi_ticket', wx_card: 'wx_card_ticket' } as const satisfies Record<WechatAPI.TicketType, string>;

/** WeChat's answers to a call made with a bad access token: invalid or not latest, malformed, expired. */
const REJECTED_TOKEN_CODES: ReadonlySet<number> = new Set([40001, 40014, 42001]);

/** The constructor wants a secret; with every token from tokenhub it is never sent. */
const NO_SECRET = 'not-needed-tokenhub-holds-it';

interface TokenAnswer {
  token: string;
  expiresAt: string;
}

/**
 * A wechat-api instance that takes its access token and its tickets from tokenhub and never
 * fetches one with the secret. A call the platform refuses for its token (40001) is retried by
 * wechat-api, which then asks `getToken` again; wechat-api tells `getToken` nothing, so this watches
 * the answers in `request` (which every call goes through) and reports the refused token to tokenhub
 * when `getToken` is handed it again.
 */
export function wechatApiWithTokenhub(options: WechatApiTokenhubOptions): WechatAPI {
  let rejected: string | undefined;
  const accessToken = async (): Promise<WechatAPI.AccessToken> => {
    let answer = await read(options, 'access_token');
    // Compare-and-refresh: tokenhub fetches once however many instances report the same token.
    if (answer.token === rejected) answer = await read(options, 'access_token', answer.token);
    return { accessToken: answer.token, expireTime: Date.parse(answer.expiresAt) };
  };
  const ticket = async (type: WechatAPI.TicketType): Promise<WechatAPI.Ticket> => {
    const answer = await read(options, TICKET_KINDS[type]);
    return { ticket: answer.token, expireTime: Date.parse(answer.expiresAt) };
  };

  const api = new WechatAPI(
    options.appId,
    NO_SECRET,
    (callback) => settle(accessToken(), callback),
    (_token, done) => done(null),
  );
  api.registerTicketHandle(
    (type, callback) => settle(ticket(type), callback),
    (_type, _ticket, done) => done(null),
  );
  // Reached only when getToken/getTicketToken gave nothing valid by the local clock (clocks apart):
  // wechat-api would then fetch with the secret itself.
  api.getAccessToken = function (callback) {
    settle(accessToken(), callback);
    return this;
  };
  api.getTicket = (typeOrCallback, callback) => {
    if (typeof typeOrCallback === 'function') settle(ticket('jsapi'), typeOrCallback);
    else if (callback !== undefined) settle(ticket(typeOrCallback), callback);
  };
  const request = api.request.bind(api);
  api.request = (url, opts, callback) =>
    request(url, opts, (err, data, res) => {
      if (REJECTED_TOKEN_CODES.has(errcode(data) ?? 0)) rejected = new URL(url).searchParams.get('access_token') ?? rejected;
      callback(err, data, res);
    });
  if (options.endpoint !== undefined) pointAt(api, options.endpoint);
  return api;
}

/** Every prefix wechat-api 1.35.1 builds URLs from, at `base` (`endpoint` is `https://api.weixin.qq.com` by default). */
export function pointAt(api: WechatAPI, base: string): void {
  api.endpoint = base;
  api.fileServerPrefix = `${base}/cgi-bin/`;
  api.mpPrefix = `${base}/cgi-bin/`;
}

/** `GET …/tokens/{kind}`, or with `rejected` `POST …/tokens/{kind}/invalidate`. */
async function read(options: WechatApiTokenhubOptions, kind: string, rejected?: string): Promise<TokenAnswer> {
  const path = `${options.url}/v1/apps/${encodeURIComponent(options.app)}/tokens/${kind}`;
  const headers = { authorization: `Bearer ${options.key}` };
  const res =
    rejected === undefined
      ? await fetch(path, { headers })
      : await fetch(`${path}/invalidate`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ token: rejected }) });
  const body = (await res.json()) as { token?: string; expiresAt?: string; error?: { code?: string; message?: string } };
  if (!res.ok || typeof body.token !== 'string' || typeof body.expiresAt !== 'string') throw new TokenhubAnswerError(res.status, body.error?.code, body.error?.message);
  return { token: body.token, expiresAt: body.expiresAt };
}

/** A promise into a Node callback, called outside the promise's chain (so that a throwing callback is not an unhandled rejection). */
function settle<T>(promise: Promise<T>, callback: (err: Error | null, value?: T) => void): void {
  promise.then(
    (value) => process.nextTick(callback, null, value),
    (err: unknown) => process.nextTick(callback, err instanceof Error ? err : new Error(String(err))),
  );
}

function errcode(data: unknown): number | undefined {
  return typeof data === 'object' && data !== null && 'errcode' in data && typeof data.errcode === 'number' ? data.errcode : undefined;
}
