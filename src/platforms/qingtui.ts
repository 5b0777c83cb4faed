import type { z } from 'zod';
import { ACCESS_TOKEN_ONLY } from '../providers/kinds.js';
import { QINGTUI_RULES, QingtuiProvider } from '../providers/qingtui.js';
import { QingtuiSim } from '../sim/qingtui.js';
import { appSchema, definePlatform, uniqueBy } from './descriptor.js';

const schemas = [appSchema('qingtui', {})] as const;

/** A Qingtui app as configured. */
export type QingtuiAppConfig = z.infer<(typeof schemas)[number]>;

/** Qingtui (轻推): a first token from `/v1/token`, every later one from the refresh token. */
export const qingtuiPlatform = definePlatform<QingtuiAppConfig>({
  names: ['qingtui'],
  appTypes: ['internal'],
  schemas,
  kinds: () => ACCESS_TOKEN_ONLY,
  rules: () => QINGTUI_RULES,
  createProvider: (app, { dispatcher }) => new QingtuiProvider({ appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl, dispatcher }),
  createSimulator: (_name, apps, { lifetime }) =>
    new QingtuiSim({ apps: uniqueBy(apps, (a) => a.appId).map((a) => ({ appId: a.appId, appSecret: a.appSecret })), ...(lifetime ? { tokenLifetimeSeconds: lifetime } : {}) }),
  demoApps: (simUrl) => ({
    'qingtui-main': { platform: 'qingtui', appId: 'qt_demo_main', appSecret: 'demo-qingtui-main-secret', baseUrl: `${simUrl}/qingtui` },
  }),
});
