import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, mock } from 'node:test';
import { TokenHubClient } from '../../packages/client/src/index.js';
import { FeishuSim } from '../../src/sim/index.js';
import { sleep, startStack, type Stack } from '../helpers/stack.js';
import { rejects } from '../helpers/client-errors.js';

const SECRET = 'client-test-secret-0123456789';
const KIND = 'tenant_access_token';
const TOKEN_CALLS = 'tenant_access_token/internal';

function stackWith(sim: FeishuSim, apps: Record<string, Record<string, unknown>> = {}): Promise<Stack> {
  return startStack({
    sims: [sim],
    // The tests revoke the token again and again within seconds: reports are not spaced out here.
    apps: { main: { platform: 'feishu', appId: 'cli_client', appSecret: SECRET, baseUrl: 'sim:feishu', reportIntervalSeconds: 0 }, ...apps },
    config: { clients: [{ name: 'limited', key: 'limited-client-key-0123456789', apps: ['main'] }] },
  });
}

/** Requests to tokenhub's token API for `app`, counted by tokenhub itself. */
async function tokenRequests(stack: Stack, app: string): Promise<number> {
  const text: string = (await stack.call('GET', '/metrics')).body;
  let sum = 0;
  for (const m of text.matchAll(/^tokenhub_token_requests_total\{app="([^"]+)",outcome="[^"]+"\} (\d+)$/gm)) if (m[1] === app) sum += Number(m[2]);
  return sum;
}


