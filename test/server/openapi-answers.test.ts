import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { connectEvents, demoConfig, simulatorsFor } from '../../src/cli/sim.js';
import { validateConfig, type LoadedConfig } from '../../src/config.js';
import { ConfigError } from '../../src/core/errors.js';
import { createHub, type Hub } from '../../src/hub.js';
import { createLogger } from '../../src/logger.js';
import { platforms } from '../../src/platforms/index.js';
import { WeChatComponentSim, WeComSuiteSim, buildEvent, startSimulators, type RunningSimulators } from '../../src/sim/index.js';
import { seal } from '../../src/sim/wxbiz-events.js';
import { AnswerChecker, type WireAnswer } from '../helpers/openapi.js';
import { startRedisServer, type OwnRedis } from '../helpers/redis.js';
import { LogCapture } from '../helpers/stack.js';

/**
 * Real answers against the OpenAPI document GET /openapi.json serves: a tokenhub with an app of
 * every platform and app type (the demo's) on the simulators and a Redis of its own, asked for
 * every route's success and each error it can be made to answer (400, 401, 403, 404, 409, 413,
 * 415, 429, 502, 503); every answer's status, content type, body and X-Tokenhub-Error are checked
 * against the document.
 */

const KEY = `openapi-admin-${randomBytes(12).toString('hex')}`;
/** A client of one app, not an admin. */
const NARROW = `openapi-narrow-${randomBytes(12).toString('hex')}`;
/** A client allowed one report and one signature a minute. */
const STINGY = `openapi-stingy-${randomBytes(12).toString('hex')}`;
const TENANT = 'demo_tenant';
const agent = new Agent({ keepAliveTimeout: 10_000 });

interface Sent extends WireAnswer {
  json: any;
}

