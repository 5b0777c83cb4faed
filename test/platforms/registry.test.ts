import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { MockAgent } from 'undici';
import { validateConfig, type AppConfig } from '../../src/config.js';
import { PLATFORM_NAMES, platformOf, platforms, simulatorNameOf } from '../../src/platforms/index.js';
import { createProvider } from '../../src/providers/index.js';
import type { FetchContext } from '../../src/core/types.js';
import { grantAccess } from '../../src/core/grants.js';
import { MemoryStore } from '../../src/stores/memory.js';

const client = { name: 'x', key: 'k'.repeat(16), apps: ['*'] };
const demo = validateConfig({ clients: [client], apps: Object.assign({}, ...platforms.map((p) => p.demoApps('http://127.0.0.1:9'))) });

it("package.json's description names every platform of the registry", async () => {
  const { description } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { description: string };
  for (const name of PLATFORM_NAMES) assert.match(description, new RegExp(`\\b${name}\\b`, 'i'), `the description does not name ${name}`);
});

/** One conformance check per descriptor, run over every demo app of it (every app type it offers). */
describe('platform descriptors', () => {
  it('name each platform once and give each a demo app', () => {
    assert.equal(new Set(PLATFORM_NAMES).size, PLATFORM_NAMES.length);
    for (const name of PLATFORM_NAMES) assert.ok(Object.values(demo.apps).some((a) => a.platform === name), `no demo app of ${name}`);
  });

  for (const [id, app] of Object.entries(demo.apps)) {
    it(`${id}: the provider states the descriptor's kinds and rules`, () => {
      const platform = platformOf(app);
      const provider = createProvider(id, app);
      const kinds = platform.kinds(app);
      assert.equal(provider.platform, app.platform);
      assert.deepEqual(provider.kinds, kinds.map((k) => k.name));
      assert.deepEqual(provider.kindSpecs, kinds);
      for (const kind of kinds) {
        assert.equal(provider.tenantScoped(kind.name), kind.tenantScoped, `${kind.name} tenant-scoped`);
        if (kind.derivedFrom !== undefined) assert.ok(provider.kinds.includes(kind.derivedFrom), `${kind.name} derived from an unknown kind`);
      }
      assert.ok(provider.kinds.includes(provider.businessKind));
      const rules = platform.rules(app);
      assert.equal(provider.refreshAheadMs, rules.refreshAheadMs);
      assert.equal(provider.sameTokenWhileMs, rules.sameTokenWhileMs);
      assert.equal(provider.maxLifetimeMs, rules.maxLifetimeMs);
      assert.deepEqual(provider.limits ?? [], rules.limits ?? []);
      // An events URL exactly where the descriptor says the platform pushes.
      assert.equal(provider.events !== undefined, platform.events?.takes(app) ?? false);
    });

    it(`${id}: the simulator serves under the platform's name (or the one its descriptor gives the app)`, () => {
      assert.equal(platformOf(app).createSimulator(simulatorNameOf(app), [app], {}).platform, simulatorNameOf(app));
    });
  }

  it("refuse a store app without its verification token, naming the option", () => {
    assert.throws(
      () => validateConfig({ clients: [client], apps: { s: { platform: 'lark', appType: 'store', appId: 'a', appSecret: 'b' } } }),
      /apps\.s\.verificationToken: required for store apps/,
    );
  });
});

describe('provider HTTP', () => {
  it('goes through the dispatcher given to the provider', async () => {
    const mock = new MockAgent();
    mock.disableNetConnect();
    mock.get('https://qyapi.weixin.qq.com').intercept({ path: /^\/cgi-bin\/gettoken\?/, method: 'GET' }).reply(200, { errcode: 0, access_token: 'from-the-mock', expires_in: 7200 }, { headers: { 'content-type': 'application/json' } });
    const app = validateConfig({ clients: [client], apps: { w: { platform: 'wecom', appId: 'ww1', appSecret: 's' } } }).apps.w as AppConfig;
    const provider = createProvider('w', app, { dispatcher: mock });
    const context: FetchContext = {
      signal: AbortSignal.timeout(5000),
      now: () => Date.now(),
      token: () => Promise.reject(new Error('unused')),
      invalidate: () => Promise.reject(new Error('unused')),
      state: { get: async () => undefined, set: async () => {}, add: async () => true, delete: async () => {} },
      grants: grantAccess(new MemoryStore(), 'unused'),
    };
    const token = await provider.fetch({ kind: 'access_token', tenantKey: undefined, reason: 'cold' }, context);
    assert.equal(token.value, 'from-the-mock');
    assert.equal(token.expiresInMs, 7_200_000);
    mock.assertNoPendingInterceptors();
    await mock.close();
  });
});
