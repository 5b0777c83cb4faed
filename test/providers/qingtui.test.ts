import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { QingtuiProvider, jwtLifetimeMs } from '../../src/providers/qingtui.js';

const NOW = 1_800_000_000_000;
const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const jwt = (payload: unknown): string => `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}.c2lnbmF0dXJl`;

describe('jwtLifetimeMs', () => {
  it('reads expires_in as absolute epoch milliseconds', () => {
    assert.equal(jwtLifetimeMs(jwt({ appid: 'a', expires_in: NOW + 7_200_000, dispatch: NOW }), NOW), 7_200_000);
  });

  it('gives up on what is not a JWT or makes no sense, so that expires_in decides', () => {
    const garbage = [
      'plainopaquetoken',
      'a.b',
      `${b64('{')}.${b64('not json')}.sig`,
      jwt('just a string'),
      jwt({ appid: 'a' }),
      jwt({ expires_in: 7200 }), // a lifetime in seconds, not a time
      jwt({ expires_in: Math.floor((NOW + 7_200_000) / 1000) }), // epoch seconds
      jwt({ expires_in: NOW - 1000 }), // already past
      jwt({ expires_in: NOW + 40 * 86_400_000 }), // beyond any token's life
      jwt({ expires_in: 'soon' }),
    ];
    for (const token of garbage) assert.equal(jwtLifetimeMs(token, NOW), undefined, token);
  });
});

describe('QingtuiProvider business calls', () => {
  const provider = new QingtuiProvider({ appId: 'a', appSecret: 's' });

  it('puts the token in ?access_token=', () => {
    const call = { url: new URL('https://open.qingtui.cn/v1/msg/send?x=1'), headers: {} };
    provider.attachToken(call, 'tok');
    assert.equal(call.url.searchParams.get('access_token'), 'tok');
    assert.equal(call.url.searchParams.get('x'), '1');
  });

  it('sees 40001, 40014 and 42001 as a rejected token, nothing else', () => {
    for (const errcode of [40001, 40014, 42001, '42001']) assert.equal(provider.isTokenRejected({ status: 200, body: { errcode } }), true, String(errcode));
    for (const body of [{ errcode: 0 }, { errcode: 40401 }, { errcode: 45009 }, 'text', null]) assert.equal(provider.isTokenRejected({ status: 200, body }), false);
  });
});
