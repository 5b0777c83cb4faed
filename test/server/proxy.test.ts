import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { after, before, beforeEach, describe, it } from 'node:test';
import { request } from 'undici';
import { pattern, sha256, BusinessSim } from '../helpers/upstream.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const SECRET = 'proxy-test-secret-0123456789';
const TOKEN_CALLS = 'tenant_access_token/internal';

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  json: any;
}

/**
 * A request with exactly these headers and this path (node:http sends hop-by-hop headers that undici
 * refuses, and a path given apart from the URL is not normalised).
 */
function raw(url: string, method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  // node:http sends a DELETE or OPTIONS body without framing unless told its length.
  const length: Record<string, string> = body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) };
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, path, method, headers: { ...length, ...headers }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        let json: unknown;
        try {
          json = JSON.parse(buf.toString('utf8'));
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, json });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function feishuStack(sim: BusinessSim, extra: { config?: Record<string, unknown> } = {}): Promise<Stack> {
  return startStack({
    sims: [sim],
    apps: {
      // Tokens are revoked test after test within seconds: reports are not spaced out here.
      main: { platform: 'feishu', appId: 'cli_proxy', appSecret: SECRET, baseUrl: 'sim:feishu', reportIntervalSeconds: 0 },
      other: { platform: 'feishu', appId: 'cli_proxy', appSecret: SECRET, baseUrl: 'sim:feishu', reportIntervalSeconds: 0 },
    },
    config: { clients: [{ name: 'limited', key: 'limited-client-key-0123456789', apps: ['main'] }], ...extra.config },
  });
}

