/**
 * `wechat-api` 1.35.1 (node-webot), unchanged, with tokenhub as its token and ticket store
 * (./wechat-api-tokenhub.ts), over HTTP against the WeChat simulator. What its source does:
 * - every call asks `getToken()` first; a token whose `expireTime` (ms, local clock) has not passed
 *   is used, anything else sends it to `getAccessToken()`: `cgi-bin/token` with the secret, then `saveToken`;
 * - a call answered 40001 is made once more after asking `getToken()` again, which is told nothing
 *   (a store that does not know of the refusal hands over the same token); 42001 is not retried, and
 *   a ticket fetch (`_getTicket`) is never retried (it drops the answer its retry check reads);
 * - `getJsConfig` signs locally with the ticket from `getTicketToken('jsapi')`, so it never learns
 *   that a ticket went bad (only the page's `wx.config` would): tickets are never reported here;
 * - `getCardExt` signs a `card_ext` without a nonce_str (the sorted ticket, card_id, timestamp, code,
 *   openid, balance); the simulator's card verifier wants one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import WechatAPI from 'wechat-api';
import { WECHAT_ENDPOINTS, WeChatSim, cardSignature } from '../../src/sim/index.js';
import { skewedClock, startStack, type Stack } from '../helpers/stack.js';
import { pointAt, wechatApiWithTokenhub } from './wechat-api-tokenhub.js';

const WX = { appId: 'wx0webot0interop', appSecret: `webot-${randomBytes(8).toString('hex')}` };
const INSTANCES = 10;
const PAGES = ['https://app.example.com/', 'https://app.example.com/orders?id=42', 'https://app.example.com/share/a/b'];

/** A wechat-api call as a promise. */
const call = <T>(run: (callback: WechatAPI.Callback<T>) => void): Promise<T> =>
  new Promise((resolve, reject) => run((err, result) => (err ? reject(err) : resolve(result as T))));

/** The simulator's calls of the account at each endpoint; wechat-api fetches with `cgi-bin/token` (classic), tokenhub here with `stable_token`. */
const platformCalls = (sim: WeChatSim) => ({
  stable: sim.counters.count(WECHAT_ENDPOINTS.stable, WX.appId),
  classic: sim.counters.count(WECHAT_ENDPOINTS.classic, WX.appId),
  ticket: sim.counters.count(WECHAT_ENDPOINTS.ticket),
  cardTicket: sim.counters.count(WECHAT_ENDPOINTS.cardTicket),
  business: sim.counters.count(WECHAT_ENDPOINTS.business),
});

