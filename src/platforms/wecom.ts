import type { z } from 'zod';
import { WECOM_RULES, WeComProvider, wecomKinds, wecomTicketLimits } from '../providers/wecom.js';
import { WeComSim } from '../sim/wecom.js';
import { JSAPI_OPTIONS, appSchema, definePlatform, numericIdOption, uniqueBy } from './descriptor.js';

const schemas = [appSchema('wecom', { agentId: numericIdOption.optional(), ...JSAPI_OPTIONS })] as const;

/** A WeCom app as configured (`appId` is the corp id, `appSecret` the app's secret). */
export type WeComAppConfig = z.infer<(typeof schemas)[number]>;

/** WeCom (企业微信) self-built apps: one token per corp and app secret. */
export const wecomPlatform = definePlatform<WeComAppConfig>({
  names: ['wecom'],
  appTypes: ['internal'],
  schemas,
  kinds: (app) => wecomKinds(app.agentId),
  rules: (app) => ({ ...WECOM_RULES, limits: wecomTicketLimits(app.appId) }),
  createProvider: (app, { dispatcher }) => new WeComProvider({ corpId: app.appId, corpSecret: app.appSecret, baseUrl: app.baseUrl, agentId: app.agentId, dispatcher }),
  createSimulator: (_name, apps, { lifetime }) =>
    new WeComSim({
      // Apps of one corp differ by secret; wx.agentConfig names the agent id, when the config has one.
      apps: uniqueBy(apps, (a) => `${a.appId}\u0000${a.appSecret}`).map((a) => ({ corpId: a.appId, corpSecret: a.appSecret, ...agentIdOf(a) })),
      ...(lifetime ? { tokenLifetimeSeconds: lifetime, jsapiTicketLifetimeSeconds: lifetime } : {}),
    }),
  demoApps: (simUrl) => ({
    'wecom-main': { platform: 'wecom', appId: 'wwdemo0corp0main', appSecret: 'demo-wecom-agent-secret', agentId: '1000002', baseUrl: `${simUrl}/wecom` },
  }),
});

/** The app's `agentId` option (digits, as a string or a number) as the simulator's number, when it has one. */
function agentIdOf(app: WeComAppConfig): { agentId?: number } {
  const agentId = String((app as { agentId?: unknown }).agentId ?? '');
  return /^\d+$/.test(agentId) ? { agentId: Number(agentId) } : {};
}
