import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FeishuSim, startSimulators, type FeishuSimOptions, type PlatformSim } from '../../src/sim/index.js';

const APP = { appId: 'cli_a1b2c3', appSecret: 'secret-1' };
const APPS = [APP, { appId: 'cli_off', appSecret: 'secret-off', disabled: true }];
const TENANT = '/open-apis/auth/v3/tenant_access_token/internal';
const APP_TOKEN = '/open-apis/auth/v3/app_access_token/internal';

interface Json {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

async function start(t: TestContext, options: Partial<FeishuSimOptions> = {}, more: PlatformSim[] = []) {
  const feishu = new FeishuSim({ apps: APPS, ...options });
  const sims = await startSimulators({ sims: [feishu, ...more] });
  t.after(() => sims.close());
  return { feishu, sims, base: sims.baseUrl('feishu') };
}

async function json(response: Response): Promise<Json> {
  return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, unknown> };
}

function postToken(base: string, path = TENANT, body: unknown = { app_id: APP.appId, app_secret: APP.appSecret }) {
  return fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function tenantToken(base: string): Promise<{ token: string; expire: number }> {
  const { status, body } = await json(await postToken(base));
  assert.equal(status, 200);
  assert.equal(body.code, 0);
  assert.equal(typeof body.tenant_access_token, 'string');
  return { token: body.tenant_access_token as string, expire: body.expire as number };
}

async function business(base: string, token: string, init: RequestInit = {}, path = '/open-apis/contact/v3/users/ou_1?user_id_type=open_id') {
  return json(await fetch(base + path, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } }));
}

