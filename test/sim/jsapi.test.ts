import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { JSAPI_VECTOR as VECTOR } from '../helpers/vectors.js';
import { cardSignature, jsapiSignature } from '../../src/sim/index.js';
import { verifyPageSignature, type SignatureCheck } from '../../src/sim/jsapi.js';
import { CallQuota, takeAll } from '../../src/sim/quota.js';
import type { SimToken } from '../../src/sim/tokens.js';


describe('jsapiSignature', () => {
  it('gives the official test vector, with the timestamp as a number or a string', () => {
    assert.equal(jsapiSignature(VECTOR.ticket, VECTOR.nonceStr, VECTOR.timestamp, VECTOR.url), VECTOR.signature);
    assert.equal(jsapiSignature(VECTOR.ticket, VECTOR.nonceStr, String(VECTOR.timestamp), VECTOR.url), VECTOR.signature);
  });

  it('signs the URL without its #fragment', () => {
    assert.equal(jsapiSignature(VECTOR.ticket, VECTOR.nonceStr, VECTOR.timestamp, `${VECTOR.url}#/page?x=1`), VECTOR.signature);
    assert.notEqual(jsapiSignature(VECTOR.ticket, VECTOR.nonceStr, VECTOR.timestamp, 'http://mp.weixin.qq.com?params=value2'), VECTOR.signature);
  });

  it('cardSignature hashes the sorted values', () => {
    assert.equal(cardSignature(['b', 'a', 'c']), cardSignature(['c', 'b', 'a']));
    assert.equal(cardSignature(['b', 'a']), 'da23614e02469a0d7c7bd1bdab5c9c474b1904dc'); // sha1('ab')
  });
});

describe('verifyPageSignature', () => {
  const now = VECTOR.timestamp * 1000 + 5000;
  const ticket = (value: string, fields: Partial<SimToken> = {}): SimToken => ({ value, owner: 'app', issuedAt: 0, expiresAt: now + 1000, revoked: false, ...fields });
  const check = (tickets: SimToken[], over: Partial<SignatureCheck> = {}): SignatureCheck => ({ tickets, now, maxSkewMs: 600_000, timestampUnit: 'seconds', ...over });
  const fields = (config: Record<string, unknown>) => ({
    timestamp: { name: 'timestamp', value: config.timestamp },
    nonceStr: { name: 'nonceStr', value: config.nonceStr },
    signature: { name: 'signature', value: config.signature },
  });
  const verify = (config: Record<string, unknown>, c: SignatureCheck) => verifyPageSignature(config, fields(config), c);
  const good = { timestamp: VECTOR.timestamp, nonceStr: VECTOR.nonceStr, signature: VECTOR.signature, url: VECTOR.url };

  it('accepts the vector against a valid ticket and says why it refuses the rest', () => {
    assert.deepEqual(verify(good, check([ticket('other'), ticket(VECTOR.ticket)])), { ok: true });
    const reason = (config: Record<string, unknown>, c = check([ticket(VECTOR.ticket)])) => {
      const verdict = verify(config, c);
      assert.equal(verdict.ok, false);
      return verdict.ok ? '' : verdict.reason;
    };
    assert.match(reason({ ...good, url: undefined }), /^url:/);
    assert.match(reason({ ...good, nonceStr: '' }), /^nonceStr: missing/);
    assert.match(reason({ ...good, timestamp: '14145x' }), /^timestamp: expected whole seconds/);
    assert.match(reason({ ...good, timestamp: VECTOR.timestamp - 601 }), /more than the 600 s allowed$/);
    assert.match(reason({ ...good, timestamp: VECTOR.timestamp * 1000 }), /looks like milliseconds/);
    assert.match(reason({ ...good, signature: VECTOR.signature.toUpperCase() }), /lowercase hex/);
    assert.match(reason({ ...good, nonceStr: 'other' }), /does not match/);
    assert.match(reason(good, check([ticket(VECTOR.ticket, { revoked: true })])), /no longer valid \(revoked\)/);
    assert.match(reason(good, check([ticket(VECTOR.ticket, { expiresAt: now })])), /no longer valid \(expired\)/);
    assert.match(reason(good, check([])), /^no valid ticket/);
  });

  it('recognises a signature made over the #fragment', () => {
    const url = `${VECTOR.url}#frag`;
    // Signed over the whole URL, fragment included: the mistake the check names.
    const signature = createHash('sha1').update(`jsapi_ticket=${VECTOR.ticket}&noncestr=${VECTOR.nonceStr}&timestamp=${VECTOR.timestamp}&url=${url}`).digest('hex');
    const withFragment = { ...good, url, signature };
    const verdict = verify(withFragment, check([ticket(VECTOR.ticket)]));
    assert.deepEqual(verdict, { ok: false, reason: 'url: the signature covers the #fragment; sign the URL without it' });
    assert.deepEqual(verify({ ...good, url }, check([ticket(VECTOR.ticket)])), { ok: true });
  });

  it('takes milliseconds where the platform wants them', () => {
    const ms = { ...good, timestamp: String(VECTOR.timestamp * 1000) };
    ms.signature = jsapiSignature(VECTOR.ticket, VECTOR.nonceStr, ms.timestamp, VECTOR.url);
    assert.deepEqual(verify(ms, check([ticket(VECTOR.ticket)], { timestampUnit: 'milliseconds' })), { ok: true });
    const verdict = verify(good, check([ticket(VECTOR.ticket)], { timestampUnit: 'milliseconds' }));
    assert.ok(!verdict.ok && /looks like seconds/.test(verdict.reason));
  });
});

describe('CallQuota', () => {
  it('windows from the first call reset a window later; takeAll takes from all or none', () => {
    let clock = 1_000_000;
    const corp = new CallQuota(3, { kind: 'from-first-call', ms: 3_600_000 }, () => clock);
    const app = new CallQuota(2, { kind: 'from-first-call', ms: 3_600_000 }, () => clock);
    assert.equal(takeAll([[corp, 'c'], [app, 'a']]), true);
    clock += 3_599_000;
    assert.equal(takeAll([[corp, 'c'], [app, 'a']]), true);
    assert.equal(takeAll([[corp, 'c'], [app, 'a']]), false);
    assert.equal(corp.used('c'), 2, 'a refused call takes from no quota');
    assert.equal(takeAll([[corp, 'c'], [app, 'b']]), true);
    assert.equal(takeAll([[corp, 'c'], [app, 'b']]), false, 'the corp is full');
    clock += 1000;
    assert.equal(takeAll([[corp, 'c'], [app, 'a']]), true, 'an hour after the first call');
  });

  it('aligned windows follow the clock', () => {
    let clock = 59_000;
    const perMinute = new CallQuota(1, { kind: 'aligned', ms: 60_000 }, () => clock);
    perMinute.take('x');
    assert.equal(perMinute.fits('x'), false);
    clock = 60_000;
    assert.equal(perMinute.fits('x'), true);
  });
});
