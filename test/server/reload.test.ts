// hub.reload() and POST /v1/admin/reload in one process: what a reload keeps, what it needs a
// restart for, and that a config which does not load changes nothing. The same over a real
// `tokenhub serve` with SIGHUP is test/cli/reload.test.ts.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { validateConfig, type LoadedConfig } from '../../src/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { FEISHU_ENDPOINTS, FeishuSim } from '../../src/sim/index.js';
import { startStack, type Stack } from '../helpers/stack.js';

const SECRET = `reload-${randomBytes(8).toString('hex')}`;
const ADMIN = `admin-${randomBytes(12).toString('hex')}`;

describe('reload in process', () => {
  let stack: Stack;
  let sim: FeishuSim;
  /** The config last applied (the stack's at first). */
  let running: LoadedConfig;
  /** The running config with `change` laid over it, loaded as from a file. */
  const next = (change: (raw: Record<string, any>) => void): LoadedConfig => {
    const { clientEntries: _, ...raw } = structuredClone(running) as LoadedConfig & Record<string, any>;
    change(raw);
    return validateConfig(raw);
  };
  const reload = async (config: LoadedConfig): ReturnType<Stack['hub']['reload']> => {
    const result = await stack.hub.reload(config);
    running = config;
    return result;
  };
  const calls = (): number => sim.counters.count(FEISHU_ENDPOINTS.tenant);

  before(async () => {
    sim = new FeishuSim({ apps: [{ appId: 'cli_reload', appSecret: SECRET }] });
    stack = await startStack({
      sims: [sim],
      apps: { web: { platform: 'feishu', appId: 'cli_reload', appSecret: SECRET, baseUrl: 'sim:feishu', jsapiUrls: ['https://a.example.com/*'] } },
      config: { clients: [{ name: 'ops', key: ADMIN, apps: ['*'], admin: true }] },
    });
    running = stack.config;
  });
  after(() => stack.close());

  it('an app whose options changed starts afresh, its token read back from the store (same credentials) and its page rules replaced', async () => {
    const first = await stack.call('GET', '/v1/apps/web/tokens/tenant_access_token');
    const sign = (url: string): ReturnType<Stack['call']> => stack.call('POST', '/v1/apps/web/jsapi/signature', { body: { url } });
    assert.equal((await sign('https://a.example.com/p')).status, 200);
    assert.equal((await sign('https://b.example.com/p')).status, 403);
    const before = calls();
    const result = await reload(next((raw) => {
      raw.apps.web.jsapiUrls = ['https://b.example.com/*'];
      raw.apps.web.minTtlSeconds = 120;
    }));
    assert.deepEqual([result.changed, result.unchanged, result.restartNeeded], [['web'], [], []]);
    assert.equal((await sign('https://b.example.com/p')).status, 200);
    assert.equal((await sign('https://a.example.com/p')).status, 403);
    const again = await stack.call('GET', '/v1/apps/web/tokens/tenant_access_token');
    assert.equal(again.body.token, first.body.token);
    assert.equal(calls(), before, 'the same credentials: the stored token, no call');
  });

  it('the same config again changes nothing; keys that need a restart are named and keep running as they were', async () => {
    const same = await reload(next(() => {}));
    assert.deepEqual([same.added, same.changed, same.removed, same.unchanged, same.restartNeeded], [[], [], [], ['web'], []]);
    const moved = await stack.hub.reload(next((raw) => {
      raw.listen.port = 1;
      raw.upstream.timeoutMs = 999;
    }));
    assert.deepEqual(moved.restartNeeded, ['listen', 'upstream']);
    assert.match(stack.logs.text, /listen, upstream take effect only on a restart/);
    // Compared against what runs, so the same change is named again.
    const again = await stack.hub.reload(next((raw) => (raw.listen.port = 1)));
    assert.deepEqual(again.restartNeeded, ['listen']);
    assert.equal((await stack.call('GET', '/v1/apps/web/tokens/tenant_access_token')).status, 200);
  });

  it('reloads run one at a time, in the order asked', async () => {
    const order: string[] = [];
    const runs = [1, 2, 3].map((n) => reload(next((raw) => (raw.apps.web.minTtlSeconds = 60 + n))).then(() => order.push(String(n))));
    await Promise.all(runs);
    assert.deepEqual(order, ['1', '2', '3']);
    assert.deepEqual((await reload(next((raw) => (raw.apps.web.minTtlSeconds = 63)))).changed, []);
  });

  it('without a config file to read, reload() and the route refuse; a non-admin client gets 403', async () => {
    await assert.rejects(stack.hub.reload(), (err) => err instanceof ConfigError && /without a config file/.test(err.issues[0]!));
    const refused = await stack.call('POST', '/v1/admin/reload', { key: ADMIN });
    assert.deepEqual([refused.status, refused.body.error.code], [400, 'TOKENHUB_RELOAD_REFUSED']);
    assert.match(refused.body.error.issues[0], /without a config file/);
    const forbidden = await stack.call('POST', '/v1/admin/reload');
    assert.deepEqual([forbidden.status, forbidden.body.error.code], [403, 'TOKENHUB_FORBIDDEN']);
    const anonymous = await stack.call('POST', '/v1/admin/reload', { key: null });
    assert.equal(anonymous.status, 401);
  });

  it('a config whose app the platform rules refuse is refused whole, nothing applied', async () => {
    const before = stack.hub.broker.apps().map((a) => a.id);
    const bad = next((raw) => {
      raw.apps.extra = { platform: 'feishu', appId: 'cli_x', appSecret: 'x', baseUrl: raw.apps.web.baseUrl };
      raw.apps.web.refreshAheadSeconds = 3600;
    });
    await assert.rejects(stack.hub.reload(bad), (err) => err instanceof ConfigError && /apps\.web\.refreshAheadSeconds: at most 1800/.test(err.message));
    assert.deepEqual(stack.hub.broker.apps().map((a) => a.id), before);
    assert.match(stack.logs.text, /config reload refused: the running config stays/);
  });
});
