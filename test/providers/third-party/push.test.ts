import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { StateAccess } from '../../../src/core/types.js';
import { MessageCrypto } from '../../../src/providers/third-party/msg-crypto.js';
import { PUSH_STATE, PushChecker } from '../../../src/providers/third-party/push.js';
import { buildXmlRecord } from '../../../src/providers/third-party/xml.js';
import { MemoryStore } from '../../../src/stores/memory.js';
import { WECHAT_PUSH, WECOM_PUSH, WECOM_URL_CHECK } from './vectors.js';

const stores: MemoryStore[] = [];
after(async () => {
  for (const store of stores) await store.close();
});

/** An app's state in a store of its own, and what it holds (to show a refusal changed nothing). */
function appState(store = new MemoryStore()): StateAccess & { names: Set<string> } {
  stores.push(store);
  const names = new Set<string>();
  return {
    names,
    get: (name) => store.getState(name),
    set: async (name, value, ttlMs) => void (names.add(name), await store.setState(name, value, ttlMs)),
    add: async (name, value, ttlMs) => {
      const added = await store.addState(name, value, ttlMs);
      if (added) names.add(name);
      return added;
    },
    delete: async (name) => void (names.delete(name), await store.deleteState(name)),
  };
}

const wecomBody = buildXmlRecord({ ToUserName: WECOM_PUSH.receiveId, Encrypt: WECOM_PUSH.encrypt, AgentID: '218' });
const wecomQuery = { msg_signature: WECOM_PUSH.signature, timestamp: WECOM_PUSH.timestamp, nonce: WECOM_PUSH.nonce };
const wecomAt = Number(WECOM_PUSH.timestamp) * 1000;
const wecom = (options: Partial<ConstructorParameters<typeof PushChecker>[0]> = {}) =>
  new PushChecker({ token: WECOM_PUSH.token, encodingAESKey: WECOM_PUSH.encodingAESKey, receiveIds: [WECOM_PUSH.receiveId], ...options });
const push = (raw: string | Buffer = wecomBody, query: Record<string, string | undefined> = wecomQuery) => ({ raw: Buffer.from(raw), query });
const rejected = (status: number, message: RegExp) => ({ name: 'EventRejected', status, message });

