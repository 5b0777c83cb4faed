// A tenant's cancellation or re-authorization, pushed to one instance, reaches every instance on
// the same Redis at once: none serves a token of the old authorization from memory.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WECHAT_COMPONENT_ENDPOINTS, WECOM_SUITE_ENDPOINTS, WeChatComponentSim, WeComSuiteSim, startSimulators } from '../../src/sim/index.js';
import { startHub, type RunningHub } from '../helpers/hubs.js';
import { deletePrefix, sharedRedisUrl, uniquePrefix } from '../helpers/redis.js';

const key = `test-${randomBytes(16).toString('hex')}`;
const storeKey = randomBytes(32).toString('base64');

interface Three {
  hubs: RunningHub[];
  close(): Promise<void>;
}

/**
 * The simulator, and three hubs on one Redis (a prefix of their own) with its app `id`; the
 * platform pushes to one URL, which a load balancer gives to hub A here; a ticket pushed.
 */
async function threeHubs(sim: WeComSuiteSim | WeChatComponentSim, id: string, app: (baseUrl: string) => Record<string, unknown>): Promise<Three> {
  const sims = await startSimulators({ sims: [sim] });
  const url = await sharedRedisUrl();
  const prefix = uniquePrefix();
  const hubs: RunningHub[] = [];
  const apps = { [id]: app(sims.baseUrl(sim.platform)) };
  for (let i = 0; i < 3; i++) hubs.push(await startHub({ apps, key, config: { store: { type: 'redis', url, keyPrefix: prefix, encryptionKey: storeKey } } }));
  sim.setEventUrl(`${hubs[0]!.url}/v1/apps/${id}/events`);
  assert.equal((await sim.pushTicket()).delivered, true);
  return {
    hubs,
    async close() {
      for (const hub of hubs) await hub.close();
      await sims.close();
      await deletePrefix(url, prefix);
    },
  };
}

/** Every hub serves each of `paths` (so holds it in memory): the one token of the first path, fetched for all. */
async function servedEverywhere(three: Three, paths: string[]): Promise<string> {
  const tokens = new Set<string>();
  for (const hub of three.hubs) {
    for (const [i, path] of paths.entries()) {
      const answer = await hub.call('GET', path);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      if (i === 0) tokens.add(answer.body.token);
    }
  }
  assert.equal(tokens.size, 1);
  return [...tokens][0]!;
}