describe('wechat-api 1.35.1 with tokenhub as its token and ticket store', () => {
  const stacks: Stack[] = [];
  afterEach(async () => {
    await Promise.all(stacks.splice(0).map((s) => s.close()));
  });

  /** A cold simulator and tokenhub of its own for each test (stable_token, reports not spaced out). */
  const start = async (simClock?: () => number): Promise<{ stack: Stack; sim: WeChatSim; instances: WechatAPI[] }> => {
    const sim = new WeChatSim({ apps: [WX], ...(simClock ? { now: simClock } : {}) });
    const stack = await startStack({
      sims: [sim],
      apps: { 'wechat-main': { platform: 'wechat', appId: WX.appId, appSecret: WX.appSecret, baseUrl: 'sim:wechat', reportIntervalSeconds: 0 } },
    });
    stacks.push(stack);
    const instances = Array.from({ length: INSTANCES }, () =>
      wechatApiWithTokenhub({ url: stack.url, key: stack.key, app: 'wechat-main', appId: WX.appId, endpoint: stack.sims.baseUrl('wechat') }),
    );
    return { stack, sim, instances };
  };

  const verify = async (stack: Stack, config: Record<string, unknown>): Promise<{ ok: boolean; reason?: string }> =>
    (await fetch(`${stack.sims.url}/_sim/wechat/jsapi/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) })).json() as Promise<{
      ok: boolean;
      reason?: string;
    }>;

  it(`${INSTANCES} instances, cold and all at once: 1 token call and 1 ticket call at the platform, one token and one ticket for all, every getJsConfig accepted`, async () => {
    const { stack, sim, instances } = await start();
    const results = await Promise.all(
      instances.map(async (api, i) => {
        const page = PAGES[i % PAGES.length]!;
        const [menu, user, config] = await Promise.all([
          call<WechatAPI.Answer>((cb) => api.getMenu(cb)),
          call<WechatAPI.Answer>((cb) => api.getUser({ openid: `o_user_${i}`, lang: 'zh_CN' }, cb)),
          call<WechatAPI.JsConfig>((cb) => api.getJsConfig({ debug: false, jsApiList: ['updateAppMessageShareData'], url: page }, cb)),
        ]);
        return { page, menu, user, config };
      }),
    );

    for (const [i, r] of results.entries()) {
      assert.deepEqual([r.menu.errcode, r.menu.appid, r.menu.path], [0, WX.appId, '/cgi-bin/menu/get']);
      assert.deepEqual([r.user.errcode, r.user.path, r.user.query], [0, '/cgi-bin/user/info', { openid: `o_user_${i}`, lang: 'zh_CN' }]);
      assert.equal(r.config.appId, WX.appId);
      const { appId, timestamp, nonceStr, signature } = r.config;
      assert.deepEqual(await verify(stack, { appId, timestamp, nonceStr, signature, url: r.page }), { ok: true }, `getJsConfig of instance ${i} for ${r.page}`);
    }
    // The verifier tells pages apart: a config is good for the URL it was signed for only.
    const { appId, timestamp, nonceStr, signature } = results[0]!.config;
    assert.equal((await verify(stack, { appId, timestamp, nonceStr, signature, url: PAGES[1] })).ok, false);

    assert.deepEqual(platformCalls(sim), { stable: 1, classic: 0, ticket: 1, cardTicket: 0, business: 2 * INSTANCES });
    const token = (await stack.call('GET', '/v1/apps/wechat-main/tokens/access_token')).body.token as string;
    const ticket = (await stack.call('GET', '/v1/apps/wechat-main/tokens/jsapi_ticket')).body.token as string;
    assert.deepEqual(new Set(instances.map((api) => api.token?.accessToken)), new Set([token]), 'every instance used tokenhub\'s token');
    assert.deepEqual(new Set(instances.map((api) => api.jsTicket?.ticket)), new Set([ticket]), 'every instance signed with tokenhub\'s ticket');
    assert.equal(sim.isValid(token) && sim.isValid(ticket), true);
    assert.equal(sim.tokensIssued(WX.appId), 1);

    // wechat-api's own ways to the token endpoint end at tokenhub too.
    const api = instances[0]!;
    assert.equal((await call<WechatAPI.AccessToken>((cb) => api.getLatestToken(cb))).accessToken, token);
    assert.equal((await call<WechatAPI.AccessToken>((cb) => api.getAccessToken(cb))).accessToken, token);
    assert.equal((await call<WechatAPI.Ticket>((cb) => api.getTicket('jsapi', cb))).ticket, ticket);
    assert.deepEqual(platformCalls(sim), { stable: 1, classic: 0, ticket: 1, cardTicket: 0, business: 2 * INSTANCES });
  });

  it(`a token revoked at the platform: wechat-api retries the 40001, getToken reports the token, tokenhub refetches once for all ${INSTANCES} instances`, async () => {
    const { stack, sim, instances } = await start();
    await Promise.all(instances.map((api) => call((cb) => api.getMenu(cb))));
    const revoked = (await stack.call('GET', '/v1/apps/wechat-main/tokens/access_token')).body.token as string;
    assert.equal(sim.revoke(revoked), true);
    const before = platformCalls(sim);

    const answers = await Promise.all(instances.map((api) => call<WechatAPI.Answer>((cb) => api.getIp(cb))));
    for (const a of answers) assert.deepEqual([a.errcode, a.path], [0, '/cgi-bin/getcallbackip']);
    const now = platformCalls(sim);
    assert.equal(now.business - before.business, 2 * INSTANCES, 'each call refused once, then made again');
    assert.equal(now.stable - before.stable, 1, 'tokenhub refetched once');
    assert.equal(now.classic, 0, 'wechat-api fetched none itself');
    const fresh = (await stack.call('GET', '/v1/apps/wechat-main/tokens/access_token')).body.token as string;
    assert.notEqual(fresh, revoked);
    assert.deepEqual(new Set(instances.map((api) => api.token?.accessToken)), new Set([fresh]));
  });

  it('without the report wechat-api\'s 40001 retry makes the call again with the same refused token, and the call fails', async () => {
    // getToken as wechat-api documents it, and nothing more: its retry asks getToken again without
    // saying why, so a store that does not know of the refusal hands over the same token.
    const { stack, sim } = await start();
    const api = new WechatAPI(
      WX.appId,
      'not-needed',
      (callback) => {
        void stack.call('GET', '/v1/apps/wechat-main/tokens/access_token').then((r) => callback(null, { accessToken: r.body.token, expireTime: Date.parse(r.body.expiresAt) }), callback);
      },
      (_token, done) => done(null),
    );
    pointAt(api, stack.sims.baseUrl('wechat'));
    await call((cb) => api.getMenu(cb));
    sim.revoke(api.token!.accessToken);
    const before = platformCalls(sim);
    await assert.rejects(
      call((cb) => api.getMenu(cb)),
      (err: WechatAPI.Failure) => err.name === 'WeChatAPIError' && err.code === 40001,
    );
    const now = platformCalls(sim);
    assert.deepEqual({ business: now.business - before.business, stable: now.stable - before.stable, classic: now.classic }, { business: 2, stable: 0, classic: 0 });
  });

  it('a token expired at the platform (42001): wechat-api does not retry, the call fails; the next call reports it and goes through', async () => {
    // Only the simulator's clock moves: tokenhub still holds the token as good, as after a clock jump or an early expiry.
    const clock = skewedClock();
    const { sim, instances } = await start(clock.now);
    const api = instances[0]!;
    await call((cb) => api.getMenu(cb));
    const expired = api.token!.accessToken;
    clock.advance(7200_000);
    const before = platformCalls(sim);
    await assert.rejects(
      call((cb) => api.getMenu(cb)),
      (err: WechatAPI.Failure) => err.code === 42001,
    );
    assert.equal(platformCalls(sim).business - before.business, 1, 'no retry on 42001');
    const menu = await call<WechatAPI.Answer>((cb) => api.getMenu(cb));
    assert.equal(menu.errcode, 0);
    assert.notEqual(api.token!.accessToken, expired);
    const now = platformCalls(sim);
    assert.deepEqual({ business: now.business - before.business, stable: now.stable - before.stable, classic: now.classic }, { business: 2, stable: 1, classic: 0 });
  });

  it('getCardExt signs with tokenhub\'s wx_card ticket (1 ticket call for all); its card_ext signature has no nonce_str, which the simulator\'s verifier requires', async () => {
    const { stack, sim, instances } = await start();
    const card = { card_id: 'pDF3iY9tv9zCGCj4jTXFOo1DxHdo', code: '1234567890', openid: 'o_user_card' };
    const exts = await Promise.all(instances.map((api) => call<WechatAPI.CardExt>((cb) => api.getCardExt(card, cb))));
    const ticket = (await stack.call('GET', '/v1/apps/wechat-main/tokens/wx_card_ticket')).body.token as string;
    assert.equal(sim.isValid(ticket), true);
    assert.deepEqual(new Set(instances.map((api) => api.wxCardTicket?.ticket)), new Set([ticket]));
    for (const ext of exts) {
      // wechat-api's signCardExt: sha1 of the sorted ticket, card_id, timestamp, code, openid (and balance): no nonce_str.
      assert.equal(ext.signature, cardSignature([ticket, card.card_id, ext.timestamp, card.code, card.openid]));
    }
    assert.deepEqual(
      await verify(stack, { api: 'cardSign', appId: WX.appId, timestamp: exts[0]!.timestamp, cardId: card.card_id, code: card.code, openid: card.openid, cardSign: exts[0]!.signature }),
      { ok: false, reason: 'nonceStr: missing' },
    );
    assert.deepEqual(platformCalls(sim), { stable: 1, classic: 0, ticket: 0, cardTicket: 1, business: 0 });
  });
});