describe('FeishuSim tokens', () => {
  it('issues a tenant token that business endpoints accept', async (t) => {
    const { base } = await start(t);
    const { token, expire } = await tenantToken(base);
    assert.match(token, /^t-[A-Za-z0-9]{30,}$/);
    assert.equal(expire, 7200);

    const get = await business(base, token);
    assert.equal(get.status, 200);
    assert.deepEqual(get.body, {
      code: 0,
      msg: 'success',
      data: { method: 'GET', path: '/open-apis/contact/v3/users/ou_1', query: { user_id_type: 'open_id' } },
    });

    const patch = await business(
      base,
      token,
      { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x' }) },
      '/open-apis/docx/v1/documents/d1',
    );
    assert.deepEqual(patch.body.data, { method: 'PATCH', path: '/open-apis/docx/v1/documents/d1', query: {}, body: { name: 'x' } });
  });

  it('returns the same token while the window is left, with expire in whole seconds, then a new one', async (t) => {
    let clock = 1_700_000_000_000;
    const { feishu, base } = await start(t, { now: () => clock });
    const first = await tenantToken(base);
    assert.equal(first.expire, 7200);

    clock += 100_400;
    assert.deepEqual(await tenantToken(base), { token: first.token, expire: 7099 });

    clock = 1_700_000_000_000 + (7200 - 1800) * 1000; // exactly 30 minutes left
    assert.deepEqual(await tenantToken(base), { token: first.token, expire: 1800 });

    clock += 1; // just under 30 minutes left
    const second = await tenantToken(base);
    assert.notEqual(second.token, first.token);
    assert.equal(second.expire, 7200);
    assert.equal(feishu.tokensIssued(APP.appId, 'tenant_access_token'), 2);

    // The old token stays valid until its own expiry, then only the new one works.
    clock += 1000;
    assert.equal((await business(base, first.token)).status, 200);
    assert.deepEqual(await tenantToken(base), { token: second.token, expire: 7199 });
    clock = 1_700_000_000_000 + 7200 * 1000;
    assert.equal(feishu.isValid(first.token), false);
    assert.equal((await business(base, first.token)).body.code, 99991663);
    assert.equal((await business(base, second.token)).status, 200);
  });

  it('follows the same rule on the real clock with a short lifetime', async (t) => {
    const { feishu, base } = await start(t, { tokenLifetimeSeconds: 2, sameTokenWindowSeconds: 1 });
    const first = await tenantToken(base);
    assert.equal(first.expire, 2);
    await sleep(1100);
    const second = await tenantToken(base);
    assert.notEqual(second.token, first.token);
    assert.equal(second.expire, 2);
    assert.equal(feishu.isValid(first.token), true);
    assert.equal(feishu.tokensIssued(), 2);
  });

  it('answers app_access_token/internal with an app token and the current tenant token', async (t) => {
    const { feishu, base } = await start(t);
    const { body } = await json(await postToken(base, APP_TOKEN));
    assert.equal(body.code, 0);
    assert.match(body.app_access_token as string, /^a-[A-Za-z0-9]{30,}$/);
    assert.equal(body.expire, 7200);
    assert.equal(body.tenant_access_token, (await tenantToken(base)).token);
    assert.equal(feishu.tokensIssued(APP.appId, 'app_access_token'), 1);
    assert.equal(feishu.tokensIssued(APP.appId, 'tenant_access_token'), 1);
    assert.equal((await business(base, body.app_access_token as string)).status, 200);
  });

  it('refuses bad credentials with Feishu codes under HTTP 200', async (t) => {
    const { feishu, base } = await start(t);
    const cases: Array<[unknown, number]> = [
      [{ app_id: 'cli_unknown', app_secret: 'x' }, 10003],
      [{ app_id: APP.appId, app_secret: 'wrong' }, 10014],
      [{ app_id: 'cli_off', app_secret: 'secret-off' }, 99991662],
      [{ app_id: APP.appId }, 10003],
      ['{"app_id": "cli_a1b2c3", ', 10003],
    ];
    for (const [body, code] of cases) {
      const answer = await json(await postToken(base, TENANT, body));
      assert.equal(answer.status, 200, JSON.stringify(body));
      assert.equal(answer.body.code, code, JSON.stringify(body));
      assert.equal(answer.body.tenant_access_token, undefined);
    }
    assert.equal(feishu.tokensIssued(), 0);

    feishu.setSecret(APP.appId, 'rotated');
    assert.equal((await json(await postToken(base))).body.code, 10014);
    const rotated = await json(await postToken(base, TENANT, { app_id: APP.appId, app_secret: 'rotated' }));
    assert.equal(rotated.body.code, 0);
  });

  it('revoke invalidates a token and the next fetch issues a new one', async (t) => {
    const { feishu, base } = await start(t);
    const { token } = await tenantToken(base);
    assert.equal(feishu.revoke(token), true);
    assert.equal(feishu.revoke(token), false);
    assert.equal(feishu.revoke('t-unknown'), false);
    assert.equal(feishu.isValid(token), false);

    const rejected = await business(base, token);
    assert.equal(rejected.status, 400);
    assert.equal(rejected.body.code, 99991663);
    assert.match(rejected.body.msg as string, /^Invalid access token for authorization/);

    const fresh = await tenantToken(base);
    assert.notEqual(fresh.token, token);
    assert.equal(fresh.expire, 7200);
  });
});

describe('FeishuSim business endpoints', () => {
  it('asks for a token when none is sent', async (t) => {
    const { base } = await start(t);
    const answer = await json(await fetch(`${base}/open-apis/contact/v3/users/ou_1`));
    assert.equal(answer.status, 400);
    assert.equal(answer.body.code, 99991661);
  });

  it('answers a send-message call like Feishu', async (t) => {
    const { base } = await start(t);
    const { token } = await tenantToken(base);
    const content = JSON.stringify({ text: 'hello' });
    const { status, body } = await business(
      base,
      token,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ receive_id: 'oc_chat1', msg_type: 'text', content }),
      },
      '/open-apis/im/v1/messages?receive_id_type=chat_id',
    );
    assert.equal(status, 200);
    assert.equal(body.code, 0);
    const data = body.data as Record<string, unknown>;
    assert.match(data.message_id as string, /^om_[0-9a-f]{32}$/);
    assert.equal(data.chat_id, 'oc_chat1');
    assert.equal(data.msg_type, 'text');
    assert.deepEqual(data.body, { content });
    assert.deepEqual(data.sender, { id: APP.appId, id_type: 'app_id', sender_type: 'app', tenant_key: 'sim_tenant' });
  });
});

