import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { decryptEvent } from '../../src/providers/feishu-events.js';
import { FEISHU_STORE_STATE, readTicket } from '../../src/providers/feishu-store.js';
import { appTicketEvent } from '../../src/sim/feishu-events.js';
import { FEISHU_ENDPOINTS, FeishuSim, buildEvent, type BuildEventOptions, type FeishuSimStoreApp } from '../../src/sim/index.js';
import { deletePrefix, dumpPrefix, sharedRedisUrl, uniquePrefix } from '../helpers/redis.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const VT = 'verification-token-0123456789';
const KEY = 'encrypt-key-abcdefghijklmnop';

/** Store apps of the simulator and of tokenhub, by tokenhub id. */
const STORE_APPS: Record<string, FeishuSimStoreApp> = {
  plain: { appId: 'cli_store_plain', appSecret: 'store-secret-plain-xxxxxxxx', verificationToken: `${VT}-plain`, schema: '1.0' },
  enc: { appId: 'cli_store_enc', appSecret: 'store-secret-enc-xxxxxxxxxx', verificationToken: `${VT}-enc`, encryptKey: KEY },
  guarded: { appId: 'cli_store_guarded', appSecret: 'store-secret-guarded-xxxxxx', verificationToken: `${VT}-guarded`, encryptKey: `${KEY}-guarded` },
  guardedPlain: { appId: 'cli_store_gp', appSecret: 'store-secret-gp-xxxxxxxxxxx', verificationToken: `${VT}-gp` },
  cold: { appId: 'cli_store_cold', appSecret: 'store-secret-cold-xxxxxxxxx', verificationToken: `${VT}-cold`, encryptKey: `${KEY}-cold` },
  rotating: { appId: 'cli_store_rot', appSecret: 'store-secret-rot-xxxxxxxxxx', verificationToken: `${VT}-rot`, encryptKey: `${KEY}-rot` },
  busy: { appId: 'cli_store_busy', appSecret: 'store-secret-busy-xxxxxxxxx', verificationToken: `${VT}-busy` },
  replay: { appId: 'cli_store_replay', appSecret: 'store-secret-replay-xxxxxxx', verificationToken: `${VT}-replay`, encryptKey: `${KEY}-replay` },
  older: { appId: 'cli_store_older', appSecret: 'store-secret-older-xxxxxxxx', verificationToken: `${VT}-older`, encryptKey: `${KEY}-older` },
  dup: { appId: 'cli_store_dup', appSecret: 'store-secret-dup-xxxxxxxxxx', verificationToken: `${VT}-dup`, encryptKey: `${KEY}-dup` },
};
/** Apps whose event URL the simulator knows: the others only ever hear from the tests. */
const WITH_URL = ['plain', 'enc', 'cold', 'rotating', 'busy'];

const events = (id: string): string => `/v1/apps/${id}/events`;
const tenant = (id: string, key: string): string => `/v1/apps/${id}/tokens/tenant_access_token?tenant_key=${key}`;

