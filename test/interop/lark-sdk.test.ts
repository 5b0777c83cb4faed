import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as lark from '@larksuiteoapi/node-sdk';
import { TokenHubClient } from '../../packages/client/src/index.js';
import { FeishuSim } from '../../src/sim/index.js';
import { startStack, type Stack } from '../helpers/stack.js';

const APP_ID = 'cli_sdk_interop';
const SECRET = 'sdk-interop-secret-0123456789';
const TOKEN_CALLS = 'tenant_access_token/internal';

const SILENT = { error() {}, warn() {}, info() {}, debug() {}, trace() {} };

/** The official SDK as tokenhub users configure it: no secret of its own, no token cache. */
function sdk(domain: string): lark.Client {
  return new lark.Client({
    appId: APP_ID,
    // The SDK insists on a secret; with disableTokenCache it never sends it anywhere.
    appSecret: 'not-needed-tokenhub-holds-it',
    domain,
    disableTokenCache: true,
    // The SDK logs a failed request whole, headers included, which hold the key or the token
    // (and it reads loggerLevel `fatal`, 0, as unset).
    logger: SILENT,
  });
}

const message = (text: string): Parameters<lark.Client['im']['message']['create']>[0] => ({
  params: { receive_id_type: 'chat_id' },
  data: { receive_id: 'oc_interop', msg_type: 'text', content: JSON.stringify({ text }) },
});

describe('@larksuiteoapi/node-sdk, unchanged', () => {
  let stack: Stack;
  let sim: FeishuSim;
  before(async () => {
    sim = new FeishuSim({ apps: [{ appId: APP_ID, appSecret: SECRET }] });
    // Tokens are revoked test after test within seconds: reports are not spaced out here.
    stack = await startStack({ sims: [sim], apps: { 'feishu-main': { platform: 'feishu', appId: APP_ID, appSecret: SECRET, baseUrl: 'sim:feishu', reportIntervalSeconds: 0 } } });
  });
  after(() => stack.close());

  it('sends withTenantToken(<client key>) as Authorization: Bearer <client key>', async () => {
    let seen: http.IncomingHttpHeaders | undefined;
    let url: string | undefined;
    const recorder = http.createServer((req, res) => {
      seen = req.headers;
      url = req.url;
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ code: 0, msg: 'success', data: {} }));
    });
    await new Promise<void>((r) => recorder.listen(0, '127.0.0.1', r));
    try {
      const base = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}/v1/proxy/feishu-main`;
      await sdk(base).im.message.create(message('x'), lark.withTenantToken(stack.key));
      assert.equal(seen?.authorization, `Bearer ${stack.key}`);
      assert.equal(url, '/v1/proxy/feishu-main/open-apis/im/v1/messages?receive_id_type=chat_id');
    } finally {
      recorder.close();
    }
  });

  it('through the proxy: sends messages, and survives a token revoked at the platform midway', async () => {
    const client = sdk(`${stack.url}/v1/proxy/feishu-main`);
    const first = await client.im.message.create(message('before'), lark.withTenantToken(stack.key));
    assert.equal(first.code, 0);
    assert.equal(first.data?.body?.content, JSON.stringify({ text: 'before' }));
    assert.equal(first.data?.chat_id, 'oc_interop');

    const current = (await stack.call('GET', '/v1/apps/feishu-main/tokens/tenant_access_token')).body.token;
    assert.ok(sim.revoke(current));
    const tokens = sim.counters.count(TOKEN_CALLS, APP_ID);
    const business = sim.counters.count('business');
    const second = await client.im.message.create(message('after'), lark.withTenantToken(stack.key));
    assert.equal(second.code, 0);
    assert.equal(second.data?.body?.content, JSON.stringify({ text: 'after' }));
    assert.equal(sim.counters.count('business') - business, 2, 'rejected once, then sent again');
    assert.equal(sim.counters.count(TOKEN_CALLS, APP_ID) - tokens, 1, 'one new token');
  });

  it('through the proxy: 20 concurrent cold SDK calls cost one token fetch', async () => {
    const fresh = new FeishuSim({ apps: [{ appId: APP_ID, appSecret: SECRET }] });
    const own = await startStack({ sims: [fresh], apps: { 'feishu-main': { platform: 'feishu', appId: APP_ID, appSecret: SECRET, baseUrl: 'sim:feishu' } } });
    try {
      const client = sdk(`${own.url}/v1/proxy/feishu-main`);
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => client.im.message.create(message(`m${i}`), lark.withTenantToken(own.key))));
      for (const a of answers) assert.equal(a.code, 0);
      assert.equal(fresh.counters.count(TOKEN_CALLS), 1);
    } finally {
      await own.close();
    }
  });

  it('with withTenantToken(await hub.getToken(…)), invalidating a rejected token as docs/clients.md shows', async () => {
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    const client = sdk(stack.sims.baseUrl('feishu'));
    const send = async (text: string): Promise<Awaited<ReturnType<typeof client.im.message.create>>> => {
      const token = await hub.getToken('feishu-main', 'tenant_access_token');
      try {
        return await client.im.message.create(message(text), lark.withTenantToken(token));
      } catch (err) {
        // The SDK throws axios' error for a non-2xx answer; Feishu's code is in the body.
        const code = (err as { response?: { data?: { code?: number } } }).response?.data?.code;
        if (code !== 99991663 && code !== 99991664 && code !== 99991665 && code !== 99991671 && code !== 99991677) throw err;
        const fresh = await hub.invalidate('feishu-main', 'tenant_access_token', token);
        return client.im.message.create(message(text), lark.withTenantToken(fresh));
      }
    };
    assert.equal((await send('one')).code, 0);
    sim.revoke(await hub.getToken('feishu-main', 'tenant_access_token'));
    const again = await send('two');
    assert.equal(again.code, 0);
    assert.equal(again.data?.body?.content, JSON.stringify({ text: 'two' }));
  });
});