describe('push checker', () => {
  it('takes the official WeCom push: its fields, its envelope, its receive id and its time; the marker is in the app state', async () => {
    const state = appState();
    const taken = await wecom().open(push(), state, wecomAt + 2_000);
    assert.deepEqual(taken.fields, WECOM_PUSH.fields);
    assert.deepEqual(taken.envelope, { ToUserName: WECOM_PUSH.receiveId, AgentID: '218' });
    assert.equal(taken.receiveId, WECOM_PUSH.receiveId);
    assert.equal(taken.signedAt, wecomAt);
    assert.equal(taken.nonce, WECOM_PUSH.nonce);
    assert.equal(state.names.size, 1);
    assert.ok([...state.names][0]!.startsWith(PUSH_STATE.seen));
    assert.ok(![...state.names][0]!.includes(WECOM_PUSH.nonce), 'the marker names the nonce');
  });

  it('takes the official WeChat push (an <AppId>-less envelope is fine too)', async () => {
    const checker = new PushChecker({ token: WECHAT_PUSH.token, encodingAESKey: WECHAT_PUSH.encodingAESKey, receiveIds: [WECHAT_PUSH.receiveId] });
    const body = buildXmlRecord({ ToUserName: 'gh_10f6c3c3ac5a', Encrypt: WECHAT_PUSH.encrypt });
    const query = { signature: 'ignored', timestamp: WECHAT_PUSH.timestamp, nonce: WECHAT_PUSH.nonce, encrypt_type: 'aes', msg_signature: WECHAT_PUSH.signature };
    const taken = await checker.open(push(body, query), appState(), Number(WECHAT_PUSH.timestamp) * 1000);
    assert.deepEqual(taken.fields, WECHAT_PUSH.fields);
  });

  it("answers the official URL check with the echostr's plaintext, for the URL check's receive ids, marking nothing", () => {
    const v = WECOM_URL_CHECK;
    const query = { msg_signature: v.signature, timestamp: v.timestamp, nonce: v.nonce, echostr: v.echostr };
    const now = Number(v.timestamp) * 1000;
    const checker = new PushChecker({ token: v.token, encodingAESKey: v.encodingAESKey, receiveIds: ['ww_suite_id'], urlCheckReceiveIds: [v.receiveId] });
    assert.equal(checker.checkUrl(query, now).message, v.plaintext);
    assert.equal(checker.checkUrl(query, now).message, v.plaintext, 'a check again is answered again');
    // A query parser that took the echostr's + for spaces.
    assert.equal(checker.checkUrl({ ...query, echostr: v.echostr.replaceAll('+', ' ') }, now).message, v.plaintext);
    const suiteOnly = new PushChecker({ token: v.token, encodingAESKey: v.encodingAESKey, receiveIds: ['ww_suite_id'] });
    assert.throws(() => suiteOnly.checkUrl(query, now), rejected(400, /encrypted for receive id wx5823bf96d3bd56c7, not for this app \(ww_suite_id\)/));
    assert.throws(() => checker.checkUrl({ ...query, echostr: undefined }, now), rejected(400, /no echostr/));
    assert.throws(() => checker.checkUrl({ ...query, msg_signature: '0'.repeat(40) }, now), rejected(401, /bad msg_signature/));
    assert.throws(() => checker.checkUrl(query, now + 301_000), rejected(401, /stale/));
  });

  describe('refuses, changing nothing', () => {
    const crypto = new MessageCrypto(WECOM_PUSH);
    /** A push sealed by `sealer` for `receiveId`, signed at `at` (ms). */
    const sealed = (sealer: MessageCrypto, receiveId: string, at: number, message = '<xml><InfoType><![CDATA[suite_ticket]]></InfoType></xml>') => {
      const s = sealer.seal(message, receiveId, { timestamp: String(Math.floor(at / 1000)), nonce: String(Math.floor(Math.random() * 1e9)) });
      return push(buildXmlRecord({ ToUserName: receiveId, Encrypt: s.encrypt }), { msg_signature: s.signature, timestamp: s.timestamp, nonce: s.nonce });
    };
    const cases: [string, () => ReturnType<typeof push>, number, RegExp][] = [
      ['a body that is not XML', () => push('{"encrypt":"x"}'), 400, /not a well-formed XML document/],
      ['XML with a DTD (XXE)', () => push(`<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>${wecomBody}`), 400, /document type declaration/],
      ['no <Encrypt>', () => push('<xml><ToUserName>x</ToUserName></xml>'), 400, /no <Encrypt>/],
      ['no signature', () => push(wecomBody, { timestamp: WECOM_PUSH.timestamp, nonce: WECOM_PUSH.nonce }), 401, /unsigned/],
      ['no nonce', () => push(wecomBody, { ...wecomQuery, nonce: undefined }), 401, /unsigned/],
      ['a timestamp that is no number', () => push(wecomBody, { ...wecomQuery, timestamp: '1409659813.5' }), 401, /not a number of seconds/],
      ['a bad signature', () => push(wecomBody, { ...wecomQuery, msg_signature: '477715d11cdb4164915debcba66cb864d751f3e7' }), 401, /bad msg_signature/],
      ['a malformed signature', () => push(wecomBody, { ...wecomQuery, msg_signature: 'not hex' }), 401, /bad msg_signature/],
      ['a body changed under its signature', () => push(wecomBody.replace(WECOM_PUSH.encrypt, WECOM_PUSH.encrypt.replace('Ryp', 'Ryq'))), 401, /bad msg_signature/],
      ['a signature more than 5 minutes old', () => sealed(crypto, WECOM_PUSH.receiveId, wecomAt - 301_000), 401, /stale push/],
      ['a signature more than 5 minutes ahead', () => sealed(crypto, WECOM_PUSH.receiveId, wecomAt + 301_000), 401, /stale push/],
      ['a wrong EncodingAESKey (signed with the right token)', () => sealed(new MessageCrypto({ token: WECOM_PUSH.token, encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' }), WECOM_PUSH.receiveId, wecomAt), 400, /cannot be decrypted with the configured encodingAESKey/],
      ['a push for another receiver', () => sealed(crypto, 'ww_another_suite', wecomAt), 400, /encrypted for receive id ww_another_suite/],
      ['a decrypted message that is not XML', () => sealed(crypto, WECOM_PUSH.receiveId, wecomAt, 'plain text'), 400, /XML/],
      ['a body over the limit', () => push(buildXmlRecord({ Encrypt: WECOM_PUSH.encrypt, Padding: 'x'.repeat(70_000) })), 400, /over 65536 bytes/],
    ];
    for (const [what, event, status, message] of cases) {
      it(`${what}: ${status}`, async () => {
        const state = appState();
        await assert.rejects(wecom().open(event(), state, wecomAt), rejected(status, message));
        assert.deepEqual([...state.names], [], 'a refused push left a marker');
      });
    }

    it('a replay: 409, on any instance sharing the store, within the window and after it (the timestamp is stale by then)', async () => {
      const store = new MemoryStore();
      const [one, two] = [appState(store), appState(store)];
      await wecom().open(push(), one, wecomAt);
      await assert.rejects(wecom().open(push(), two, wecomAt + 1_000), rejected(409, /replayed push/));
      await assert.rejects(wecom().open(push(), one, wecomAt + 299_000), rejected(409, /replayed push/));
      await assert.rejects(wecom().open(push(), one, wecomAt + 301_000), rejected(401, /stale/));
    });

    it('of the same push delivered to two instances at once, exactly one is taken', async () => {
      const store = new MemoryStore();
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => wecom().open(push(), appState(store), wecomAt)));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { status: number }).status, 409);
    });
  });

  it('accept gives the marker back when the handler fails, so that the redelivery is taken', async () => {
    const state = appState();
    const context = { state, now: () => wecomAt };
    await assert.rejects(
      wecom().accept(push(), context, async () => {
        throw new Error('the store did not answer');
      }),
      /the store did not answer/,
    );
    assert.deepEqual([...state.names], []);
    const answer = await wecom().accept(push(), context, async (p) => p.fields.Content);
    assert.equal(answer, 'hello');
    await assert.rejects(wecom().accept(push(), context, async () => 'again'), rejected(409, /replayed/));
  });

  it('the window is an option; the checker refuses a bad configuration by name', async () => {
    await wecom({ maxSkewMs: 3_600_000 }).open(push(), appState(), wecomAt + 3_000_000);
    assert.throws(() => wecom({ receiveIds: [] }), { name: 'TypeError', message: /^receiveIds:/ });
    assert.throws(() => wecom({ encodingAESKey: 'short' }), { name: 'TypeError', message: /^encodingAESKey:/ });
  });
});