describe('a cancellation or re-authorization pushed to one instance, on every instance at once', () => {
  describe('WeCom suite', () => {
    const s = { suiteId: 'wwsuite_forget', suiteSecret: `suite-secret-${randomBytes(6).toString('hex')}`, token: 'token-forget', encodingAESKey: 'c'.repeat(43) };
    const sim = new WeComSuiteSim({ apps: [s], providerCorpId: 'wwprovider_forget', ticketPushIntervalSeconds: 0 });
    let three: Three;
    const path = (kind: string, corp: string) => `/v1/apps/suite/tokens/${kind}?tenant_key=${corp}`;
    const corpCalls = (corp: string) => sim.counters.count(WECOM_SUITE_ENDPOINTS.corpToken, corp);

    before(async () => {
      three = await threeHubs(sim, 'suite', (baseUrl) => ({ platform: 'wecom', appType: 'suite', appId: s.suiteId, appSecret: s.suiteSecret, token: s.token, encodingAESKey: s.encodingAESKey, baseUrl }));
    });
    after(() => three.close());

    /** Every hub holds the corp's token and ticket in memory, one of each fetched for all. */
    async function cachedEverywhere(corp: string): Promise<string> {
      assert.equal((await sim.createAuth(corp)).delivered, true);
      const token = await servedEverywhere(three, [path('access_token', corp), path('jsapi_ticket', corp)]);
      assert.equal(corpCalls(corp), 1);
      return token;
    }

    it('cancel_auth pushed to A: B and C answer 404 for the corp at once, with no call to WeCom', async () => {
      await cachedEverywhere('wwforget_cancel');
      const tickets = sim.counters.count(WECOM_SUITE_ENDPOINTS.ticket);
      assert.equal((await sim.cancelAuth('wwforget_cancel')).delivered, true);
      for (const hub of three.hubs.slice(1)) {
        for (const kind of ['access_token', 'jsapi_ticket']) {
          const answer = await hub.call('GET', path(kind, 'wwforget_cancel'));
          assert.equal(answer.status, 404, `${kind} after the cancel: ${JSON.stringify(answer.body)}`);
          assert.equal(answer.body.error.code, 'TOKENHUB_GRANT_NOT_FOUND');
        }
      }
      assert.equal(corpCalls('wwforget_cancel'), 1, 'WeCom was asked for the cancelled corp');
      assert.equal(sim.counters.count(WECOM_SUITE_ENDPOINTS.ticket), tickets);
    });

    it('a permanent code reset pushed to A (the old tokens killed by WeCom): B and C serve one new token, fetched with the new code', async () => {
      const old = await cachedEverywhere('wwforget_reset');
      const oldCode = sim.permanentCodeOf('wwforget_reset');
      assert.equal((await sim.resetPermanentCode('wwforget_reset')).delivered, true);
      assert.notEqual(sim.permanentCodeOf('wwforget_reset'), oldCode);
      // As a platform that kills the tokens of the old code.
      sim.revoke(old);
      const served = new Set<string>();
      for (const hub of three.hubs.slice(1)) {
        const answer = await hub.call('GET', path('access_token', 'wwforget_reset'));
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        served.add(answer.body.token);
      }
      assert.equal(served.size, 1);
      const [now] = served;
      assert.notEqual(now, old, 'a token of the old code served');
      assert.ok(sim.isValid(now!));
      assert.equal(corpCalls('wwforget_reset'), 2, 'one new corp token for every instance');
    });

    it('a corp authorized anew by its install code on B, while A and C held a token of its cancelled authorization', async () => {
      await cachedEverywhere('wwforget_again');
      // The cancel reaches nobody (the URL was down), then the corp installs again through the redirect, on B.
      sim.setEventUrl(undefined);
      await sim.cancelAuth('wwforget_again');
      const { authCode } = await sim.createAuth('wwforget_again');
      sim.setEventUrl(`${three.hubs[0]!.url}/v1/apps/suite/events`);
      assert.equal((await three.hubs[1]!.call('POST', '/v1/apps/suite/authorizations', { code: authCode })).status, 201);
      for (const hub of [three.hubs[0]!, three.hubs[2]!]) {
        const answer = await hub.call('GET', path('access_token', 'wwforget_again'));
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        assert.ok(sim.isValid(answer.body.token), 'a token of the cancelled authorization served');
      }
      assert.equal(corpCalls('wwforget_again'), 2);
    });
  });

  describe('WeChat component', () => {
    const c = { appId: 'wxcomp_forget', appSecret: `component-secret-${randomBytes(6).toString('hex')}`, token: 'component-token-forget', encodingAESKey: 'd'.repeat(43) };
    const sim = new WeChatComponentSim({ apps: [c], ticketPushIntervalSeconds: 0 });
    let three: Three;
    const path = (a: string) => `/v1/apps/open/tokens/authorizer_access_token?tenant_key=${a}`;
    const calls = (a: string) => sim.counters.count(WECHAT_COMPONENT_ENDPOINTS.authorizerToken, a);

    before(async () => {
      three = await threeHubs(sim, 'open', (baseUrl) => ({ platform: 'wechat', appType: 'component', ...c, baseUrl }));
    });
    after(() => three.close());

    async function cachedEverywhere(a: string): Promise<string> {
      assert.equal((await sim.authorize(a)).delivered, true);
      const token = await servedEverywhere(three, [path(a)]);
      assert.equal(calls(a), 1);
      return token;
    }

    it('unauthorized pushed to A: B and C answer 404 for the authorizer at once, with no call to the platform', async () => {
      await cachedEverywhere('wxforget_gone');
      assert.equal((await sim.unauthorize('wxforget_gone')).delivered, true);
      for (const hub of three.hubs.slice(1)) {
        const answer = await hub.call('GET', path('wxforget_gone'));
        assert.equal(answer.status, 404, JSON.stringify(answer.body));
        assert.equal(answer.body.error.code, 'TOKENHUB_GRANT_NOT_FOUND');
      }
      assert.equal(calls('wxforget_gone'), 1);
    });

    it('updateauthorized pushed to A (the old token killed): B and C serve one new token from the new grant', async () => {
      const old = await cachedEverywhere('wxforget_re');
      assert.equal((await sim.reauthorize('wxforget_re')).delivered, true);
      sim.revoke(old);
      const served = new Set<string>();
      for (const hub of three.hubs.slice(1)) {
        const answer = await hub.call('GET', path('wxforget_re'));
        assert.equal(answer.status, 200, JSON.stringify(answer.body));
        served.add(answer.body.token);
      }
      assert.equal(served.size, 1);
      assert.ok(sim.isValid([...served][0]!), 'a token of the old authorization served');
      assert.equal(calls('wxforget_re'), 2);
    });
  });
});
