import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigFile, parseConfig } from '../src/config.js';
import { ConfigError } from '../src/core/errors.js';
import { createHub } from '../src/hub.js';

const KEY = 'a-client-key-of-24-chars';

const valid = `
listen: { host: 127.0.0.1, port: 8700 }
store: { type: memory }
clients:
  - name: billing
    key: \${BILLING_KEY}
    apps: [feishu-main]
apps:
  feishu-main:
    platform: feishu
    appId: cli_a1b2c3
    appSecret: \${FEISHU_SECRET}
    baseUrl: http://127.0.0.1:9100
    refreshAheadSeconds: 1500
    minTtlSeconds: 60
`;

const env = { BILLING_KEY: KEY, FEISHU_SECRET: 's3cret' };

/** The issues of a config that must be refused. */
function issues(source: string, environment: NodeJS.ProcessEnv = env): readonly string[] {
  try {
    parseConfig(source, environment);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.equal(err.code, 'TOKENHUB_CONFIG_INVALID');
    return err.issues;
  }
  assert.fail('the config was accepted');
}

const withApp = (app: string): string => `clients: [{ name: c, key: ${KEY}, apps: ["*"] }]\napps:\n  a:\n${app.replace(/^/gm, '    ')}`;

describe('config', () => {
  it('accepts the contract example, interpolates ${ENV} and hashes plain client keys', () => {
    const config = parseConfig(valid, env);
    assert.equal(config.apps['feishu-main']!.appSecret, 's3cret');
    assert.equal(config.apps['feishu-main']!.platform, 'feishu');
    assert.equal(config.listen.port, 8700);
    assert.deepEqual(config.clientEntries[0]!.keySha256, createHash('sha256').update(KEY).digest());
  });

  it('accepts JSON, since JSON is YAML, and fills the defaults', () => {
    const config = parseConfig(JSON.stringify({ clients: [{ name: 'c', keySha256: 'ab'.repeat(32), apps: ['*'] }], apps: { x: { platform: 'lark', appId: 'cli_x', appSecret: 'y' } } }));
    assert.deepEqual(config.listen, { host: '127.0.0.1', port: 8700 });
    assert.deepEqual(config.store, { type: 'memory' });
    assert.equal(config.apps.x!.platform === 'lark' && config.apps.x!.appType, 'custom');
  });

  it('names a missing environment variable and where it is used', () => {
    assert.deepEqual(issues(valid, { BILLING_KEY: KEY }), ['apps.feishu-main.appSecret: environment variable FEISHU_SECRET is not set']);
  });

  it('names unknown keys, wrong types and unknown platforms by their place', () => {
    assert.deepEqual(issues(withApp('platform: feishu\nappId: x\nappSecret: y\nsurprise: 1')), ['apps.a.surprise: unknown key']);
    assert.deepEqual(issues(withApp('platform: slack\nappId: x\nappSecret: y')), ['apps.a.platform: must be one of feishu, lark, dingtalk, wecom, wechat, qingtui']);
    assert.deepEqual(issues(withApp('platform: feishu\nappId: x\nappSecret: y\nminTtlSeconds: soon')), ['apps.a.minTtlSeconds: expected number']);
    assert.deepEqual(issues(withApp('platform: feishu\nappId: x')), ['apps.a.appSecret: required']);
    assert.deepEqual(issues(withApp('platform: feishu\nappId: x\nappSecret: y\nbaseUrl: ftp://x')), ['apps.a.baseUrl: must be an http(s) URL']);
    assert.deepEqual(issues(withApp('platform: wechat\nappId: x\nappSecret: y\ntokenApi: fast')), ['apps.a.tokenApi: Invalid option: expected one of "stable"|"classic"']);
    assert.deepEqual(issues(withApp('platform: feishu\nappId: x\nappSecret: y') + '\nlisten: { port: 99999 }'), ['listen.port: Too big: expected number to be <=65535']);
    assert.deepEqual(issues(withApp('platform: feishu\nappId: x\nappSecret: y') + '\nstore: { type: sqlite }'), ['store.type: must be one of memory, file, redis']);
  });

  it('refuses duplicate client keys, clients of unknown apps, clients without a key', () => {
    const app = 'apps: { a: { platform: feishu, appId: x, appSecret: y } }';
    assert.deepEqual(issues(`clients: [{ name: c1, key: ${KEY}, apps: [a] }, { name: c2, key: ${KEY}, apps: [a] }]\n${app}`), ['clients[1].key: the same key as clients[0]']);
    const hashed = createHash('sha256').update(KEY).digest('hex');
    assert.deepEqual(issues(`clients: [{ name: c1, key: ${KEY}, apps: [a] }, { name: c2, keySha256: ${hashed}, apps: [a] }]\n${app}`), ['clients[1].key: the same key as clients[0]']);
    assert.deepEqual(issues(`clients: [{ name: c1, key: ${KEY}, apps: [b] }]\n${app}`), ['clients[0].apps[0]: no app named "b"']);
    assert.deepEqual(issues(`clients: [{ name: c1, apps: [a] }]\n${app}`), ['clients[0].key: give exactly one of key and keySha256']);
    assert.deepEqual(issues(`clients: [{ name: c1, key: short, apps: [a] }]\n${app}`), ['clients[0].key: must be at least 16 characters']);
    assert.deepEqual(issues(`clients: []\n${app}`), ['clients: must list at least one client']);
  });

  it('refuses what is not YAML or not a mapping', () => {
    assert.match(issues('apps: [unclosed')[0]!, /^not valid YAML/);
    assert.deepEqual(issues('- a list'), ['the config must be a mapping (listen, store, clients, apps)']);
  });

  it('refuses a Feishu refresh-ahead window that would get the same token back; the rule itself is a valid window', () => {
    const config = parseConfig(withApp('platform: feishu\nappId: x\nappSecret: y\nrefreshAheadSeconds: 1801'));
    assert.throws(() => createHub(config), (err: unknown) => err instanceof ConfigError && /^apps\.a\.refreshAheadSeconds: at most 1800 for feishu/.test(err.issues[0]!));
    void createHub(parseConfig(withApp('platform: feishu\nappId: x\nappSecret: y\nrefreshAheadSeconds: 1800'))).close();
  });

  it('reads a file and says which file it cannot read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-config-'));
    const file = join(dir, 'tokenhub.yaml');
    await writeFile(file, valid);
    assert.equal((await loadConfigFile(file, env)).apps['feishu-main']!.appId, 'cli_a1b2c3');
    await assert.rejects(loadConfigFile(join(dir, 'missing.yaml'), env), /cannot read .*missing\.yaml: ENOENT/);
  });

  it('never echoes a secret in an error', () => {
    const found = issues(withApp('platform: feishu\nappId: x\nappSecret: 12345-super-secret\nsurprise: 1'));
    assert.ok(!found.join().includes('12345-super-secret'));
  });

  it('operations keys: alerts, audit, log.format, clients[].admin, with defaults and errors by place', () => {
    const base = parseConfig(withApp('platform: feishu\nappId: x\nappSecret: y'));
    assert.deepEqual([base.alerts, base.audit, base.log], [[], undefined, { level: 'info', format: 'json' }]);
    const ops = parseConfig(
      `log: { format: pretty }\naudit: { path: /var/log/tokenhub/audit.log }\nalerts: [{ url: "https://hooks.example.com/t", secret: "0123456789abcdef", events: [token.unavailable] }]\n` +
        `clients: [{ name: ops, key: ${KEY}, apps: ["*"], admin: true }]\napps: { a: { platform: feishu, appId: x, appSecret: y } }`,
    );
    assert.deepEqual([ops.log.format, ops.audit?.path, ops.alerts[0]?.events, ops.clientEntries[0]?.admin], ['pretty', '/var/log/tokenhub/audit.log', ['token.unavailable'], true]);
    const found = issues(
      `log: { format: text }\naudit: { path: "" }\nalerts: [{ url: "ftp://x", secret: short, events: [token.lost] }]\n` +
        `clients: [{ name: ops, key: ${KEY}, apps: ["*"], admin: "yes" }]\napps: { a: { platform: feishu, appId: x, appSecret: y } }`,
    );
    for (const where of ['log.format', 'audit.path', 'alerts[0].url', 'alerts[0].secret', 'alerts[0].events[0]', 'clients[0].admin']) {
      assert.ok(found.some((i) => i.startsWith(`${where}: `)), `${where} in ${found.join(' | ')}`);
    }
    assert.ok(!found.join().includes('short'), 'the alert secret echoed');
  });
});
