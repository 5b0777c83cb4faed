import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  DINGTALK_ENDPOINTS,
  DingTalkSim,
  FEISHU_ENDPOINTS,
  FeishuSim,
  WECHAT_ENDPOINTS,
  WECOM_ENDPOINTS,
  WeChatSim,
  WeComSim,
  startSimulators,
  type PlatformSim,
} from '../../src/sim/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { startHub, type RunningHub } from '../helpers/hubs.js';
import { deletePrefix, sharedRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const secret = (name: string): string => `${name}-${randomBytes(8).toString('hex')}`;

const WX = { appId: 'wx0jsapi0main', appSecret: secret('wx') };
const WX_CLASSIC = { appId: 'wx0jsapi0classic', appSecret: secret('wxc') };
const CORP = 'ww0jsapi0corp';
const WECOM = { corpId: CORP, corpSecret: secret('agent'), agentId: 1000002 };
const WECOM_B = { corpId: CORP, corpSecret: secret('agent-b'), agentId: 1000003 };
const DING = { appKey: 'ding0jsapi0v1', appSecret: secret('ding'), corpId: 'dingcorp0jsapi', agentId: '3000001' };
const DING_LEGACY = { appKey: 'ding0jsapi0legacy', appSecret: secret('dingl'), corpId: 'dingcorp0jsapi', agentId: '3000002' };
const FEISHU = { appId: 'cli_jsapi_custom', appSecret: secret('feishu') };

/** One platform's ticket: the token kind it is fetched with and the simulator's counter names. */
interface Case {
  app: string;
  kind: string;
  sim: () => PlatformSim;
  appKey: string;
  tokenEndpoint: string;
  ticketEndpoint: string;
}

describe('JS-SDK tickets and signatures', () => {
  let stack: Stack;
  let wechat: WeChatSim;
  let wecom: WeComSim;
  let dingtalk: DingTalkSim;
  let feishu: FeishuSim;

  before(async () => {
    wechat = new WeChatSim({ apps: [WX, WX_CLASSIC] });
    wecom = new WeComSim({ apps: [WECOM, WECOM_B] });
    dingtalk = new DingTalkSim({ apps: [DING, DING_LEGACY] });
    feishu = new FeishuSim({ apps: [FEISHU] });
    stack = await startStack({
      sims: [wechat, wecom, dingtalk, feishu],
      apps: {
        wechat: { platform: 'wechat', appId: WX.appId, appSecret: WX.appSecret, baseUrl: 'sim:wechat', jsapiUrls: ['https://app.example.com/*', 'http://mp.weixin.qq.com?params=value'] },
        'wechat-classic': { platform: 'wechat', tokenApi: 'classic', appId: WX_CLASSIC.appId, appSecret: WX_CLASSIC.appSecret, baseUrl: 'sim:wechat' },
        wecom: { platform: 'wecom', appId: CORP, appSecret: WECOM.corpSecret, agentId: WECOM.agentId, baseUrl: 'sim:wecom' },
        'wecom-b': { platform: 'wecom', appId: CORP, appSecret: WECOM_B.corpSecret, agentId: String(WECOM_B.agentId), baseUrl: 'sim:wecom' },
        dingtalk: { platform: 'dingtalk', appId: DING.appKey, appSecret: DING.appSecret, corpId: DING.corpId, agentId: DING.agentId, baseUrl: 'sim:dingtalk' },
        'dingtalk-legacy': { platform: 'dingtalk', api: 'legacy', appId: DING_LEGACY.appKey, appSecret: DING_LEGACY.appSecret, corpId: DING_LEGACY.corpId, agentId: DING_LEGACY.agentId, baseUrl: 'sim:dingtalk' },
        feishu: { platform: 'feishu', appId: FEISHU.appId, appSecret: FEISHU.appSecret, baseUrl: 'sim:feishu' },
      },
    });
  });
  after(() => stack.close());

  const cases: Case[] = [
    { app: 'wechat', kind: 'jsapi_ticket', sim: () => wechat, appKey: WX.appId, tokenEndpoint: WECHAT_ENDPOINTS.stable, ticketEndpoint: WECHAT_ENDPOINTS.ticket },
    { app: 'wechat-classic', kind: 'wx_card_ticket', sim: () => wechat, appKey: WX_CLASSIC.appId, tokenEndpoint: WECHAT_ENDPOINTS.classic, ticketEndpoint: WECHAT_ENDPOINTS.cardTicket },
    { app: 'wecom', kind: 'jsapi_ticket', sim: () => wecom, appKey: CORP, tokenEndpoint: WECOM_ENDPOINTS.token, ticketEndpoint: WECOM_ENDPOINTS.ticket },
    { app: 'wecom-b', kind: 'agent_jsapi_ticket', sim: () => wecom, appKey: CORP, tokenEndpoint: WECOM_ENDPOINTS.token, ticketEndpoint: WECOM_ENDPOINTS.agentTicket },
    { app: 'dingtalk', kind: 'jsapi_ticket', sim: () => dingtalk, appKey: DING.appKey, tokenEndpoint: DINGTALK_ENDPOINTS.v1, ticketEndpoint: DINGTALK_ENDPOINTS.v1Ticket },
    { app: 'dingtalk-legacy', kind: 'jsapi_ticket', sim: () => dingtalk, appKey: DING_LEGACY.appKey, tokenEndpoint: DINGTALK_ENDPOINTS.legacy, ticketEndpoint: DINGTALK_ENDPOINTS.legacyTicket },
    { app: 'feishu', kind: 'jsapi_ticket', sim: () => feishu, appKey: FEISHU.appId, tokenEndpoint: FEISHU_ENDPOINTS.tenant, ticketEndpoint: FEISHU_ENDPOINTS.ticket },
  ];

  /**
   * Calls at the simulator: this case's app at its token endpoint, and every call at its ticket
   * endpoint (one made with a revoked token names no app there). The tests run one at a time.
   */
  const calls = (c: Case): { token: number; ticket: number } => ({
    token: c.sim().counters.count(c.tokenEndpoint, c.appKey),
    ticket: c.sim().counters.count(c.ticketEndpoint),
  });

  const verify = async (platform: string, config: Record<string, unknown>): Promise<{ ok: boolean; reason?: string }> =>
    (await fetch(`${stack.sims.url}/_sim/${platform}/jsapi/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(config) })).json() as Promise<{ ok: boolean }>;

  describe('tickets are token kinds', () => {
    for (const c of cases) {
      it(`${c.app} ${c.kind}: 200 concurrent cold requests cost 1 token call and 1 ticket call; the ticket is the platform's`, async () => {
        const before = calls(c);
        const answers = await Promise.all(Array.from({ length: 200 }, () => stack.call('GET', `/v1/apps/${c.app}/tokens/${c.kind}`)));
        for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
        assert.equal(new Set(answers.map((a) => a.body.token)).size, 1);
        const ticket = answers[0]!.body.token as string;
        assert.equal(c.sim().isValid(ticket), true, 'the simulator issued this ticket');
        assert.ok(answers[0]!.body.expiresIn > 3600);
        const after = calls(c);
        assert.deepEqual({ token: after.token - before.token, ticket: after.ticket - before.ticket }, { token: 1, ticket: 1 });
        const listed = (await stack.call('GET', '/v1/apps')).body.apps.find((a: { id: string }) => a.id === c.app);
        assert.ok(listed.kinds.includes(c.kind));
        assert.ok(listed.tokens.some((t: { kind: string }) => t.kind === c.kind), '/v1/apps shows the ticket state');
        assert.ok(!JSON.stringify(listed).includes(ticket), 'never the ticket itself');
      });
    }

    it('a ticket kind the app does not have is 400 (the agent ticket is WeCom\'s, and needs agentId)', async () => {
      assert.equal((await stack.call('GET', '/v1/apps/dingtalk/tokens/agent_jsapi_ticket')).status, 400);
      assert.equal((await stack.call('GET', '/v1/apps/feishu/tokens/wx_card_ticket')).status, 400);
    });
  });

  describe('a revoked token behind a ticket', () => {
    for (const c of cases) {
      it(`${c.app}: the ticket call refused for the token costs exactly one token refetch and one ticket refetch, however many wait`, async () => {
        // A token tokenhub holds, revoked at the platform behind its back; then a ticket is needed.
        const token = (await stack.call('GET', `/v1/apps/${c.app}/tokens/${c.kind === 'jsapi_ticket' && c.app === 'feishu' ? 'tenant_access_token' : 'access_token'}`)).body.token as string;
        const ticket = (await stack.call('GET', `/v1/apps/${c.app}/tokens/${c.kind}`)).body.token as string;
        assert.equal(c.sim().revoke(token), true);
        assert.equal(c.sim().revoke(ticket), true);
        const before = calls(c);
        const answers = await Promise.all(Array.from({ length: 50 }, () => stack.call('POST', `/v1/apps/${c.app}/tokens/${c.kind}/invalidate`, { body: { token: ticket } })));
        for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
        const fresh = answers[0]!.body.token as string;
        assert.notEqual(fresh, ticket);
        assert.equal(c.sim().isValid(fresh), true);
        const after = calls(c);
        // The ticket endpoint is asked twice: refused for the revoked token, then answered with the new one.
        assert.deepEqual({ token: after.token - before.token, ticket: after.ticket - before.ticket }, { token: 1, ticket: 2 });
        const current = (await stack.call('GET', `/v1/apps/${c.app}/tokens/${c.app === 'feishu' ? 'tenant_access_token' : 'access_token'}`)).body.token as string;
        assert.notEqual(current, token, 'the revoked token was replaced by compare-and-refresh');
      });
    }
  });

  describe('signatures', () => {
    const sign = (app: string, body: Record<string, unknown>, key?: string) => stack.call('POST', `/v1/apps/${app}/jsapi/signature`, { body, ...(key ? { key } : {}) });

    for (const [app, platform, extra] of [
      ['wechat', 'wechat', {}],
      ['wecom', 'wecom', {}],
      ['wecom-b', 'wecom', { kind: 'agent_jsapi_ticket' }],
      ['dingtalk', 'dingtalk', {}],
      ['dingtalk-legacy', 'dingtalk', {}],
      ['feishu', 'feishu', {}],
    ] as const) {
      it(`${app}${'kind' in extra ? ` (${extra.kind})` : ''}: the page's config is accepted by the simulator's verifier`, async () => {
        const url = 'https://app.example.com/page?x=1&y=%E4%B8%AD';
        const res = await sign(app, { url: `${url}#/route?z=2`, ...extra });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.url, url, 'the fragment is not signed');
        assert.match(res.body.signature, /^[0-9a-f]{40}$/);
        const agent = res.body.call === 'wx.agentConfig';
        const verdict = await verify(platform, { ...res.body.config, url, ...(agent ? { api: 'agentConfig' } : {}) });
        assert.deepEqual(verdict, { ok: true });
        // And a tampered URL is refused by the same verifier: it does check.
        assert.equal((await verify(platform, { ...res.body.config, url: `${url}&evil=1`, ...(agent ? { api: 'agentConfig' } : {}) })).ok, false);
      });
    }

    it('each platform gets its own field names and timestamp unit (Feishu: milliseconds)', async () => {
      const now = Date.now();
      const feishuSig = (await sign('feishu', { url: 'https://app.example.com/' })).body;
      assert.equal(feishuSig.call, 'h5sdk.config');
      assert.ok(Math.abs(feishuSig.timestamp - now) < 5_000, `milliseconds: ${feishuSig.timestamp}`);
      assert.equal(feishuSig.appId, FEISHU.appId);
      const ding = (await sign('dingtalk', { url: 'https://app.example.com/' })).body;
      assert.deepEqual(Object.keys(ding.config), ['agentId', 'corpId', 'timeStamp', 'nonceStr', 'signature']);
      assert.ok(Math.abs(ding.timestamp - now / 1000) < 5, 'seconds');
      assert.deepEqual([ding.agentId, ding.corpId], [DING.agentId, DING.corpId]);
      const agent = (await sign('wecom-b', { url: 'https://app.example.com/', kind: 'agent_jsapi_ticket' })).body;
      assert.deepEqual([agent.config.corpid, agent.config.agentid, agent.appId, agent.agentId], [CORP, String(WECOM_B.agentId), CORP, String(WECOM_B.agentId)]);
      const wx = (await sign('wechat', { url: 'https://app.example.com/' })).body;
      assert.deepEqual(Object.keys(wx.config), ['appId', 'timestamp', 'nonceStr', 'signature']);
      assert.notEqual(wx.nonceStr, (await sign('wechat', { url: 'https://app.example.com/' })).body.nonceStr, 'a fresh nonce each time');
    });

    it('the URL of the documented test vector is signed as written (no slash added before the query)', async () => {
      const res = await sign('wechat', { url: 'http://mp.weixin.qq.com?params=value' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.url, 'http://mp.weixin.qq.com?params=value');
      assert.deepEqual(await verify('wechat', { ...res.body.config, url: 'http://mp.weixin.qq.com?params=value' }), { ok: true });
    });

    it('a URL that is not http(s) is 400, one outside jsapiUrls is 403, a bad body or kind is 400: no ticket is fetched for any', async () => {
      const before = wechat.counters.count();
      for (const url of ['javascript:alert(1)', 'ftp://app.example.com/x', 'file:///etc/passwd', 'not a url', '']) {
        const res = await sign('wechat', { url });
        assert.equal(res.status, 400, `${url}: ${JSON.stringify(res.body)}`);
      }
      for (const url of ['https://evil.example.com/', 'https://app.example.com.evil.com/', 'http://app.example.com/page']) {
        const res = await sign('wechat', { url });
        assert.equal(res.status, 403, url);
        assert.equal(res.body.error.code, 'TOKENHUB_URL_NOT_ALLOWED');
      }
      for (const body of [{}, { url: 'https://app.example.com/', extra: 1 }, { url: 'https://app.example.com/', kind: 'access_token' }, { url: 42 }]) {
        assert.equal((await sign('wechat', body)).status, 400, JSON.stringify(body));
      }
      assert.equal((await stack.call('POST', '/v1/apps/wechat/jsapi/signature', { body: 'not json', headers: { 'content-type': 'application/json' } })).status, 400);
      assert.equal((await sign('nope', { url: 'https://app.example.com/' })).status, 404);
      assert.equal((await sign('wechat', { url: 'https://app.example.com/' }, 'wrong-key-0123456789abcdef')).status, 401);
      assert.equal(wechat.counters.count(), before, 'no upstream call for any of them');
    });

    it('1000 concurrent signature requests on a cold app cost one token fetch and one ticket fetch', async () => {
      const app = { appId: 'wx0cold0signatures', appSecret: secret('cold') };
      const sim = new WeChatSim({ apps: [app] });
      const cold = await startStack({ sims: [sim], apps: { cold: { platform: 'wechat', ...app, baseUrl: 'sim:wechat' } } });
      try {
        const answers = await Promise.all(
          Array.from({ length: 1000 }, (_, i) => cold.call('POST', '/v1/apps/cold/jsapi/signature', { body: { url: `https://app.example.com/p/${i % 10}` } })),
        );
        for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
        assert.equal(sim.counters.count(WECHAT_ENDPOINTS.stable, app.appId), 1);
        assert.equal(sim.counters.count(WECHAT_ENDPOINTS.ticket, app.appId), 1);
        const sample = answers[7]!.body;
        assert.deepEqual(await (await fetch(`${cold.sims.url}/_sim/wechat/jsapi/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...sample.config, url: sample.url }) })).json(), { ok: true });
        // Cached from now on: another 200 cost nothing.
        await Promise.all(Array.from({ length: 200 }, () => cold.call('POST', '/v1/apps/cold/jsapi/signature', { body: { url: 'https://app.example.com/' } })));
        assert.equal(sim.counters.count(), 2);
      } finally {
        await cold.close();
      }
    });

    it('tokenhub/client: jsapiSignature against tokenhub, 100 concurrent calls for one page in one request', async () => {
      const { TokenHubClient } = await import('../../packages/client/src/index.js');
      const client = new TokenHubClient({ url: stack.url, key: stack.key });
      const page = 'https://app.example.com/client-page?x=1';
      const signatures = await Promise.all(Array.from({ length: 100 }, () => client.jsapiSignature('wecom-b', `${page}#hash`, { kind: 'agent_jsapi_ticket' })));
      assert.equal(new Set(signatures.map((s) => s.signature)).size, 1, 'one request, one signature');
      const [s] = signatures;
      assert.equal(s!.url, page);
      assert.deepEqual(await verify('wecom', { ...(s!.config as Record<string, unknown>), url: page, api: 'agentConfig' }), { ok: true });
      const refused = await client.jsapiSignature('wechat', 'https://evil.example.com/').catch((err: unknown) => err);
      assert.equal((refused as { code?: string }).code, 'TOKENHUB_URL_NOT_ALLOWED');
      assert.equal((refused as { status?: number }).status, 403);
    });

    it('each client has a budget of signatures: over it 429 with Retry-After, the others untouched', async () => {
      const key = `sign-limited-${randomBytes(12).toString('hex')}`;
      const limited = await startStack({
        sims: [new WeChatSim({ apps: [WX] })],
        apps: { wechat: { platform: 'wechat', ...WX, baseUrl: 'sim:wechat' } },
        config: { clients: [{ name: 'pages', key, apps: ['wechat'], signaturesPerMinute: 5 }] },
      });
      try {
        const statuses = [];
        for (let i = 0; i < 7; i++) statuses.push((await limited.call('POST', '/v1/apps/wechat/jsapi/signature', { key, body: { url: 'https://app.example.com/' } })).status);
        assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429]);
        const over = await limited.call('POST', '/v1/apps/wechat/jsapi/signature', { key, body: { url: 'https://app.example.com/' } });
        assert.ok(Number(over.headers['retry-after']) >= 1);
        assert.equal(over.body.error.code, 'TOKENHUB_RATE_LIMITED');
        assert.equal((await limited.call('POST', '/v1/apps/wechat/jsapi/signature', { body: { url: 'https://app.example.com/' } })).status, 200, 'another client');
      } finally {
        await limited.close();
      }
    });

    it('WeChat card signatures: addCard and chooseCard, accepted by the verifier', async () => {
      const add = await stack.call('POST', '/v1/apps/wechat/jsapi/card-signature', { body: { cardId: 'pCardA', code: '1102', openid: 'oUser' } });
      assert.equal(add.status, 200, JSON.stringify(add.body));
      assert.equal(add.body.kind, 'wx_card_ticket');
      const ext = JSON.parse(add.body.cardExt) as Record<string, string>;
      assert.equal(ext.signature, add.body.cardSign);
      const card = { api: 'cardSign', appId: WX.appId, timestamp: add.body.timestamp, nonceStr: add.body.nonceStr, cardId: 'pCardA', code: '1102', openid: 'oUser', cardSign: add.body.cardSign };
      assert.deepEqual(await verify('wechat', card), { ok: true });
      assert.equal((await verify('wechat', { ...card, code: '1103' })).ok, false, 'the verifier checks the fields');
      const choose = await stack.call('POST', '/v1/apps/wechat/jsapi/card-signature', { body: { for: 'chooseCard', cardType: 'GROUPON' } });
      assert.equal(choose.status, 200, JSON.stringify(choose.body));
      assert.match(choose.body.cardSign, /^[0-9a-f]{40}$/);
      assert.equal((await stack.call('POST', '/v1/apps/wechat/jsapi/card-signature', { body: {} })).status, 400, 'addCard needs cardId');
      assert.equal((await stack.call('POST', '/v1/apps/feishu/jsapi/card-signature', { body: { cardId: 'x' } })).status, 400, 'no cards off WeChat');
    });
  });
});

