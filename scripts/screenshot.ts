// docs/console.png: the console of the demo (npm start), with tokens fetched and one platform
// down, as Chromium from the system's packages shows it. Run: node --import tsx scripts/screenshot.ts
import { chromium } from 'playwright-core';
import { runDemo } from '../src/cli/demo.js';
import { findChromium } from '../test/helpers/browser.js';

const OUT = new URL('../docs/console.png', import.meta.url).pathname;

const executablePath = findChromium();
if (executablePath === undefined) {
  console.error('screenshot: no Chromium found (apt-get install chromium)');
  process.exit(1);
}

const demo = await runDemo({ port: 0 });
const auth = { authorization: `Bearer ${demo.key}` };
try {
  // One platform down before its first fetch: its token shows up as unavailable.
  await fetch(`${demo.simUrl}/_sim/qingtui/fault`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'down' }) });
  const status = (await (await fetch(`${demo.url}/v1/admin/status`, { headers: auth })).json()) as { apps: { id: string; defaultKind: string; tenantScopedKinds: string[] }[] };
  for (const app of status.apps) {
    const tenant = app.tenantScopedKinds.includes(app.defaultKind) ? '?tenant_key=demo_tenant' : '';
    await fetch(`${demo.url}/v1/apps/${app.id}/tokens/${app.defaultKind}${tenant}`, { headers: auth });
  }
  await fetch(`${demo.url}/v1/apps/wechat-main/tokens/jsapi_ticket`, { headers: auth });

  const browser = await chromium.launch({ executablePath });
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 900 }, colorScheme: 'light' });
    await page.goto(`${demo.url}/console`);
    await page.fill('#key', demo.key);
    await page.click('button[type=submit]');
    await page.waitForSelector('tr[data-app="qingtui-main"] .badge.error');
    await page.waitForSelector('#live.live');
    await page.screenshot({ path: OUT, fullPage: true });
    console.log(`screenshot: ${OUT}`);
  } finally {
    await browser.close();
  }
} finally {
  await demo.close();
}
