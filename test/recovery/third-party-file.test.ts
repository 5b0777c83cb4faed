/**
 * Third-party grants through `kill -9`: real `tokenhub serve` processes on one file store, a
 * WeChat Open Platform component and a WeCom suite against their simulators, every push arriving
 * by HTTP at the events URL.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { validateConfig } from '../../src/config.js';
import { createHub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { AUTHORIZER_GRANT_PREFIX, readGrant as readAuthorizerGrant } from '../../src/providers/wechat-component.js';
import { WECOM_SUITE_GRANT_PREFIX, readGrant as readSuiteGrant } from '../../src/providers/wecom-suite.js';
import { WECHAT_COMPONENT_ENDPOINTS as C, WECOM_SUITE_ENDPOINTS as S, type WeChatComponentSim, type WeComSuiteSim } from '../../src/sim/index.js';
import type { Child } from '../helpers/child.js';
import { call, spawnServer, type Answer } from '../helpers/hubs.js';
import { freePort } from '../helpers/redis.js';
import { eventually } from '../helpers/stack.js';
import { startThirdParty, type ThirdParty } from '../helpers/third-party-apps.js';

const AUTHORIZERS = ['wxk_1', 'wxk_2', 'wxk_3'];
const CORPS = ['wwk_1', 'wwk_2', 'wwk_3'];
/** `promise`, or a failure naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const token = (app: string, kind: string, tenant: string): string => `/v1/apps/${app}/tokens/${kind}?tenant_key=${tenant}`;
const invalidate = (app: string, kind: string, tenant: string): string => `/v1/apps/${app}/tokens/${kind}/invalidate?tenant_key=${tenant}`;

describe('third-party grants through kill -9 on the file store (tokenhub serve)', () => {
  const storeKey = randomBytes(32).toString('base64');
  let tp: ThirdParty;
  let component: WeChatComponentSim;
  let wecom: WeComSuiteSim;
  let work: string;
  let config: Record<string, unknown>;
  let server: { child: Child; url: string } | undefined;
  let starts = 0;

  const ask = (method: string, path: string, body?: unknown): Promise<Answer> => call(server!.url, tp.key, method, path, body);
  /** `tokenhub serve` on the same port and data directory as the last one. */
  const start = async (): Promise<void> => {
    server = await spawnServer(work, `serve${starts++}`, config);
  };
  const kill = async (): Promise<void> => {
    await server?.child.kill('SIGKILL');
    server = undefined;
  };

  before(async () => {
    tp = await startThirdParty();
    ({ component, wecom } = tp);
    work = await mkdtemp(join(tmpdir(), 'tokenhub-recovery-'));
    const port = await freePort();
    config = { listen: { host: '127.0.0.1', port }, store: { type: 'file', path: join(work, 'data'), encryptionKey: storeKey }, clients: tp.clients, apps: tp.apps };
    // The port stays across restarts, and so does the events URL the platforms push to.
    tp.pushTo(`http://127.0.0.1:${port}`);
    await start();
  });
  after(async () => {
    await kill();
    await tp.sims.close();
    await rm(work, { recursive: true, force: true });
  });

  it('installs pushed before any ticket are acknowledged, kept through a kill -9, and exchanged once the tickets come', async () => {
    // The component asks for a ticket (api_start_push_ticket), which the platform is slow to push.
    component.script.push({ body: { errcode: 0, errmsg: 'ok' } });
    const early = await component.authorize('wxk_early');
    assert.equal(early.delivered, true, `authorized answered ${early.status} ${early.body}`);
    const created = await wecom.createAuth('wwk_early');
    assert.equal(created.delivered, true, `create_auth answered ${created.status} ${created.body}`);
    assert.equal(component.counters.count(C.queryAuth), 0);
    assert.equal(wecom.counters.count(S.permanentCode), 0);

    await kill();
    await start();
    assert.equal((await component.pushTicket()).delivered, true);
    assert.equal((await wecom.pushTicket()).delivered, true);
    await eventually(async () => component.counters.count(C.queryAuth) === 1 && wecom.counters.count(S.permanentCode) === 1, 10_000);
    const authorizer = await ask('GET', token('open', 'authorizer_access_token', 'wxk_early'));
    assert.equal(authorizer.status, 200, JSON.stringify(authorizer.body));
    assert.ok(component.isValid(authorizer.body.token));
    const corp = await ask('GET', token('suite', 'access_token', 'wwk_early'));
    assert.equal(corp.status, 200, JSON.stringify(corp.body));
    assert.ok(wecom.isValid(corp.body.token));
    assert.equal(component.counters.count(C.queryAuth), 1, 'the code was exchanged more than once');
    assert.equal(wecom.counters.count(S.permanentCode), 1, 'the code was exchanged more than once');
  });

  it('killed the instant the platform handed out a new refresh token: the restarted process asks for it, and never sends the old one', async () => {
    assert.equal((await component.pushTicket()).delivered, true);
    assert.equal((await wecom.pushTicket()).delivered, true);
    for (const a of AUTHORIZERS) assert.equal((await component.authorize(a)).delivered, true);
    for (const c of CORPS) assert.equal((await wecom.createAuth(c)).delivered, true);
    const first = await ask('GET', token('open', 'authorizer_access_token', 'wxk_1'));
    assert.equal(first.status, 200, JSON.stringify(first.body));

    let rotated: string | undefined;
    const off = component.onRotation((a) => {
      off();
      rotated = a;
      server?.child.process.kill('SIGKILL');
    });
    await ask('POST', invalidate('open', 'authorizer_access_token', 'wxk_1'), { token: first.body.token }).catch(() => undefined);
    await within(server!.child.exited, 10_000, 'the kill on a rotation');
    server = undefined;
    assert.equal(rotated, 'wxk_1');

    await start();
    const kept = await ask('GET', token('open', 'authorizer_access_token', 'wxk_1'));
    assert.equal(kept.status, 200, JSON.stringify(kept.body));
    const fresh = await ask('POST', invalidate('open', 'authorizer_access_token', 'wxk_1'), { token: kept.body.token });
    assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
    assert.equal(fresh.headers['x-tokenhub-warning'], undefined, 'the reported token was served on: no new one could be had');
    assert.notEqual(fresh.body.token, kept.body.token);
    assert.ok(component.isValid(fresh.body.token));
    assert.equal(component.counters.count(C.refreshTokenRejected), 0, 'a refresh token was sent after the platform replaced it (61023)');
  });

  it('kill -9 in the middle of rotations of every authorizer, three times: no grant lost, no extra authorization, no refresh token used twice', async () => {
    const authorizations = component.counters.count(C.queryAuth);
    const installs = wecom.counters.count(S.permanentCode);
    for (let round = 0; round < 3; round++) {
      const current = await Promise.all(AUTHORIZERS.map((a) => ask('GET', token('open', 'authorizer_access_token', a))));
      for (const c of current) assert.equal(c.status, 200, JSON.stringify(c.body));
      for (const c of CORPS) assert.equal((await ask('GET', token('suite', 'access_token', c))).status, 200);
      // The second rotation of the round kills the process: one answer stored, one lost in flight, one maybe not asked.
      let seen = 0;
      const off = component.onRotation(() => {
        if (++seen < 2) return;
        off();
        server?.child.process.kill('SIGKILL');
      });
      const reports = AUTHORIZERS.map((a, i) => ask('POST', invalidate('open', 'authorizer_access_token', a), { token: current[i]!.body.token }).catch(() => undefined));
      const corpReports = CORPS.map((c) => ask('POST', invalidate('suite', 'access_token', c), { token: 'whatever' }).catch(() => undefined));
      await within(server!.child.exited, 10_000, 'the kill on a rotation');
      await Promise.all([...reports, ...corpReports]);
      server = undefined;
      await start();
      for (const a of AUTHORIZERS) {
        const kept = await ask('GET', token('open', 'authorizer_access_token', a));
        assert.equal(kept.status, 200, `${a}: ${JSON.stringify(kept.body)}`);
        const fresh = await ask('POST', invalidate('open', 'authorizer_access_token', a), { token: kept.body.token });
        assert.equal(fresh.status, 200, `${a}: ${JSON.stringify(fresh.body)}`);
        assert.equal(fresh.headers['x-tokenhub-warning'], undefined, `${a}: no new token could be had`);
        assert.ok(component.isValid(fresh.body.token), `${a}: the token served is not valid at the platform`);
      }
      for (const c of CORPS) {
        const corp = await ask('GET', token('suite', 'access_token', c));
        assert.equal(corp.status, 200, `${c}: ${JSON.stringify(corp.body)}`);
        assert.ok(wecom.isValid(corp.body.token));
      }
    }
    assert.equal(component.counters.count(C.queryAuth), authorizations, 'extra authorizations (api_query_auth)');
    assert.equal(wecom.counters.count(S.permanentCode), installs, 'extra installs (get_permanent_code)');
    assert.equal(component.counters.count(C.refreshTokenRejected), 0, 'refresh tokens used after the platform replaced them (61023)');
    console.log(
      `# 3 kill -9s mid-rotation: ${component.counters.count(C.authorizerToken)} api_authorizer_token, ${component.counters.count(C.authorizerInfo)} api_get_authorizer_info, ` +
        `${component.counters.count(C.refreshTokenRejected)} answered 61023, ${component.counters.count(C.queryAuth)} api_query_auth, ${wecom.counters.count(S.permanentCode)} get_permanent_code`,
    );
  });

  it("every grant in the store is the platform's current one", async () => {
    await server?.child.kill('SIGTERM');
    server = undefined;
    const hub = createHub(validateConfig(config), { logger: createLogger('silent') });
    await hub.store.open?.();
    try {
      for (const a of [...AUTHORIZERS, 'wxk_early']) {
        const grant = await hub.broker.grants('open').get(AUTHORIZER_GRANT_PREFIX + a);
        assert.ok(grant, `${a}: no grant`);
        const kept = readAuthorizerGrant(grant);
        assert.equal(kept.rejected, undefined, `${a}: rejected`);
        assert.equal(kept.refreshToken, component.refreshTokenOf(a), `${a}: the stored refresh token is not the platform's`);
      }
      for (const c of [...CORPS, 'wwk_early']) {
        const grant = readSuiteGrant(await hub.broker.grants('suite').get(WECOM_SUITE_GRANT_PREFIX + c));
        assert.equal(grant?.permanentCode, wecom.permanentCodeOf(c), `${c}: the stored permanent code is not the platform's`);
      }
    } finally {
      hub.broker.close();
      await hub.store.close();
    }
  });
});
