import { z } from 'zod';
import { DINGTALK_KINDS, DINGTALK_RULES, DingTalkProvider } from '../providers/dingtalk.js';
import { DingTalkSim } from '../sim/dingtalk.js';
import { JSAPI_OPTIONS, appSchema, definePlatform, numericIdOption, textOption, uniqueBy } from './descriptor.js';

const schemas = [appSchema('dingtalk', { api: z.enum(['v1', 'legacy']).default('v1'), agentId: numericIdOption.optional(), corpId: textOption.optional(), ...JSAPI_OPTIONS })] as const;

/** A DingTalk app as configured (`appId` is the app key). */
export type DingTalkAppConfig = z.infer<(typeof schemas)[number]>;

/** DingTalk internal apps: the current API (`v1`) or the legacy one. */
export const dingtalkPlatform = definePlatform<DingTalkAppConfig>({
  names: ['dingtalk'],
  appTypes: ['internal'],
  schemas,
  kinds: () => DINGTALK_KINDS,
  rules: () => DINGTALK_RULES,
  createProvider: (app, { dispatcher }) => new DingTalkProvider({ appKey: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl, api: app.api, agentId: app.agentId, corpId: app.corpId, dispatcher }),
  createSimulator: (_name, apps, { lifetime }) =>
    new DingTalkSim({ apps: uniqueBy(apps, (a) => a.appId).map((a) => ({ appKey: a.appId, appSecret: a.appSecret })), ...(lifetime ? { tokenLifetimeSeconds: lifetime } : {}) }),
  demoApps: (simUrl) => ({
    'dingtalk-main': { platform: 'dingtalk', appId: 'dingdemo0main0app0key', appSecret: 'demo-dingtalk-main-secret', agentId: '3000001', corpId: 'dingdemo0corp0main', baseUrl: `${simUrl}/dingtalk` },
  }),
});