describe('TokenHubClient against tokenhub', () => {
  let stack: Stack;
  let sim: FeishuSim;
  before(async () => {
    sim = new FeishuSim({
      apps: [
        { appId: 'cli_client', appSecret: SECRET },
        { appId: 'cli_wrong', appSecret: 'the-platform-knows-another' },
        { appId: 'cli_spare', appSecret: SECRET },
      ],
    });
    stack = await stackWith(sim, {
      wrong: { platform: 'feishu', appId: 'cli_wrong', appSecret: 'a-wrong-secret-for-this-app', baseUrl: 'sim:feishu' },
      spare: { platform: 'feishu', appId: 'cli_spare', appSecret: SECRET, baseUrl: 'sim:feishu' },
    });
  });
  after(() => stack.close());

  it('100 concurrent getToken calls make one request to tokenhub and one to the platform', async () => {
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    const before = await tokenRequests(stack, 'main');
    const tokens = await Promise.all(Array.from({ length: 100 }, () => hub.getToken('main', KIND)));
    assert.equal(new Set(tokens).size, 1);
    assert.ok(sim.isValid(tokens[0]!));
    assert.equal((await tokenRequests(stack, 'main')) - before, 1);
    assert.equal(sim.counters.count(TOKEN_CALLS, 'cli_client'), 1);
    // And later calls are served from the client's cache.
    for (let i = 0; i < 10; i++) assert.equal(await hub.getToken('main', KIND), tokens[0]);
    assert.equal((await tokenRequests(stack, 'main')) - before, 1);
  });

  it('without a kind, uses the app default kind (one app listing, then the token)', async () => {
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    const before = await tokenRequests(stack, 'main');
    const infos = await Promise.all(Array.from({ length: 20 }, () => hub.getTokenInfo('main')));
    assert.equal(infos[0]!.kind, KIND);
    assert.equal(infos[0]!.platform, 'feishu');
    assert.equal(infos[0]!.token, await hub.getToken('main', KIND));
    assert.ok(infos[0]!.expiresAt - Date.now() > 7000_000);
    assert.equal((await tokenRequests(stack, 'main')) - before, 1);
    const apps = await hub.apps();
    assert.deepEqual(apps.map((a) => [a.id, a.defaultKind]), [['main', KIND], ['wrong', KIND], ['spare', KIND]]);
  });

  it('minTtl beyond what the cache holds asks tokenhub, and tokenhub says when it cannot be met', async () => {
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    await hub.getToken('main', KIND);
    const before = await tokenRequests(stack, 'main');
    await hub.getToken('main', KIND, { minTtl: 600 });
    assert.equal((await tokenRequests(stack, 'main')) - before, 0, 'the cached token had enough left');
    await rejects(hub.getToken('main', KIND, { minTtl: 7300 }), { code: 'TOKENHUB_BAD_REQUEST', status: 400 });
  });

  it('invalidate: 50 concurrent reports of a revoked token make one request and yield the new token', async () => {
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    const old = await hub.getToken('main', KIND);
    assert.ok(sim.revoke(old));
    const before = await tokenRequests(stack, 'main');
    const platformBefore = sim.counters.count(TOKEN_CALLS, 'cli_client');
    const fresh = await Promise.all(Array.from({ length: 50 }, () => hub.invalidate('main', KIND, old)));
    assert.equal(new Set(fresh).size, 1);
    assert.notEqual(fresh[0], old);
    assert.ok(sim.isValid(fresh[0]!));
    assert.equal((await tokenRequests(stack, 'main')) - before, 1);
    assert.equal(sim.counters.count(TOKEN_CALLS, 'cli_client') - platformBefore, 1);
    // The cache now holds the new token; reporting the old one again costs nothing.
    assert.equal(await hub.getToken('main', KIND), fresh[0]);
    assert.equal(await hub.invalidate('main', KIND, old), fresh[0]);
    assert.equal((await tokenRequests(stack, 'main')) - before, 1);
  });

  it('another client reporting a token this client already replaced gets the current one from tokenhub', async () => {
    const a = new TokenHubClient({ url: stack.url, key: stack.key });
    const b = new TokenHubClient({ url: stack.url, key: stack.key });
    const old = await a.getToken('main', KIND);
    sim.revoke(old);
    const fresh = await a.invalidate('main', undefined, old);
    const platformBefore = sim.counters.count(TOKEN_CALLS, 'cli_client');
    assert.equal(await b.invalidate('main', KIND, old), fresh);
    assert.equal(sim.counters.count(TOKEN_CALLS, 'cli_client'), platformBefore, 'compare-and-refresh fetched again');
  });

  it('fetch goes through the proxy: a revoked token is refreshed and the call sent once more', async () => {
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    sim.revoke(await hub.getToken('main', KIND));
    const business = sim.counters.count('business');
    const content = JSON.stringify({ text: 'hello' });
    const res = await hub.fetch('main', 'https://open.feishu.cn/open-apis/im/v1/messages?receive_id_type=chat_id', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ receive_id: 'oc_9', msg_type: 'text', content }),
    });
    assert.equal(res.status, 200);
    const answer = (await res.json()) as any;
    assert.equal(answer.code, 0);
    assert.equal(answer.data.chat_id, 'oc_9');
    assert.equal(answer.data.body.content, content);
    assert.equal(sim.counters.count('business') - business, 2);
  });

  it("fetch answers the platform's own errors as responses and throws tokenhub's", async () => {
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    const res = await hub.fetch('main', '/open-apis/contact/v3/users/ou_1', { kind: 'app_access_token' });
    assert.equal(res.status, 200, 'an app token is accepted too');
    await rejects(hub.fetch('nope', '/open-apis/contact/v3/users/ou_1'), { code: 'TOKENHUB_APP_NOT_FOUND', status: 404 });
    await rejects(hub.fetch('main', '/open-apis/x', { tenantKey: 't1' }), { code: 'TOKENHUB_BAD_REQUEST', status: 400 });
    assert.throws(() => new TokenHubClient({ url: 'ftp://x', key: 'k' }), /url/);
    await assert.rejects(hub.fetch('main', 'not a url'), TypeError);
  });

  it("errors carry tokenhub's code, status, platform and platform code, never the key", async () => {
    await rejects(new TokenHubClient({ url: stack.url, key: 'not-a-key-of-anyone' }).getToken('main', KIND), { code: 'TOKENHUB_UNAUTHORIZED', status: 401 });
    const limited = new TokenHubClient({ url: stack.url, key: 'limited-client-key-0123456789' });
    await rejects(limited.getToken('wrong', KIND), { code: 'TOKENHUB_FORBIDDEN', status: 403 });
    await rejects(limited.getToken('wrong'), { code: 'TOKENHUB_APP_NOT_FOUND', status: 404 });
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    await rejects(hub.getToken('nope', KIND), { code: 'TOKENHUB_APP_NOT_FOUND', status: 404 });
    await rejects(hub.getToken('main', 'access_token'), { code: 'TOKENHUB_UNKNOWN_KIND', status: 400 });
    const refused = await rejects(hub.getToken('wrong', KIND), { code: 'TOKENHUB_PLATFORM_REFUSED', status: 502, platform: 'feishu', platformCode: 10014 });
    assert.ok(!refused.message.includes(stack.key));
  });

  it('503 with Retry-After when the platform is down and no token is at hand', async () => {
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    sim.faults.set('status500');
    try {
      const err = await rejects(hub.getToken('spare', KIND), { code: 'TOKENHUB_PLATFORM_UNAVAILABLE', status: 503, platform: 'feishu' });
      assert.ok(err.retryAfter !== undefined && err.retryAfter >= 1);
    } finally {
      sim.faults.set('none');
    }
  });
});