describe('feishu store apps', () => {
  let stack: Stack;
  let sim: FeishuSim;

  before(async () => {
    // The push follows a resend after 300 ms, so that a burst of callers sees the ticket pending.
    sim = new FeishuSim({ apps: [{ appId: 'cli_custom', appSecret: 'custom-secret-xxxxxxxxxxxx' }], storeApps: Object.values(STORE_APPS), resendDelayMs: 300 });
    const apps: Record<string, Record<string, unknown>> = {
      custom: { platform: 'feishu', appId: 'cli_custom', appSecret: 'custom-secret-xxxxxxxxxxxx', baseUrl: 'sim:feishu' },
    };
    for (const [id, app] of Object.entries(STORE_APPS)) {
      apps[id] = {
        platform: 'feishu',
        appType: 'store',
        appId: app.appId,
        appSecret: app.appSecret,
        verificationToken: app.verificationToken,
        ...(app.encryptKey === undefined ? {} : { encryptKey: app.encryptKey }),
        baseUrl: 'sim:feishu',
      };
    }
    apps.misconfigured = { ...apps.guardedPlain, appSecret: 'not-the-store-secret-xxxxxxx' };
    // tokenhub must listen before the simulator can be told where to push.
    stack = await startStack({ sims: [sim], apps });
    for (const id of WITH_URL) sim.setEventUrl(STORE_APPS[id]!.appId, stack.url + events(id));
  });
  after(() => stack.close());

  const rawTicketOf = (id: string): Promise<string | undefined> => stack.hub.broker.state(id).get(FEISHU_STORE_STATE.ticket);
  const ticketOf = async (id: string): Promise<string | undefined> => readTicket(await rawTicketOf(id))?.ticket;
  /** An event POSTed as the platform would, without any client key. */
  const post = (id: string, body: string, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    stack.call('POST', events(id), { key: null, body, headers });

  describe('the events URL', () => {
    it('answers url_verification with the challenge, without a client key', async () => {
      const challenge = randomBytes(8).toString('hex');
      const res = await post('plain', JSON.stringify({ challenge, token: STORE_APPS.plain!.verificationToken, type: 'url_verification' }));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, { challenge });
      // Encrypted, as the console sends it when the app has an encrypt key.
      assert.equal(await sim.verifyEventUrl(STORE_APPS.enc!.appId), true);
    });

    it('refuses url_verification with a wrong verification token', async () => {
      const res = await post('plain', JSON.stringify({ challenge: 'c', token: 'not-the-token', type: 'url_verification' }));
      assert.equal(res.status, 401);
      assert.equal(res.body.error.code, 'TOKENHUB_UNAUTHORIZED');
    });

    for (const [id, encrypted] of [['plain', false], ['enc', true]] as const) {
      for (const schema of ['1.0', '2.0'] as const) {
        it(`keeps a ${encrypted ? 'encrypted, signed' : 'plain'} app_ticket of schema ${schema}`, async () => {
          const pushed = await sim.pushTicket(STORE_APPS[id]!.appId, { schema });
          assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
          assert.equal(await ticketOf(id), pushed.ticket);
        });
      }
    }

    it('hands out tokens with the pushed ticket', async () => {
      for (const id of ['plain', 'enc']) {
        const res = await stack.call('GET', tenant(id, 'tenant_a'));
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.tenantKey, 'tenant_a');
        assert.ok(sim.isValid(res.body.token));
      }
    });

    it('warns at start, once for each store app without an encryptKey, naming the app and no secret', () => {
      const warned = stack.logs.text
        .split('\n')
        .filter((line) => line.includes('store app without encryptKey'))
        .map((line) => JSON.parse(line) as { app: string; level: string });
      const unencrypted = Object.keys(stack.config.apps).filter((id) => {
        const app = stack.config.apps[id]!;
        return 'appType' in app && app.appType === 'store' && app.encryptKey === undefined;
      });
      assert.deepEqual(warned.map((w) => w.app).sort(), unencrypted.sort());
      assert.ok(warned.every((w) => w.level === 'warn'));
      assert.ok(unencrypted.includes('plain') && !unencrypted.includes('enc'));
    });

    it('is 404 for a custom app and for no app', async () => {
      const body = JSON.stringify({ challenge: 'c', token: VT, type: 'url_verification' });
      assert.equal((await post('custom', body)).status, 404);
      assert.equal((await post('nope', body)).status, 404);
    });
  });

  describe('forged and broken events', () => {
    const guarded = STORE_APPS.guarded!;
    const ticketEvent = (appId: string, token: string, ticket = 'forged-ticket') => ({
      schema: '2.0',
      header: { event_type: 'app_ticket', token, app_id: appId },
      event: { app_id: appId, app_ticket: ticket, type: 'app_ticket' },
    });
    const settings = { appId: guarded.appId, verificationToken: guarded.verificationToken, encryptKey: guarded.encryptKey };
    const now = (): number => Math.floor(Date.now() / 1000);

    const cases: [string, () => { body: string; headers: Record<string, string> }, number][] = [
      ['a wrong verification token', () => buildEvent(settings, ticketEvent(guarded.appId, 'forged-token')), 401],
      [
        'a bad signature',
        () => {
          const built = buildEvent(settings, ticketEvent(guarded.appId, guarded.verificationToken));
          return { ...built, headers: { ...built.headers, 'x-lark-signature': 'a'.repeat(64) } };
        },
        401,
      ],
      [
        'a body changed after signing',
        () => {
          const signed = buildEvent(settings, ticketEvent(guarded.appId, guarded.verificationToken));
          const other = buildEvent(settings, ticketEvent(guarded.appId, guarded.verificationToken, 'another-ticket'));
          return { body: other.body, headers: signed.headers };
        },
        401,
      ],
      ['a stale timestamp', () => buildEvent(settings, ticketEvent(guarded.appId, guarded.verificationToken), { timestamp: now() - 600 }), 401],
      // Encrypted with the right key, but not signed: only url_verification may come so.
      ['an encrypted app_ticket without signature headers', () => buildEvent(settings, ticketEvent(guarded.appId, guarded.verificationToken), { sign: false }), 401],
      ['a signature without its nonce', () => {
        const built = buildEvent(settings, ticketEvent(guarded.appId, guarded.verificationToken));
        const { 'x-lark-request-nonce': _nonce, ...headers } = built.headers;
        return { body: built.body, headers };
      }, 401],
      ['a body encrypted with another key', () => buildEvent({ ...settings, encryptKey: 'some-other-key' }, ticketEvent(guarded.appId, guarded.verificationToken), { sign: false }), 400],
      ['an encrypt field that is not base64', () => ({ body: JSON.stringify({ encrypt: '%%% not base64 %%%' }), headers: { 'content-type': 'application/json' } }), 400],
      ['a plain body to an app with an encrypt key', () => buildEvent(settings, ticketEvent(guarded.appId, guarded.verificationToken), { encrypt: false, sign: false }), 400],
      ['another app\'s id', () => buildEvent(settings, ticketEvent('cli_someone_else', guarded.verificationToken)), 400],
      ['a body that is not JSON', () => ({ body: '{"schema": "2.0", ', headers: { 'content-type': 'application/json' } }), 400],
      ['an empty body', () => ({ body: '', headers: { 'content-type': 'application/json' } }), 400],
      ['a body over the size limit', () => ({ body: JSON.stringify({ encrypt: 'A'.repeat(100 * 1024) }), headers: { 'content-type': 'application/json' } }), 413],
    ];
    for (const [what, make, status] of cases) {
      it(`refuses ${what} (${status}) and keeps nothing`, async () => {
        const { body, headers } = make();
        const res = await post('guarded', body, headers);
        assert.equal(res.status, status, JSON.stringify(res.body));
        assert.equal(typeof res.body.error.message, 'string');
        assert.equal(await ticketOf('guarded'), undefined);
      });
    }

    it('refuses a forged plain event to an app without an encrypt key', async () => {
      const gp = STORE_APPS.guardedPlain!;
      const forged = { type: 'event_callback', token: 'guess', event: { app_id: gp.appId, app_ticket: 'forged', type: 'app_ticket' } };
      const res = await post('guardedPlain', JSON.stringify(forged));
      assert.equal(res.status, 401);
      const wrongApp = { ...forged, token: gp.verificationToken, event: { ...forged.event, app_id: 'cli_other' } };
      assert.equal((await post('guardedPlain', JSON.stringify(wrongApp))).status, 400);
      assert.equal(await ticketOf('guardedPlain'), undefined);
    });

    it('still has no ticket afterwards: a token request is pending', async () => {
      for (const id of ['guarded', 'guardedPlain']) {
        const res = await stack.call('GET', tenant(id, 'tenant_a'));
        assert.equal(res.status, 503, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'TOKENHUB_TICKET_PENDING');
      }
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeApp, STORE_APPS.guarded!.appId), 0, 'an app token was asked for with a forged ticket');
    });

    it('never logs a ticket, a verification token, an encrypt key or a secret', () => {
      const logs = stack.logs.text;
      assert.match(logs, /event refused/);
      for (const app of Object.values(STORE_APPS)) {
        for (const secret of [app.verificationToken, app.encryptKey, app.appSecret]) {
          if (secret !== undefined) assert.ok(!logs.includes(secret), 'a secret reached the logs');
        }
      }
      assert.ok(!logs.includes('sim-ticket-'), 'a ticket reached the logs');
    });
  });

  describe('replays, older and duplicate tickets', () => {
    /** A push of `ticket` to app `id` as the platform would send it (a fresh event id and nonce), created at `createdAt`. */
    const delivery = (id: string, ticket: string, createdAt = Date.now(), options: BuildEventOptions & { schema?: '1.0' | '2.0' } = {}) => {
      const app = STORE_APPS[id]!;
      return sim.buildEvent(app.appId, appTicketEvent(app, ticket, options.schema ?? '2.0', createdAt), options);
    };
    /** A ticket the simulator takes (issued without a push: these apps have no event URL there). */
    const issue = async (id: string): Promise<string> => (await sim.pushTicket(STORE_APPS[id]!.appId)).ticket;

    for (const schema of ['1.0', '2.0'] as const) {
      it(`a replayed signed event (schema ${schema}) is 409 and changes nothing, neither by its nonce nor by its event id`, async () => {
        const appId = STORE_APPS.replay!.appId;
        const first = delivery('replay', await issue('replay'), Date.now() - 1_000, { schema });
        assert.equal((await post('replay', first.body, first.headers)).status, 200);
        const app = await stack.call('GET', '/v1/apps/replay/tokens/app_access_token');
        assert.equal(app.status, 200, JSON.stringify(app.body));

        // A newer ticket arrives; then the first push is replayed, verbatim.
        const newer = await issue('replay');
        const second = delivery('replay', newer);
        assert.equal((await post('replay', second.body, second.headers)).status, 200);
        const stored = await rawTicketOf('replay');
        const calls = sim.counters.count(undefined, appId);
        const replayed = await post('replay', first.body, first.headers);
        assert.equal(replayed.status, 409, JSON.stringify(replayed.body));
        assert.equal(replayed.body.error.code, 'TOKENHUB_EVENT_REPLAYED');
        // The same event signed anew (a fresh nonce and timestamp) is still the same event id.
        const event: unknown = JSON.parse(decryptEvent(JSON.parse(first.body).encrypt, STORE_APPS.replay!.encryptKey!));
        const resigned = sim.buildEvent(appId, event);
        const again = await post('replay', resigned.body, resigned.headers);
        assert.equal(again.status, 409, JSON.stringify(again.body));
        assert.equal(await rawTicketOf('replay'), stored, 'a replay changed the stored ticket');
        assert.equal(await ticketOf('replay'), newer);
        assert.equal(sim.counters.count(undefined, appId), calls, 'a replay made an upstream call');
        assert.doesNotMatch(stack.logs.text, new RegExp(newer));
      });
    }

    it('a ticket older than the stored one is ignored: the token is still fetched with the newer one', async () => {
      const appId = STORE_APPS.older!.appId;
      const newer = await issue('older');
      const pushedNewer = delivery('older', newer);
      assert.equal((await post('older', pushedNewer.body, pushedNewer.headers)).status, 200);
      // A delayed delivery of an earlier ticket, authentic but created a minute before; the platform no longer takes it.
      const late = delivery('older', 'sim-ticket-long-gone-0123456789', Date.now() - 60_000);
      const res = await post('older', late.body, late.headers);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body, { ok: true, ignored: 'app_ticket', reason: 'older' });
      assert.equal(await ticketOf('older'), newer);
      const token = await stack.call('GET', tenant('older', 'tenant_a'));
      assert.equal(token.status, 200, JSON.stringify(token.body));
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeApp, appId), 1);
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.resend, appId), 0, 'the older ticket was used (10012) and a resend asked for');
    });

    it('a duplicate ticket resets neither the resend limiter nor the backoff', async () => {
      const appId = STORE_APPS.dup!.appId;
      const ticket = await issue('dup');
      const pushed = delivery('dup', ticket);
      assert.equal((await post('dup', pushed.body, pushed.headers)).status, 200);
      const appToken = (await stack.call('GET', '/v1/apps/dup/tokens/app_access_token')).body.token;
      assert.ok(sim.isValid(appToken));

      // The platform stops taking the ticket and the token: tokenhub asks for a resend, once, and backs off.
      sim.revokeTickets(appId);
      sim.revoke(appToken);
      const refused = await stack.call('POST', '/v1/apps/dup/tokens/app_access_token/invalidate', { body: { token: appToken } });
      // No replacement: the reported token is served on, marked, while a ticket is asked for.
      assert.deepEqual([refused.status, refused.body.token, refused.headers['x-tokenhub-warning']], [200, appToken, 'reported-token']);
      const state = (await stack.call('GET', '/v1/apps')).body.apps.find((a: { id: string }) => a.id === 'dup').tokens.find((s: { kind: string }) => s.kind === 'app_access_token');
      assert.equal(state.lastError.platformCode, 10012);
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.resend, appId), 1);
      const appCalls = sim.counters.count(FEISHU_ENDPOINTS.storeApp, appId);

      // The same ticket pushed again (a new event id and nonce): a duplicate.
      for (let i = 0; i < 3; i++) {
        const dup = delivery('dup', ticket);
        const res = await post('dup', dup.body, dup.headers);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.deepEqual(res.body, { ok: true, ignored: 'app_ticket', reason: 'duplicate' });
      }
      const pending = await stack.call('GET', '/v1/apps/dup/tokens/app_access_token');
      assert.deepEqual([pending.status, pending.headers['x-tokenhub-warning']], [200, 'reported-token'], JSON.stringify(pending.body));
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.resend, appId), 1, 'a duplicate reset the resend limiter');
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeApp, appId), appCalls, 'a duplicate woke the backoff: the refused ticket was tried again');

      // A new ticket does both at once.
      const fresh = delivery('dup', await issue('dup'));
      assert.deepEqual((await post('dup', fresh.body, fresh.headers)).body, { ok: true, kept: 'app_ticket' });
      await eventually(async () => {
        const token = await stack.call('GET', '/v1/apps/dup/tokens/app_access_token');
        return token.status === 200 && token.body.token !== appToken && token.headers['x-tokenhub-warning'] === undefined;
      }, 3_000, 20);
    });
  });

  describe('no ticket at hand', () => {
    it('asks for a resend once however many callers, answers 503 with Retry-After, then a token once the ticket arrives', async () => {
      const appId = STORE_APPS.cold!.appId;
      const results = await Promise.all([
        ...Array.from({ length: 60 }, (_, i) => stack.call('GET', tenant('cold', `tenant_${i % 3}`))),
        ...Array.from({ length: 20 }, () => stack.call('GET', '/v1/apps/cold/tokens/app_access_token')),
      ]);
      let pending = 0;
      for (const res of results) {
        // A slow caller may come after the ticket did: it gets a token.
        if (res.status === 200) continue;
        pending++;
        assert.equal(res.status, 503, JSON.stringify(res.body));
        assert.equal(res.body.error.code, 'TOKENHUB_TICKET_PENDING');
        assert.ok(Number(res.headers['retry-after']) >= 1);
        assert.match(res.body.error.message, /app_ticket/);
      }
      assert.ok(pending >= 40, `only ${pending} of 80 callers saw the ticket pending`);
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.resend, appId), 1);

      // The simulator pushes the ticket to tokenhub's events URL; callers then get a token at once,
      // not after the backoff of their failed attempt.
      await eventually(async () => (await ticketOf('cold')) !== undefined, 5_000);
      const res = await stack.call('GET', tenant('cold', 'tenant_0'));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.ok(sim.isValid(res.body.token));
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.resend, appId), 1);
    });

    it('a secret the platform refuses is a 502 with its code, not a ticket pending forever', async () => {
      const res = await stack.call('GET', tenant('misconfigured', 'tenant_a'));
      assert.equal(res.status, 502, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'TOKENHUB_PLATFORM_REFUSED');
      assert.equal(res.body.error.platformCode, 10014);
    });

    it('a refused ticket (10012) is dropped and a new one asked for', async () => {
      const appId = STORE_APPS.rotating!.appId;
      assert.equal((await sim.pushTicket(appId)).status, 200);
      const appToken = (await stack.call('GET', '/v1/apps/rotating/tokens/app_access_token')).body.token;
      assert.ok(sim.isValid(appToken));
      const resends = sim.counters.count(FEISHU_ENDPOINTS.resend, appId);

      // The platform no longer takes the ticket, and the app token is rejected: a new app token needs a new ticket.
      sim.revokeTickets(appId);
      sim.revoke(appToken);
      const res = await stack.call('POST', '/v1/apps/rotating/tokens/app_access_token/invalidate', { body: { token: appToken } });
      // No replacement yet: the reported token is served on, marked, while the ticket is pending.
      assert.deepEqual([res.status, res.body.token, res.headers['x-tokenhub-warning']], [200, appToken, 'reported-token']);
      const state = (await stack.call('GET', '/v1/apps')).body.apps.find((a: { id: string }) => a.id === 'rotating').tokens.find((s: { kind: string }) => s.kind === 'app_access_token');
      assert.deepEqual([state.lastError.code, state.lastError.platformCode], ['TOKENHUB_TICKET_PENDING', 10012]);
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.resend, appId), resends + 1);

      let fresh: any;
      await eventually(async () => {
        fresh = await stack.call('GET', '/v1/apps/rotating/tokens/app_access_token');
        return fresh.status === 200 && fresh.body.token !== appToken;
      }, 10_000, 50);
      assert.notEqual(fresh.body.token, appToken);
      assert.ok(sim.isValid(fresh.body.token));
    });
  });

  describe('tenant tokens', () => {
    before(async () => {
      assert.equal((await sim.pushTicket(STORE_APPS.busy!.appId)).status, 200);
    });

    it('300 concurrent cold requests over 3 tenant keys make 1 app-token call and 3 tenant-token calls', async () => {
      const appId = STORE_APPS.busy!.appId;
      const results = await Promise.all(Array.from({ length: 300 }, (_, i) => stack.call('GET', tenant('busy', `tenant_${i % 3}`))));
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeApp, appId), 1);
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeTenant, appId), 3);
      for (let t = 0; t < 3; t++) {
        const tokens = new Set(results.filter((_, i) => i % 3 === t).map((r) => (assert.equal(r.status, 200, JSON.stringify(r.body)), r.body.token)));
        assert.equal(tokens.size, 1);
        const [token] = tokens;
        // The platform's business API takes it, as that tenant's token.
        const answer = await request(`${stack.sims.baseUrl('feishu')}/open-apis/im/v1/messages?receive_id_type=chat_id`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ receive_id: 'oc_1', msg_type: 'text', content: '{"text":"hi"}' }),
        });
        const body = (await answer.body.json()) as any;
        assert.equal(answer.statusCode, 200);
        assert.equal(body.data.sender.tenant_key, `tenant_${t}`);
      }
    });

    it('the pushed ticket is shown in /v1/apps and /metrics: its age, and stale (1) for an app that has none', async () => {
      const list = await stack.call('GET', '/v1/apps');
      const busy = list.body.apps.find((a: { id: string }) => a.id === 'busy');
      assert.equal(busy.pushTicket.name, 'app_ticket');
      assert.equal(busy.pushTicket.present, true);
      assert.ok(busy.pushTicket.ageSeconds >= 0 && busy.pushTicket.ageSeconds < 600, JSON.stringify(busy.pushTicket));
      assert.ok(!JSON.stringify(list.body).includes((await stack.hub.broker.state('busy').get(FEISHU_STORE_STATE.ticket)) ?? '\0'), 'never the ticket');
      const metrics = (await stack.call('GET', '/metrics', { key: null })).body as string;
      assert.match(metrics, /^tokenhub_push_ticket_age_seconds\{app="busy",ticket="app_ticket"\} \d+/m);
      assert.match(metrics, /^tokenhub_push_ticket_stale\{app="busy",ticket="app_ticket"\} 0$/m);
      assert.match(metrics, /^tokenhub_push_ticket_stale\{app="guarded",ticket="app_ticket"\} 1$/m, 'an app no ticket reached');
      assert.equal(list.body.apps.find((a: { id: string }) => a.id === 'custom').pushTicket, undefined, 'a custom app has no pushed ticket');
    });

    it("each tenant has its own JS-SDK ticket, fetched with that tenant's token, and its pages are signed with it", async () => {
      const appId = STORE_APPS.busy!.appId;
      const before = sim.counters.count(FEISHU_ENDPOINTS.ticket, appId);
      const ticketUrl = (t: string): string => `/v1/apps/busy/tokens/jsapi_ticket?tenant_key=${t}`;
      const answers = await Promise.all(Array.from({ length: 90 }, (_, i) => stack.call('GET', ticketUrl(`jsapi_tenant_${i % 3}`))));
      for (const a of answers) assert.equal(a.status, 200, JSON.stringify(a.body));
      assert.equal(new Set(answers.map((a) => a.body.token)).size, 3, 'one ticket per tenant');
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.ticket, appId) - before, 3);
      assert.equal((await stack.call('GET', '/v1/apps/busy/tokens/jsapi_ticket')).status, 400, 'a tenant key is needed');
      const page = 'https://app.example.com/tenant-page';
      const signed = await stack.call('POST', '/v1/apps/busy/jsapi/signature', { body: { url: page, tenant_key: 'jsapi_tenant_1' } });
      assert.equal(signed.status, 200, JSON.stringify(signed.body));
      assert.equal(signed.body.tenantKey, 'jsapi_tenant_1');
      const verdict = await fetch(`${stack.sims.url}/_sim/feishu/jsapi/verify`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...signed.body.config, url: page }) });
      assert.deepEqual(await verdict.json(), { ok: true });
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.ticket, appId) - before, 3, 'signed from the cached ticket');
    });

    it('replaces an app token the platform rejects, once, and retries the tenant token', async () => {
      const appId = STORE_APPS.busy!.appId;
      const appToken = (await stack.call('GET', '/v1/apps/busy/tokens/app_access_token')).body.token;
      sim.revoke(appToken);
      sim.counters.reset();
      const res = await stack.call('GET', tenant('busy', 'tenant_new'));
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeTenant, ''), 1, 'the rejected app token was not sent first');
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeApp, appId), 1);
      assert.equal(sim.counters.count(FEISHU_ENDPOINTS.storeTenant, appId), 1);
      assert.notEqual((await stack.call('GET', '/v1/apps/busy/tokens/app_access_token')).body.token, appToken);
    });

    it('a tenant token needs a tenant_key, an app token takes none', async () => {
      assert.equal((await stack.call('GET', '/v1/apps/busy/tokens/tenant_access_token')).status, 400);
      assert.equal((await stack.call('GET', '/v1/apps/busy/tokens/app_access_token?tenant_key=t')).status, 400);
      const list = await stack.call('GET', '/v1/apps');
      const busy = list.body.apps.find((a: { id: string }) => a.id === 'busy');
      assert.deepEqual(busy.tenantScopedKinds, ['tenant_access_token', 'jsapi_ticket']);
    });
  });
});