describe('real answers match the OpenAPI document', () => {
  let sims: RunningSimulators;
  let redis: OwnRedis;
  let hub: Hub;
  let url: string;
  let config: LoadedConfig;
  let checker: AnswerChecker;
  let refuseReload = false;

  /** A request to tokenhub; the answer is checked against the document, and its status when `status` is given. */
  const send = async (
    method: string,
    path: string,
    options: { key?: string | null; body?: unknown; headers?: Record<string, string>; status?: number } = {},
  ): Promise<Sent> => {
    const headers: Record<string, string> = { ...options.headers };
    const key = options.key === undefined ? KEY : options.key;
    if (key !== null) headers.authorization ??= `Bearer ${key}`;
    let body: string | Buffer | undefined;
    if (options.body !== undefined) {
      body = typeof options.body === 'string' || Buffer.isBuffer(options.body) ? options.body : JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await request(url + path, { method: method as 'GET', headers, dispatcher: agent, ...(body === undefined ? {} : { body }) });
    const text = await res.body.text();
    const answer = { status: res.statusCode, headers: res.headers, text };
    checker.check(method, path, answer);
    if (options.status !== undefined) assert.equal(answer.status, options.status, `${method} ${path}: ${text.slice(0, 500)}`);
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { ...answer, json };
  };
  const code = (answer: Sent): string => answer.json?.error?.code;

  before(async () => {
    const demo = demoConfig(KEY, 'http://127.0.0.1').apps;
    sims = await startSimulators({ sims: simulatorsFor(Object.values(demo)) });
    redis = await startRedisServer();
    const apps: Record<string, Record<string, unknown>> = Object.assign({}, ...platforms.map((p) => p.demoApps(sims.url)));
    const feishu = apps['feishu-main']!;
    const dingtalk = apps['dingtalk-main']!;
    config = validateConfig({
      listen: { host: '127.0.0.1', port: 0 },
      log: { level: 'debug' },
      store: { type: 'redis', url: redis.url, keyPrefix: `openapi-${randomBytes(4).toString('hex')}:`, encryptionKey: randomBytes(32).toString('base64') },
      clients: [
        { name: 'ops', key: KEY, apps: ['*'], admin: true, reportsPerMinute: 10_000, signaturesPerMinute: 10_000 },
        { name: 'narrow', key: NARROW, apps: ['feishu-main'] },
        { name: 'stingy', key: STINGY, apps: ['*'], reportsPerMinute: 1, signaturesPerMinute: 1 },
      ],
      apps: {
        ...apps,
        'wechat-main': { ...apps['wechat-main'], jsapiUrls: ['https://app.example.com/*'] },
        // The platform refuses this secret: 502.
        'refused-app': { ...feishu, appSecret: 'not-the-secret-the-platform-knows' },
        // An app whose token nobody holds, asked for while the platform is down: 503.
        'cold-app': { ...dingtalk, appId: 'dingopenapi0cold0app' },
      },
    });
    hub = createHub(config, {
      logger: createLogger('debug', new LogCapture()),
      loadConfig: async () => {
        if (refuseReload) throw new ConfigError(['apps.feishu-main.platform: not a platform (a test config)']);
        return config;
      },
    });
    url = await hub.listen();
    const connected = await connectEvents(config, sims, url, { pushNow: true });
    assert.ok(connected.every((line) => !line.includes('not delivered')), connected.join('\n'));
    const doc = await (await request(`${url}/openapi.json`, { dispatcher: agent })).body.json();
    checker = new AnswerChecker(doc);
  });

  after(async () => {
    await redis.start().catch(() => {});
    await hub.close();
    await sims.close();
    await redis.stop();
  });

  it('health, readiness, metrics, this document and the console', async () => {
    await send('GET', '/healthz', { key: null, status: 200 });
    await send('GET', '/readyz', { key: null, status: 200 });
    await send('GET', '/metrics', { key: null, status: 200 });
    await send('GET', '/openapi.json', { key: null, status: 200 });
    await send('GET', '/console', { key: null, status: 200 });
    await send('GET', '/console/console.js', { key: null, status: 200 });
    await send('GET', '/console/icon.svg', { key: null, status: 200 });
    await send('GET', '/console/', { key: null, status: 301 });
    assert.equal(code(await send('GET', '/console/passwords.txt', { key: null, status: 404 })), 'TOKENHUB_NOT_FOUND');
  });

  it('GET /v1/apps for an admin, for a client of one app, and without a key', async () => {
    const all = await send('GET', '/v1/apps', { status: 200 });
    assert.equal(all.json.apps.length, Object.keys(config.apps).length);
    assert.ok(all.json.apps.some((a: any) => a.pushTicket !== undefined), 'no app shows its pushed ticket');
    assert.deepEqual((await send('GET', '/v1/apps', { key: NARROW, status: 200 })).json.apps.map((a: any) => a.id), ['feishu-main']);
    await send('GET', '/v1/apps', { key: null, status: 401 });
  });

  it("tokens of every kind of every app, through Fastify and through the fast path; each error kind", async () => {
    const { json } = await send('GET', '/v1/apps');
    let served = 0;
    for (const app of json.apps) {
      if (app.id === 'refused-app' || app.id === 'cold-app') continue;
      for (const kind of app.kinds as string[]) {
        const tenant = (app.tenantScopedKinds as string[]).includes(kind) ? `tenant_key=${TENANT}&` : '';
        // With a query string: Fastify's route. Then the plain form, cached: the fast path.
        const first = await send('GET', `/v1/apps/${app.id}/tokens/${kind}?${tenant}min_ttl=60`);
        assert.equal(first.status, 200, `${app.id} ${kind}: ${first.text}`);
        if (tenant === '') await send('GET', `/v1/apps/${app.id}/tokens/${kind}`, { status: 200 });
        served++;
      }
    }
    assert.ok(served >= 25, `${served} kinds served`);
    console.log(`# tokens of ${served} (app, kind) pairs over ${json.apps.length - 2} apps, each through Fastify and (untenanted) the fast path`);
    const now = await send('GET', '/v1/apps', { status: 200 });
    assert.ok(now.json.apps.some((a: any) => a.tokens.some((t: any) => t.tenantScoped === true && t.valid > 0)), 'no tenant-scoped kind counted');

    const token = '/v1/apps/feishu-main/tokens/tenant_access_token';
    assert.equal(code(await send('GET', `${token}?min_ttl=soon`, { status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('GET', `${token}?min_ttl=86400`, { status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('GET', `${token}?colour=blue`, { status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('GET', '/v1/apps/feishu-main/tokens/no_such_kind', { status: 400 })), 'TOKENHUB_UNKNOWN_KIND');
    assert.equal(code(await send('GET', token, { key: null, status: 401 })), 'TOKENHUB_UNAUTHORIZED');
    assert.equal(code(await send('GET', token, { key: 'not-a-key-anyone-has-000', status: 401 })), 'TOKENHUB_UNAUTHORIZED');
    assert.equal(code(await send('GET', '/v1/apps/wechat-main/tokens/access_token', { key: NARROW, status: 403 })), 'TOKENHUB_FORBIDDEN');
    assert.equal(code(await send('GET', '/v1/apps/no-such-app/tokens/access_token', { status: 404 })), 'TOKENHUB_APP_NOT_FOUND');
    assert.equal(code(await send('GET', '/v1/apps/wechat-open/tokens/authorizer_access_token?tenant_key=wx_nobody_authorized', { status: 404 })), 'TOKENHUB_GRANT_NOT_FOUND');
    const refused = await send('GET', '/v1/apps/refused-app/tokens/tenant_access_token', { status: 502 });
    assert.equal(code(refused), 'TOKENHUB_PLATFORM_REFUSED');
    assert.ok(refused.json.error.platformCode !== undefined, 'no platformCode');

    const dingtalk = sims.sim('dingtalk');
    dingtalk.faults.set('down');
    try {
      const down = await send('GET', '/v1/apps/cold-app/tokens/access_token', { status: 503 });
      assert.equal(code(down), 'TOKENHUB_PLATFORM_UNAVAILABLE');
      assert.ok(Number(down.headers['retry-after']) >= 1);
      // A cached token is served all the same.
      await send('GET', '/v1/apps/dingtalk-main/tokens/access_token?min_ttl=60', { status: 200 });
    } finally {
      dingtalk.faults.set('none');
    }
  });

  it('invalidate: a report answered with a token; bad bodies, an unknown kind, the client over its budget', async () => {
    const path = '/v1/apps/wechat-main/tokens/access_token';
    const current = (await send('GET', path, { status: 200 })).json.token;
    const fresh = await send('POST', `${path}/invalidate`, { body: { token: current }, status: 200 });
    assert.notEqual(fresh.json.token, current);
    await send('POST', `${path}/invalidate`, { body: { token: current }, status: 200 });
    await send('POST', '/v1/apps/wechat-open/tokens/authorizer_access_token/invalidate?tenant_key=demo_tenant', { body: { token: 'stale' }, status: 200 });
    assert.equal(code(await send('POST', `${path}/invalidate`, { body: { tokn: current }, status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('POST', `${path}/invalidate`, { body: '{"token":', status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('POST', `${path}/invalidate`, { body: 'token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, status: 415 })), 'TOKENHUB_UNSUPPORTED_MEDIA_TYPE');
    assert.equal(code(await send('POST', `${path}/invalidate`, { body: { token: 'x'.repeat(20_000) }, status: 413 })), 'TOKENHUB_PAYLOAD_TOO_LARGE');
    assert.equal(code(await send('POST', '/v1/apps/wechat-main/tokens/nope/invalidate', { body: { token: current }, status: 400 })), 'TOKENHUB_UNKNOWN_KIND');
    await send('POST', `${path}/invalidate`, { key: NARROW, body: { token: current }, status: 403 });
    await send('POST', `${path}/invalidate`, { key: STINGY, body: { token: 'not-current' }, status: 200 });
    const over = await send('POST', `${path}/invalidate`, { key: STINGY, body: { token: 'not-current' }, status: 429 });
    assert.equal(code(over), 'TOKENHUB_RATE_LIMITED');
    assert.ok(Number(over.headers['retry-after']) >= 1);
  });

  it('page signatures of every app whose pages use a JS-SDK, card signatures, and their refusals', async () => {
    const { json } = await send('GET', '/v1/apps');
    let signed = 0;
    for (const app of json.apps) {
      if (app.id === 'refused-app' || app.id === 'cold-app') continue;
      for (const kind of (app.kinds as string[]).filter((k) => k.endsWith('jsapi_ticket'))) {
        const tenant = (app.tenantScopedKinds as string[]).includes(kind) ? { tenant_key: TENANT } : {};
        const answer = await send('POST', `/v1/apps/${app.id}/jsapi/signature`, { body: { url: 'https://app.example.com/page?x=1#top', kind, ...tenant } });
        assert.equal(answer.status, 200, `${app.id} ${kind}: ${answer.text}`);
        assert.equal(answer.json.url, 'https://app.example.com/page?x=1');
        signed++;
      }
    }
    assert.ok(signed >= 8, `${signed} signatures`);
    console.log(`# ${signed} page signatures`);
    const sign = '/v1/apps/wechat-main/jsapi/signature';
    assert.equal(code(await send('POST', sign, { body: { url: 'https://elsewhere.example.com/' }, status: 403 })), 'TOKENHUB_URL_NOT_ALLOWED');
    assert.equal(code(await send('POST', sign, { body: { url: 'ftp://app.example.com/x' }, status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('POST', sign, { body: { page: 'x' }, status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('POST', sign, { body: 'url=x', headers: { 'content-type': 'text/csv' }, status: 415 })), 'TOKENHUB_UNSUPPORTED_MEDIA_TYPE');
    assert.equal(code(await send('POST', '/v1/apps/qingtui-main/jsapi/signature', { body: { url: 'https://app.example.com/' }, status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('POST', sign, { key: NARROW, body: { url: 'https://app.example.com/' }, status: 403 })), 'TOKENHUB_FORBIDDEN');
    assert.equal(code(await send('POST', '/v1/apps/nope/jsapi/signature', { body: { url: 'https://app.example.com/' }, status: 404 })), 'TOKENHUB_APP_NOT_FOUND');
    await send('POST', sign, { key: STINGY, body: { url: 'https://app.example.com/a' }, status: 200 });
    assert.equal(code(await send('POST', sign, { key: STINGY, body: { url: 'https://app.example.com/b' }, status: 429 })), 'TOKENHUB_RATE_LIMITED');

    const card = '/v1/apps/wechat-main/jsapi/card-signature';
    await send('POST', card, { body: { cardId: 'pFS7Fjg8kV1IdDz01r4SQwMkuCKc', code: '123', openid: 'o1' }, status: 200 });
    await send('POST', card, { body: { for: 'chooseCard', shopId: '1', cardType: 'GROUPON' }, status: 200 });
    assert.equal(code(await send('POST', card, { body: {}, status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('POST', card, { body: { colour: 'blue' }, status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('POST', '/v1/apps/feishu-main/jsapi/card-signature', { body: { cardId: 'x' }, status: 400 })), 'TOKENHUB_BAD_REQUEST');
  });

  it('the events URL: an event taken, a URL check, a replay, forged and misaddressed events', async () => {
    const store = config.apps['feishu-store'] as unknown as { appId: string; verificationToken: string; encryptKey: string };
    const events = '/v1/apps/feishu-store/events';
    const challenge = buildEvent(store, { challenge: 'c-123', token: store.verificationToken, type: 'url_verification' });
    const verified = await send('POST', events, { key: null, body: challenge.body, headers: challenge.headers, status: 200 });
    assert.equal(verified.json.challenge, 'c-123');
    const other = buildEvent(store, { schema: '2.0', header: { event_id: randomBytes(8).toString('hex'), event_type: 'im.chat.updated_v1', app_id: store.appId, token: store.verificationToken, create_time: String(Date.now()) }, event: {} });
    await send('POST', events, { key: null, body: other.body, headers: other.headers, status: 200 });
    assert.equal(code(await send('POST', events, { key: null, body: other.body, headers: other.headers, status: 409 })), 'TOKENHUB_EVENT_REPLAYED');
    const forged = await send('POST', events, { key: null, body: '{"encrypt":"bm90IGEgcmVhbCBldmVudA=="}', headers: { ...other.headers } });
    assert.ok(forged.status === 400 || forged.status === 401, forged.text);
    assert.equal(code(await send('POST', events, { key: null, body: 'x'.repeat(70 * 1024), headers: { 'content-type': 'text/plain' }, status: 413 })), 'TOKENHUB_PAYLOAD_TOO_LARGE');
    assert.equal(code(await send('GET', events, { key: null, status: 404 })), 'TOKENHUB_NOT_FOUND');
    assert.equal(code(await send('POST', '/v1/apps/feishu-main/events', { key: null, body: '{}', status: 404 })), 'TOKENHUB_NOT_FOUND');
    assert.equal(code(await send('POST', '/v1/apps/nope/events', { key: null, body: '{}', status: 404 })), 'TOKENHUB_APP_NOT_FOUND');

    // A WeChat component's encrypted XML push, answered `success` as text.
    const component = sims.sim('wechat-open') as WeChatComponentSim;
    const componentId = String(config.apps['wechat-open']!.appId);
    const push = component.buildPush({ AppId: componentId, CreateTime: Math.floor(Date.now() / 1000), InfoType: 'notify_openapi_test' });
    const query = `?${new URLSearchParams(push.query)}`;
    const taken = await send('POST', `/v1/apps/wechat-open/events${query}`, { key: null, body: push.body, headers: { 'content-type': 'text/xml' }, status: 200 });
    assert.equal(taken.text, 'success');
    assert.equal(code(await send('POST', `/v1/apps/wechat-open/events${query}`, { key: null, body: push.body, headers: { 'content-type': 'text/xml' }, status: 409 })), 'TOKENHUB_EVENT_REPLAYED');
    const tampered = await send('POST', `/v1/apps/wechat-open/events${query.replace(/msg_signature=[^&]+/, 'msg_signature=0000')}`, { key: null, body: push.body, headers: { 'content-type': 'text/xml' } });
    assert.ok(tampered.status === 400 || tampered.status === 401, tampered.text);

    // A WeCom suite's URL check (GET), answered with its plaintext.
    const suite = config.apps['wecom-suite'] as unknown as { token: string; encodingAESKey: string; providerCorpId: string };
    const sealed = seal({ token: suite.token, encodingAESKey: suite.encodingAESKey, receiveId: suite.providerCorpId }, '8374652910', Date.now());
    const check = new URLSearchParams({ msg_signature: sealed.msgSignature, timestamp: sealed.timestamp, nonce: sealed.nonce, echostr: sealed.encrypt });
    assert.equal((await send('GET', `/v1/apps/wecom-suite/events?${check}`, { key: null, status: 200 })).text, '8374652910');
  });

  it('authorizations of third-party apps: kept from a code, listed, deleted; pre-auth codes; their refusals', async () => {
    for (const id of ['wechat-open', 'wecom-suite']) {
      const listed = await send('GET', `/v1/apps/${id}/authorizations`, { status: 200 });
      assert.ok(listed.json.authorizations.some((a: any) => a.tenantKey === TENANT), `${id}: ${listed.text}`);
      await send('POST', `/v1/apps/${id}/pre-auth-code`, { status: 200 });
      await send('POST', `/v1/apps/${id}/pre-auth-code`, { body: {}, status: 200 });
    }
    assert.equal(code(await send('POST', '/v1/apps/wechat-open/pre-auth-code', { body: { scope: 'all' }, status: 400 })), 'TOKENHUB_BAD_REQUEST');

    // Codes of install redirects, made at the platform while its pushes go nowhere (as a user's redirect brings them).
    const component = sims.sim('wechat-open') as WeChatComponentSim;
    const componentId = String(config.apps['wechat-open']!.appId);
    const componentUrl = `${url}/v1/apps/wechat-open/events`;
    component.setEventUrl(undefined, componentId);
    const { authorizationCode } = await component.authorize('wxopenapi0authorizer', { componentAppId: componentId });
    component.setEventUrl(componentUrl, componentId);
    const created = await send('POST', '/v1/apps/wechat-open/authorizations', { body: { code: authorizationCode }, status: 201 });
    assert.equal(created.json.tenantKey, 'wxopenapi0authorizer');
    await send('GET', '/v1/apps/wechat-open/tokens/authorizer_access_token?tenant_key=wxopenapi0authorizer', { status: 200 });

    const suite = sims.sim('wecom-suite') as WeComSuiteSim;
    const suiteId = String(config.apps['wecom-suite']!.appId);
    const suiteUrl = `${url}/v1/apps/wecom-suite/events`;
    suite.setEventUrl(undefined, suiteId);
    const { authCode } = await suite.createAuth('wwopenapi0corp', { suiteId, corpName: 'OpenAPI corp' });
    suite.setEventUrl(suiteUrl, suiteId);
    assert.equal((await send('POST', '/v1/apps/wecom-suite/authorizations', { body: { code: authCode }, status: 201 })).json.tenantKey, 'wwopenapi0corp');

    const spent = await send('POST', '/v1/apps/wechat-open/authorizations', { body: { code: authorizationCode } });
    assert.ok(spent.status >= 400 && spent.status < 500 || spent.status === 502, spent.text);
    assert.equal(code(await send('POST', '/v1/apps/wechat-open/authorizations', { body: {}, status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('GET', '/v1/apps/feishu-main/authorizations', { status: 404 })), 'TOKENHUB_NOT_FOUND');
    assert.equal(code(await send('POST', '/v1/apps/feishu-main/pre-auth-code', { status: 404 })), 'TOKENHUB_NOT_FOUND');
    assert.equal(code(await send('GET', '/v1/apps/nope/authorizations', { status: 404 })), 'TOKENHUB_APP_NOT_FOUND');
    assert.equal(code(await send('GET', '/v1/apps/wechat-open/authorizations', { key: NARROW, status: 403 })), 'TOKENHUB_FORBIDDEN');
    await send('GET', '/v1/apps/wechat-open/authorizations', { key: null, status: 401 });

    await send('DELETE', '/v1/apps/wechat-open/authorizations/wxopenapi0authorizer', { status: 204 });
    assert.equal(code(await send('DELETE', '/v1/apps/wechat-open/authorizations/wxopenapi0authorizer', { status: 404 })), 'TOKENHUB_GRANT_NOT_FOUND');
    assert.equal(code(await send('DELETE', '/v1/apps/wechat-open/authorizations/not%20a%20tenant', { status: 400 })), 'TOKENHUB_BAD_REQUEST');
    // Each code costs the client a report: this one has one a minute.
    await send('POST', '/v1/apps/wechat-open/pre-auth-code', { key: STINGY });
    assert.equal(code(await send('POST', '/v1/apps/wechat-open/pre-auth-code', { key: STINGY, status: 429 })), 'TOKENHUB_RATE_LIMITED');
  });

  it("the proxy: the platform's answers for every method OpenAPI describes; tokenhub's own refusals", async () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE']) {
      const answer = await send(method, '/v1/proxy/feishu-main/open-apis/contact/v3/users', method === 'POST' || method === 'PUT' || method === 'PATCH' ? { body: { name: 'x' } } : {});
      assert.equal(answer.headers['x-tokenhub-error'], undefined, `${method}: ${answer.text}`);
    }
    await send('GET', '/v1/proxy/wechat-main/cgi-bin/user/get', { status: 200 });
    // Encoded twice, so that no client normalises it away: refused in any decoding.
    assert.equal(code(await send('GET', '/v1/proxy/feishu-main/open-apis/%252e%252e/x', { status: 400 })), 'TOKENHUB_BAD_REQUEST');
    // A status tokenhub also answers, here the platform's: no X-Tokenhub-Error, so the document's default answer.
    const relayed = await send('GET', '/v1/proxy/feishu-main/no-such-platform-path');
    assert.equal(relayed.status, 404);
    assert.equal(relayed.headers['x-tokenhub-error'], undefined);
    assert.equal(code(await send('GET', '/v1/proxy/feishu-store/open-apis/x', { headers: { 'x-tokenhub-tenant-key': 'not a key' }, status: 400 })), 'TOKENHUB_BAD_REQUEST');
    assert.equal(code(await send('GET', '/v1/proxy/nope/x', { status: 404 })), 'TOKENHUB_APP_NOT_FOUND');
    assert.equal(code(await send('GET', '/v1/proxy/wechat-main/cgi-bin/user/get', { key: NARROW, status: 403 })), 'TOKENHUB_FORBIDDEN');
    await send('GET', '/v1/proxy/feishu-main/open-apis/x', { key: null, status: 401 });
    assert.equal(code(await send('GET', '/v1/proxy/refused-app/open-apis/x', { status: 502 })), 'TOKENHUB_PLATFORM_REFUSED');
  });

  it('the operations routes: status, its event stream and reload, for admins only', async () => {
    const status = await send('GET', '/v1/admin/status', { status: 200 });
    assert.equal(status.json.apps.length, Object.keys(config.apps).length);
    assert.ok(status.json.attention.errors > 0, 'the refused app needs attention');
    assert.equal(code(await send('GET', '/v1/admin/status', { key: NARROW, status: 403 })), 'TOKENHUB_FORBIDDEN');
    await send('GET', '/v1/admin/status', { key: null, status: 401 });

    // The stream never ends: its first frame is read, checked as the answer's text and its data as the status.
    const stream = await request(`${url}/v1/admin/events`, { headers: { authorization: `Bearer ${KEY}` }, dispatcher: agent });
    let frame = '';
    for await (const chunk of stream.body) {
      frame += String(chunk);
      if (frame.includes('\n\n')) break;
    }
    stream.body.destroy();
    checker.check('GET', '/v1/admin/events', { status: stream.statusCode, headers: stream.headers, text: frame });
    const data = /^event: status\ndata: (.*)$/m.exec(frame)?.[1];
    assert.ok(data, frame.slice(0, 200));
    checker.validate('AdminStatus', JSON.parse(data), 'the first frame of /v1/admin/events');
    await send('GET', '/v1/admin/events', { key: NARROW, status: 403 });

    assert.deepEqual((await send('POST', '/v1/admin/reload', { status: 200 })).json.changed, []);
    refuseReload = true;
    try {
      const refused = await send('POST', '/v1/admin/reload', { status: 400 });
      assert.equal(code(refused), 'TOKENHUB_RELOAD_REFUSED');
      assert.deepEqual(refused.json.error.issues, ['apps.feishu-main.platform: not a platform (a test config)']);
    } finally {
      refuseReload = false;
    }
    assert.equal(code(await send('POST', '/v1/admin/reload', { key: NARROW, status: 403 })), 'TOKENHUB_FORBIDDEN');
  });

  it('while the store is down: readiness 503, the status says so, grants cannot be read: 503', async () => {
    await redis.kill();
    try {
      const ready = await send('GET', '/readyz', { key: null, status: 503 });
      assert.equal(ready.json.status, 'not ready');
      // The status reuses a ping for a second.
      let status = await send('GET', '/v1/admin/status', { status: 200 });
      for (let i = 0; i < 40 && status.json.store.reachable !== false; i++) {
        await new Promise((r) => setTimeout(r, 100));
        status = await send('GET', '/v1/admin/status', { status: 200 });
      }
      assert.equal(status.json.store.reachable, false);
      assert.ok(status.json.store.lastError, 'no last error');
      assert.equal(code(await send('GET', '/v1/apps/wechat-open/authorizations', { status: 503 })), 'TOKENHUB_STORE_UNAVAILABLE');
      // A cached token is served all the same.
      await send('GET', '/v1/apps/feishu-main/tokens/tenant_access_token?min_ttl=60', { status: 200 });
    } finally {
      await redis.start();
    }
  });

  it('every operation of the document was answered at least once', () => {
    const answered = new Set([...checker.checked].map((c) => c.split(' ').slice(0, 2).join(' ')));
    assert.deepEqual(checker.operations().filter((op) => !answered.has(op)), []);
    const statuses = new Set([...checker.checked].map((c) => c.split(' ')[2]));
    console.log(`# ${checker.checked.size} (operation, status) pairs checked over ${answered.size} operations; statuses ${[...statuses].sort().join(' ')}`);
  });
});
