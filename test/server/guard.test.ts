import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FeishuSim } from '../../src/sim/index.js';
import { BusinessSim } from '../helpers/upstream.js';
import { openSocket, rawRequest, type RawAnswer } from '../helpers/raw.js';
import { startStack, type Stack } from '../helpers/stack.js';

const SECRET = 'guard-test-secret-0123456789';
const LIMITED = 'limited-client-key-0123456789';
const READ = '/v1/apps/main/tokens/tenant_access_token';

/** Every spelling of a `/v1` path we know of; the router folds some onto a route, others match nothing. */
const V1_FORMS = [
  READ,
  '/%761/apps/main/tokens/tenant_access_token',
  '/%76%31/apps/main/tokens/tenant_access_token',
  '/v1/apps/%6dain/tokens/tenant_access_token',
  '/v1/apps/%6Dain/tokens/tenant%5Faccess_token',
  '/v1/%61pps/main/tokens/tenant_access_token',
  'http://127.0.0.1/v1/apps/main/tokens/tenant_access_token',
  'HTTP://evil.example/v1/apps/main/tokens/tenant_access_token',
  'http://127.0.0.1//v1/apps/main/tokens/tenant_access_token',
  '//v1/apps/main/tokens/tenant_access_token',
  '/v1//apps/main/tokens/tenant_access_token',
  '/v1/apps//main/tokens/tenant_access_token',
  '/v1/apps/main//tokens/tenant_access_token',
  '/v1/apps/main/tokens//tenant_access_token',
  '/v1/apps/main/tokens/tenant_access_token/',
  '/v1/apps/main/tokens/tenant_access_token//',
  '/V1/apps/main/tokens/tenant_access_token',
  '/v1/APPS/main/tokens/tenant_access_token',
  '/v1/apps/MAIN/tokens/tenant_access_token',
  '/v1/./apps/main/tokens/tenant_access_token',
  '/v1/x/../apps/main/tokens/tenant_access_token',
  '/v1/apps/main/tokens/tenant_access_token;x',
  '/v1/apps/main/tokens/tenant_access_token#x',
  '/v1/apps/main/tokens/tenant_access_token%00',
  '/v1/apps/main/tokens/tenant_access_token%2F',
  '/v1%2Fapps%2Fmain%2Ftokens%2Ftenant_access_token',
  '/v1/apps/nope/tokens/tenant_access_token',
  '/v1/apps/main/tokens/nope',
  '/v1/apps',
  '/v1/apps/',
  '/%761/apps',
  '/v1/',
  '/v1',
  '/v1/nothing-here',
  '/v1/proxy/main/open-apis/x',
  '/%761/proxy/main/open-apis/x',
  '/v1/apps/%zz/tokens/x',
  '/v1/%',
  '/v1/apps/%E4%B8/tokens/x',
];

const get = (path: string, headers: Record<string, string> = {}, method = 'GET'): string =>
  `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries({ connection: 'close', ...headers })
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}\r\n`;

const json = (answer: RawAnswer): any => {
  try {
    return JSON.parse(answer.body);
  } catch {
    return undefined;
  }
};

/** A token answer without the one field that changes by the second. */
const comparable = (answer: RawAnswer): unknown => {
  const body = json(answer);
  if (body && typeof body === 'object') delete body.expiresIn;
  return { status: answer.status, body: body ?? answer.body };
};

function assertNoServerErrorLogged(stack: Stack): void {
  const lines = stack.logs.text.split('\n').filter(Boolean);
  const bad = lines.filter((l) => /"level":"(error|fatal)"|request failed|"stack"|\n\s+at /.test(l));
  assert.deepEqual(bad, [], 'a request from a caller was logged as a server error');
}

