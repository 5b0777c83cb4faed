/**
 * Third-party grants through a Redis restart and a Redis that lost its data: three `tokenhub
 * serve` processes on a private `redis-server` (append-only file on a temporary directory), a
 * WeChat Open Platform component and a WeCom suite against their simulators, every push arriving
 * by HTTP at one instance's events URL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { grantAccess } from '../../src/core/grants.js';
import { grantScope } from '../../src/core/keys.js';
import type { GrantAccess } from '../../src/core/types.js';
import { AUTHORIZER_GRANT_PREFIX, readGrant as readAuthorizerGrant } from '../../src/providers/wechat-component.js';
import { WECOM_SUITE_GRANT_PREFIX, readGrant as readSuiteGrant } from '../../src/providers/wecom-suite.js';
import { WECHAT_COMPONENT_ENDPOINTS as C, WECOM_SUITE_ENDPOINTS as S, type WeChatComponentSim, type WeComSuiteSim } from '../../src/sim/index.js';
import { keyRing } from '../../src/stores/index.js';
import { RedisStore } from '../../src/stores/redis.js';
import { runTs, type Child } from '../helpers/child.js';
import { call, spawnServer, type Answer } from '../helpers/hubs.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startRedisServer, type OwnRedis } from '../helpers/redis.js';
import { eventually } from '../helpers/stack.js';
import { startThirdParty, type ThirdParty } from '../helpers/third-party-apps.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const AUTHORIZERS = ['wxr_1', 'wxr_2', 'wxr_3'];
const CORPS = ['wwr_1', 'wwr_2', 'wwr_3'];
const path = (app: string, kind: string, tenant: string): string => `/v1/apps/${app}/tokens/${kind}?tenant_key=${tenant}`;
const invalidate = (app: string, kind: string, tenant: string): string => `/v1/apps/${app}/tokens/${kind}/invalidate?tenant_key=${tenant}`;

describe('third-party grants through Redis restarts (3 × tokenhub serve)', () => {
  const storeKey = randomBytes(32).toString('base64');
  const prefix = `tokenhub-recovery:${randomBytes(4).toString('hex')}:`;
  let tp: ThirdParty;
  let component: WeChatComponentSim;
  let wecom: WeComSuiteSim;
  let redis: OwnRedis;
  let receiver: Receiver;
  let work: string;
  let servers: { child: Child; url: string }[] = [];

  const ask = (i: number, method: string, p: string, body?: unknown): Promise<Answer> => call(servers[i]!.url, tp.key, method, p, body);
  /** Each authorizer's current token read from one instance, then reported by all three at once: one rotates its grant, the others learn of it. */
  const rotateAll = async (round: number): Promise<string[]> => {
    const failures: string[] = [];
    await Promise.all(
      AUTHORIZERS.map(async (a) => {
        const current = await ask(round % 3, 'GET', path('open', 'authorizer_access_token', a));
        if (current.status !== 200) return void failures.push(`${a}: ${JSON.stringify(current.body)}`);
        const reports = await Promise.all([0, 1, 2].map((i) => ask(i, 'POST', invalidate('open', 'authorizer_access_token', a), { token: current.body.token })));
        for (const r of reports) if (r.status !== 200 || r.headers['x-tokenhub-warning'] !== undefined) failures.push(`${a}: ${r.status} ${r.headers['x-tokenhub-warning'] ?? ''} ${JSON.stringify(r.body)}`);
      }),
    );
    return failures;
  };
  /** The grants as the store holds them, read as tokenhub reads them. */
  const storedGrants = async (work: (open: GrantAccess, suite: GrantAccess) => Promise<void>): Promise<void> => {
    const store = new RedisStore({ url: redis.url, keyPrefix: prefix, encryption: keyRing({ encryptionKey: storeKey })! });
    await store.open();
    try {
      await work(grantAccess(store, grantScope('wechat', tp.componentAppId)), grantAccess(store, grantScope('wecom', tp.suiteId)));
    } finally {
      await store.close();
    }
  };

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'tokenhub-recovery-redis-'));
    // Every write acknowledged is on disk: a SIGKILL of Redis loses nothing it answered.
    redis = await startRedisServer(['--appendonly', 'yes', '--appendfsync', 'always', '--dir', work]);
    receiver = await startReceiver();
    tp = await startThirdParty();
    ({ component, wecom } = tp);
    const config = {
      // A lease left by an instance whose release met a dead Redis holds the slot this long (scaled down from 15 s).
      store: { type: 'redis', url: redis.url, keyPrefix: prefix, encryptionKey: storeKey, leaseMs: 2_000 },
      clients: tp.clients,
      alerts: [{ url: receiver.url, secret: 'alert-secret-0123456789' }],
      apps: tp.apps,
    };
    servers = await Promise.all([0, 1, 2].map((i) => spawnServer(work, `serve${i}`, config)));
    // The platforms push to one URL: a load balancer hands each push to one instance.
    tp.pushTo(servers[0]!.url);
    assert.equal((await component.pushTicket()).delivered, true);
    assert.equal((await wecom.pushTicket()).delivered, true);
    for (const a of [...AUTHORIZERS, 'wxr_cold']) assert.equal((await component.authorize(a)).delivered, true);
    for (const c of [...CORPS, 'wwr_cold']) assert.equal((await wecom.createAuth(c)).delivered, true);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.child.kill()));
    await tp.sims.close();
    await receiver.close();
    await redis.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('Redis killed in the middle of a rotation and restarted from its append-only file: no grant lost, no extra authorization, no refresh token used twice', async () => {
    for (let round = 0; round < 3; round++) assert.deepEqual(await rotateAll(round), []);
    // Redis dies the instant the platform hands out a new refresh token: the instance cannot store it.
    let killed: Promise<void> | undefined;
    const off = component.onRotation(() => {
      off();
      killed = redis.kill('SIGKILL');
    });
    await rotateAll(3);
    assert.ok(killed, 'no rotation happened');
    await killed;
    await redis.start();
    // The instances reconnect by themselves; rotations go on.
    await eventually(async () => (await rotateAll(4)).length === 0, 15_000, 200);
    for (let round = 5; round < 8; round++) assert.deepEqual(await rotateAll(round), []);
    for (const c of CORPS) for (const i of [0, 1, 2]) assert.ok(wecom.isValid((await ask(i, 'GET', path('suite', 'access_token', c))).body.token));

    await storedGrants(async (open, suiteGrants) => {
      for (const a of AUTHORIZERS) {
        const grant = readAuthorizerGrant((await open.get(AUTHORIZER_GRANT_PREFIX + a))!);
        assert.equal(grant.rejected, undefined, `${a}: rejected`);
        assert.equal(grant.refreshToken, component.refreshTokenOf(a), `${a}: the stored refresh token is not the platform's`);
      }
      for (const c of CORPS) assert.equal(readSuiteGrant(await suiteGrants.get(WECOM_SUITE_GRANT_PREFIX + c))?.permanentCode, wecom.permanentCodeOf(c));
    });
    assert.equal(component.counters.count(C.queryAuth), AUTHORIZERS.length + 1, 'extra authorizations (api_query_auth)');
    assert.equal(wecom.counters.count(S.permanentCode), CORPS.length + 1, 'extra installs (get_permanent_code)');
    assert.equal(component.counters.count(C.refreshTokenRejected), 0, 'refresh tokens used after the platform replaced them (61023)');
    console.log(
      `# Redis SIGKILLed mid-rotation and restarted: ${component.counters.count(C.authorizerToken)} api_authorizer_token for ${AUTHORIZERS.length} authorizers × 8 rounds, ` +
        `${component.counters.count(C.authorizerInfo)} api_get_authorizer_info, ${component.counters.count(C.refreshTokenRejected)} answered 61023`,
    );
  });

  it('Redis lost its data (FLUSHALL): TOKENHUB_GRANTS_LOST and an alert, never "not authorized"; the grants come back from an export with 0 re-authorizations', async () => {
    const file = join(work, 'serve0.json');
    const backup = join(work, 'grants.backup');
    const exported = runTs(CLI, ['grants', 'export', '--config', file, '--out', backup]);
    assert.equal(await exported.exited, 0, exported.lines.join('\n'));
    // The backup is older than the platform's grants: every refresh token rotates once more after it.
    assert.deepEqual(await rotateAll(0), []);
    const rejectedBefore = component.counters.count(C.refreshTokenRejected);
    const alertsBefore = receiver.received.length;

    // Prometheus scrapes every instance: /metrics reads each app's health, and with it whether its grants are kept.
    for (const i of [0, 1, 2]) assert.equal((await ask(i, 'GET', '/metrics')).status, 200);
    const client = new Redis(redis.url);
    await client.flushall();
    client.disconnect();

    // Tokens at hand are still the platform's: served on.
    for (const a of AUTHORIZERS) assert.ok(component.isValid((await ask(1, 'GET', path('open', 'authorizer_access_token', a))).body.token));
    // The tickets were lost too: the component asks for one (api_start_push_ticket); WeCom pushes the next in its time.
    assert.equal((await wecom.pushTicket()).delivered, true);
    // A tenant whose token is not at hand: its grant is gone, and tokenhub says so (once the app's own token is had again).
    for (const [app, kind, tenant] of [['open', 'authorizer_access_token', 'wxr_cold'], ['suite', 'access_token', 'wwr_cold']] as const) {
      let lost: Answer | undefined;
      await eventually(async () => (lost = await ask(1, 'GET', path(app, kind, tenant))).body?.error?.code !== 'TOKENHUB_TICKET_PENDING', 10_000, 200);
      assert.equal(lost!.status, 503, JSON.stringify(lost!.body));
      assert.equal(lost!.body.error.code, 'TOKENHUB_GRANTS_LOST');
      assert.match(lost!.body.error.message, /tokenhub grants import/);
      assert.ok(Number(lost!.headers['retry-after']) >= 1);
    }
    const listed = await ask(2, 'GET', '/v1/apps/open/authorizations');
    assert.equal(listed.status, 503, `an empty list would say nobody authorized: ${JSON.stringify(listed.body)}`);
    assert.equal(listed.body.error.code, 'TOKENHUB_GRANTS_LOST');
    await eventually(() => receiver.received.slice(alertsBefore).some((r) => r.body?.tenantKey === 'wxr_cold' && r.body?.error?.code === 'TOKENHUB_GRANTS_LOST'), 10_000);
    const alert = receiver.received.slice(alertsBefore).find((r) => r.body?.tenantKey === 'wxr_cold' && r.body?.error?.code === 'TOKENHUB_GRANTS_LOST')!.body;
    assert.equal(alert.event, 'token.unavailable');
    assert.equal(alert.app, 'open');

    const imported = runTs(CLI, ['grants', 'import', '--config', file, '--in', backup]);
    assert.equal(await imported.exited, 0, imported.lines.join('\n'));
    await eventually(async () => (await ask(1, 'GET', path('open', 'authorizer_access_token', 'wxr_cold'))).status === 200, 15_000, 200);
    await eventually(async () => (await ask(1, 'GET', path('suite', 'access_token', 'wwr_cold'))).status === 200, 15_000, 200);
    assert.equal((await ask(2, 'GET', '/v1/apps/open/authorizations')).body.authorizations.length, AUTHORIZERS.length + 1);
    // The authorizers whose refresh tokens rotated after the backup: the platform's current ones are asked for (api_get_authorizer_info).
    const infoBefore = component.counters.count(C.authorizerInfo);
    assert.deepEqual(await rotateAll(1), []);
    assert.deepEqual(await rotateAll(2), []);
    await storedGrants(async (open) => {
      for (const a of [...AUTHORIZERS, 'wxr_cold']) assert.equal(readAuthorizerGrant((await open.get(AUTHORIZER_GRANT_PREFIX + a))!).refreshToken, component.refreshTokenOf(a), a);
    });
    assert.equal(component.counters.count(C.queryAuth), AUTHORIZERS.length + 1, 'an authorizer had to authorize again');
    assert.equal(wecom.counters.count(S.permanentCode), CORPS.length + 1, 'a corp had to install again');
    const stale = component.counters.count(C.refreshTokenRejected) - rejectedBefore;
    assert.equal(stale, AUTHORIZERS.length, 'one 61023 per authorizer whose refresh token rotated since the backup, then healed');
    console.log(`# after FLUSHALL and an import of an older backup: ${stale} refresh tokens answered 61023 (rotated since the backup), ${component.counters.count(C.authorizerInfo) - infoBefore} api_get_authorizer_info, 0 re-authorizations`);
  });
});
