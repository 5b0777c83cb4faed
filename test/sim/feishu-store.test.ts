import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { decryptEvent, eventSignature } from '../../src/providers/feishu-events.js';
import { FEISHU_ENDPOINTS, FeishuSim, startSimulators, type FeishuSimOptions } from '../../src/sim/index.js';
import { eventually } from '../helpers/stack.js';

const STORE = { appId: 'cli_store', appSecret: 'store-secret', verificationToken: 'vt-1', encryptKey: 'ek-1' };
const AUTH = '/open-apis/auth/v3';

/** An event URL that records what is pushed to it. */
async function receiver(t: TestContext): Promise<{ url: string; received: { headers: IncomingHttpHeaders; body: string }[] }> {
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      res.setHeader('content-type', 'application/json');
      const parsed = JSON.parse(body);
      const plain = parsed.encrypt ? JSON.parse(decryptEvent(parsed.encrypt, STORE.encryptKey)) : parsed;
      res.end(JSON.stringify(plain.type === 'url_verification' ? { challenge: plain.challenge } : {}));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`, received };
}

async function start(t: TestContext, options: Partial<FeishuSimOptions> = {}) {
  let clock = 1_800_000_000_000;
  const sim = new FeishuSim({ apps: [], storeApps: [STORE], now: () => clock, ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  const post = async (path: string, body: unknown): Promise<any> =>
    (await fetch(sims.baseUrl('feishu') + AUTH + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();
  return { sim, post, tick: (ms: number) => void (clock += ms) };
}

const opened = (body: string): any => {
  const parsed = JSON.parse(body);
  return JSON.parse(decryptEvent(parsed.encrypt, STORE.encryptKey));
};

describe('FeishuSim store apps', () => {
  it('pushes an encrypted, signed app_ticket after a resend, which then buys an app token', async (t) => {
    const { url, received } = await receiver(t);
    const { sim, post } = await start(t);
    sim.setEventUrl(STORE.appId, url);
    assert.deepEqual(await post('/app_ticket/resend', { app_id: STORE.appId, app_secret: STORE.appSecret }), { code: 0, msg: 'ok' });
    await eventually(() => received.length === 1);
    const [push] = received;
    const { 'x-lark-request-timestamp': ts, 'x-lark-request-nonce': nonce, 'x-lark-signature': signature } = push!.headers;
    assert.equal(signature, eventSignature(String(ts), String(nonce), STORE.encryptKey, Buffer.from(push!.body)));
    const event = opened(push!.body);
    assert.equal(event.schema, '2.0');
    assert.equal(event.header.event_type, 'app_ticket');
    assert.equal(event.header.token, STORE.verificationToken);
    assert.equal(event.event.app_id, STORE.appId);

    const answer = await post('/app_access_token', { app_id: STORE.appId, app_secret: STORE.appSecret, app_ticket: event.event.app_ticket });
    assert.equal(answer.code, 0);
    assert.match(answer.app_access_token, /^a-/);
    assert.equal(sim.counters.count(FEISHU_ENDPOINTS.resend, STORE.appId), 1);
    assert.equal(sim.counters.count(FEISHU_ENDPOINTS.push, STORE.appId), 1);
  });

  it('refuses a wrong, revoked or expired ticket with 10012', async (t) => {
    const { sim, post, tick } = await start(t, { ticketLifetimeSeconds: 60 });
    const ask = (ticket: string) => post('/app_access_token', { app_id: STORE.appId, app_secret: STORE.appSecret, app_ticket: ticket });
    assert.equal((await ask('made-up')).code, 10012);
    const { ticket, status } = await sim.pushTicket(STORE.appId);
    assert.equal(status, 0, 'pushed although no event URL is set');
    assert.equal((await ask(ticket)).code, 0);
    tick(60_000);
    assert.equal((await ask(ticket)).code, 10012);
    const { ticket: next } = await sim.pushTicket(STORE.appId);
    sim.revokeTickets(STORE.appId);
    assert.equal((await ask(next)).code, 10012);
  });

  it('issues one tenant token per tenant_key under the 30-minute rule, and refuses a bad app token', async (t) => {
    const { sim, post, tick } = await start(t);
    const { ticket } = await sim.pushTicket(STORE.appId);
    const appToken = (await post('/app_access_token', { app_id: STORE.appId, app_secret: STORE.appSecret, app_ticket: ticket })).app_access_token;
    const tenant = async (key: string) => (await post('/tenant_access_token', { app_access_token: appToken, tenant_key: key })).tenant_access_token;
    const a = await tenant('ta');
    const b = await tenant('tb');
    assert.notEqual(a, b);
    tick(60_000);
    assert.equal(await tenant('ta'), a, 'a new token with more than 30 minutes left');
    tick(5400_000);
    const a2 = await tenant('ta');
    assert.notEqual(a2, a, 'the same token with less than 30 minutes left');
    assert.ok(sim.isValid(a) && sim.isValid(a2));
    assert.equal((await post('/tenant_access_token', { app_access_token: 'a-made-up', tenant_key: 'ta' })).code, 99991664);
    assert.equal((await post('/tenant_access_token', { app_access_token: appToken })).code, 10003);
  });

  it('sends url_verification encrypted and unsigned, and pushes schema 1.0 when told', async (t) => {
    const { url, received } = await receiver(t);
    const { sim } = await start(t);
    sim.setEventUrl(STORE.appId, url);
    assert.equal(await sim.verifyEventUrl(STORE.appId), true);
    assert.equal(received[0]!.headers['x-lark-signature'], undefined);
    assert.equal(opened(received[0]!.body).type, 'url_verification');
    const pushed = await sim.pushTicket(STORE.appId, { schema: '1.0' });
    assert.equal(pushed.status, 200);
    const event = opened(received[1]!.body);
    assert.equal(event.type, 'event_callback');
    assert.equal(event.token, STORE.verificationToken);
    assert.deepEqual(event.event, { app_id: STORE.appId, app_ticket: pushed.ticket, type: 'app_ticket' });
  });

  it('pushes periodically when asked', async (t) => {
    const { url, received } = await receiver(t);
    const { sim } = await start(t, { ticketPushIntervalSeconds: 0.1 });
    sim.setEventUrl(STORE.appId, url);
    await eventually(() => received.length >= 2, 3000);
  });
});
