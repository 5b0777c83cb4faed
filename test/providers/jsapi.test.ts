import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { JSAPI_VECTOR as VECTOR } from '../helpers/vectors.js';
import { DingTalkProvider } from '../../src/providers/dingtalk.js';
import { FeishuProvider } from '../../src/providers/feishu.js';
import { cardSignature, jsapiSignature } from '../../src/providers/jsapi.js';
import { WeChatProvider } from '../../src/providers/wechat.js';
import { WeComProvider } from '../../src/providers/wecom.js';
import { pageUrl, urlPattern } from '../../src/server/routes/jsapi.js';
import { TokenHubError } from '../../src/core/errors.js';


const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');

describe('JS-SDK page signatures', () => {
  it('match the documented test vector', () => {
    assert.equal(jsapiSignature(VECTOR.ticket, VECTOR.nonceStr, VECTOR.timestamp, VECTOR.url), VECTOR.signature);
  });

  it('WeChat signs wx.config in seconds with the app id, and the URL as given (no slash added before ?)', () => {
    const pages = new WeChatProvider({ appId: 'wx123', appSecret: 's' }).pages;
    const signed = pages.sign('jsapi_ticket', VECTOR.ticket, { url: VECTOR.url, nonceStr: VECTOR.nonceStr, now: VECTOR.timestamp * 1000 + 999 });
    assert.equal(signed.signature, VECTOR.signature);
    assert.equal(signed.call, 'wx.config');
    assert.deepEqual(signed.config, { appId: 'wx123', timestamp: VECTOR.timestamp, nonceStr: VECTOR.nonceStr, signature: VECTOR.signature });
  });

  it('WeCom signs wx.config with the corp id and wx.agentConfig with corpid and agentid', () => {
    const pages = new WeComProvider({ corpId: 'ww1', corpSecret: 's', agentId: '1000002' }).pages;
    assert.deepEqual(pages.kinds, ['jsapi_ticket', 'agent_jsapi_ticket']);
    const page = { url: 'https://a.example.com/p?x=1', nonceStr: 'n0', now: 1_700_000_000_000 };
    assert.equal(pages.sign('jsapi_ticket', 'corp-t', page).config.appId, 'ww1');
    const agent = pages.sign('agent_jsapi_ticket', 'agent-t', page);
    assert.equal(agent.call, 'wx.agentConfig');
    assert.deepEqual(agent.config, {
      corpid: 'ww1',
      agentid: '1000002',
      timestamp: 1_700_000_000,
      nonceStr: 'n0',
      signature: sha1('jsapi_ticket=agent-t&noncestr=n0&timestamp=1700000000&url=https://a.example.com/p?x=1'),
    });
    assert.deepEqual(new WeComProvider({ corpId: 'ww1', corpSecret: 's' }).pages.kinds, ['jsapi_ticket'], 'no agent ticket without agentId');
  });

  it('DingTalk signs dd.config with agentId, corpId and timeStamp; without them it says which config keys are missing', () => {
    const page = { url: 'https://a.example.com/', nonceStr: 'n', now: 1_700_000_000_500 };
    const signed = new DingTalkProvider({ appKey: 'k', appSecret: 's', agentId: '42', corpId: 'dingcorp' }).pages.sign('jsapi_ticket', 't', page);
    assert.deepEqual(Object.keys(signed.config), ['agentId', 'corpId', 'timeStamp', 'nonceStr', 'signature']);
    assert.equal(signed.config.timeStamp, 1_700_000_000);
    assert.deepEqual(signed.ids, { agentId: '42', corpId: 'dingcorp' });
    assert.throws(
      () => new DingTalkProvider({ appKey: 'k', appSecret: 's' }).pages.sign('jsapi_ticket', 't', page),
      (err: unknown) => err instanceof TokenHubError && err.statusCode === 400 && /agentId and corpId/.test(err.message),
    );
  });

  it('Feishu signs h5sdk.config with a timestamp in milliseconds', () => {
    const signed = new FeishuProvider({ platform: 'feishu', appId: 'cli_1', appSecret: 's' }).pages.sign('jsapi_ticket', 't', { url: 'https://a.example.com/', nonceStr: 'n', now: 1_700_000_000_123 });
    assert.equal(signed.call, 'h5sdk.config');
    assert.equal(signed.timestamp, 1_700_000_000_123);
    assert.equal(signed.signature, sha1('jsapi_ticket=t&noncestr=n&timestamp=1700000000123&url=https://a.example.com/'));
  });

  it('WeChat card signatures sort the values before hashing; addCard gets a cardExt the page passes as is', () => {
    assert.equal(cardSignature(['b', 'a', 'c']), sha1('abc'));
    const cards = new WeChatProvider({ appId: 'wx123', appSecret: 's' }).pages.cards!;
    assert.equal(cards.kind, 'wx_card_ticket');
    const add = cards.sign('api-t', { cardId: 'pCard', code: '123', openid: 'o1' }, { nonceStr: 'n', now: 1_700_000_000_000 });
    assert.equal(add.cardSign, sha1(['api-t', '1700000000', 'pCard', '123', 'o1', 'n'].sort().join('')));
    assert.deepEqual(JSON.parse(String(add.cardExt)), { code: '123', openid: 'o1', timestamp: '1700000000', nonce_str: 'n', signature: add.cardSign });
    const choose = cards.sign('api-t', { for: 'chooseCard', cardType: 'GROUPON' }, { nonceStr: 'n', now: 1_700_000_000_000 });
    assert.equal(choose.cardSign, sha1(['api-t', 'wx123', '1700000000', 'n', 'GROUPON'].sort().join('')));
    assert.throws(() => cards.sign('api-t', {}, { nonceStr: 'n', now: 0 }), /cardId/);
  });
});

describe('page URLs', () => {
  it('lose their fragment, keep everything else as written, and must be http(s)', () => {
    assert.equal(pageUrl('https://a.example.com/p?x=1#frag'), 'https://a.example.com/p?x=1');
    assert.equal(pageUrl('http://mp.weixin.qq.com?params=value'), 'http://mp.weixin.qq.com?params=value');
    assert.equal(pageUrl('https://a.example.com/%E4%B8%AD?q=%20#x#y'), 'https://a.example.com/%E4%B8%AD?q=%20');
    for (const bad of ['javascript:alert(1)', 'ftp://a.example.com/', 'file:///etc/passwd', 'not a url', '#only', 'https://a.example.com/a b']) {
      assert.throws(() => pageUrl(bad), (err: unknown) => err instanceof TokenHubError && err.statusCode === 400, bad);
    }
  });

  it('match jsapiUrls patterns literally but for *, which matches any rest', () => {
    const p = urlPattern('https://app.example.com/pages/*');
    assert.ok(p.test('https://app.example.com/pages/a?x=1'));
    assert.ok(!p.test('https://app.example.com/other'));
    assert.ok(!p.test('https://app.example.com.evil.com/pages/a'));
    assert.ok(!urlPattern('https://app.example.com/p.html').test('https://app.example.com/pxhtml'), 'a dot is a dot');
    assert.ok(urlPattern('https://app.example.com/p').test('https://app.example.com/p'));
    assert.ok(!urlPattern('https://app.example.com/p').test('https://app.example.com/p?x=1'), 'no * means exactly this URL');
  });
});
