import { z } from 'zod';
import { WECHAT_KINDS, WeChatProvider, wechatRules } from '../providers/wechat.js';
import { WECHAT_COMPONENT_KINDS, WECHAT_COMPONENT_RULES, WeChatComponentProvider } from '../providers/wechat-component.js';
import { WeChatSim } from '../sim/wechat.js';
import { WeChatComponentSim } from '../sim/wechat-component.js';
import { JSAPI_OPTIONS, appSchema, definePlatform, textOption, uniqueBy } from './descriptor.js';

/** The simulator of components, beside the Official Accounts' (`/wechat`). */
export const WECHAT_COMPONENT_SIM = 'wechat-open';

const schemas = [
  appSchema('wechat', {
    appType: z.enum(['official-account', 'component']).default('official-account'),
    tokenApi: z.enum(['stable', 'classic']).default('stable'),
    /** component: the message settings' Token, which pushes are signed with. */
    token: textOption.optional(),
    /** component: the message settings' EncodingAESKey, which pushes are encrypted with. */
    encodingAESKey: z.string().regex(/^[A-Za-z0-9]{43}$/, 'must be 43 letters and digits (the EncodingAESKey of the message settings)').optional(),
    ...JSAPI_OPTIONS,
  }),
] as const;

/** A WeChat Official Account or Open Platform component as configured. */
export type WeChatAppConfig = z.infer<(typeof schemas)[number]>;

const isComponent = (app: WeChatAppConfig): boolean => app.appType === 'component';

/**
 * WeChat Official Accounts (公众号): `stable_token` or the classic `cgi-bin/token`; and Open
 * Platform third-party platforms (`appType: component`), whose token needs the ticket the platform
 * pushes to the events URL and whose authorizers' tokens come from the grants kept for them.
 */
export const wechatPlatform = definePlatform<WeChatAppConfig>({
  names: ['wechat'],
  appTypes: ['official-account', 'component'],
  schemas,
  kinds: (app) => (isComponent(app) ? WECHAT_COMPONENT_KINDS : WECHAT_KINDS),
  rules: (app) => (isComponent(app) ? WECHAT_COMPONENT_RULES : wechatRules(app.tokenApi)),
  validate: (app) =>
    isComponent(app)
      ? (['token', 'encodingAESKey'] as const).filter((key) => app[key] === undefined).map((key) => ({ key, message: 'required for component apps (the events URL checks and decrypts pushes with it)' }))
      : [],
  createProvider(app, { dispatcher }) {
    if (isComponent(app)) {
      if (app.token === undefined || app.encodingAESKey === undefined) throw new TypeError('token, encodingAESKey: required for component apps');
      return new WeChatComponentProvider({ appId: app.appId, appSecret: app.appSecret, token: app.token, encodingAESKey: app.encodingAESKey, baseUrl: app.baseUrl, dispatcher });
    }
    return new WeChatProvider({ appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl, tokenApi: app.tokenApi, dispatcher });
  },
  simulatorName: (app) => (isComponent(app) ? WECHAT_COMPONENT_SIM : app.platform),
  createSimulator(name, apps, { lifetime }) {
    if (name === WECHAT_COMPONENT_SIM) {
      return new WeChatComponentSim({
        platform: name,
        apps: uniqueBy(apps.filter(isComponent), (a) => a.appId).map((a) => ({ appId: a.appId, appSecret: a.appSecret, token: a.token ?? '', encodingAESKey: a.encodingAESKey ?? '' })),
        ...(lifetime ? { tokenLifetimeSeconds: lifetime, jsapiTicketLifetimeSeconds: lifetime, tokenOverlapSeconds: Math.max(1, Math.floor(lifetime / 24)) } : {}),
      });
    }
    // The 5-minute windows keep their share of a 2-hour lifetime (300 / 7200).
    const window = lifetime ? Math.max(1, Math.floor(lifetime / 24)) : undefined;
    return new WeChatSim({
      apps: uniqueBy(
        apps.filter((a) => !isComponent(a)),
        (a) => a.appId,
      ).map((a) => ({ appId: a.appId, appSecret: a.appSecret })),
      ...(lifetime ? { tokenLifetimeSeconds: lifetime, jsapiTicketLifetimeSeconds: lifetime } : {}),
      ...(window ? { rotationOverlapSeconds: window, renewWindowSeconds: window } : {}),
    });
  },
  demoApps: (simUrl) => ({
    'wechat-main': { platform: 'wechat', appId: 'wxdemo0main0account', appSecret: 'demo-wechat-main-secret', baseUrl: `${simUrl}/wechat` },
    // A third-party platform: its token needs the ticket the simulator pushes to
    // POST /v1/apps/wechat-open/events; two authorizers authorize it at start.
    'wechat-open': {
      platform: 'wechat',
      appType: 'component',
      appId: 'wxdemo0component0',
      appSecret: 'demo-wechat-component-secret',
      token: 'demo-wechat-component-token',
      encodingAESKey: 'DemoWeChatComponentEncodingAESKey0123456789',
      baseUrl: `${simUrl}/${WECHAT_COMPONENT_SIM}`,
    },
  }),
  events: {
    takes: isComponent,
    async connect(sim, app, url, { pushNow }) {
      if (!(sim instanceof WeChatComponentSim)) throw new TypeError(`not a WeChat component simulator: ${sim.platform}`);
      sim.setEventUrl(url, app.appId);
      if (pushNow) {
        await sim.pushTicket(app.appId);
        for (const authorizer of DEMO_AUTHORIZERS) await sim.authorize(authorizer, { componentAppId: app.appId });
      }
      return `the simulator pushes component_verify_tickets and authorizations to ${url}${pushNow ? ` (authorizers ${DEMO_AUTHORIZERS.join(', ')} authorized)` : ''}`;
    },
  },
});

/** The demo component's authorizers, authorized when the demo starts; the first is the tenant the demo's curl lines name (`demo_tenant`). */
export const DEMO_AUTHORIZERS = ['demo_tenant', 'wxdemo0authorizer2'] as const;
