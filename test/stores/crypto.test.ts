import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { CHECK_CONTEXT, CHECK_PLAINTEXT, UnreadableValueError, ValueCodec, keyId, parseEncryptionKey, verifyKeyCheck } from '../../src/stores/crypto.js';

describe('encryption keys', () => {
  it('accepts 32 bytes as base64 (padded or URL-safe) or as 64 hex characters', () => {
    const key = randomBytes(32);
    assert.deepEqual(parseEncryptionKey(key.toString('base64')), key);
    assert.deepEqual(parseEncryptionKey(`${key.toString('base64')}\n`), key, 'openssl output ends with a newline');
    assert.deepEqual(parseEncryptionKey(key.toString('base64url')), key);
    assert.deepEqual(parseEncryptionKey(key.toString('hex')), key);
    assert.deepEqual(parseEncryptionKey(key.toString('hex').toUpperCase()), key);
  });

  it('refuses anything else', () => {
    for (const bad of [randomBytes(31).toString('base64'), randomBytes(33).toString('base64'), randomBytes(32).toString('hex').slice(1), 'correct horse battery staple', '', 'x'.repeat(44)]) {
      assert.equal(parseEncryptionKey(bad), undefined, bad);
    }
  });

  it('a bad store.encryptionKey is a config error naming it, without echoing the value', () => {
    const base = `
store: { type: file, path: /tmp/x, encryptionKey: "\${STORE_KEY}" }
clients: [{ name: a, key: "${'k'.repeat(20)}", apps: ["*"] }]
apps: {}
`;
    const secret = 'my-not-so-secret-passphrase';
    assert.throws(
      () => parseConfig(base, { STORE_KEY: secret }),
      (err: unknown) => err instanceof ConfigError && /store\.encryptionKey: must be 32 bytes/.test(err.message) && !err.message.includes(secret),
    );
    assert.throws(() => parseConfig(base, {}), /store\.encryptionKey: environment variable STORE_KEY is not set/);
    const ok = parseConfig(base, { STORE_KEY: randomBytes(32).toString('base64') });
    assert.equal(ok.store.type, 'file');
  });

  it('previousEncryptionKeys are checked too, and need an encryptionKey', () => {
    const config = (store: string): string => `store: ${store}\nclients: [{ name: a, key: "${'k'.repeat(20)}", apps: ["*"] }]\napps: {}\n`;
    const good = randomBytes(32).toString('hex');
    assert.throws(() => parseConfig(config(`{ type: file, path: /x, encryptionKey: "${good}", previousEncryptionKeys: ["nope"] }`)), /store\.previousEncryptionKeys\[0\]: must be 32 bytes/);
    assert.throws(() => parseConfig(config(`{ type: file, path: /x, previousEncryptionKeys: ["${good}"] }`)), /store\.encryptionKey: required with previousEncryptionKeys/);
  });

  it('a redis store needs exactly one of url, sentinels and cluster; sentinels need a name; a prefix has no braces', () => {
    const config = (store: string): string => `store: ${store}\nclients: [{ name: a, key: "${'k'.repeat(20)}", apps: ["*"] }]\napps: {}\n`;
    assert.throws(() => parseConfig(config('{ type: redis, encryption: none }')), /store\.url: give exactly one of url, sentinels/);
    assert.throws(() => parseConfig(config('{ type: redis, encryption: none, url: "redis://a", cluster: [{ host: b, port: 1 }] }')), /give exactly one/);
    assert.throws(() => parseConfig(config('{ type: redis, encryption: none, sentinels: [{ host: b, port: 26379 }] }')), /store\.name: the master name is required/);
    assert.throws(() => parseConfig(config('{ type: redis, encryption: none, url: "http://a" }')), /store\.url: must be a redis:\/\//);
    assert.throws(() => parseConfig(config('{ type: redis, encryption: none, url: "redis://a", keyPrefix: "x{y}" }')), /store\.keyPrefix: must not contain/);
    assert.equal(parseConfig(config('{ type: redis, encryption: none, url: "redis://a" }')).store.type, 'redis');
  });

  it('a file or redis store without encryptionKey is a config error naming store.encryptionKey, unless `encryption: none` is written', () => {
    const config = (store: string): string => `store: ${store}\nclients: [{ name: a, key: "${'k'.repeat(20)}", apps: ["*"] }]\napps: {}\n`;
    for (const store of ['{ type: file, path: /x }', '{ type: redis, url: "redis://a" }']) {
      assert.throws(
        () => parseConfig(config(store)),
        (err: unknown) => err instanceof ConfigError && err.issues.length === 1 && /^store\.encryptionKey: required for a (file|redis) store .*encryption: none/.test(err.issues[0]!),
        store,
      );
      const plain = parseConfig(config(store.replace(' }', ', encryption: none }')));
      assert.equal(plain.store.type !== 'memory' && plain.store.encryption, 'none');
    }
    // Nothing but `none`, and never together with a key.
    assert.throws(() => parseConfig(config('{ type: file, path: /x, encryption: aes }')), /store\.encryption: the only value is none/);
    const key = randomBytes(32).toString('base64');
    assert.throws(() => parseConfig(config(`{ type: file, path: /x, encryption: none, encryptionKey: "${key}" }`)), /store\.encryption: none contradicts encryptionKey/);
    // The demo's memory store needs neither.
    assert.equal(parseConfig(config('{ type: memory }')).store.type, 'memory');
    assert.throws(() => parseConfig(config('{ type: memory, encryption: none }')), /store\.encryption: unknown key/);
  });
});

describe('sealed values', () => {
  const key = randomBytes(32);
  const codec = new ValueCodec({ current: key, previous: [] });

  it('encrypt with a random IV, record the key id, and open only under their own store key', () => {
    const a = codec.seal('t-secret-token', 'tok:a');
    const b = codec.seal('t-secret-token', 'tok:a');
    assert.notEqual(a, b, 'the same value sealed twice looks the same');
    assert.ok(!a.includes('t-secret-token') && !Buffer.from(a).toString('base64').includes('secret'));
    assert.ok(a.startsWith(`e1:${keyId(key)}:`));
    assert.deepEqual(codec.open(a, 'tok:a'), { value: 't-secret-token', stale: false, keyId: keyId(key) });
    assert.throws(() => codec.open(a, 'tok:b'), UnreadableValueError, 'moved to another key, it still opened');
  });

  it('a tampered value does not open', () => {
    const sealed = codec.seal('value', 'k');
    const last = sealed.at(-2) === 'A' ? 'B' : 'A';
    assert.throws(() => codec.open(`${sealed.slice(0, -2)}${last}${sealed.at(-1)}`, 'k'), /authentication failed/);
    assert.throws(() => codec.open('e1:deadbeef', 'k'), UnreadableValueError);
    assert.throws(() => codec.open('garbage', 'k'), UnreadableValueError);
  });

  it('after a rotation the previous key still opens (marked stale) and the new one seals', () => {
    const next = randomBytes(32);
    const rotated = new ValueCodec({ current: next, previous: [key] });
    const old = codec.seal('refresh-token', 'state:x');
    assert.deepEqual(rotated.open(old, 'state:x'), { value: 'refresh-token', stale: true, keyId: keyId(key) });
    assert.ok(rotated.seal('v', 'k').startsWith(`e1:${keyId(next)}:`));
  });

  it('a value under an unknown key is an error naming key ids only', () => {
    const other = new ValueCodec({ current: randomBytes(32), previous: [] });
    const sealed = codec.seal('v', 'k');
    assert.throws(() => other.open(sealed, 'k'), (err: Error) => err.message.includes(keyId(key)) && !err.message.includes(key.toString('base64')));
    assert.throws(() => new ValueCodec().open(sealed, 'k'), /store\.encryptionKey is not set/);
  });

  it('plain values without a key; marked stale once a key is set', () => {
    const plain = new ValueCodec();
    const sealed = plain.seal('v', 'k');
    assert.deepEqual(plain.open(sealed, 'k'), { value: 'v', stale: false, keyId: undefined });
    assert.equal(codec.open(sealed, 'k').stale, true);
  });

  it('the check value tells a wrong key, a missing key and a rotation apart', () => {
    const check = codec.seal(CHECK_PLAINTEXT, CHECK_CONTEXT);
    assert.equal(verifyKeyCheck(codec, check, 'here'), 'current');
    assert.equal(verifyKeyCheck(codec, undefined, 'here'), 'absent');
    assert.equal(verifyKeyCheck(new ValueCodec({ current: randomBytes(32), previous: [key] }), check, 'here'), 'previous');
    assert.throws(() => verifyKeyCheck(new ValueCodec({ current: randomBytes(32), previous: [] }), check, 'here'), { code: 'TOKENHUB_STORE_KEY_MISMATCH', message: /store\.encryptionKey does not open the data in here/ });
    assert.throws(() => verifyKeyCheck(new ValueCodec(), check, 'here'), { code: 'TOKENHUB_STORE_KEY_MISMATCH', message: /encrypted .* store\.encryptionKey is not set/ });
  });
});