describe('FeishuSim faults', () => {
  it('down resets the connection', async (t) => {
    const { feishu, base } = await start(t);
    feishu.faults.set('down');
    await assert.rejects(postToken(base), TypeError);
    assert.equal(feishu.counters.count('tenant_access_token/internal', APP.appId), 1);
    feishu.faults.set('none');
    await tenantToken(base);
  });

  it('status500 answers HTTP 500', async (t) => {
    const { feishu, base } = await start(t);
    feishu.faults.set('status500');
    const response = await postToken(base);
    assert.equal(response.status, 500);
    assert.ok((await response.text()).length > 0);
  });

  it('html answers a 200 ban page', async (t) => {
    const { feishu, base } = await start(t);
    feishu.faults.set('html');
    const response = await postToken(base);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await response.text(), /^<!DOCTYPE html>/);
  });

  it('garbage answers bytes that are not JSON under a JSON content type', async (t) => {
    const { feishu, base } = await start(t);
    feishu.faults.set('garbage');
    const response = await postToken(base);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    const text = await response.text();
    assert.throws(() => JSON.parse(text), SyntaxError);
  });

  it('truncated answers JSON cut in the middle', async (t) => {
    const { feishu, base } = await start(t);
    feishu.faults.set('truncated');
    const response = await postToken(base);
    assert.equal(response.status, 200);
    const text = await response.text();
    assert.match(text, /^\{"code":0/);
    assert.throws(() => JSON.parse(text), SyntaxError);
  });

  it('missing-fields answers success without a token', async (t) => {
    const { feishu, base } = await start(t);
    feishu.faults.set('missing-fields');
    const answer = await json(await postToken(base));
    assert.deepEqual([answer.status, answer.body], [200, { code: 0, msg: 'ok' }]);
  });

  it('slow answers normally after the delay', async (t) => {
    const { feishu, base } = await start(t);
    feishu.faults.set('slow', { delayMs: 300 });
    const started = performance.now();
    const { token } = await tenantToken(base);
    assert.ok(performance.now() - started >= 295, 'answered before the delay');
    assert.equal(feishu.isValid(token), true);
  });

  it('ratelimit answers HTTP 429 with the ogw headers', async (t) => {
    const { feishu, base } = await start(t);
    feishu.faults.set('ratelimit', { retryAfterSeconds: 7 });
    const answer = await json(await postToken(base));
    assert.equal(answer.status, 429);
    assert.deepEqual(answer.body, { code: 99991400, msg: 'request trigger frequency limit' });
    assert.equal(answer.headers.get('x-ogw-ratelimit-limit'), '50');
    assert.equal(answer.headers.get('x-ogw-ratelimit-reset'), '7');

    feishu.faults.set('ratelimit');
    assert.equal((await postToken(base, APP_TOKEN)).headers.get('x-ogw-ratelimit-reset'), '2');
  });

  it('leaves business endpoints answering', async (t) => {
    const { feishu, base } = await start(t);
    const { token } = await tenantToken(base);
    feishu.faults.set('down');
    assert.equal((await business(base, token)).status, 200);
  });

  it('rejects an unknown mode or bad options', () => {
    const feishu = new FeishuSim({ apps: APPS });
    assert.throws(() => feishu.faults.set('flaky' as 'down'), /mode/);
    assert.throws(() => feishu.faults.set('slow', { delayMs: -1 }), /delayMs/);
    assert.equal(feishu.faults.mode, 'none');
  });
});

