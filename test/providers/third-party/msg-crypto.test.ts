import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { MessageCrypto } from '../../../src/providers/third-party/msg-crypto.js';
import { parseXmlRecord } from '../../../src/providers/third-party/xml.js';
import { WECHAT_ENCRYPT, WECHAT_PUSH, WECOM_PUSH, WECOM_URL_CHECK } from './vectors.js';

const rejected = (status: number, message: RegExp) => ({ name: 'EventRejected', status, message });

describe('message crypto: the official vectors', () => {
  it("WeCom's URL check (PLATFORMS.md): the signature over the echostr, and its plaintext for the receive id", () => {
    const v = WECOM_URL_CHECK;
    const crypto = new MessageCrypto(v);
    assert.equal(crypto.signature(v.timestamp, v.nonce, v.echostr), v.signature);
    assert.equal(crypto.verify(v.signature, v.timestamp, v.nonce, v.echostr), true);
    assert.equal(crypto.verify(v.signature.toUpperCase(), v.timestamp, v.nonce, v.echostr), true, 'hex is hex in either case');
    assert.deepEqual(crypto.decrypt(v.echostr), { message: v.plaintext, receiveId: v.receiveId });
  });

  for (const [name, v] of [['WeCom sample', WECOM_PUSH], ['WeChat Sample.py', WECHAT_PUSH]] as const) {
    it(`${name}: a push's signature and its decrypted document`, () => {
      const crypto = new MessageCrypto(v);
      assert.equal(crypto.signature(v.timestamp, v.nonce, v.encrypt), v.signature);
      const opened = crypto.decrypt(v.encrypt);
      assert.equal(opened.receiveId, v.receiveId);
      assert.deepEqual(parseXmlRecord(opened.message), v.fields);
    });
  }

  it("WeChat WXBizMsgCryptTest: encryption with a fixed random gives the sample's ciphertext, byte lengths counted in UTF-8", () => {
    const v = WECHAT_ENCRYPT;
    const crypto = new MessageCrypto({ token: 'pamtest', encodingAESKey: v.encodingAESKey });
    for (const { message, encrypt } of [v.short, v.long]) {
      assert.equal(crypto.encrypt(message, v.receiveId, Buffer.from(v.random)), encrypt);
      assert.deepEqual(crypto.decrypt(encrypt), { message, receiveId: v.receiveId });
    }
  });
});

