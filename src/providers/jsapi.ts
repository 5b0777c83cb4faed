import { createHash } from 'node:crypto';
import { badRequest } from '../core/errors.js';
import type { CardFields, PageSigning, PageToSign, SignedPage } from '../core/types.js';

/**
 * The JS-SDK page signature of WeChat, WeCom, DingTalk and Feishu/Lark (PLATFORMS.md): SHA-1 of
 * `jsapi_ticket=…&noncestr=…&timestamp=…&url=…`, keys in this order, values raw, lower-case hex.
 *
 * @example
 * ```ts
 * jsapiSignature('sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg', 'Wm3WZYTPz0wzccnW', 1414587457, 'http://mp.weixin.qq.com?params=value');
 * // '0f9de62fce790f9a083d5c99e95740ceb90c27ed'
 * ```
 */
export function jsapiSignature(ticket: string, nonceStr: string, timestamp: number, url: string): string {
  return sha1(`jsapi_ticket=${ticket}&noncestr=${nonceStr}&timestamp=${timestamp}&url=${url}`);
}

/** WeChat's card signature (`cardSign`): the values only, sorted as strings, concatenated, SHA-1. */
export function cardSignature(values: readonly string[]): string {
  return sha1([...values].sort().join(''));
}

function sha1(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex');
}

/** The signed values a page's config is made of. */
export interface SignedValues {
  readonly timestamp: number;
  readonly nonceStr: string;
  readonly signature: string;
}

/** How the pages of one ticket kind are signed on a platform. */
export interface PageLayout {
  /** The JS-SDK call the page makes (`wx.config`). */
  readonly call: string;
  /** The timestamp's unit in the signature and the page's config. */
  readonly unit: 'seconds' | 'milliseconds';
  /** The ids the page names, under the contract's names; undefined where the app's config lacks one. */
  readonly ids: Readonly<Record<string, string | undefined>>;
  /** The config keys that hold those ids, named in the error when one is missing (`agentId`). */
  readonly idKeys?: Readonly<Record<string, string>>;
  /** The argument of `call`, in the platform's field names. */
  config(ids: Readonly<Record<string, string>>, signed: SignedValues): Record<string, string | number>;
}

/**
 * A platform's {@link PageSigning} from the layout of each ticket kind that signs pages, the
 * first the default.
 *
 * @example
 * ```ts
 * const pages = pageSigning({
 *   jsapi_ticket: { call: 'wx.config', unit: 'seconds', ids: { appId }, config: (ids, s) => ({ appId: ids.appId!, ...s }) },
 * });
 * ```
 */
export function pageSigning(layouts: Readonly<Record<string, PageLayout>>, cards?: PageSigning['cards']): PageSigning {
  return {
    kinds: Object.keys(layouts),
    sign(kind: string, ticket: string, page: PageToSign): SignedPage {
      const layout = layouts[kind];
      if (layout === undefined) throw badRequest(`kind: ${kind} does not sign pages (one of ${Object.keys(layouts).join(', ')})`);
      const missing = Object.entries(layout.ids).filter(([, v]) => v === undefined).map(([k]) => layout.idKeys?.[k] ?? k);
      if (missing.length > 0) throw badRequest(`${layout.call} needs ${missing.join(' and ')} in this app's config, which it does not have`);
      const ids = layout.ids as Readonly<Record<string, string>>;
      const timestamp = layout.unit === 'milliseconds' ? page.now : Math.floor(page.now / 1000);
      const signed = { timestamp, nonceStr: page.nonceStr, signature: jsapiSignature(ticket, page.nonceStr, timestamp, page.url) };
      return { timestamp, signature: signed.signature, ids, call: layout.call, config: layout.config(ids, signed) };
    },
    ...(cards === undefined ? {} : { cards }),
  };
}

/** The `wx.config` argument of WeChat and WeCom: `appId`, `timestamp`, `nonceStr`, `signature`. */
export function wxConfig(ids: Readonly<Record<string, string>>, { timestamp, nonceStr, signature }: SignedValues): Record<string, string | number> {
  return { appId: ids.appId ?? '', timestamp, nonceStr, signature };
}

/** WeChat's card signatures, for `wx.addCard` (the default) and `wx.chooseCard`. */
export function wechatCards(appId: string, kind: string): NonNullable<PageSigning['cards']> {
  return {
    kind,
    sign(ticket: string, fields: CardFields, { nonceStr, now }: Omit<PageToSign, 'url'>) {
      const timestamp = String(Math.floor(now / 1000));
      const present = (...values: (string | undefined)[]): string[] => values.filter((v): v is string => v !== undefined && v !== '');
      if (fields.for === 'chooseCard') {
        // chooseCard signs api_ticket, app_id, location_id, times_tamp, nonce_str, card_id, card_type.
        const cardSign = cardSignature(present(ticket, appId, fields.shopId ?? fields.locationId, timestamp, nonceStr, fields.cardId, fields.cardType));
        return { for: 'chooseCard', timestamp: Number(timestamp), nonceStr, signType: 'SHA1', cardSign, ...pick(fields, ['shopId', 'cardId', 'cardType']) };
      }
      // addCard signs api_ticket, timestamp, card_id, code, openid, nonce_str; the page passes them as cardExt.
      const cardId = fields.cardId;
      if (cardId === undefined || cardId === '') throw badRequest('cardId: required for wx.addCard');
      const cardSign = cardSignature(present(ticket, timestamp, cardId, fields.code, fields.openid, nonceStr));
      const cardExt = JSON.stringify({
        ...(fields.code ? { code: fields.code } : {}),
        ...(fields.openid ? { openid: fields.openid } : {}),
        ...(fields.fixedBeginTimestamp ? { fixed_begintimestamp: Number(fields.fixedBeginTimestamp) } : {}),
        ...(fields.outerStr ? { outer_str: fields.outerStr } : {}),
        timestamp,
        nonce_str: nonceStr,
        signature: cardSign,
      });
      return { for: 'addCard', timestamp: Number(timestamp), nonceStr, cardSign, cardId, cardExt };
    },
  };
}

function pick(fields: CardFields, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(keys.flatMap((k) => (fields[k] === undefined ? [] : [[k, fields[k]]])));
}