describe('proxy: pass-through', () => {
  let stack: Stack;
  let sim: BusinessSim;
  before(async () => {
    sim = new BusinessSim({ apps: [{ appId: 'cli_proxy', appSecret: SECRET }] });
    stack = await feishuStack(sim);
  });
  after(() => stack.close());
  beforeEach(() => {
    sim.calls.length = 0;
  });

  it('forwards method, path, query, headers and body; injects the token; answers status, headers and body unchanged', async () => {
    const body = JSON.stringify({ hello: '世界', n: 1 });
    const res = await raw(
      stack.url,
      'POST',
      '/v1/proxy/main/open-apis/test/echo?user_id_type=open_id&a=1&a=2&q=%E4%B8%AD%20x',
      {
        authorization: `Bearer ${stack.key}`,
        'content-type': 'application/json; charset=utf-8',
        'x-custom': 'kept',
        'user-agent': 'proxy-test/1.0',
      },
      body,
    );
    assert.equal(res.status, 201, res.body.toString());
    const seen = res.json.data;
    assert.equal(seen.method, 'POST');
    assert.equal(seen.path, '/open-apis/test/echo');
    assert.equal(seen.query, 'user_id_type=open_id&a=1&a=2&q=%E4%B8%AD%20x');
    assert.equal(seen.headers['x-custom'], 'kept');
    assert.equal(seen.headers['user-agent'], 'proxy-test/1.0');
    assert.equal(seen.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(seen.text, body);
    assert.equal(seen.bytes, Buffer.byteLength(body));
    // Host is the platform's, not tokenhub's.
    assert.equal(seen.headers.host, new URL(stack.sims.url).host);
    // The platform got the app's tenant token, which is the one tokenhub hands out.
    const token = (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token;
    assert.equal(seen.headers.authorization, `Bearer ${token}`);
    // Answer headers come back, multi-valued ones included.
    assert.equal(res.headers['x-upstream'], 'yes');
    assert.deepEqual(res.headers['set-cookie'], ['a=1; Path=/', 'b=2; Path=/']);
    assert.match(String(res.headers['content-type']), /^application\/json/);
  });

  for (const method of ['GET', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    it(`${method} goes through as ${method}`, async () => {
      const res = await raw(stack.url, method, '/v1/proxy/main/open-apis/test/echo?x=1', { authorization: `Bearer ${stack.key}` }, method === 'GET' ? undefined : 'abc');
      assert.equal(res.status, 201);
      assert.equal(res.json.data.method, method);
      assert.equal(res.json.data.text, method === 'GET' ? '' : 'abc');
    });
  }

  it('HEAD answers the headers only', async () => {
    const res = await raw(stack.url, 'HEAD', '/v1/proxy/main/open-apis/test/echo', { authorization: `Bearer ${stack.key}` });
    assert.equal(res.status, 201);
    assert.equal(res.headers['x-upstream'], 'yes');
    assert.equal(res.body.length, 0);
  });

  it('drops hop-by-hop headers both ways, and those the Connection header names', async () => {
    const res = await raw(stack.url, 'GET', '/v1/proxy/main/open-apis/test/echo', {
      authorization: `Bearer ${stack.key}`,
      connection: 'keep-alive, x-hop-request',
      'x-hop-request': 'must-not-pass',
      'keep-alive': 'timeout=99',
      'proxy-authorization': 'Basic c2VjcmV0',
      te: 'trailers',
      'x-end-to-end': 'passes',
    });
    assert.equal(res.status, 201);
    const seen = res.json.data.headers;
    assert.equal(seen['x-end-to-end'], 'passes');
    for (const name of ['x-hop-request', 'proxy-authorization', 'te']) assert.equal(seen[name], undefined, `${name} was forwarded`);
    assert.notEqual(seen['keep-alive'], 'timeout=99');
    assert.equal(res.headers['x-hop-answer'], undefined);
    assert.notEqual(res.headers['keep-alive'], 'timeout=1234');
    assert.equal(res.headers['x-upstream'], 'yes');
  });

  it('never forwards the client key or any X-Tokenhub-* header, and logs neither key nor token', async () => {
    for (const auth of [{ authorization: `Bearer ${stack.key}` }, { 'x-tokenhub-key': stack.key }]) {
      const res = await raw(stack.url, 'POST', '/v1/proxy/main/open-apis/test/echo', { ...auth, 'x-tokenhub-token-kind': 'tenant_access_token', 'x-tokenhub-debug': '1' }, 'x');
      assert.equal(res.status, 201);
      const seen = res.json.data;
      assert.ok(!JSON.stringify(seen).includes(stack.key), 'the client key reached the platform');
      assert.deepEqual(Object.keys(seen.headers).filter((h) => h.startsWith('x-tokenhub')), []);
      assert.match(seen.headers.authorization, /^Bearer t-/);
    }
    const token = (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token;
    assert.ok(!stack.logs.text.includes(stack.key), 'the client key is in the logs');
    assert.ok(!stack.logs.text.includes(token), 'a token is in the logs');
  });

  it('X-Tokenhub-Token-Kind picks another kind of token', async () => {
    const res = await raw(stack.url, 'GET', '/v1/proxy/main/open-apis/test/echo', { authorization: `Bearer ${stack.key}`, 'x-tokenhub-token-kind': 'app_access_token' });
    assert.equal(res.status, 201);
    assert.match(res.json.data.headers.authorization, /^Bearer a-/);
  });

  it('answers errors as JSON: 401 without or with a wrong key, 403 for a foreign app, 404 for no app, 400 for bad input', async () => {
    const expect = async (status: number, code: string, path: string, headers: Record<string, string>): Promise<void> => {
      const res = await raw(stack.url, 'POST', path, headers, '{}');
      assert.equal(res.status, status, res.body.toString());
      assert.equal(res.json.error.code, code);
      assert.equal(res.headers['x-tokenhub-error'], code);
      assert.match(String(res.headers['content-type']), /^application\/json/);
    };
    const key = { authorization: `Bearer ${stack.key}` };
    await expect(401, 'TOKENHUB_UNAUTHORIZED', '/v1/proxy/main/open-apis/test/echo', {});
    await expect(401, 'TOKENHUB_UNAUTHORIZED', '/v1/proxy/main/open-apis/test/echo', { authorization: 'Bearer not-a-key-of-anyone' });
    await expect(403, 'TOKENHUB_FORBIDDEN', '/v1/proxy/other/open-apis/test/echo', { authorization: 'Bearer limited-client-key-0123456789' });
    await expect(404, 'TOKENHUB_APP_NOT_FOUND', '/v1/proxy/nope/open-apis/test/echo', key);
    await expect(400, 'TOKENHUB_BAD_REQUEST', '/v1/proxy/main/open-apis/test/echo', { ...key, 'x-tokenhub-tenant-key': 'tenant-1' });
    await expect(400, 'TOKENHUB_UNKNOWN_KIND', '/v1/proxy/main/open-apis/test/echo', { ...key, 'x-tokenhub-token-kind': 'access_token' });
    await expect(400, 'TOKENHUB_BAD_REQUEST', '/v1/proxy/main/open-apis/test/echo', { ...key, 'x-tokenhub-token-kind': 'a b' });
    await expect(400, 'TOKENHUB_BAD_REQUEST', '/v1/proxy/main/open-apis/%2e%2e/%2e%2e/_sim/feishu/stats', key);
    await expect(400, 'TOKENHUB_BAD_REQUEST', '/v1/proxy/main/open-apis/%E4%B8', key);
    assert.equal(sim.calls.length, 0, 'a refused call reached the platform');
  });
});

describe('proxy: hygiene', () => {
  let stack: Stack;
  let allowing: Stack;
  let sim: BusinessSim;
  const key = (): Record<string, string> => ({ authorization: `Bearer ${stack.key}` });
  const private_ = {
    cookie: 'session=caller-cookie',
    forwarded: 'for=10.0.0.1;proto=https',
    'x-forwarded-for': '10.0.0.1, 10.0.0.2',
    'x-forwarded-host': 'internal.example',
    'x-forwarded-proto': 'https',
    'x-forwarded-port': '8443',
    'x-real-ip': '10.0.0.1',
  };
  before(async () => {
    sim = new BusinessSim({ apps: [{ appId: 'cli_proxy', appSecret: SECRET }] });
    stack = await feishuStack(sim);
    allowing = await feishuStack(sim, { config: { proxy: { forwardHeaders: ['Cookie', 'x-forwarded-for'] } } });
  });
  after(async () => {
    await allowing.close();
    await stack.close();
  });
  beforeEach(() => {
    sim.calls.length = 0;
  });

  it('withholds Cookie, Forwarded, X-Forwarded-* and X-Real-IP by default', async () => {
    const res = await raw(stack.url, 'GET', '/v1/proxy/main/open-apis/test/echo', { ...key(), ...private_, 'x-end-to-end': 'passes' });
    assert.equal(res.status, 201, res.body.toString());
    const seen = res.json.data.headers;
    assert.equal(seen['x-end-to-end'], 'passes');
    for (const name of Object.keys(private_)) assert.equal(seen[name], undefined, `${name} was forwarded`);
    assert.ok(!JSON.stringify(sim.calls).includes('10.0.0.1'));
  });

  it('proxy.forwardHeaders lets the named ones through, and only those', async () => {
    const res = await raw(allowing.url, 'GET', '/v1/proxy/main/open-apis/test/echo', { authorization: `Bearer ${allowing.key}`, ...private_ });
    assert.equal(res.status, 201, res.body.toString());
    const seen = res.json.data.headers;
    assert.equal(seen.cookie, private_.cookie);
    assert.equal(seen['x-forwarded-for'], private_['x-forwarded-for']);
    for (const name of ['forwarded', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-real-ip']) assert.equal(seen[name], undefined, `${name} was forwarded`);
    await assert.rejects(feishuStack(sim, { config: { proxy: { forwardHeaders: ['host'] } } }), /proxy\.forwardHeaders\[0\]: must be one of cookie/);
  });

  it('refuses .. in any decoded form, and reaches no platform', async () => {
    const climbs = [
      '/open-apis/../_sim/feishu/stats',
      '/open-apis/./test/echo',
      '/open-apis/%2e%2e/_sim',
      '/open-apis/%2E%2e/_sim',
      '/open-apis/.%2E/_sim',
      '/open-apis/%2e./_sim',
      '/open-apis/%252e%252e/_sim',
      '/open-apis/%25252E%25252E/_sim',
      '/open-apis/a%2f..%2f_sim',
      '/open-apis/a%2F%2e%2e%2F_sim',
      '/open-apis/a%252f..%252f_sim',
      '/open-apis/..%2f_sim',
      '/open-apis/..%5c_sim',
      '/open-apis/a%5C..%5C_sim',
      '/open-apis/..\\_sim',
      '/open-apis/a\\..\\_sim',
      '/open-apis/%255c',
      '/open-apis/test/echo/..',
      '/open-apis/test/echo/%2e%2e',
      '/..',
    ];
    for (const path of climbs) {
      for (const prefix of ['/v1/proxy/main', '/%761/proxy/main', 'http://h/v1/proxy/main']) {
        const res = await raw(stack.url, 'GET', prefix + path, key());
        assert.equal(res.status, 400, `${prefix}${path}: ${res.body.toString()}`);
        assert.equal(res.json.error.code, 'TOKENHUB_BAD_REQUEST');
      }
    }
    assert.deepEqual(sim.calls, [], 'a refused call reached the platform');
  });

  it('a proxy URL in another form reaches the same platform path', async () => {
    for (const prefix of ['/v1/proxy/main', '/%761/proxy/main', '/v1/%70roxy/main', '/v1/proxy/%6dain', 'http://h/v1/proxy/main', 'HTTP://h/v1/proxy/main']) {
      const res = await raw(stack.url, 'GET', `${prefix}/open-apis/test/echo?a=1`, key());
      assert.equal(res.status, 201, `${prefix}: ${res.body.toString()}`);
      assert.equal(res.json.data.path, '/open-apis/test/echo', prefix);
      assert.equal(res.json.data.query, 'a=1', prefix);
    }
    // Encoded characters that climb nowhere go through as sent.
    const res = await raw(stack.url, 'GET', '/v1/proxy/main/open-apis/test/echo?q=%2e%2e', key());
    assert.equal(res.status, 201);
    assert.equal(res.json.data.query, 'q=%2e%2e');
  });
});

describe('proxy: token-invalid answers', () => {
  let stack: Stack;
  let sim: BusinessSim;
  before(async () => {
    sim = new BusinessSim({ apps: [{ appId: 'cli_proxy', appSecret: SECRET }] });
    stack = await feishuStack(sim);
  });
  after(() => stack.close());
  beforeEach(() => {
    sim.calls.length = 0;
    sim.counters.reset();
  });

  const retries = async (): Promise<number> => {
    const text: string = (await stack.call('GET', '/metrics')).body;
    return Number(/^tokenhub_proxy_retries_total\{app="main"\} (\d+)$/m.exec(text)?.[1] ?? 0);
  };

  it('a token revoked at the platform: tokenhub refreshes it and sends the call once more, body included', async () => {
    const old = (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token;
    assert.ok(sim.revoke(old));
    sim.counters.reset();
    const retriesBefore = await retries();
    const content = JSON.stringify({ text: 'hello after a revoked token' });
    const res = await raw(
      stack.url,
      'POST',
      '/v1/proxy/main/open-apis/im/v1/messages?receive_id_type=chat_id',
      { authorization: `Bearer ${stack.key}`, 'content-type': 'application/json' },
      JSON.stringify({ receive_id: 'oc_1', msg_type: 'text', content }),
    );
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.json.code, 0);
    assert.equal(res.json.data.body.content, content);
    assert.equal(res.json.data.chat_id, 'oc_1');
    assert.equal(sim.counters.count('business'), 2, 'one rejected call and one retry');
    assert.equal(sim.counters.count(TOKEN_CALLS), 1, 'one new token');
    const fresh = (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token;
    assert.notEqual(fresh, old);
    assert.equal(await retries(), retriesBefore + 1);
  });

  it('concurrent calls with a revoked token cost one new token between them', async () => {
    const old = (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token;
    sim.revoke(old);
    sim.counters.reset();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => raw(stack.url, 'POST', '/v1/proxy/main/open-apis/test/echo', { authorization: `Bearer ${stack.key}` }, 'same body')),
    );
    for (const r of results) {
      assert.equal(r.status, 201);
      assert.equal(r.json.data.text, 'same body');
    }
    assert.equal(sim.counters.count(TOKEN_CALLS), 1);
  });

  /** Revokes the current token at the platform, so that a report of it yields a new one. */
  const revokeCurrent = async (): Promise<void> => {
    assert.ok(sim.revoke((await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token));
  };

  it('a second token-invalid answer goes back as is: one retry only', async () => {
    await revokeCurrent();
    const res = await raw(stack.url, 'POST', '/v1/proxy/main/open-apis/test/status/400?code=99991663', { authorization: `Bearer ${stack.key}` }, '{"x":1}');
    assert.equal(res.status, 400);
    assert.deepEqual(res.json, { code: 99991663, msg: 'as asked' });
    assert.equal(sim.calls.length, 2);
    assert.equal(sim.calls[1]!.text, '{"x":1}');
  });

  it('finds the token-invalid code in a gzip-compressed answer too', async () => {
    await revokeCurrent();
    const res = await raw(stack.url, 'GET', '/v1/proxy/main/open-apis/test/status/401?code=99991677&gzip=1', { authorization: `Bearer ${stack.key}`, 'accept-encoding': 'gzip' });
    assert.equal(res.status, 401);
    assert.equal(res.headers['content-encoding'], 'gzip');
    assert.equal(sim.calls.length, 2);
  });

  for (const [status, code] of [[400, 230001], [403, 99991672], [200, 0], [500, 1]] as const) {
    it(`HTTP ${status} code ${code} goes back unchanged and is not retried`, async () => {
      const tokensBefore = sim.tokensIssued();
      const res = await raw(stack.url, 'POST', `/v1/proxy/main/open-apis/test/status/${status}?code=${code}`, { authorization: `Bearer ${stack.key}` }, '{}');
      assert.equal(res.status, status);
      assert.equal(res.body.toString(), JSON.stringify({ code, msg: 'as asked' }));
      assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(sim.calls.length, 1);
      assert.equal(sim.tokensIssued(), tokensBefore);
    });
  }
});

describe('proxy: large bodies stream', () => {
  let stack: Stack;
  let sim: BusinessSim;
  const MiB = 1024 * 1024;
  before(async () => {
    sim = new BusinessSim({ apps: [{ appId: 'cli_proxy', appSecret: SECRET }] });
    stack = await feishuStack(sim);
  });
  after(() => stack.close());

  it('an 8 MiB upload and an 8 MiB download arrive intact', async () => {
    const data = pattern(8 * MiB, 7);
    const up = await request(`${stack.url}/v1/proxy/main/open-apis/test/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.key}`, 'content-type': 'application/octet-stream' },
      body: data,
    });
    const answer = (await up.body.json()) as any;
    assert.equal(up.statusCode, 200);
    assert.deepEqual(answer.data, { bytes: data.length, sha256: sha256(data) });

    const down = await request(`${stack.url}/v1/proxy/main/open-apis/test/bytes?n=${8 * MiB}`, { headers: { authorization: `Bearer ${stack.key}` } });
    assert.equal(down.statusCode, 200);
    const got = Buffer.from(await down.body.arrayBuffer());
    assert.equal(got.length, 8 * MiB);
    assert.equal(sha256(got), sha256(pattern(8 * MiB)));
  });

  it('an upload larger than the buffer reaches the platform before the caller has sent all of it', async () => {
    const first = pattern(3 * MiB, 1);
    const rest = pattern(MiB, 2);
    async function* body(): AsyncGenerator<Buffer> {
      yield first;
      // Held until the platform has most of the first part: a proxy that buffered the whole body would stall here.
      await eventually(() => sim.uploaded >= 2 * MiB, 10_000);
      yield rest;
    }
    const res = await request(`${stack.url}/v1/proxy/main/open-apis/test/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.key}`, 'content-type': 'application/octet-stream' },
      body: Readable.from(body()),
    });
    const answer = (await res.body.json()) as any;
    assert.equal(res.statusCode, 200);
    assert.equal(answer.data.bytes, 4 * MiB);
    assert.equal(answer.data.sha256, createHash('sha256').update(first).update(rest).digest('hex'));
  });

  it('a JSON answer larger than the buffer reaches the caller before the platform has sent all of it', async () => {
    const res = await request(`${stack.url}/v1/proxy/main/open-apis/test/drip?n=${2 * MiB}`, { headers: { authorization: `Bearer ${stack.key}` } });
    assert.equal(res.statusCode, 200);
    const it = res.body[Symbol.asyncIterator]();
    let got = 0;
    const deadline = Date.now() + 10_000;
    while (got < MiB) {
      assert.ok(Date.now() < deadline, 'the first part never arrived');
      const next = await it.next();
      assert.ok(!next.done);
      got += (next.value as Buffer).length;
    }
    sim.release();
    for (;;) {
      const next = await it.next();
      if (next.done) break;
      got += (next.value as Buffer).length;
    }
    assert.equal(got, 4 * MiB);
  });

  it('a token-invalid answer to a streamed upload goes back as is, and the next call has a new token', async () => {
    const old = (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token;
    sim.revoke(old);
    const data = pattern(2 * MiB);
    const res = await request(`${stack.url}/v1/proxy/main/open-apis/test/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.key}`, 'content-type': 'application/octet-stream' },
      body: data,
    });
    assert.equal(res.statusCode, 400);
    assert.equal(((await res.body.json()) as any).code, 99991663);
    await eventually(async () => (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body.token !== old);
    const again = await request(`${stack.url}/v1/proxy/main/open-apis/test/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.key}` },
      body: data,
    });
    assert.equal(again.statusCode, 200);
    assert.equal(((await again.body.json()) as any).data.sha256, sha256(data));
  });
});

describe('proxy: the platform unreachable', () => {
  let stack: Stack;
  let sim: BusinessSim;
  before(async () => {
    sim = new BusinessSim({ apps: [{ appId: 'cli_proxy', appSecret: SECRET }] });
    stack = await feishuStack(sim, { config: { proxy: { headersTimeoutMs: 300, connectTimeoutMs: 1000 } } });
    // A token at hand, so that only the business call meets the outage.
    assert.equal((await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).status, 200);
  });
  after(() => stack.close());

  const expect = async (path: string, status: number, code: string): Promise<void> => {
    const res = await stack.call('GET', path);
    assert.equal(res.status, status, JSON.stringify(res.body));
    assert.equal(res.body.error.code, code);
    assert.equal(res.body.error.platform, 'feishu');
    assert.ok(!JSON.stringify(res.body).includes('t-'), 'a token in an error message');
  };

  it('504 when the platform does not answer in time', async () => {
    const started = Date.now();
    await expect('/v1/proxy/main/open-apis/test/hang', 504, 'TOKENHUB_UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 5_000);
  });

  it('502 when the platform drops the connection', async () => {
    await expect('/v1/proxy/main/open-apis/test/reset', 502, 'TOKENHUB_UPSTREAM_UNREACHABLE');
  });

  it('502 when the platform is down, counted in the metrics', async () => {
    await stack.sims.close();
    await expect('/v1/proxy/main/open-apis/test/echo', 502, 'TOKENHUB_UPSTREAM_UNREACHABLE');
    const metrics: string = (await stack.call('GET', '/metrics')).body;
    assert.match(metrics, /^tokenhub_proxy_requests_total\{app="main",outcome="TOKENHUB_UPSTREAM_UNREACHABLE"\} [1-9]/m);
  });
});