describe('message crypto', () => {
  const secrets = { token: 'test-token', encodingAESKey: randomBytes(32).toString('base64').slice(0, 43).replace(/[+/]/g, 'A') };

  it('round-trips any message; a fresh random each time, so equal messages encrypt differently', () => {
    const crypto = new MessageCrypto(secrets);
    for (const message of ['', 'x', 'é'.repeat(31), '<xml>' + 'a'.repeat(5000) + '</xml>']) {
      const a = crypto.encrypt(message, 'wx_component');
      assert.deepEqual(crypto.decrypt(a), { message, receiveId: 'wx_component' });
      assert.notEqual(crypto.encrypt(message, 'wx_component'), a);
      // PKCS#7 to 32 bytes: 20 + message + id, rounded up to the next multiple of 32.
      const plain = 20 + Buffer.byteLength(message) + 'wx_component'.length;
      assert.equal(Buffer.from(a, 'base64').length, (Math.floor(plain / 32) + 1) * 32);
    }
  });

  it('seal and reply: a signed envelope that verifies, with TimeStamp as a number', () => {
    const crypto = new MessageCrypto(secrets);
    const sealed = crypto.seal('<xml><A>1</A></xml>', 'suite1', { timestamp: '1764600000', nonce: '12345' });
    assert.equal(crypto.verify(sealed.signature, sealed.timestamp, sealed.nonce, sealed.encrypt), true);
    const reply = crypto.reply('success', 'suite1', { timestamp: '1764600000', nonce: '999' });
    assert.match(reply, /^<xml><Encrypt><!\[CDATA\[[A-Za-z0-9+/=]+\]\]><\/Encrypt><MsgSignature><!\[CDATA\[[0-9a-f]{40}\]\]><\/MsgSignature><TimeStamp>1764600000<\/TimeStamp><Nonce><!\[CDATA\[999\]\]><\/Nonce><\/xml>$/);
    const fields = parseXmlRecord(reply);
    assert.equal(crypto.verify(fields.MsgSignature!, fields.TimeStamp!, fields.Nonce!, fields.Encrypt!), true);
    assert.deepEqual(crypto.decrypt(fields.Encrypt!), { message: 'success', receiveId: 'suite1' });
    assert.throws(() => crypto.seal('x', 'suite1', { timestamp: 'soon', nonce: '1' }), /timestamp/);
  });

  it('verify is false for a wrong signature, whatever its shape', () => {
    const crypto = new MessageCrypto(WECOM_URL_CHECK);
    const v = WECOM_URL_CHECK;
    for (const bad of ['', 'zz', v.signature.slice(0, 39), `${v.signature}0`, v.signature.replace(/^./, (c) => (c === '5' ? '6' : '5'))]) {
      assert.equal(crypto.verify(bad, v.timestamp, v.nonce, v.echostr), false, bad);
    }
    assert.equal(crypto.verify(v.signature, v.timestamp, '263014781', v.echostr), false, 'the nonce is signed');
    assert.equal(new MessageCrypto({ ...v, token: 'other' }).verify(v.signature, v.timestamp, v.nonce, v.echostr), false, 'the token is signed');
  });

  it('open refuses (400) what is not base64 of whole blocks, a wrong key, broken padding, and a message for another receiver', () => {
    const crypto = new MessageCrypto(WECOM_URL_CHECK);
    const ids = [WECOM_URL_CHECK.receiveId];
    for (const bad of ['', 'not base64!', 'QUJD', Buffer.alloc(48).toString('base64'), `${WECOM_URL_CHECK.echostr}AAAA`]) {
      assert.throws(() => crypto.open(bad, ids), rejected(400, /encrypted message/), bad);
    }
    const otherKey = new MessageCrypto({ token: 'x', encodingAESKey: 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG' });
    for (let i = 0; i < 200; i++) {
      const encrypted = otherKey.encrypt(`message ${i}`, 'wx5823bf96d3bd56c7');
      assert.throws(() => crypto.open(encrypted, ids), rejected(400, /cannot be decrypted with the configured encodingAESKey/));
    }
    assert.throws(() => crypto.open(crypto.encrypt('x', 'ww_other_suite'), ids), rejected(400, /encrypted for receive id ww_other_suite, not for this app \(wx5823bf96d3bd56c7\)/));
    assert.deepEqual(crypto.open(crypto.encrypt('personal', ''), ['']), { message: 'personal', receiveId: '' }, 'an empty receive id, when listed');
    // The right key, a padding no PKCS#7 encoder writes (a last byte of 0x40).
    const key = Buffer.from(`${WECOM_URL_CHECK.encodingAESKey}=`, 'base64');
    const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16)).setAutoPadding(false);
    const plain = Buffer.concat([randomBytes(16), Buffer.from([0, 0, 0, 1]), Buffer.from('x'), Buffer.from('wx5823bf96d3bd56c7'), Buffer.alloc(25, 0x40)]);
    const broken = Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64');
    assert.throws(() => crypto.open(broken, ids), rejected(400, /cannot be decrypted/));
  });

  it('refuses a token or an EncodingAESKey of the wrong form, naming it', () => {
    assert.throws(() => new MessageCrypto({ token: '', encodingAESKey: WECOM_URL_CHECK.encodingAESKey }), { name: 'TypeError', message: /^token:/ });
    for (const key of ['', 'short', `${WECOM_URL_CHECK.encodingAESKey}=`, WECOM_URL_CHECK.encodingAESKey.replace('j', '+')]) {
      assert.throws(() => new MessageCrypto({ token: 't', encodingAESKey: key }), { name: 'TypeError', message: /^encodingAESKey:/ }, key);
    }
  });
});
