import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { decrypt, getSignature } from '@wecom/crypto';
import { cdata, plainSignature, seal, xml } from '../../src/sim/index.js';
import { WECOM_URL_CHECK as VECTOR } from '../providers/third-party/vectors.js';
import { parseXml } from './wx-receiver.js';


describe('WXBizMsgCrypt pushes of the simulators', () => {
  it('@wecom/crypto opens the official vector', () => {
    assert.equal(getSignature(VECTOR.token, VECTOR.timestamp, VECTOR.nonce, VECTOR.echostr), VECTOR.signature);
    const { message, id } = decrypt(VECTOR.encodingAESKey, VECTOR.echostr);
    assert.equal(message, VECTOR.plaintext);
    assert.equal(id, VECTOR.receiveId);
  });

  it('seals the vector byte for byte given its random bytes, timestamp and nonce', () => {
    const { random } = decrypt(VECTOR.encodingAESKey, VECTOR.echostr);
    const sealed = seal(VECTOR, VECTOR.plaintext, 0, { timestamp: VECTOR.timestamp, nonce: VECTOR.nonce, random });
    assert.deepEqual(sealed, { encrypt: VECTOR.echostr, timestamp: VECTOR.timestamp, nonce: VECTOR.nonce, msgSignature: VECTOR.signature });
  });

  it('seals a message that opens with its receive id, padded to 32-byte blocks, stamped by the clock', () => {
    const message = xml({ SuiteId: 'wwsuite', InfoType: 'suite_ticket', TimeStamp: 1403610513, SuiteTicket: 'asdfasfdasdfasdf' });
    const sealed = seal(VECTOR, message, 1_800_000_000_500);
    assert.equal(sealed.timestamp, '1800000000');
    assert.match(sealed.nonce, /^\d{9,10}$/);
    assert.equal(Buffer.from(sealed.encrypt, 'base64').length % 32, 0);
    assert.equal(sealed.msgSignature, getSignature(VECTOR.token, sealed.timestamp, sealed.nonce, sealed.encrypt));
    assert.deepEqual(decrypt(VECTOR.encodingAESKey, sealed.encrypt).message, message);
    assert.notEqual(seal(VECTOR, message, 0).encrypt, seal(VECTOR, message, 0).encrypt, 'a fresh random prefix each time');
  });

  it('writes XML with CDATA text and bare numbers, a "]]>" inside a value surviving', () => {
    assert.equal(xml({ AppId: 'wx1', CreateTime: 1413192605 }), '<xml><AppId><![CDATA[wx1]]></AppId><CreateTime>1413192605</CreateTime></xml>');
    assert.equal(cdata('a]]>b'), '<![CDATA[a]]]]><![CDATA[>b]]>');
    assert.deepEqual(parseXml(xml({ Tricky: 'x]]><Encrypt>forged</Encrypt>', N: 7 })), { Tricky: 'x]]><Encrypt>forged</Encrypt>', N: '7' });
  });

  it('computes the plain signature WeChat sends beside msg_signature: the sorted token, timestamp and nonce', () => {
    const expected = createHash('sha1').update('1409659589263014780token').digest('hex');
    assert.equal(plainSignature('token', '1409659589', '263014780'), expected);
  });
});
