// The audit log over HTTP: one line per token handed out (on the fast path too), report,
// signature, proxied call and admin action, with the outcome and the token's id, never its value.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { TokenIds } from '../../src/audit/token-id.js';
import { FeishuSim, WeChatSim } from '../../src/sim/index.js';
import { startStack } from '../helpers/stack.js';

const secret = (name: string): string => `${name}-${randomBytes(8).toString('hex')}`;
const FEISHU = { appId: 'cli_audit', appSecret: secret('feishu') };
const WX = { appId: 'wx0audit', appSecret: secret('wx') };
const ID_KEY = secret('audit-key');
const ADMIN = secret('admin-key');
const OTHER = secret('other-key');

describe('audit log over HTTP', () => {
  it('writes one line per audited request with client, action, app, kind, tenant key, outcome and token id; a reload reopens the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tokenhub-audit-'));
    const path = join(dir, 'audit.log');
    const stack = await startStack({
      sims: [new FeishuSim({ apps: [FEISHU] }), new WeChatSim({ apps: [WX] })],
      apps: {
        main: { platform: 'feishu', ...FEISHU, baseUrl: 'sim:feishu' },
        wx: { platform: 'wechat', ...WX, baseUrl: 'sim:wechat' },
      },
      config: {
        audit: { path, tokenIdKey: ID_KEY },
        clients: [{ name: 'ops', key: ADMIN, apps: ['*'], admin: true }, { name: 'other', key: OTHER, apps: ['wx'] }],
      },
    });
    const values: string[] = [];
    try {
      const cold = await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token');
      const warm = await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token'); // the fast path
      assert.equal(warm.body.token, cold.body.token);
      values.push(cold.body.token);
      assert.equal((await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token?tenant_key=t1')).status, 400);
      assert.equal((await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token', { key: OTHER })).status, 403);
      const reported = await stack.call('POST', '/v1/apps/main/tokens/tenant_access_token/invalidate', { body: { token: cold.body.token } });
      values.push(reported.body.token);
      assert.equal((await stack.call('POST', '/v1/apps/main/jsapi/signature', { body: { url: 'https://app.example.com/p' } })).status, 200);
      assert.equal((await stack.call('POST', '/v1/apps/wx/jsapi/card-signature', { body: { cardId: 'pCard', code: '1' } })).status, 200);
      assert.equal((await stack.call('GET', '/v1/proxy/main/open-apis/test/echo')).status, 200);
      assert.equal((await stack.call('POST', '/v1/admin/reload', { key: ADMIN })).status, 400);
      assert.equal((await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token', { key: 'unknown-key-0123456789' })).status, 401);
      // Log rotation: the file moved away, then a reload (SIGHUP) opens the path again.
      await rename(path, `${path}.1`);
      await stack.hub.reload(stack.config);
      assert.equal((await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).status, 200);
      values.push(...(await Promise.all(['jsapi_ticket', 'wx_card_ticket'].map(async (kind) => (await stack.hub.broker.getToken(kind === 'jsapi_ticket' ? 'main' : 'wx', kind)).value))));
    } finally {
      await stack.close();
    }
    const rotated = (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(rotated.map((l) => [l.action, l.outcome]), [['token', 'ok']]);
    const text = await readFile(`${path}.1`, 'utf8');
    const audited = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const value of values) assert.ok(!text.includes(value), 'a token value in the audit log');
    const ids = new TokenIds(ID_KEY);
    const token = ids.of(values[0]!);
    const kind = 'tenant_access_token';
    assert.deepEqual(
      audited.map(({ time, ...rest }) => {
        assert.match(String(time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        return rest;
      }),
      [
        { client: 'test', action: 'token', app: 'main', kind, outcome: 'ok', tokenId: token },
        { client: 'test', action: 'token', app: 'main', kind, outcome: 'ok', tokenId: token },
        { client: 'test', action: 'token', app: 'main', kind, tenantKey: 't1', outcome: 'TOKENHUB_BAD_REQUEST' },
        { client: 'other', action: 'token', app: 'main', kind, outcome: 'TOKENHUB_FORBIDDEN' },
        { client: 'test', action: 'report', app: 'main', kind, outcome: 'ok', tokenId: ids.of(values[1]!) },
        { client: 'test', action: 'signature', app: 'main', kind: 'jsapi_ticket', outcome: 'ok', tokenId: ids.of(values[2]!) },
        { client: 'test', action: 'card-signature', app: 'wx', kind: 'wx_card_ticket', outcome: 'ok', tokenId: ids.of(values[3]!) },
        { client: 'test', action: 'proxy', app: 'main', kind, outcome: 'ok', tokenId: ids.of(values[1]!) },
        { client: 'ops', action: 'admin.reload', outcome: 'TOKENHUB_RELOAD_REFUSED' },
      ],
    );
  });
});