describe('WeCom ticket quotas', () => {
  const REPORTS = 120;

  it('a flood of ticket reports never takes the app past its hourly budget: the reported ticket is served on instead', async () => {
    const app = { corpId: 'ww0quota0corp', corpSecret: secret('q'), agentId: 1000009 };
    const sim = new WeComSim({ apps: [app] });
    const stack = await startStack({ sims: [sim], apps: { q: { platform: 'wecom', appId: app.corpId, appSecret: app.corpSecret, agentId: app.agentId, baseUrl: 'sim:wecom', reportIntervalSeconds: 0 } } });
    try {
      let ticket = (await stack.call('GET', '/v1/apps/q/tokens/jsapi_ticket')).body.token as string;
      const statuses: number[] = [];
      for (let i = 0; i < REPORTS; i++) {
        const res = await stack.call('POST', '/v1/apps/q/tokens/jsapi_ticket/invalidate', { body: { token: ticket } });
        statuses.push(res.status);
        ticket = res.body.token;
      }
      assert.ok(statuses.every((s) => s === 200), `every caller had a ticket: ${[...new Set(statuses)].join(',')}`);
      const fetched = sim.counters.count(WECOM_ENDPOINTS.ticket, app.corpId);
      // 100 an hour, counted as sliding: 50 per fixed hour, of which reports may use half.
      assert.ok(fetched <= 26, `${fetched} ticket calls`);
      assert.ok(fetched >= 20, `the budget is used, not refused outright: ${fetched}`);
      const last = await stack.call('POST', '/v1/apps/q/tokens/jsapi_ticket/invalidate', { body: { token: ticket } });
      assert.equal(last.headers['x-tokenhub-warning'], 'reported-token');
    } finally {
      await stack.close();
    }
  });

  it('three instances on one Redis together stay within the budget, and no call is answered 45009', async () => {
    const app = { corpId: 'ww0quota0shared', corpSecret: secret('shared'), agentId: 1000010 };
    const sim = new WeComSim({ apps: [app] });
    const sims = await startSimulators({ sims: [sim] });
    const url = await sharedRedisUrl();
    const prefix = uniquePrefix();
    const apps = { q: { platform: 'wecom', appId: app.corpId, appSecret: app.corpSecret, agentId: app.agentId, baseUrl: sims.baseUrl('wecom'), reportIntervalSeconds: 0 } };
    const key = `shared-${randomBytes(12).toString('hex')}`;
    const hubs: RunningHub[] = [];
    try {
      for (let i = 0; i < 3; i++) hubs.push(await startHub({ apps, key, store: new RedisStore({ url, keyPrefix: prefix, encryption: 'none' }) }));
      // Every instance floods reports of whatever ticket it holds.
      await Promise.all(
        hubs.map(async (hub) => {
          let ticket = (await hub.call('GET', '/v1/apps/q/tokens/agent_jsapi_ticket')).body.token as string;
          for (let i = 0; i < REPORTS / 2; i++) {
            const res = await hub.call('POST', '/v1/apps/q/tokens/agent_jsapi_ticket/invalidate', { token: ticket });
            assert.equal(res.status, 200, JSON.stringify(res.body));
            ticket = res.body.token;
          }
        }),
      );
      const fetched = sim.counters.count(WECOM_ENDPOINTS.agentTicket, app.corpId);
      assert.ok(fetched <= 26, `${fetched} ticket calls by three instances: the budget is counted together`);
      await eventually(async () => (await hubs[0]!.call('GET', '/v1/apps/q/tokens/agent_jsapi_ticket')).status === 200);
    } finally {
      await Promise.all(hubs.map((h) => h.close()));
      await sims.close();
      await deletePrefix(url, prefix);
    }
  });
});
