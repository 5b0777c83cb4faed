import { z } from 'zod';
import { FEISHU_CUSTOM_KINDS, FEISHU_RULES, FeishuProvider, type FeishuPlatform } from '../providers/feishu.js';
import { FEISHU_STORE_KINDS, FeishuStoreProvider } from '../providers/feishu-store.js';
import { FeishuSim, type FeishuSimStoreApp } from '../sim/feishu.js';
import { JSAPI_OPTIONS, appSchema, definePlatform, textOption } from './descriptor.js';

const options = {
  appType: z.enum(['custom', 'store']).default('custom'),
  verificationToken: textOption.optional(),
  encryptKey: textOption.optional(),
  ...JSAPI_OPTIONS,
};

const schemas = [appSchema('feishu', options), appSchema('lark', options)] as const;

/** A Feishu or Lark app as configured. */
export type FeishuAppConfig = z.infer<(typeof schemas)[number]>;

/**
 * Feishu (open.feishu.cn) and Lark (open.larksuite.com): one API under two names. Custom apps
 * fetch with their secret; store (ISV) apps need the app_ticket the platform pushes to their
 * events URL, and have one tenant token per tenant.
 */
export const feishuPlatform = definePlatform<FeishuAppConfig>({
  names: ['feishu', 'lark'],
  appTypes: ['custom', 'store'],
  schemas,
  kinds: (app) => (app.appType === 'store' ? FEISHU_STORE_KINDS : FEISHU_CUSTOM_KINDS),
  rules: () => FEISHU_RULES,
  validate: (app) => (app.appType === 'store' && app.verificationToken === undefined ? [{ key: 'verificationToken', message: 'required for store apps (the events URL checks it)' }] : []),
  createProvider(app, { dispatcher }) {
    const common = { platform: app.platform as FeishuPlatform, appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl, dispatcher };
    if (app.appType === 'store') {
      // validate() has made sure of it; checked again because a provider without it would accept no event.
      if (app.verificationToken === undefined) throw new TypeError('verificationToken: required for store apps');
      return new FeishuStoreProvider({ ...common, verificationToken: app.verificationToken, encryptKey: app.encryptKey });
    }
    return new FeishuProvider(common);
  },
  createSimulator(name, apps, { lifetime }) {
    const storeApps: FeishuSimStoreApp[] = [];
    const custom: { appId: string; appSecret: string }[] = [];
    for (const a of apps) {
      if (a.appType === 'store') {
        storeApps.push({ appId: a.appId, appSecret: a.appSecret, verificationToken: a.verificationToken ?? '', ...(a.encryptKey === undefined ? {} : { encryptKey: a.encryptKey }) });
      } else {
        custom.push({ appId: a.appId, appSecret: a.appSecret });
      }
    }
    return new FeishuSim({
      platform: name as FeishuPlatform,
      // Two configured apps may name one platform app.
      apps: custom.filter((c, i) => custom.findIndex((d) => d.appId === c.appId) === i),
      storeApps,
      // Hourly, as the platform pushes app_tickets.
      ticketPushIntervalSeconds: 3600,
      ...(lifetime ? { tokenLifetimeSeconds: lifetime, jsapiTicketLifetimeSeconds: lifetime, sameTokenWindowSeconds: Math.floor(lifetime / 4) } : {}),
    });
  },
  demoApps: (simUrl) => ({
    'feishu-main': { platform: 'feishu', appId: 'cli_demo_feishu_main', appSecret: 'demo-feishu-main-secret', baseUrl: `${simUrl}/feishu` },
    'feishu-ops': { platform: 'feishu', appId: 'cli_demo_feishu_ops', appSecret: 'demo-feishu-ops-secret', baseUrl: `${simUrl}/feishu`, minTtlSeconds: 300 },
    'lark-global': { platform: 'lark', appId: 'cli_demo_lark_global', appSecret: 'demo-lark-global-secret', baseUrl: `${simUrl}/lark` },
    // A store (ISV) app: its app token needs the app_ticket the platform pushes to
    // POST /v1/apps/feishu-store/events; the demo's simulator pushes there.
    'feishu-store': {
      platform: 'feishu',
      appType: 'store',
      appId: 'cli_demo_feishu_store',
      appSecret: 'demo-feishu-store-secret',
      verificationToken: 'demo-feishu-store-verification-token',
      encryptKey: 'demo-feishu-store-encrypt-key',
      baseUrl: `${simUrl}/feishu`,
    },
  }),
  events: {
    takes: (app) => app.appType === 'store',
    async connect(sim, app, url, { pushNow }) {
      if (!(sim instanceof FeishuSim)) throw new TypeError(`not a Feishu simulator: ${sim.platform}`);
      sim.setEventUrl(app.appId, url);
      if (pushNow) await sim.pushTicket(app.appId);
      return `the simulator pushes app_tickets to ${url} (on app_ticket/resend and hourly)`;
    },
  },
});
