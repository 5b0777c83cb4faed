/**
 * The part of `wechat-api` 1.35.1 (node-webot, plain CommonJS, no types of its own) that the
 * interop test and `bench/wechat-api.ts` use, typed from its source (lib/api_common.js, lib/api_js.js).
 */
declare module 'wechat-api' {
  namespace WechatAPI {
    /** What `getToken` hands over and `saveToken` receives; `expireTime` in epoch milliseconds, compared with the local clock. */
    interface AccessToken {
      accessToken: string;
      expireTime: number;
    }
    /** What `getTicketToken` hands over and `saveTicketToken` receives. */
    interface Ticket {
      ticket: string;
      expireTime: number;
    }
    type TicketType = 'jsapi' | 'wx_card';
    /** Its errors: `name` `WeChatAPIError` and the platform's `errcode` as `code`, or urllib's errors renamed `WeChatAPI…`. */
    type Failure = Error & { code?: number | string };
    type Callback<T> = (err: Failure | null, result?: T) => void;
    type Done = (err: Error | null) => void;
    /** The answer of a call under `/cgi-bin/`: the platform's JSON, parsed. */
    type Answer = Record<string, unknown>;
    interface JsConfigParam {
      debug?: boolean;
      jsApiList: string[];
      url: string;
      beta?: boolean;
    }
    interface JsConfig {
      debug?: boolean;
      appId: string;
      /** Whole seconds, as a string. */
      timestamp: string;
      nonceStr: string;
      signature: string;
      jsApiList: string[];
      beta?: boolean;
    }
    interface CardExtParam {
      card_id: string;
      code?: string;
      openid?: string;
      balance?: number;
    }
    interface CardExt {
      timestamp: string;
      signature: string;
      code: string;
      openid: string;
      balance?: number;
    }
  }

  class WechatAPI {
    constructor(
      appid: string,
      appsecret: string,
      getToken?: (callback: WechatAPI.Callback<WechatAPI.AccessToken | undefined>) => void,
      saveToken?: (token: WechatAPI.AccessToken, callback: WechatAPI.Done) => void,
    );
    static AccessToken: (accessToken: string, expireTime: number) => WechatAPI.AccessToken & { isValid(): boolean };
    readonly appid: string;
    /** `https://api.weixin.qq.com`; every call but two is `endpoint + '/cgi-bin/…'` (or `/card/…`, `/merchant/…`…). */
    endpoint: string;
    /** `https://mp.weixin.qq.com/cgi-bin/`: only in the QR-code image URL `showQRCodeURL` returns, never requested. */
    mpPrefix: string;
    /** `http://file.api.weixin.qq.com/cgi-bin/`: `uploadImage` (cards) and `uploadMPVideo`. */
    fileServerPrefix: string;
    /** Set by every call: the token it is made with. */
    token?: WechatAPI.AccessToken;
    /** Set by `getJsConfig`: the ticket it signed with. */
    jsTicket?: WechatAPI.Ticket;
    /** Set by `getCardExt`. */
    wxCardTicket?: WechatAPI.Ticket;
    getToken(callback: WechatAPI.Callback<WechatAPI.AccessToken | undefined>): void;
    saveToken(token: WechatAPI.AccessToken, callback: WechatAPI.Done): void;
    /** `GET {endpoint}/cgi-bin/token` with the secret, then `saveToken`: what a call does when `getToken` gave no valid token. */
    getAccessToken(callback: WechatAPI.Callback<WechatAPI.AccessToken>): this;
    /** urllib's `request`: every platform call goes through it. */
    request(url: string, opts: Record<string, unknown>, callback: (err: Error | null, data: unknown, res: unknown) => void): void;
    registerTicketHandle(
      getTicketToken?: (type: WechatAPI.TicketType, callback: WechatAPI.Callback<WechatAPI.Ticket | undefined>) => void,
      saveTicketToken?: (type: WechatAPI.TicketType, ticket: WechatAPI.Ticket, callback: WechatAPI.Done) => void,
    ): void;
    getTicketToken(type: WechatAPI.TicketType, callback: WechatAPI.Callback<WechatAPI.Ticket | undefined>): void;
    saveTicketToken(type: WechatAPI.TicketType, ticket: WechatAPI.Ticket, callback: WechatAPI.Done): void;
    /**
     * `GET {endpoint}/cgi-bin/ticket/getticket`, then `saveTicketToken`: what `getJsConfig` (which
     * passes no type: `jsapi`) and `getCardExt` (`wx_card`) do when `getTicketToken` gave no valid ticket.
     */
    getTicket(typeOrCallback: WechatAPI.TicketType | WechatAPI.Callback<WechatAPI.Ticket>, callback?: WechatAPI.Callback<WechatAPI.Ticket>): void;
    getJsConfig(param: WechatAPI.JsConfigParam, callback: WechatAPI.Callback<WechatAPI.JsConfig>): void;
    getCardExt(param: WechatAPI.CardExtParam, callback: WechatAPI.Callback<WechatAPI.CardExt>): void;
    getLatestToken(callback: WechatAPI.Callback<WechatAPI.AccessToken>): void;
    /** `GET /cgi-bin/menu/get`. */
    getMenu(callback: WechatAPI.Callback<WechatAPI.Answer>): void;
    /** `GET /cgi-bin/user/info?openid=&lang=`. */
    getUser(options: string | { openid: string; lang: string }, callback: WechatAPI.Callback<WechatAPI.Answer>): void;
    /** `GET /cgi-bin/getcallbackip`. */
    getIp(callback: WechatAPI.Callback<WechatAPI.Answer>): void;
  }

  export = WechatAPI;
}
