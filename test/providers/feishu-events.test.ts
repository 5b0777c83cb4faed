import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { EventRejected, decryptEvent, eventSignature, openEvent, type EventSecrets, type OpenedEvent } from '../../src/providers/feishu-events.js';
import { buildEvent } from '../../src/sim/index.js';

const SECRETS: EventSecrets = { appId: 'cli_a1', verificationToken: 'vt-0123456789', encryptKey: 'ek-abcdefghij' };
const NOW = 1_800_000_000_000;

function rejected(status: number, pattern: RegExp): (err: unknown) => boolean {
  return (err) => err instanceof EventRejected && err.status === status && pattern.test(err.message);
}

describe('decryptEvent', () => {
  it('decrypts the vector from Feishu\'s documentation', () => {
    // From the platform's event-subscription guide: encrypt key "test key".
    assert.equal(decryptEvent('P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=', 'test key'), 'hello world');
  });

  it('refuses a wrong key, a short body and what is not base64', () => {
    assert.throws(() => decryptEvent('P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=', 'another key'), rejected(400, /cannot be decrypted/));
    assert.throws(() => decryptEvent('AAAA', 'test key'), rejected(400, /length/));
    assert.throws(() => decryptEvent('not*base64', 'test key'), rejected(400, /base64/));
  });
});

describe('eventSignature', () => {
  it('is the hex SHA-256 of timestamp + nonce + encrypt key + raw body', () => {
    const raw = Buffer.from('{"encrypt":"abc"}');
    const expected = createHash('sha256').update('1700000000' + 'nonce' + 'key' + '{"encrypt":"abc"}').digest('hex');
    assert.equal(eventSignature('1700000000', 'nonce', 'key', raw), expected);
  });
});

describe('openEvent', () => {
  const ticket2 = { schema: '2.0', header: { event_type: 'app_ticket', token: SECRETS.verificationToken, app_id: 'cli_a1' }, event: { app_id: 'cli_a1', app_ticket: 'T2', type: 'app_ticket' } };
  const ticket1 = { type: 'event_callback', token: SECRETS.verificationToken, event: { app_id: 'cli_a1', app_ticket: 'T1', type: 'app_ticket' } };
  const open = (event: unknown, options: Parameters<typeof buildEvent>[2] = {}, secrets = SECRETS) => {
    const built = buildEvent(SECRETS, event, { timestamp: NOW / 1000, ...options });
    return openEvent(Buffer.from(built.body), built.headers, secrets, { now: NOW });
  };

  /** The event without its identity, for comparing what was read. */
  const read = (opened: OpenedEvent): Record<string, unknown> => {
    const { identity: _identity, ...rest } = opened;
    return rest;
  };

  it('reads app tickets of both schemas, encrypted and signed', () => {
    assert.deepEqual(read(open(ticket2)), { type: 'app_ticket', ticket: 'T2' });
    assert.deepEqual(read(open(ticket1)), { type: 'app_ticket', ticket: 'T1' });
  });

  it("reads each delivery's identity: event id, create time and the signature's nonce and time", () => {
    const two = open({ ...ticket2, header: { ...ticket2.header, event_id: 'ev-2', create_time: String(NOW - 1_000) } }, { timestamp: NOW / 1000 - 5 });
    assert.equal(two.identity.eventId, 'ev-2');
    assert.equal(two.identity.createdAt, NOW - 1_000);
    assert.equal(two.identity.signedAt, NOW - 5_000);
    assert.match(two.identity.nonce ?? '', /^[0-9a-f]{16}$/);
    const one = open({ ...ticket1, uuid: 'uuid-1', ts: String((NOW - 2_000) / 1000 + 0.25) });
    assert.equal(one.identity.eventId, 'uuid-1');
    assert.equal(one.identity.createdAt, NOW - 1_750);
    assert.throws(() => open({ ...ticket1, ts: 'yesterday' }), rejected(400, /ts is not a time/));
    assert.throws(() => open({ ...ticket2, header: { ...ticket2.header, event_id: 'x'.repeat(200) } }), rejected(400, /event_id/));
  });

  it('reads plain events when the app has no encrypt key', () => {
    const plain = { appId: 'cli_a1', verificationToken: SECRETS.verificationToken };
    assert.deepEqual(read(openEvent(Buffer.from(JSON.stringify(ticket1)), {}, plain, { now: NOW })), { type: 'app_ticket', ticket: 'T1' });
    assert.throws(() => open(ticket1, {}, plain), rejected(400, /no encryptKey/));
  });

  it('with an encrypt key, refuses every unsigned event but url_verification', () => {
    assert.throws(() => open(ticket2, { sign: false }), rejected(401, /unsigned event/));
    assert.throws(() => open(ticket1, { sign: false }), rejected(401, /unsigned event/));
    const message = { ...ticket2, header: { ...ticket2.header, event_type: 'im.message.receive_v1' }, event: {} };
    assert.throws(() => open(message, { sign: false }), rejected(401, /unsigned event/));
    assert.equal(open({ type: 'url_verification', challenge: 'ch', token: SECRETS.verificationToken }, { sign: false }).type, 'url_verification');
  });

  it('answers url_verification and acknowledges other events without using them', () => {
    assert.deepEqual(read(open({ type: 'url_verification', challenge: 'ch', token: SECRETS.verificationToken }, { sign: false })), { type: 'url_verification', challenge: 'ch' });
    const message = { ...ticket2, header: { ...ticket2.header, event_type: 'im.message.receive_v1' }, event: {} };
    assert.deepEqual(read(open(message)), { type: 'other', eventType: 'im.message.receive_v1' });
  });

  it('takes a signature within 5 minutes of now and refuses one beyond', () => {
    assert.equal(open(ticket2, { timestamp: NOW / 1000 - 290 }).type, 'app_ticket');
    assert.throws(() => open(ticket2, { timestamp: NOW / 1000 - 310 }), rejected(401, /stale/));
    assert.throws(() => open(ticket2, { timestamp: NOW / 1000 + 310 }), rejected(401, /stale/));
  });

  it('refuses a wrong token in either schema, and a ticket for another app', () => {
    assert.throws(() => open({ ...ticket1, token: 'x' }), rejected(401, /verification token/));
    assert.throws(() => open({ ...ticket2, header: { ...ticket2.header, token: undefined } }), rejected(401, /verification token/));
    assert.throws(() => open({ ...ticket2, header: { ...ticket2.header, app_id: 'cli_b2' } }), rejected(400, /not for this app/));
    assert.throws(() => open({ ...ticket1, event: { ...ticket1.event, app_id: 'cli_b2' } }), rejected(400, /not for this app/));
    assert.throws(() => open({ ...ticket1, event: { ...ticket1.event, app_ticket: '' } }), rejected(400, /no app_ticket/));
  });

  it('refuses shapes it does not know', () => {
    for (const body of ['[]', 'null', '"x"', '{"type":"something"}', '{"schema":"2.0"}']) {
      assert.throws(() => openEvent(Buffer.from(body), {}, { appId: 'cli_a1', verificationToken: 'vt' }, { now: NOW }), EventRejected, body);
    }
  });
});
