// hub.jsapiSignature and hub.cardSignature against a small local server that answers as
// CONTRACT.md says tokenhub's `POST /v1/apps/{app}/jsapi/signature` and `…/jsapi/card-signature`
// do. The route is not on this branch yet: an end-to-end test against tokenhub itself (the real
// route, a simulator's ticket) comes with the server route.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { TokenHubClient, TokenHubClientError, type CardSignature, type JsapiSignature } from '../../packages/client/src/index.js';
import { eventually } from '../helpers/stack.js';
import { rejects } from '../helpers/client-errors.js';

const KEY = 'jsapi-test-client-key-0123456789';
const TICKET = 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg';
const CARD_TICKET = 'IpK_1T69hDhZkLQTlwsAX-card-ticket';
const ALLOWED = 'https://app.example.com/';

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: any;
}

/** tokenhub's two signature routes as the contract describes them, counting what reaches it. */
class FakeTokenhub {
  readonly requests: Seen[] = [];
  /** Requests whose caller went away before they were answered. */
  abandoned = 0;
  /** While set, answers wait for it. */
  hold: Promise<void> | undefined;
  #clock = 1_764_600_000;
  readonly #server = http.createServer((req, res) => void this.#handle(req, res));

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let text = '';
    for await (const chunk of req) text += String(chunk);
    const seen: Seen = {
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: req.headers.authorization,
      contentType: req.headers['content-type'],
      body: text === '' ? undefined : JSON.parse(text),
    };
    this.requests.push(seen);
    res.on('close', () => {
      if (!res.writableEnded) this.abandoned++;
    });
    await new Promise((r) => setTimeout(r, 20));
    await this.hold;
    if (res.destroyed) return;
    const [status, answer, headers = {}] = this.#answer(seen);
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(typeof answer === 'string' ? answer : JSON.stringify(answer));
  }

  #answer({ method, path, authorization, body }: Seen): [number, unknown, Record<string, string>?] {
    if (authorization !== `Bearer ${KEY}`) return [401, error('TOKENHUB_UNAUTHORIZED', 'no or unknown client key')];
    const route = /^\/v1\/apps\/([^/]+)\/jsapi\/(signature|card-signature)$/.exec(path);
    if (method !== 'POST' || !route) return [404, error('TOKENHUB_NOT_FOUND', 'no such route')];
    const app = decodeURIComponent(route[1]!);
    if (app === 'busy') return [429, error('TOKENHUB_RATE_LIMITED', 'client over its budget of signatures'), { 'retry-after': '12' }];
    if (app === 'down') return [503, error('TOKENHUB_PLATFORM_UNAVAILABLE', 'wecom unreachable', 'wecom'), { 'retry-after': '5' }];
    if (app === 'garbled') return [200, '<html>not tokenhub</html>'];
    const timestamp = this.#clock++;
    const nonceStr = randomBytes(8).toString('hex');
    if (route[2] === 'card-signature') {
      const values = [CARD_TICKET, String(timestamp), nonceStr, ...Object.values(body as Record<string, unknown>).map(String)].sort();
      return [200, { app, platform: 'wechat', kind: 'wx_card_ticket', timestamp, nonceStr, cardSign: sha1(values.join('')), ...body }];
    }
    const url = String(body?.url).split('#')[0]!;
    if (!/^https?:\/\//i.test(url)) return [400, error('TOKENHUB_BAD_REQUEST', 'url: expected an http(s) URL')];
    if (!url.startsWith(ALLOWED)) return [403, error('TOKENHUB_FORBIDDEN', 'url is outside the app jsapiUrls')];
    const kind = body.kind ?? 'jsapi_ticket';
    const signature = sha1(`jsapi_ticket=${TICKET}&noncestr=${nonceStr}&timestamp=${timestamp}&url=${url}`);
    return [
      200,
      {
        app,
        platform: 'wecom',
        kind,
        appId: 'ww_corp',
        url,
        timestamp,
        nonceStr,
        signature,
        ...(kind === 'agent_jsapi_ticket' ? { agentId: '1000002' } : {}),
        ...(body.tenant_key === undefined ? {} : { tenantKey: body.tenant_key }),
      },
    ];
  }
}