describe('TokenHubClient when tokenhub fails', () => {
  const servers: http.Server[] = [];
  const serve = async (handler: http.RequestListener): Promise<string> => {
    const server = http.createServer(handler);
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  };
  after(() => {
    for (const s of servers) s.closeAllConnections();
    return Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  it('unreachable, timed out, or answering something else: a client code, the key nowhere', async () => {
    const key = 'a-client-key-that-must-stay-secret';
    const down = await serve(() => {});
    servers.pop()!.close();
    await sleep(50);
    const err = await rejects(new TokenHubClient({ url: down, key }).getToken('main', KIND), { code: 'TOKENHUB_CLIENT_UNREACHABLE', status: undefined });
    assert.match(err.message, /ECONNREFUSED/);

    const hang = await serve(() => {});
    await rejects(new TokenHubClient({ url: hang, key, timeoutMs: 200 }).getToken('main', KIND), { code: 'TOKENHUB_CLIENT_TIMEOUT' });

    const html = await serve((_req, res) => res.writeHead(502, { 'content-type': 'text/html', 'retry-after': '7' }).end('<html>Bad Gateway</html>'));
    const bad = await rejects(new TokenHubClient({ url: html, key }).getToken('main', KIND), { code: 'TOKENHUB_CLIENT_BAD_RESPONSE', status: 502, retryAfter: 7 });
    for (const e of [err, bad]) assert.ok(!e.message.includes(key));
  });
});

describe('TokenHubClient cache lifetime (the clock mocked)', () => {
  let stack: Stack;
  before(async () => {
    stack = await stackWith(new FeishuSim({ apps: [{ appId: 'cli_client', appSecret: SECRET }] }));
  });
  after(() => {
    mock.timers.reset();
    return stack.close();
  });

  it('serves the cached token until 10% of its lifetime is left, then asks again; serves it while tokenhub is down', async () => {
    mock.timers.enable({ apis: ['Date'], now: Date.now() });
    const hub = new TokenHubClient({ url: stack.url, key: stack.key });
    const before = await tokenRequests(stack, 'main');
    const token = await hub.getToken('main', KIND);
    // The platform said 7200 s (tokenhub answers 7199 or 7200): ask again with less than 720 s left.
    mock.timers.tick((7199 - 720 - 30) * 1000);
    assert.equal(await hub.getToken('main', KIND), token);
    assert.equal((await tokenRequests(stack, 'main')) - before, 1);
    mock.timers.tick(60_000);
    await hub.getToken('main', KIND);
    assert.equal((await tokenRequests(stack, 'main')) - before, 2);

    // tokenhub gone: a token that is due for a refresh but still has a while left is served rather than an error.
    const info = await hub.getTokenInfo('main', KIND);
    mock.timers.tick(info.expiresAt - Date.now() - 50_000);
    await stack.hub.close();
    assert.equal(await hub.getToken('main', KIND), info.token);
    await rejects(hub.getToken('main', KIND, { minTtl: 60 }), { code: 'TOKENHUB_CLIENT_UNREACHABLE' });
  });
});
