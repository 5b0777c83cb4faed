import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../../src/config.js';
import { FeishuSim } from '../../src/sim/index.js';
import { openSocket } from '../helpers/raw.js';
import { sleep, startStack, type Stack } from '../helpers/stack.js';

const SECRET = 'limits-test-secret-0123456789';
const LIMITS = { headersTimeoutMs: 300, requestTimeoutMs: 2_000, keepAliveTimeoutMs: 300, maxConnections: 8, eventsTimeoutMs: 400 };

/** What a socket received until the server closed it, and when that was. */
interface Ending {
  closedAfterMs: number;
  received: string;
}

/** Writes `chunk` every `everyMs` until the server closes the connection (or `capMs` passes). */
function trickle(socket: Socket, first: string, chunk: string, everyMs: number, capMs: number): Promise<Ending | undefined> {
  const started = Date.now();
  let received = '';
  socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
  socket.on('error', () => {});
  socket.write(first);
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (Date.now() - started > capMs) {
        clearInterval(timer);
        socket.destroy();
        resolve(undefined);
      } else if (socket.writable) socket.write(chunk);
    }, everyMs);
    socket.once('close', () => {
      clearInterval(timer);
      resolve({ closedAfterMs: Date.now() - started, received });
    });
  });
}

function closed(socket: Socket, capMs: number): Promise<number | undefined> {
  const started = Date.now();
  return new Promise((resolve) => {
    if (socket.destroyed) return resolve(0);
    const timer = setTimeout(() => resolve(undefined), capMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

describe('server limits against slow clients', () => {
  let stack: Stack;
  before(async () => {
    const sim = new FeishuSim({ apps: [{ appId: 'cli_limits', appSecret: SECRET }, { appId: 'cli_shop', appSecret: SECRET }] });
    stack = await startStack({
      sims: [sim],
      apps: {
        main: { platform: 'feishu', appId: 'cli_limits', appSecret: SECRET, baseUrl: 'sim:feishu' },
        shop: { platform: 'feishu', appType: 'store', appId: 'cli_shop', appSecret: SECRET, verificationToken: 'verification-token-x', baseUrl: 'sim:feishu' },
      },
      config: { server: LIMITS },
    });
  });
  after(() => stack.close());

  it('headers trickled in are cut off by the headers timeout', async () => {
    const socket = await openSocket(stack.url);
    const end = await trickle(socket, 'GET /healthz HTTP/1.1\r\nhost: h\r\n', 'x-slow: y\r\n', 50, 5_000);
    assert.ok(end !== undefined, 'the connection was still open after 5 s');
    assert.ok(end.closedAfterMs >= LIMITS.headersTimeoutMs - 50 && end.closedAfterMs < 1_500, `closed after ${end.closedAfterMs} ms`);
    assert.match(end.received, /^HTTP\/1\.1 408|^$/);
  });

  it('a body trickled to the events URL is cut off at its shorter limit with 408', async () => {
    const socket = await openSocket(stack.url);
    const end = await trickle(socket, 'POST /v1/apps/shop/events HTTP/1.1\r\nhost: h\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{', ' ', 50, 5_000);
    assert.ok(end !== undefined, 'the connection was still open after 5 s');
    assert.ok(end.closedAfterMs >= LIMITS.eventsTimeoutMs - 50 && end.closedAfterMs < LIMITS.requestTimeoutMs, `closed after ${end.closedAfterMs} ms`);
    assert.match(end.received, /^HTTP\/1\.1 408/);
    assert.match(end.received, /"code":"TOKENHUB_REQUEST_TIMEOUT"/);
    assert.match(end.received, /\r\nconnection: close\r\n/i);
    await sleep(100);
    assert.ok(!/request failed|"level":"error"/.test(stack.logs.text), 'the timeout was logged as a server error');
  });

  it('an events body that arrives in time is answered as usual', async () => {
    const res = await stack.call('POST', '/v1/apps/shop/events', { key: null, body: { type: 'url_verification', token: 'verification-token-x', challenge: 'c-1' } });
    assert.equal(res.status, 200);
    assert.equal(res.body.challenge, 'c-1');
  });

  it('a body trickled to any other route is cut off by the request timeout', async () => {
    const socket = await openSocket(stack.url);
    const end = await trickle(
      socket,
      `POST /v1/apps/main/tokens/tenant_access_token/invalidate HTTP/1.1\r\nhost: h\r\nauthorization: Bearer ${stack.key}\r\ncontent-type: application/json\r\ncontent-length: 5000\r\n\r\n{`,
      ' ',
      50,
      6_000,
    );
    assert.ok(end !== undefined, 'the connection was still open after 6 s');
    assert.ok(end.closedAfterMs >= LIMITS.requestTimeoutMs - 100 && end.closedAfterMs < LIMITS.requestTimeoutMs + 1_500, `closed after ${end.closedAfterMs} ms`);
  });

  it('an idle keep-alive connection is closed after the keep-alive timeout', async () => {
    const socket = await openSocket(stack.url);
    let received = '';
    socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
    socket.write('GET /healthz HTTP/1.1\r\nhost: h\r\nconnection: keep-alive\r\n\r\n');
    const after = await closed(socket, 5_000);
    assert.match(received, /^HTTP\/1\.1 200/);
    // Node closes idle sockets up to a second after the keep-alive timeout (it allows for the client's clock).
    assert.ok(after !== undefined && after >= LIMITS.keepAliveTimeoutMs - 50 && after < LIMITS.keepAliveTimeoutMs + 2_000, `closed after ${after} ms`);
  });

  it('connections beyond the cap are closed at once; the ones within it are served', async () => {
    const held = await Promise.all(Array.from({ length: LIMITS.maxConnections }, () => openSocket(stack.url)));
    try {
      for (const s of held) s.on('error', () => {});
      await sleep(50);
      const extra = await openSocket(stack.url).catch(() => undefined);
      if (extra !== undefined) {
        extra.on('error', () => {});
        extra.write('GET /healthz HTTP/1.1\r\nhost: h\r\n\r\n');
        let received = '';
        extra.on('data', (c: Buffer) => (received += c.toString('latin1')));
        const after = await closed(extra, 250); // well before the headers timeout would
        assert.ok(after !== undefined, 'a connection over the cap stayed open');
        assert.equal(received, '', 'a connection over the cap was served');
      }
      let received = '';
      held[0]!.on('data', (c: Buffer) => (received += c.toString('latin1')));
      held[0]!.write('GET /healthz HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n');
      await closed(held[0]!, 2_000);
      assert.match(received, /^HTTP\/1\.1 200/);
    } finally {
      for (const s of held) s.destroy();
    }
  });

  it('a bad limit is a config error naming it', () => {
    // Checked at load, before anything listens.
    const load = (server: Record<string, unknown>) => () => validateConfig({ clients: [{ name: 'x', key: 'k'.repeat(16), apps: ['*'] }], apps: {}, server });
    assert.throws(load({ headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 }), /server\.headersTimeoutMs: must not be longer than server\.requestTimeoutMs/);
    assert.throws(load({ maxConnection: 5 }), /server\.maxConnection: unknown key/);
  });
});