describe('feishu store apps on a shared store', () => {
  const app: FeishuSimStoreApp = { appId: 'cli_store_shared', appSecret: 'store-secret-shared-xxxxxxx', verificationToken: `${VT}-shared`, encryptKey: `${KEY}-shared` };
  const config = (baseUrl: string) => ({ platform: 'feishu', appType: 'store', appId: app.appId, appSecret: app.appSecret, verificationToken: app.verificationToken, encryptKey: app.encryptKey, baseUrl });
  let redisUrl: string;
  let prefix: string;
  let sim: FeishuSim;
  let one: Stack;
  let two: Stack;

  before(async () => {
    redisUrl = await sharedRedisUrl();
    prefix = uniquePrefix();
    const store = { type: 'redis', url: redisUrl, keyPrefix: prefix, encryptionKey: randomBytes(32).toString('base64') };
    sim = new FeishuSim({ apps: [], storeApps: [app] });
    one = await startStack({ sims: [sim], apps: { shared: config('sim:feishu') }, config: { store } });
    two = await startStack({ sims: [], apps: { shared: config(one.sims.baseUrl('feishu')) }, config: { store } });
  });
  after(async () => {
    await two?.close();
    await one?.close();
    await deletePrefix(redisUrl, prefix);
  });

  it('a push replayed to another instance is 409 there and changes nothing: the replay cache lives in the store', async () => {
    const { ticket } = await sim.pushTicket(app.appId);
    const built = sim.buildEvent(app.appId, appTicketEvent(app, ticket, '2.0', Date.now()));
    const send = (stack: Stack) => stack.call('POST', '/v1/apps/shared/events', { key: null, body: built.body, headers: built.headers });
    assert.equal((await send(one)).status, 200);
    const stored = await two.hub.broker.state('shared').get(FEISHU_STORE_STATE.ticket);
    assert.equal(readTicket(stored)?.ticket, ticket, 'the other instance does not see the ticket');
    const replayed = await send(two);
    assert.equal(replayed.status, 409, JSON.stringify(replayed.body));
    assert.equal(replayed.body.error.code, 'TOKENHUB_EVENT_REPLAYED');
    assert.equal(await one.hub.broker.state('shared').get(FEISHU_STORE_STATE.ticket), stored);
    // Two deliveries of one event racing to both instances: one takes it.
    const racing = sim.buildEvent(app.appId, appTicketEvent(app, (await sim.pushTicket(app.appId)).ticket, '2.0', Date.now()));
    const answers = await Promise.all([one, two, one, two].map((stack) => stack.call('POST', '/v1/apps/shared/events', { key: null, body: racing.body, headers: racing.headers })));
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409, 409, 409]);
    // No marker holds an event id or a nonce in clear.
    const dump = await dumpPrefix(redisUrl, prefix);
    assert.ok(!dump.includes(built.headers['x-lark-request-nonce']!), 'a nonce is readable in Redis');
  });
});
