import { z } from 'zod';
import { WECOM_RULES, WeComProvider, wecomKinds, wecomTicketLimits } from '../providers/wecom.js';
import { WECOM_SUITE_KINDS, WeComSuiteProvider } from '../providers/wecom-suite.js';
import { WeComSim } from '../sim/wecom.js';
import { WeComSuiteSim } from '../sim/wecom-suite.js';
import type { PushRecord } from '../sim/wxbiz-events.js';
import { JSAPI_OPTIONS, appSchema, definePlatform, numericIdOption, textOption, uniqueBy, type AppIssue } from './descriptor.js';

const schemas = [
  appSchema('wecom', {
    appType: z.enum(['internal', 'suite']).default('internal'),
    agentId: numericIdOption.optional(),
    // A suite's (服务商应用) callback settings and the provider's corp id, the receive id of the URL check.
    token: textOption.optional(),
    encodingAESKey: z
      .string()
      .regex(/^[A-Za-z0-9]{43}$/, 'must be the 43 letters and digits of the EncodingAESKey')
      .optional(),
    providerCorpId: textOption.optional(),
    ...JSAPI_OPTIONS,
  }),
] as const;

/** A WeCom app as configured (`appId` is the corp id, `appSecret` the app's secret; for a suite, the suite id and secret). */
export type WeComAppConfig = z.infer<(typeof schemas)[number]>;

/** The simulator a suite's calls go to: WeCom's third-party APIs, apart from a corp's own. */
const SUITE_SIMULATOR = 'wecom-suite';

const isSuite = (app: WeComAppConfig): boolean => app.appType === 'suite';

/**
 * WeCom (企业微信): self-built apps, one token per corp and app secret; and third-party apps
 * (suites), whose token needs the suite_ticket WeCom pushes, with one corp token per authorized corp.
 */
export const wecomPlatform = definePlatform<WeComAppConfig>({
  names: ['wecom'],
  appTypes: ['internal', 'suite'],
  schemas,
  kinds: (app) => (isSuite(app) ? WECOM_SUITE_KINDS : wecomKinds(app.agentId)),
  // A suite's ticket limits are per authorized corp: its provider counts them, not the app's budget.
  rules: (app) => (isSuite(app) ? { ...WECOM_RULES } : { ...WECOM_RULES, limits: wecomTicketLimits(app.appId) }),
  validate(app) {
    const issues: AppIssue[] = [];
    if (!isSuite(app)) {
      for (const key of ['token', 'encodingAESKey', 'providerCorpId'] as const) if (app[key] !== undefined) issues.push({ key, message: 'only for appType: suite' });
      return issues;
    }
    if (app.token === undefined) issues.push({ key: 'token', message: "required for suites (the callback Token of the suite's 指令回调 settings)" });
    if (app.encodingAESKey === undefined) issues.push({ key: 'encodingAESKey', message: "required for suites (the callback EncodingAESKey of the suite's 指令回调 settings)" });
    return issues;
  },
  createProvider(app, { dispatcher }) {
    if (!isSuite(app)) return new WeComProvider({ corpId: app.appId, corpSecret: app.appSecret, baseUrl: app.baseUrl, agentId: app.agentId, dispatcher });
    // validate() has made sure of them; checked again because a suite without them would accept no push.
    if (app.token === undefined || app.encodingAESKey === undefined) throw new TypeError('token, encodingAESKey: required for suites');
    return new WeComSuiteProvider({
      suiteId: app.appId,
      suiteSecret: app.appSecret,
      token: app.token,
      encodingAESKey: app.encodingAESKey,
      providerCorpId: app.providerCorpId,
      baseUrl: app.baseUrl,
      dispatcher,
    });
  },
  simulatorName: (app) => (isSuite(app) ? SUITE_SIMULATOR : 'wecom'),
  createSimulator(name, apps, { lifetime }) {
    if (name === SUITE_SIMULATOR) {
      const suites = uniqueBy(apps.filter(isSuite), (a) => a.appId);
      const providerCorpId = suites.find((a) => a.providerCorpId !== undefined)?.providerCorpId;
      return new WeComSuiteSim({
        apps: suites.map((a) => ({ suiteId: a.appId, suiteSecret: a.appSecret, token: a.token ?? '', encodingAESKey: a.encodingAESKey ?? '' })),
        ...(providerCorpId === undefined ? {} : { providerCorpId }),
        ...(lifetime ? { tokenLifetimeSeconds: lifetime, jsapiTicketLifetimeSeconds: lifetime, suiteTicketLifetimeSeconds: Math.max(1, Math.floor(lifetime / 4)), ticketPushIntervalSeconds: Math.max(1, Math.floor(lifetime / 12)) } : {}),
      });
    }
    return new WeComSim({
      // Apps of one corp differ by secret; wx.agentConfig names the agent id, when the config has one.
      apps: uniqueBy(apps, (a) => `${a.appId}\u0000${a.appSecret}`).map((a) => ({ corpId: a.appId, corpSecret: a.appSecret, ...agentIdOf(a) })),
      ...(lifetime ? { tokenLifetimeSeconds: lifetime, jsapiTicketLifetimeSeconds: lifetime } : {}),
    });
  },
  demoApps: (simUrl) => ({
    'wecom-main': { platform: 'wecom', appId: 'wwdemo0corp0main', appSecret: 'demo-wecom-agent-secret', agentId: '1000002', baseUrl: `${simUrl}/wecom` },
    // A suite (服务商应用): its token needs the suite_ticket the simulator pushes to GET|POST /v1/apps/wecom-suite/events.
    'wecom-suite': {
      platform: 'wecom',
      appType: 'suite',
      appId: 'wwdemo0suite0main',
      appSecret: 'demo-wecom-suite-secret',
      token: 'demo-wecom-suite-token',
      encodingAESKey: 'demo0wecom0suite0encoding0aes0key0abcdefghi',
      providerCorpId: 'wwdemo0provider0corp',
      baseUrl: `${simUrl}/${SUITE_SIMULATOR}`,
    },
  }),
  events: {
    takes: isSuite,
    async connect(sim, app, url, { pushNow }) {
      if (!(sim instanceof WeComSuiteSim)) throw new TypeError(`not a WeCom suite simulator: ${sim.platform}`);
      sim.setEventUrl(url, app.appId);
      if (!pushNow) return `the simulator pushes suite_tickets to ${url} (every 10 minutes)`;
      const steps: PushRecord[] = [await sim.verifyEventUrl(app.appId), await sim.pushTicket(app.appId)];
      // Two corps install the suite; the first under the tenant key the demo's curl lines use.
      for (const corpId of DEMO_CORPS) steps.push(await sim.createAuth(corpId, { suiteId: app.appId, corpName: `Demo corp ${corpId}` }));
      const failed = steps.filter((s) => !s.delivered).map((s) => `${s.infoType}: ${s.status} ${s.body}`);
      return `URL checked, suite_ticket pushed, corps ${DEMO_CORPS.join(' and ')} authorized at ${url}${failed.length > 0 ? ` (not delivered: ${failed.join('; ')})` : ''}`;
    },
  },
});

/** The corps that authorize the demo's suite. */
const DEMO_CORPS = ['demo_tenant', 'wwdemo0corp0two'] as const;

/** The app's `agentId` option (digits, as a string or a number) as the simulator's number, when it has one. */
function agentIdOf(app: WeComAppConfig): { agentId?: number } {
  const agentId = String((app as { agentId?: unknown }).agentId ?? '');
  return /^\d+$/.test(agentId) ? { agentId: Number(agentId) } : {};
}
