import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import type { EventReceiver } from '../../src/core/types.js';
import { MessageCrypto } from '../../src/providers/third-party/msg-crypto.js';
import { buildXmlRecord } from '../../src/providers/third-party/xml.js';
import { ALL_APPS_KEY, FAKE_APP, FakeThirdPartyProvider, fakeServer } from '../helpers/third-party.js';

const FAKE = FAKE_APP;
const crypto = new MessageCrypto(FAKE);
let nonces = 0;

/** A push as the platform sends it: the sealed message in an `<xml>` body, the signature in the query. */
function pushOf(fields: Record<string, string>, options: { receiveId?: string; at?: number; sealer?: MessageCrypto } = {}) {
  const sealed = (options.sealer ?? crypto).seal(buildXmlRecord(fields), options.receiveId ?? FAKE.appId, {
    timestamp: String(Math.floor((options.at ?? Date.now()) / 1000)),
    nonce: String(1_000_000 + ++nonces),
  });
  return {
    url: `/v1/apps/tp/events?timestamp=${sealed.timestamp}&nonce=${sealed.nonce}&encrypt_type=aes&msg_signature=${sealed.signature}`,
    body: buildXmlRecord({ AppId: FAKE.appId, Encrypt: sealed.encrypt }),
  };
}

describe('the events URL of a third-party app', () => {
  const open: ReturnType<typeof fakeServer>[] = [];
  const fresh = (provider?: FakeThirdPartyProvider) => {
    const fake = fakeServer(undefined, provider);
    open.push(fake);
    return fake;
  };
  afterEach(async () => {
    for (const fake of open.splice(0)) await fake.close();
  });
  const post = (fake: ReturnType<typeof fakeServer>, push: { url: string; body: string }, contentType: string | null = 'text/xml; charset=utf-8') =>
    fake.server.inject({ method: 'POST', url: push.url, payload: push.body, headers: contentType === null ? {} : { 'content-type': contentType } });

  it("answers the GET URL check with the echostr's plaintext as text, without a client key", async () => {
    const fake = fresh();
    const timestamp = String(Math.floor(Date.now() / 1000));
    const echostr = crypto.encrypt('8342159773405843520', FAKE.corpId);
    const signature = crypto.signature(timestamp, '5381', echostr);
    const res = await fake.server.inject({ method: 'GET', url: `/v1/apps/tp/events?msg_signature=${signature}&timestamp=${timestamp}&nonce=5381&echostr=${encodeURIComponent(echostr)}` });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.body, '8342159773405843520');
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    // The echostr as some senders write it, its + unencoded: read as spaces, taken back.
    const raw = await fake.server.inject({ method: 'GET', url: `/v1/apps/tp/events?msg_signature=${signature}&timestamp=${timestamp}&nonce=5381&echostr=${echostr.replaceAll('/', '%2F').replaceAll('=', '%3D')}` });
    assert.equal(raw.body, '8342159773405843520');
    const forged = await fake.server.inject({ method: 'GET', url: `/v1/apps/tp/events?msg_signature=${'0'.repeat(40)}&timestamp=${timestamp}&nonce=5381&echostr=${encodeURIComponent(echostr)}` });
    assert.equal(forged.statusCode, 401);
    assert.equal(forged.json().error.code, 'TOKENHUB_UNAUTHORIZED');
  });

  it('a GET on the events URL of an app whose receiver takes only POST is a 404', async () => {
    const provider = new FakeThirdPartyProvider(FAKE);
    const postOnly: EventReceiver = { methods: ['POST'], receive: provider.events.receive };
    Object.defineProperty(provider, 'events', { value: postOnly });
    const fake = fresh(provider);
    const res = await fake.server.inject({ method: 'GET', url: '/v1/apps/tp/events?echostr=x' });
    assert.equal(res.statusCode, 404);
    assert.equal(res.json().error.code, 'TOKENHUB_NOT_FOUND');
  });

  it("takes an encrypted XML push whatever its content type, answers `success` as text, and keeps the ticket: the app's token can be had", async () => {
    const fake = fresh();
    for (const contentType of ['text/xml; charset=utf-8', 'application/xml', null]) {
      const res = await post(fake, pushOf({ InfoType: 'ticket', Ticket: `ticket-${contentType}` }), contentType);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.body, 'success');
      assert.match(String(res.headers['content-type']), /^text\/plain/);
      assert.equal(await fake.broker.state('tp').get('ticket'), `ticket-${contentType}`);
    }
    const token = await fake.server.inject({ method: 'GET', url: '/v1/apps/tp/tokens/app_token', headers: { authorization: `Bearer ${ALL_APPS_KEY}` } });
    assert.equal(token.statusCode, 200, token.body);
  });

  it("an authorization push is exchanged and kept as the tenant's grant; a cancellation push deletes it", async () => {
    const fake = fresh();
    await post(fake, pushOf({ InfoType: 'ticket', Ticket: 't1' }));
    const code = fake.provider.issueCode('wx_pushed', 'Pushed Corp');
    assert.equal((await post(fake, pushOf({ InfoType: 'auth', AuthCode: code }))).body, 'success');
    const grant = await fake.broker.grants('tp').get('tenant:wx_pushed');
    assert.equal(grant?.version, 1);
    assert.equal((await post(fake, pushOf({ InfoType: 'cancel', TenantKey: 'wx_pushed' }))).body, 'success');
    assert.equal(await fake.broker.grants('tp').get('tenant:wx_pushed'), undefined);
  });

  it('a push whose handling fails changes nothing, and its redelivery is taken', async () => {
    const fake = fresh();
    await post(fake, pushOf({ InfoType: 'ticket', Ticket: 't1' }));
    const code = fake.provider.issueCode('wx_retry');
    const push = pushOf({ InfoType: 'auth', AuthCode: code });
    fake.provider.failNextExchange = true;
    const failed = await post(fake, push);
    assert.equal(failed.statusCode, 503, failed.body);
    assert.equal(failed.json().error.code, 'TOKENHUB_PLATFORM_UNAVAILABLE');
    assert.equal(await fake.broker.grants('tp').get('tenant:wx_retry'), undefined);
    // The fake's platform took the code before it failed; let it take it again, as on a retry.
    fake.provider.codes.set(code, { tenantKey: 'wx_retry', name: 'again' });
    const again = await post(fake, push);
    assert.equal(again.statusCode, 200, again.body);
    assert.equal((await fake.broker.grants('tp').get('tenant:wx_retry'))?.version, 1);
  });

  it('refuses forged, stale, misaddressed, undecryptable and replayed pushes (4xx), keeping nothing', async () => {
    const fake = fresh();
    const other = new MessageCrypto({ token: FAKE.token, encodingAESKey: 'ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkj' });
    const good = pushOf({ InfoType: 'ticket', Ticket: 'kept' });
    const cases: [string, { url: string; body: string }, number, string][] = [
      ['a forged signature', { ...good, url: good.url.replace(/msg_signature=[0-9a-f]+/, `msg_signature=${'a'.repeat(40)}`) }, 401, 'TOKENHUB_UNAUTHORIZED'],
      ['no signature', { ...good, url: good.url.replace(/&msg_signature=[0-9a-f]+/, '') }, 401, 'TOKENHUB_UNAUTHORIZED'],
      ['a stale one', pushOf({ InfoType: 'ticket', Ticket: 'stale' }, { at: Date.now() - 600_000 }), 401, 'TOKENHUB_UNAUTHORIZED'],
      ['one for another receiver', pushOf({ InfoType: 'ticket', Ticket: 'theirs' }, { receiveId: 'another_component' }), 400, 'TOKENHUB_BAD_REQUEST'],
      ['one under another key', pushOf({ InfoType: 'ticket', Ticket: 'other' }, { sealer: other }), 400, 'TOKENHUB_BAD_REQUEST'],
      ['a body that is not XML', { ...good, body: '{"Encrypt":"x"}' }, 400, 'TOKENHUB_BAD_REQUEST'],
      ['an XXE attempt', { ...good, body: `<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>${good.body}` }, 400, 'TOKENHUB_BAD_REQUEST'],
    ];
    for (const [what, push, status, code] of cases) {
      const res = await post(fake, push);
      assert.equal(res.statusCode, status, `${what}: ${res.body}`);
      assert.equal(res.json().error.code, code, what);
      assert.equal(await fake.broker.state('tp').get('ticket'), undefined, `${what} was kept`);
    }
    assert.equal((await post(fake, good)).body, 'success');
    const replay = await post(fake, good);
    assert.equal(replay.statusCode, 409);
    assert.equal(replay.json().error.code, 'TOKENHUB_EVENT_REPLAYED');
  });
});