describe('auth by route, deny by default', () => {
  let stack: Stack;
  let sim: FeishuSim;
  before(async () => {
    sim = new FeishuSim({ apps: [{ appId: 'cli_guard', appSecret: SECRET }] });
    stack = await startStack({
      sims: [sim],
      apps: {
        main: { platform: 'feishu', appId: 'cli_guard', appSecret: SECRET, baseUrl: 'sim:feishu' },
        other: { platform: 'feishu', appId: 'cli_guard', appSecret: SECRET, baseUrl: 'sim:feishu' },
      },
      config: { clients: [{ name: 'limited', key: LIMITED, apps: ['main'] }] },
    });
  });
  after(() => stack.close());

  it('every form of a /v1 path without a known key is 401, and reaches no platform', async () => {
    // A cached token: the fast path is in play as well.
    assert.equal((await stack.call('GET', READ)).status, 200);
    sim.counters.reset();
    for (const path of V1_FORMS) {
      for (const headers of [{}, { authorization: 'Bearer not-a-key-of-anyone' }, { authorization: 'Basic abc' }, { 'x-tokenhub-key': 'nobody-knows-this-key' }]) {
        for (const method of ['GET', 'POST', 'DELETE', 'OPTIONS', 'PROPFIND']) {
          const answer = await rawRequest(stack.url, get(path, headers, method));
          assert.equal(answer.status, 401, `${method} ${path} ${JSON.stringify(headers)}: ${answer.text.slice(0, 300)}`);
          assert.equal(json(answer)?.error?.code, 'TOKENHUB_UNAUTHORIZED', `${method} ${path}`);
        }
      }
    }
    assert.equal(sim.counters.count('tenant_access_token/internal', 'cli_guard'), 0);
    assertNoServerErrorLogged(stack);
  });

  it('public routes stay public: health, readiness, metrics, and the events URL (which checks its own credentials)', async () => {
    for (const path of ['/healthz', '/readyz', '/metrics']) assert.equal((await rawRequest(stack.url, get(path))).status, 200, path);
    const events = await rawRequest(stack.url, `POST /v1/apps/main/events HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`);
    assert.equal(events.status, 404); // not a store app: the route itself answers, not the key check
    assert.equal(json(events).error.code, 'TOKENHUB_NOT_FOUND');
  });

  it('with a valid key, the fast path and Fastify give the same answer for every URL form', async () => {
    assert.equal((await stack.call('GET', READ)).status, 200);
    const key = { authorization: `Bearer ${stack.key}` };
    let served = 0;
    for (const path of V1_FORMS.filter((p) => !p.includes('?') && !p.includes('#'))) {
      // A query string keeps the fast path out: the same path, answered by Fastify alone.
      const byFastify = await rawRequest(stack.url, get(`${path}?`, key));
      const byServer = await rawRequest(stack.url, get(path, key));
      assert.ok(byServer.status > 0 && byServer.status < 500, `${path}: ${byServer.text.slice(0, 200)}`);
      assert.deepEqual(comparable(byServer), comparable(byFastify), path);
      // And once more on a warm keep-alive connection, where the key memo is in play.
      const socket = await openSocket(stack.url);
      try {
        const warm = await onConnection(socket, [get(READ, { ...key, connection: 'keep-alive' }), get(path, { ...key, connection: 'keep-alive' })]);
        assert.deepEqual(comparable(warm[1]!), comparable(byFastify), `${path} (warm connection)`);
      } finally {
        socket.destroy();
      }
      if (byServer.status === 200) served += 1;
    }
    assert.ok(served >= 2, 'no URL form was served at all');
    assertNoServerErrorLogged(stack);
  });

  it('the per-connection key memo remembers which header proved the key', async () => {
    await stack.call('GET', READ); // cached, so every request below may take the fast path
    const socket = await openSocket(stack.url);
    try {
      const answers = await onConnection(socket, [
        get(READ, { authorization: `Bearer ${stack.key}`, connection: 'keep-alive' }),
        // The same value in the other header is not the key.
        get(READ, { 'x-tokenhub-key': `Bearer ${stack.key}`, connection: 'keep-alive' }),
        get(READ, { 'x-tokenhub-key': stack.key, connection: 'keep-alive' }),
        get(READ, { authorization: stack.key, connection: 'keep-alive' }),
        get(READ, { 'x-tokenhub-key': stack.key, connection: 'keep-alive' }),
      ]);
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 401, 200, 401, 200],
      );
    } finally {
      socket.destroy();
    }
  });

  it('metric labels come only from configured app ids: 200 requests for random apps add no series', async () => {
    const series = async (): Promise<Set<string>> => {
      const text: string = (await stack.call('GET', '/metrics', { key: null })).body;
      return new Set(text.split('\n').filter((l) => l.startsWith('tokenhub_') && l.includes('{')).map((l) => l.slice(0, l.lastIndexOf(' '))));
    };
    // Every error outcome the requests below can have, counted once for a real app and once for an unknown one.
    await stack.call('GET', '/v1/apps/main/tokens/nope');
    await stack.call('GET', '/v1/apps/zz-first/tokens/tenant_access_token');
    const before = await series();
    const ids = Array.from({ length: 200 }, () => `x${randomBytes(6).toString('hex')}`);
    for (const [i, id] of ids.entries()) {
      const path = [`/v1/apps/${id}/tokens/tenant_access_token`, `/v1/apps/${id}/tokens/${id}`, `/v1/proxy/${id}/open-apis/x`, `/v1/apps/${id}/tokens/x/invalidate`][i % 4]!;
      const res = await stack.call(path.endsWith('invalidate') ? 'POST' : 'GET', path, path.endsWith('invalidate') ? { body: { token: 'x' } } : {});
      assert.ok(res.status === 404, `${path}: ${res.status}`);
    }
    const afterwards = await series();
    const added = [...afterwards].filter((s) => !before.has(s) && !/^tokenhub_(process|nodejs)_/.test(s));
    assert.deepEqual(added, []);
    for (const s of afterwards) for (const id of ids) assert.ok(!s.includes(id), `a label from the URL: ${s}`);
  });
});

