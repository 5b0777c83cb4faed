// The console in a real browser: Chromium from the system's packages, driven by playwright-core.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CONSOLE_CSP } from '../../src/server/routes/console.js';
import { FeishuSim, WeChatSim } from '../../src/sim/index.js';
import { findChromium } from '../helpers/browser.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const ADMIN_KEY = 'console-admin-key-0123456789';
const PLAIN_KEY = 'console-plain-key-0123456789';
const chromiumPath = findChromium();
const skip = chromiumPath === undefined ? 'no Chromium found (/usr/bin/chromium, or chromium / chromium-browser on PATH): apt-get install chromium' : false;

describe('the console at /console, in Chromium', { skip }, () => {
  let stack: Stack;
  let feishu: FeishuSim;
  let browser: Browser;
  let page: Page;
  /** Every request the page made, and page errors (a CSP violation shows up as a console error). */
  const requests: { url: string; authorization: string | undefined }[] = [];
  const problems: string[] = [];

  const row = (app: string, kind: string): string => `tr[data-app="${app}"][data-kind="${kind}"]`;
  const cell = (app: string, kind: string, col: string) => page.locator(`${row(app, kind)} td[data-col="${col}"]`);
  const simControl = (platform: string, body: unknown): Promise<Response> =>
    fetch(`${stack.sims.url}/_sim/${platform}/fault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  before(async () => {
    feishu = new FeishuSim({ apps: [{ appId: 'cli_console_a', appSecret: 'console-secret-a-xxxxxxxx' }, { appId: 'cli_console_b', appSecret: 'console-secret-b-xxxxxxxx' }] });
    const wechat = new WeChatSim({ apps: [{ appId: 'wxconsole0001', appSecret: 'console-wechat-secret-xxxx' }] });
    stack = await startStack({
      sims: [feishu, wechat],
      config: { clients: [{ name: 'ops', key: ADMIN_KEY, apps: ['*'], admin: true }, { name: 'billing', key: PLAIN_KEY, apps: ['*'] }] },
      apps: {
        main: { platform: 'feishu', appId: 'cli_console_a', appSecret: 'console-secret-a-xxxxxxxx', baseUrl: 'sim:feishu' },
        second: { platform: 'feishu', appId: 'cli_console_b', appSecret: 'console-secret-b-xxxxxxxx', baseUrl: 'sim:feishu' },
        account: { platform: 'wechat', appId: 'wxconsole0001', appSecret: 'console-wechat-secret-xxxx', baseUrl: 'sim:wechat' },
      },
    });
    browser = await (await import('playwright-core')).chromium.launch({ executablePath: chromiumPath! });
    page = await browser.newPage();
    page.on('request', (req) => requests.push({ url: req.url(), authorization: req.headers().authorization }));
    page.on('console', (msg) => {
      // The one expected error: the browser logs the 401/403 answers to the wrong keys.
      if (msg.type() === 'error' && !/status of 40[13]/.test(msg.text())) problems.push(msg.text());
    });
    page.on('pageerror', (err) => problems.push(err.message));
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  it('is served with a strict CSP, its script and styles as files of their own, no key needed', async () => {
    const res = await page.goto(`${stack.url}/console`);
    assert.equal(res?.status(), 200);
    assert.equal(res?.headers()['content-security-policy'], CONSOLE_CSP);
    assert.match(CONSOLE_CSP, /default-src 'self'/);
    assert.match(CONSOLE_CSP, /frame-ancestors 'none'/);
    assert.doesNotMatch(CONSOLE_CSP, /unsafe-inline|unsafe-eval/);
    assert.equal(await page.locator('script:not([src])').count(), 0, 'an inline script');
    for (const file of ['console.js', 'console.css', 'icon.svg']) {
      const asset = await fetch(`${stack.url}/console/${file}`);
      assert.equal(asset.status, 200, file);
      assert.equal(asset.headers.get('x-content-type-options'), 'nosniff');
    }
    assert.equal((await fetch(`${stack.url}/console/nope.js`)).status, 404);
  });

  it('asks for the key: an unknown key and a key that is not an admin are refused, the admin key shows every app and token', async () => {
    await page.locator('#login').waitFor();
    assert.equal(await page.locator('#board').isVisible(), false);

    await page.fill('#key', 'not-a-key-0123456789');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error').filter({ hasText: 'knows no client with this key' }).waitFor();

    await page.fill('#key', PLAIN_KEY);
    await page.click('#login button[type=submit]');
    await page.locator('#login-error').filter({ hasText: 'not an admin' }).waitFor();
    assert.equal(await page.evaluate('sessionStorage.length'), 0, 'a refused key was kept');

    await page.fill('#key', ADMIN_KEY);
    await page.click('#login button[type=submit]');
    await page.locator('#board').waitFor();
    assert.equal(await page.locator('#login').isVisible(), false);
    assert.equal(await page.evaluate("sessionStorage.getItem('tokenhub.adminKey')"), ADMIN_KEY);

    // Every app, every kind of each.
    const status = (await stack.call('GET', '/v1/admin/status', { key: ADMIN_KEY })).body as { apps: { id: string; kinds: string[] }[] };
    const expected = status.apps.flatMap((a) => a.kinds.map((k) => `${a.id}/${k}`)).sort();
    const shown = await page.locator('#tokens tbody tr').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-app')}/${r.getAttribute('data-kind')}`));
    assert.deepEqual(shown.sort(), expected);
    assert.deepEqual(status.apps.map((a) => a.id), ['main', 'second', 'account']);
    await page.locator('#live.live').waitFor();
  });

  it('shows a token fetched meanwhile, counts its time down, and shows it refreshed after it was revoked and reported, without a reload', async () => {
    await page.evaluate('window.marker = 42');
    // A row whose data does not change is kept, not drawn anew (a tooltip or a selection in it stays).
    await page.locator(row('second', 'app_access_token')).evaluate((tr) => tr.setAttribute('data-kept', 'yes'));
    assert.equal(await cell('main', 'tenant_access_token', 'left').textContent(), '—');
    const { token } = (await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).body;
    await stack.call('GET', '/v1/apps/account/tokens/access_token');

    const left = cell('main', 'tenant_access_token', 'left');
    await eventually(async () => /^\d+ h \d+ min \d+ s$/.test((await left.textContent()) ?? ''));
    // Counting down, by the second, with no new status needed.
    const first = await left.textContent();
    await eventually(async () => (await left.textContent()) !== first, 3000);
    const lastRefresh = await cell('main', 'tenant_access_token', 'last').getAttribute('data-time');
    assert.ok(lastRefresh);
    assert.equal(await cell('main', 'tenant_access_token', 'upstream').textContent(), '1');

    // Revoked at the platform and reported by a caller: a new token, fetched once.
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(feishu.revoke(token));
    const fresh = await stack.call('POST', '/v1/apps/main/tokens/tenant_access_token/invalidate', { body: { token } });
    assert.notEqual(fresh.body.token, token);
    const last = cell('main', 'tenant_access_token', 'last');
    await eventually(async () => ![null, lastRefresh].includes(await last.getAttribute('data-time')), 5000);
    await page.locator(`${row('main', 'tenant_access_token')} td[data-col="upstream"]`).filter({ hasText: /^2$/ }).waitFor();
    assert.equal(await page.locator(`${row('main', 'tenant_access_token')}[data-level="ok"]`).count(), 1);
    assert.equal(await page.evaluate('window.marker'), 42, 'the page was reloaded');
    assert.equal(await page.locator(`${row('second', 'app_access_token')}[data-kept="yes"]`).count(), 1, 'an unchanged row was drawn anew');
  });

  it('a platform taken down and a token that needs fetching: marked for attention, the cached one still fine', async () => {
    assert.equal((await simControl('feishu', { mode: 'down' })).status, 200);
    try {
      const res = await stack.call('GET', '/v1/apps/second/tokens/tenant_access_token');
      assert.equal(res.status, 503);
      const broken = row('second', 'tenant_access_token');
      await page.locator(`${broken}[data-level="error"] td[data-col="state"] .badge.error`).filter({ hasText: 'unavailable' }).waitFor({ timeout: 5000 });
      assert.match((await cell('second', 'tenant_access_token', 'error').textContent())!, /TOKENHUB_PLATFORM_UNAVAILABLE/);
      assert.match((await cell('second', 'tenant_access_token', 'upstream').textContent())!, /failed/);
      await page.locator('#attention-count .badge.error').filter({ hasText: '1 error' }).waitFor();
      // The token in hand is served on and not marked.
      assert.equal(await page.locator(`${row('main', 'tenant_access_token')}[data-level="ok"]`).count(), 1);

      // Only what needs attention, on demand.
      await page.check('#only');
      assert.deepEqual(await page.locator('#tokens tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-app'))), ['second']);
      await page.uncheck('#only');
    } finally {
      await simControl('feishu', { mode: 'none' });
    }
  });

  it('falls back to polling /v1/admin/status every 2 s when the event stream cannot be had', async () => {
    const context = await browser.newContext();
    try {
      const polling = await context.newPage();
      await polling.route('**/v1/admin/events', (route) => route.abort());
      await polling.goto(`${stack.url}/console`);
      await polling.fill('#key', ADMIN_KEY);
      await polling.click('#login button[type=submit]');
      await polling.locator('#live.polling').waitFor({ timeout: 5000 });
      await stack.call('GET', '/v1/apps/account/tokens/jsapi_ticket');
      await polling.locator(`${row('account', 'jsapi_ticket')} td[data-col="left"][data-time]`).waitFor({ timeout: 5000 });
    } finally {
      await context.close();
    }
  });

  it('keeps the key for the tab only until "Forget key"; sends it to tokenhub alone, in a header', async () => {
    await page.reload();
    await page.locator('#board').waitFor();
    await page.click('#forget');
    await page.locator('#login').waitFor();
    assert.equal(await page.evaluate("sessionStorage.getItem('tokenhub.adminKey')"), null);

    const origin = new URL(stack.url).origin;
    assert.deepEqual(requests.filter((r) => new URL(r.url).origin !== origin).map((r) => r.url), []);
    for (const r of requests) {
      if (r.authorization !== undefined) assert.match(new URL(r.url).pathname, /^\/v1\/admin\/(status|events)$/, r.url);
      assert.ok(!r.url.includes(ADMIN_KEY), 'the key in a URL');
    }
    assert.deepEqual(problems, []);
  });
});
