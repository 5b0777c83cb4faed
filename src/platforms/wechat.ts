import { z } from 'zod';
import { WECHAT_KINDS, WeChatProvider, wechatRules } from '../providers/wechat.js';
import { WeChatSim } from '../sim/wechat.js';
import { JSAPI_OPTIONS, appSchema, definePlatform, uniqueBy } from './descriptor.js';

const schemas = [appSchema('wechat', { tokenApi: z.enum(['stable', 'classic']).default('stable'), ...JSAPI_OPTIONS })] as const;

/** A WeChat Official Account as configured. */
export type WeChatAppConfig = z.infer<(typeof schemas)[number]>;

/** WeChat Official Accounts (公众号): `stable_token` or the classic `cgi-bin/token`. */
export const wechatPlatform = definePlatform<WeChatAppConfig>({
  names: ['wechat'],
  appTypes: ['official-account'],
  schemas,
  kinds: () => WECHAT_KINDS,
  rules: (app) => wechatRules(app.tokenApi),
  createProvider: (app, { dispatcher }) => new WeChatProvider({ appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl, tokenApi: app.tokenApi, dispatcher }),
  createSimulator(_name, apps, { lifetime }) {
    // The 5-minute windows keep their share of a 2-hour lifetime (300 / 7200).
    const window = lifetime ? Math.max(1, Math.floor(lifetime / 24)) : undefined;
    return new WeChatSim({
      apps: uniqueBy(apps, (a) => a.appId).map((a) => ({ appId: a.appId, appSecret: a.appSecret })),
      ...(lifetime ? { tokenLifetimeSeconds: lifetime, jsapiTicketLifetimeSeconds: lifetime } : {}),
      ...(window ? { rotationOverlapSeconds: window, renewWindowSeconds: window } : {}),
    });
  },
  demoApps: (simUrl) => ({
    'wechat-main': { platform: 'wechat', appId: 'wxdemo0main0account', appSecret: 'demo-wechat-main-secret', baseUrl: `${simUrl}/wechat` },
  }),
});
