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
    new DingTalkSim({
      // dd.config names the corp and the agent; the simulator checks them when the config has them.
      apps: uniqueBy(apps, (a) => a.appId).map((a) => ({ appKey: a.appId, appSecret: a.appSecret, ...ddConfigIds(a) })),
      // A ticket's 24-hour cap keeps its share of a 2-hour lifetime (12 ×).
      ...(lifetime ? { tokenLifetimeSeconds: lifetime, jsapiTicketLifetimeSeconds: lifetime, jsapiTicketMaxLifetimeSeconds: lifetime * 12 } : {}),
    }),
  demoApps: (simUrl) => ({
    'dingtalk-main': { platform: 'dingtalk', appId: 'dingdemo0main0app0key', appSecret: 'demo-dingtalk-main-secret', agentId: '3000001', corpId: 'dingdemo0corp0main', baseUrl: `${simUrl}/dingtalk` },
  }),
});

/** The app's `corpId` and `agentId` options (non-empty strings; an agent id may be a number), when it has them. */
function ddConfigIds(app: DingTalkAppConfig): { corpId?: string; agentId?: string } {
  const { corpId, agentId } = app as { corpId?: unknown; agentId?: unknown };
  const id = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined);
  const corp = id(corpId);
  const agent = id(agentId);
  return { ...(corp === undefined ? {} : { corpId: corp }), ...(agent === undefined ? {} : { agentId: agent }) };
}