describe('FeishuSim counters', () => {
  it('counts calls by endpoint and app', async (t) => {
    const { feishu, base } = await start(t);
    const { token } = await tenantToken(base);
    await tenantToken(base);
    await postToken(base, APP_TOKEN);
    await postToken(base, TENANT, { app_id: 'cli_off', app_secret: 'secret-off' });
    await business(base, token);
    await business(base, 'bogus');

    const { counters } = feishu;
    assert.equal(counters.count('tenant_access_token/internal', APP.appId), 2);
    assert.equal(counters.count('tenant_access_token/internal'), 3);
    assert.equal(counters.count('app_access_token/internal'), 1);
    assert.equal(counters.count('business', APP.appId), 1);
    assert.equal(counters.count('business'), 2);
    assert.equal(counters.count(undefined, 'cli_off'), 1);
    assert.equal(counters.count(), 6);
    assert.deepEqual(counters.snapshot().endpoints.business, { total: 2, apps: { [APP.appId]: 1, '': 1 } });

    counters.reset();
    assert.equal(counters.count(), 0);
  });

  it('keeps the most token calls of an app in flight at once', async (t) => {
    const { feishu, base } = await start(t);
    feishu.faults.set('slow', { delayMs: 50 });
    await Promise.all(Array.from({ length: 5 }, () => postToken(base)));
    await postToken(base);
    assert.equal(feishu.counters.peakInFlight(APP.appId), 5);
    assert.equal(feishu.counters.peakInFlight(), 5);
    feishu.counters.reset();
    assert.equal(feishu.counters.peakInFlight(APP.appId), 0);
  });
});

describe('startSimulators', () => {
  it('serves Lark under its own prefix, apart from Feishu', async (t) => {
    const lark = new FeishuSim({ platform: 'lark', apps: [APP] });
    const { sims, base } = await start(t, {}, [lark]);
    assert.equal(sims.baseUrl('lark'), `${sims.url}/lark`);
    assert.equal(sims.sim('lark'), lark);
    assert.throws(() => sims.sim('wecom'), RangeError);

    const { token } = await tenantToken(sims.baseUrl('lark'));
    assert.equal(lark.isValid(token), true);
    assert.equal((await business(sims.baseUrl('lark'), token)).status, 200);
    assert.equal((await business(base, token)).body.code, 99991663);
    assert.equal(lark.counters.count('tenant_access_token/internal'), 1);
  });

  it('refuses two simulators with the same platform', async () => {
    await assert.rejects(
      startSimulators({ sims: [new FeishuSim({ apps: [] }), new FeishuSim({ apps: [] })] }),
      /duplicate feishu/,
    );
  });

  it('offers a control API over HTTP', async (t) => {
    const { feishu, sims, base } = await start(t);
    const control = (path: string, body?: unknown) =>
      fetch(`${sims.url}/_sim/${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'content-type': 'application/json' },
        ...(body === undefined || body === null ? {} : { body: JSON.stringify(body) }),
      }).then(json);

    const set = await control('feishu/fault', { mode: 'ratelimit', retryAfterSeconds: 3 });
    assert.equal(set.status, 200);
    assert.equal(feishu.faults.mode, 'ratelimit');
    assert.equal((await postToken(base)).headers.get('x-ogw-ratelimit-reset'), '3');

    const stats = await control('feishu/stats');
    assert.deepEqual(stats.body.fault, { mode: 'ratelimit', delayMs: 2000, retryAfterSeconds: 3 });
    assert.deepEqual(stats.body.counters, {
      total: 1,
      endpoints: { 'tenant_access_token/internal': { total: 1, apps: { [APP.appId]: 1 } } },
    });

    const reset = await control('feishu/reset', null);
    assert.equal(reset.status, 200);
    assert.equal(feishu.faults.mode, 'none');
    assert.equal(feishu.counters.count(), 0);

    const { token } = await tenantToken(base);
    assert.deepEqual((await control('feishu/revoke', { token })).body, { platform: 'feishu', revoked: true });
    assert.equal((await business(base, token)).body.code, 99991663);

    assert.equal((await control('feishu/fault', { mode: 'flaky' })).status, 400);
    assert.equal((await control('feishu/fault', { mode: 'slow', delayMs: -5 })).status, 400);
    assert.equal((await control('feishu/revoke', {})).status, 400);
    assert.equal((await control('wecom/stats')).status, 404);
  });

  it('closes promptly with a hung request open', { timeout: 5000 }, async () => {
    const feishu = new FeishuSim({ apps: APPS });
    const sims = await startSimulators({ sims: [feishu] });
    feishu.faults.set('hang');
    const pending = postToken(sims.baseUrl('feishu'));
    while (feishu.counters.count() === 0) await sleep(5);

    const started = performance.now();
    await sims.close();
    assert.ok(performance.now() - started < 1000, 'close() waited for the hung request');
    await assert.rejects(pending, TypeError);
  });
});