/** Sends the requests one after the other on one keep-alive connection and reads each answer. */
async function onConnection(socket: import('node:net').Socket, requests: string[]): Promise<RawAnswer[]> {
  const answers: RawAnswer[] = [];
  let buffer = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    wake?.();
  });
  socket.on('close', () => wake?.());
  for (const request of requests) {
    socket.write(request);
    for (;;) {
      const text = buffer.toString('latin1');
      const split = text.indexOf('\r\n\r\n');
      const length = split === -1 ? undefined : /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, split));
      if (split !== -1 && length) {
        const end = split + 4 + Number(length[1]);
        if (buffer.length >= end) {
          const whole = text.slice(0, end);
          answers.push({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(whole)?.[1] ?? 0), text: whole, body: whole.slice(split + 4) });
          buffer = buffer.subarray(end);
          break;
        }
      }
      if (socket.destroyed) throw new Error(`the connection closed; got ${text.slice(0, 200)}`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  return answers;
}

describe('nothing a caller sends is answered 5xx', () => {
  let stack: Stack;
  before(async () => {
    // The business simulator takes any body on its echo route, so the proxy's answers are tokenhub's own.
    const sim = new BusinessSim({ apps: [{ appId: 'cli_guard', appSecret: SECRET }, { appId: 'cli_store', appSecret: SECRET }] });
    stack = await startStack({
      sims: [sim],
      apps: {
        main: { platform: 'feishu', appId: 'cli_guard', appSecret: SECRET, baseUrl: 'sim:feishu' },
        shop: { platform: 'feishu', appType: 'store', appId: 'cli_store', appSecret: SECRET, verificationToken: 'verification-token-x', baseUrl: 'sim:feishu' },
      },
    });
    assert.equal((await stack.call('GET', READ)).status, 200);
  });
  after(() => stack.close());

  const odd = [
    '/', '*', '', '/%', '/%%', '/%zz', '/%00', '/a%00b', '/\u00e9', '/%C3%A9', '/%ED%A0%80', '/%FF',
    '/v1/apps/%00/tokens/x', '/v1/apps/main/tokens/%', '/v1/apps/main/tokens/tenant_access_token?min_ttl=%zz',
    '/v1/apps/main/tokens/tenant_access_token?min_ttl=1e400', '/v1/apps/main/tokens/tenant_access_token?min_ttl=99999999999999999999',
    '/v1/apps/main/tokens/tenant_access_token?min_ttl[]=1', '/v1/apps/main/tokens/tenant_access_token?min_ttl=1&min_ttl=2',
    '/v1/apps/main/tokens/tenant_access_token?tenant_key=%00', '/v1/apps/main/tokens/tenant_access_token?__proto__=x',
    '/v1/apps/main/tokens/tenant_access_token?constructor[prototype][x]=1', '/v1/apps/shop/tokens/tenant_access_token?tenant_key=' + 'a'.repeat(500),
    '/v1/apps/' + 'a'.repeat(5000) + '/tokens/x', '/v1/apps/main/tokens/' + 'k'.repeat(5000), '/' + 'x/'.repeat(3000),
    '/v1/apps/./main/tokens/tenant_access_token', '/v1/apps/../apps/main/tokens/tenant_access_token', '/v1/apps/main/tokens/..',
    '/v1/apps/main/tokens/%2e%2e', '/v1/proxy/main/..%2f..%2f_sim', '/v1/proxy/main/%252e%252e/x', '/v1/proxy/main/a\\..\\b',
    '/v1/proxy/main', '/v1/proxy/main/', '/v1/proxy/%00/x', '/v1/proxy/' + 'p'.repeat(300) + '/x', '/v1/apps/shop/events',
    '/v1/apps/%F0%9F%98%80/tokens/x', '/v1/apps/😀/tokens/x', 'http://[::1]/v1/apps', 'http://a:b@h/v1/apps', 'https://h:99999/v1/apps',
    'http://h', 'http://h?x', 'mailto:x', '/v1/apps?%', '/healthz?%zz', '/metrics/..', '/readyz/',
  ];
  const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'PROPFIND', 'MKCOL', 'SEARCH', 'get', 'FOO', 'CONNECT'];
  const key = (): string => `authorization: Bearer ${stack.key}\r\n`;

  const expectNo5xx = async (what: string, bytes: string | Buffer): Promise<void> => {
    const answer = await rawRequest(stack.url, bytes);
    // 0: the server closed the connection without an answer, which Node does for some unparsable requests.
    assert.ok(answer.status < 500, `${what}: ${answer.text.slice(0, 300)}`);
  };

  it('odd URLs and methods, with and without a key', async () => {
    for (const path of odd) {
      for (const method of methods) {
        for (const auth of ['', key()]) {
          const body = method === 'POST' || method === 'PUT' || method === 'PATCH' ? '{"token":"x"}' : '';
          await expectNo5xx(`${method} ${path.slice(0, 80)} ${auth === '' ? '(no key)' : '(key)'}`, `${method} ${path} HTTP/1.1\r\nhost: h\r\nconnection: close\r\n${auth}content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
        }
      }
    }
    assertNoServerErrorLogged(stack);
  });

  it('odd headers', async () => {
    const req = (headers: string, body = ''): string => `GET ${READ} HTTP/1.1\r\nhost: h\r\nconnection: close\r\n${headers}\r\n${body}`;
    const post = (headers: string, body = ''): string => `POST ${READ}/invalidate HTTP/1.1\r\nhost: h\r\nconnection: close\r\n${key()}${headers}\r\n${body}`;
    const cases: [string, string][] = [
      ['duplicate Authorization', req(`authorization: Bearer ${stack.key}\r\nauthorization: Bearer other-key-0123456789\r\n`)],
      ['duplicate Authorization, bad first', req(`authorization: Bearer other-key-0123456789\r\nauthorization: Bearer ${stack.key}\r\n`)],
      ['Authorization and X-Tokenhub-Key', req(`authorization: Bearer nope-nope-nope-nope\r\nx-tokenhub-key: ${stack.key}\r\n`)],
      ['duplicate X-Tokenhub-Key', req(`x-tokenhub-key: ${stack.key}\r\nx-tokenhub-key: ${stack.key}\r\n`)],
      ['empty Authorization', req('authorization: \r\n')],
      ['Bearer without key', req('authorization: Bearer\r\n')],
      ['Bearer with spaces', req(`authorization: Bearer    ${stack.key}   \r\n`)],
      ['bearer lowercase', req(`authorization: bearer ${stack.key}\r\n`)],
      ['huge Authorization', req(`authorization: Bearer ${'k'.repeat(12_000)}\r\n`)],
      ['headers over the limit', req(`x-pad: ${'p'.repeat(20_000)}\r\nx-pad2: ${'p'.repeat(20_000)}\r\n`)],
      ['many headers', req(Array.from({ length: 3000 }, (_, i) => `x-h${i}: v\r\n`).join(''))],
      ['non-latin header value', req(`x-name: ${Buffer.from('名字').toString('latin1')}\r\n${key()}`)],
      ['header without colon', req(`${key()}nonsense\r\n`)],
      ['bad Host', `GET ${READ} HTTP/1.1\r\nhost: a b c\r\n${key()}connection: close\r\n\r\n`],
      ['no Host', `GET ${READ} HTTP/1.1\r\n${key()}connection: close\r\n\r\n`],
      ['HTTP/1.0', `GET ${READ} HTTP/1.0\r\n${key()}\r\n`],
      ['HTTP/2.0 line', `GET ${READ} HTTP/2.0\r\n${key()}\r\n`],
      ['HTTP/9', `GET ${READ} HTTP/9.9\r\n${key()}\r\n`],
      ['bare LF', `GET ${READ} HTTP/1.1\nhost: h\n${key().trim()}\nconnection: close\n\n`],
      ['bad content-type', post('content-type: ;;;\r\ncontent-length: 13\r\n', '{"token":"x"}')],
      ['content-type with junk params', post('content-type: application/json; charset=klingon; x\r\ncontent-length: 13\r\n', '{"token":"x"}')],
      ['content-type text/plain', post('content-type: text/plain\r\ncontent-length: 13\r\n', '{"token":"x"}')],
      ['bad content-length', post('content-type: application/json\r\ncontent-length: abc\r\n', '{"token":"x"}')],
      ['negative content-length', post('content-type: application/json\r\ncontent-length: -1\r\n', '{"token":"x"}')],
      ['two content-lengths', post('content-type: application/json\r\ncontent-length: 13\r\ncontent-length: 5\r\n', '{"token":"x"}')],
      ['content-length and chunked', post('content-type: application/json\r\ncontent-length: 13\r\ntransfer-encoding: chunked\r\n', '{"token":"x"}')],
      ['content-length too short', post('content-type: application/json\r\ncontent-length: 5\r\n', '{"token":"x"}')],
      ['content-length huge', post('content-type: application/json\r\ncontent-length: 99999999999\r\n', '{"token":"x"}')],
      ['bad chunked', post('content-type: application/json\r\ntransfer-encoding: chunked\r\n', 'zz\r\nabc\r\n0\r\n\r\n')],
      ['unknown transfer-encoding', post('content-type: application/json\r\ntransfer-encoding: gzip\r\n', '{"token":"x"}')],
      ['content-encoding gzip (not gzip)', post('content-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: 13\r\n', '{"token":"x"}')],
      ['expect 100-continue', post('content-type: application/json\r\nexpect: 100-continue\r\ncontent-length: 13\r\n', '{"token":"x"}')],
      ['expect nonsense', post('content-type: application/json\r\nexpect: teapot\r\ncontent-length: 13\r\n', '{"token":"x"}')],
      ['upgrade websocket', req(`${key()}upgrade: websocket\r\nconnection: upgrade\r\n`)],
      ['upgrade h2c', req(`${key()}upgrade: h2c\r\nconnection: upgrade, http2-settings\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n`)],
      ['x-tokenhub-tenant-key odd on proxy', `GET /v1/proxy/main/open-apis/x HTTP/1.1\r\nhost: h\r\nconnection: close\r\n${key()}x-tokenhub-tenant-key: ../../x\r\n\r\n`],
      ['x-tokenhub-token-kind odd on proxy', `GET /v1/proxy/main/open-apis/x HTTP/1.1\r\nhost: h\r\nconnection: close\r\n${key()}x-tokenhub-token-kind: __proto__\r\n\r\n`],
      ['NUL in the request line', `GET /v1/apps\u0000 HTTP/1.1\r\nhost: h\r\n${key()}connection: close\r\n\r\n`],
      ['NUL in a header', req(`${key()}x-a: b\u0000c\r\n`)],
      ['garbage', '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000\u0000\u00a1\u0003\u0003'],
    ];
    for (const [what, bytes] of cases) await expectNo5xx(what, bytes);
    assertNoServerErrorLogged(stack);
  });

  it('odd bodies', async () => {
    const bodies: [string, string, string][] = [
      ['invalid JSON', 'application/json', '{"token":'],
      ['JSON null', 'application/json', 'null'],
      ['JSON number', 'application/json', '42'],
      ['JSON string', 'application/json', '"x"'],
      ['wrong type', 'application/json', '{"token":["x"]}'],
      ['nested', 'application/json', '{"token":{"a":{"b":1}}}'],
      ['__proto__', 'application/json', '{"__proto__":{"x":1},"token":"x"}'],
      ['constructor', 'application/json', '{"constructor":{"prototype":{"x":1}},"token":"x"}'],
      ['deep', 'application/json', '['.repeat(5000) + ']'.repeat(5000)],
      ['huge', 'application/json', JSON.stringify({ token: 'x'.repeat(2 * 1024 * 1024) })],
      ['BOM', 'application/json', '\ufeff{"token":"x"}'],
      ['invalid UTF-8', 'application/json', Buffer.from([0x7b, 0x22, 0x74, 0xff, 0xfe, 0x22, 0x7d]).toString('latin1')],
      ['empty', 'application/json', ''],
      ['form', 'application/x-www-form-urlencoded', 'token=x'],
      ['multipart', 'multipart/form-data; boundary=x', '--x\r\ncontent-disposition: form-data; name="token"\r\n\r\nx\r\n--x--'],
    ];
    const targets = [`POST ${READ}/invalidate`, 'POST /v1/apps/main/jsapi/signature', 'POST /v1/apps/shop/events', 'POST /v1/apps/main/events', 'PUT /v1/proxy/main/open-apis/test/echo', 'POST /v1/apps'];
    for (const target of targets) {
      for (const [what, type, body] of bodies) {
        for (const auth of ['', key()]) {
          await expectNo5xx(`${target} ${what}`, Buffer.from(`${target} HTTP/1.1\r\nhost: h\r\nconnection: close\r\n${auth}content-type: ${type}\r\ncontent-length: ${Buffer.byteLength(body, 'latin1')}\r\n\r\n${body}`, 'latin1'));
        }
      }
    }
    assertNoServerErrorLogged(stack);
  });
});