function error(code: string, message: string, platform?: string): unknown {
  return { error: { code, message, ...(platform === undefined ? {} : { platform }) } };
}

const SIGNATURE = '/v1/apps/wecom-main/jsapi/signature';


function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('hub.jsapiSignature', () => {
  const fake = new FakeTokenhub();
  let base: string;
  let hub: TokenHubClient;
  before(async () => {
    base = await fake.listen();
    hub = new TokenHubClient({ url: base, key: KEY });
  });
  beforeEach(() => {
    fake.requests.length = 0;
    fake.abandoned = 0;
    fake.hold = undefined;
  });
  after(() => fake.close());

  it('POSTs {url, kind, tenant_key} to /v1/apps/{app}/jsapi/signature and answers the signature', async () => {
    const sig: JsapiSignature = await hub.jsapiSignature('wecom-main', 'https://app.example.com/page?x=1#frag', {
      kind: 'agent_jsapi_ticket',
      tenantKey: 'ww_corp_2',
    });
    assert.equal(fake.requests.length, 1);
    const [seen] = fake.requests;
    assert.equal(seen!.method, 'POST');
    assert.equal(seen!.path, SIGNATURE);
    assert.equal(seen!.authorization, `Bearer ${KEY}`);
    assert.equal(seen!.contentType, 'application/json');
    assert.deepEqual(seen!.body, { url: 'https://app.example.com/page?x=1', kind: 'agent_jsapi_ticket', tenant_key: 'ww_corp_2' });

    assert.equal(sig.app, 'wecom-main');
    assert.equal(sig.platform, 'wecom');
    assert.equal(sig.kind, 'agent_jsapi_ticket');
    assert.equal(sig.appId, 'ww_corp');
    assert.equal(sig.agentId, '1000002');
    assert.equal(sig.url, 'https://app.example.com/page?x=1');
    assert.equal(sig.signature, sha1(`jsapi_ticket=${TICKET}&noncestr=${sig.nonceStr}&timestamp=${sig.timestamp}&url=${sig.url}`));
    assert.equal(sig.tenantKey, 'ww_corp_2', 'fields the server adds are kept');

    const plain = await hub.jsapiSignature('wecom-main', 'https://app.example.com/');
    assert.deepEqual(fake.requests[1]!.body, { url: 'https://app.example.com/' }, 'no kind or tenant_key unless given');
    assert.equal(plain.kind, 'jsapi_ticket');
    assert.equal(plain.agentId, undefined);

    await hub.jsapiSignature('we com/main', 'https://app.example.com/');
    assert.equal(fake.requests[2]!.path, '/v1/apps/we%20com%2Fmain/jsapi/signature');
    await assert.rejects(hub.jsapiSignature('wecom-main', ''), TypeError);
    await assert.rejects(hub.jsapiSignature('', 'https://app.example.com/'), TypeError);
    assert.equal(fake.requests.length, 3);
  });

  it('100 concurrent calls for one URL make one request; another URL, kind or tenant makes its own', async () => {
    const sigs = await Promise.all(Array.from({ length: 100 }, () => hub.jsapiSignature('wecom-main', 'https://app.example.com/page')));
    assert.equal(fake.requests.length, 1);
    assert.equal(new Set(sigs.map((s) => s.signature)).size, 1);

    fake.requests.length = 0;
    const urls = ['https://app.example.com/a', 'https://app.example.com/b', 'https://app.example.com/a?x=1', 'https://app.example.com/a/'];
    const calls = urls.flatMap((u) => Array.from({ length: 10 }, () => hub.jsapiSignature('wecom-main', u)));
    const answers = await Promise.all(calls);
    assert.equal(fake.requests.length, urls.length);
    assert.deepEqual(fake.requests.map((r) => r.body.url).sort(), [...urls].sort());
    assert.deepEqual([...new Set(answers.map((s) => s.url))].sort(), [...urls].sort());

    fake.requests.length = 0;
    await Promise.all([
      hub.jsapiSignature('wecom-main', 'https://app.example.com/a'),
      hub.jsapiSignature('wecom-main', 'https://app.example.com/a', { kind: 'agent_jsapi_ticket' }),
      hub.jsapiSignature('wecom-main', 'https://app.example.com/a', { tenantKey: 't1' }),
      hub.jsapiSignature('wecom-main', 'https://app.example.com/a', { tenantKey: 't2' }),
      hub.jsapiSignature('wecom-other', 'https://app.example.com/a'),
    ]);
    assert.equal(fake.requests.length, 5);
  });

  it('URLs that differ only in the fragment share one request (the fragment is never signed)', async () => {
    const sigs = await Promise.all(
      ['https://app.example.com/p?q=1', 'https://app.example.com/p?q=1#one', 'https://app.example.com/p?q=1#/route/two', 'https://app.example.com/p?q=1#'].map((u) =>
        hub.jsapiSignature('wecom-main', u),
      ),
    );
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0]!.body.url, 'https://app.example.com/p?q=1');
    assert.equal(new Set(sigs.map((s) => s.signature)).size, 1);
  });

  it('caches nothing: a later call gets a fresh timestamp and nonce', async () => {
    const first = await hub.jsapiSignature('wecom-main', 'https://app.example.com/page');
    const second = await hub.jsapiSignature('wecom-main', 'https://app.example.com/page');
    assert.equal(fake.requests.length, 2);
    assert.notEqual(second.timestamp, first.timestamp);
    assert.notEqual(second.nonceStr, first.nonceStr);
    assert.notEqual(second.signature, first.signature);
  });

  it("maps tokenhub's errors: code, status and Retry-After; coalesced callers share the failure, which is not kept", async () => {
    await rejects(hub.jsapiSignature('wecom-main', 'ftp://app.example.com/page'), { code: 'TOKENHUB_BAD_REQUEST', status: 400, retryAfter: undefined });
    await rejects(hub.jsapiSignature('wecom-main', 'https://evil.example.net/page'), { code: 'TOKENHUB_FORBIDDEN', status: 403 });
    await rejects(hub.jsapiSignature('down', 'https://app.example.com/'), { code: 'TOKENHUB_PLATFORM_UNAVAILABLE', status: 503, platform: 'wecom', retryAfter: 5 });
    await rejects(hub.jsapiSignature('garbled', 'https://app.example.com/'), { code: 'TOKENHUB_CLIENT_BAD_RESPONSE' });
    await rejects(new TokenHubClient({ url: base, key: 'not-the-key-0123456789' }).jsapiSignature('wecom-main', 'https://app.example.com/'), {
      code: 'TOKENHUB_UNAUTHORIZED',
      status: 401,
    });

    fake.requests.length = 0;
    const failures = await Promise.allSettled(Array.from({ length: 10 }, () => hub.jsapiSignature('busy', 'https://app.example.com/')));
    assert.equal(fake.requests.length, 1);
    for (const f of failures) {
      assert.equal(f.status, 'rejected');
      const err = (f as PromiseRejectedResult).reason as TokenHubClientError;
      assert.ok(err instanceof TokenHubClientError);
      assert.deepEqual([err.code, err.status, err.retryAfter], ['TOKENHUB_RATE_LIMITED', 429, 12]);
    }
    await rejects(hub.jsapiSignature('busy', 'https://app.example.com/'), { status: 429 });
    assert.equal(fake.requests.length, 2, 'a failure is not kept for later calls');
  });

  it("AbortSignal: an aborted caller stops waiting; the others' shared request goes on", async () => {
    const gate = deferred();
    fake.hold = gate.promise;
    const controller = new AbortController();
    const aborted = hub.jsapiSignature('wecom-main', 'https://app.example.com/page', { signal: controller.signal });
    const waiting = hub.jsapiSignature('wecom-main', 'https://app.example.com/page#x');
    await eventually(() => fake.requests.length === 1);
    controller.abort();
    await assert.rejects(aborted, { name: 'AbortError' });
    gate.resolve();
    const sig = await waiting;
    assert.equal(sig.url, 'https://app.example.com/page');
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.abandoned, 0);
  });

  it('AbortSignal: when every caller aborts, the request is cancelled and the next call starts anew', async () => {
    const gate = deferred();
    fake.hold = gate.promise;
    const controllers = [new AbortController(), new AbortController()];
    const calls = controllers.map((c) => hub.jsapiSignature('wecom-main', 'https://app.example.com/page', { signal: c.signal }));
    await eventually(() => fake.requests.length === 1);
    controllers[0]!.abort(new Error('first gave up'));
    await assert.rejects(calls[0]!, /first gave up/);
    assert.equal(fake.abandoned, 0, 'one caller still waits');
    controllers[1]!.abort();
    await assert.rejects(calls[1]!, { name: 'AbortError' });
    await eventually(() => fake.abandoned === 1);
    gate.resolve();
    fake.hold = undefined;
    const sig = await hub.jsapiSignature('wecom-main', 'https://app.example.com/page');
    assert.equal(sig.url, 'https://app.example.com/page');
    assert.equal(fake.requests.length, 2);

    await assert.rejects(hub.jsapiSignature('wecom-main', 'https://app.example.com/page', { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(fake.requests.length, 2, 'an aborted signal sends nothing');

    fake.hold = new Promise(() => {});
    await assert.rejects(hub.jsapiSignature('wecom-main', 'https://app.example.com/slow', { signal: AbortSignal.timeout(100) }), { name: 'TimeoutError' });
    await eventually(() => fake.abandoned === 2);
  });
});

describe('hub.cardSignature', () => {
  const fake = new FakeTokenhub();
  let hub: TokenHubClient;
  before(async () => {
    hub = new TokenHubClient({ url: await fake.listen(), key: KEY });
  });
  after(() => fake.close());

  it('POSTs the wx.addCard fields to /v1/apps/{app}/jsapi/card-signature and answers them with cardSign', async () => {
    const fields = { cardId: 'pFS7Fjg8kV1IdDz01r4SQwMkuCKc', code: '110201201245', openid: 'oFS7Fjl0WsZ9AMZqrI80nbIq8xrA', fixedBeginTimestamp: 1764600000, outerStr: 'from-web' };
    const sig: CardSignature = await hub.cardSignature('wechat-main', fields);
    assert.equal(fake.requests.length, 1);
    const [seen] = fake.requests;
    assert.equal(seen!.method, 'POST');
    assert.equal(seen!.path, '/v1/apps/wechat-main/jsapi/card-signature');
    assert.equal(seen!.authorization, `Bearer ${KEY}`);
    assert.deepEqual(seen!.body, fields);
    assert.equal(sig.kind, 'wx_card_ticket');
    assert.equal(sig.code, fields.code);
    assert.equal(sig.cardId, fields.cardId);
    const values = [CARD_TICKET, String(sig.timestamp), sig.nonceStr, ...Object.values(fields).map(String)].sort();
    assert.equal(sig.cardSign, sha1(values.join('')));

    // Each call is its own signature.
    const two = await Promise.all([hub.cardSignature('wechat-main', { cardId: 'c1' }), hub.cardSignature('wechat-main', { cardId: 'c1' })]);
    assert.equal(fake.requests.length, 3);
    assert.notEqual(two[0].nonceStr, two[1].nonceStr);
    assert.deepEqual(fake.requests[1]!.body, { cardId: 'c1' });

    await rejects(hub.cardSignature('busy', { cardId: 'c1' }), { code: 'TOKENHUB_RATE_LIMITED', status: 429, retryAfter: 12 });
    await assert.rejects(hub.cardSignature('wechat-main', { cardId: 'c1' }, { signal: AbortSignal.abort() }), { name: 'AbortError' });
    assert.equal(fake.requests.length, 4);
  });
});
