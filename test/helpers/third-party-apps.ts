import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { WeChatComponentSim, WeComSuiteSim, startSimulators, type RunningSimulators, type WxPush } from '../../src/sim/index.js';

/** A 43-character EncodingAESKey of letters and digits, as the consoles make them. */
export function aesKey(): string {
  return randomBytes(48).toString('base64').replace(/[^A-Za-z0-9]/g, '').padEnd(43, 'a').slice(0, 43);
}

/** A WeChat Open Platform component as the simulator and tokenhub both know it. */
export function componentApp(suffix = randomBytes(4).toString('hex')) {
  return { appId: `wxcomp${suffix}`, appSecret: `component-secret-${suffix}-xxxxxxxx`, token: `component-token-${suffix}`, encodingAESKey: aesKey() };
}

export type ComponentApp = ReturnType<typeof componentApp>;

/** tokenhub's config of a component, its base URL the simulator's (`sim:` is replaced by the stack). */
export function componentConfig(app: ComponentApp, baseUrl = 'sim:wechat-open'): Record<string, unknown> {
  return { platform: 'wechat', appType: 'component', ...app, baseUrl };
}

/** A WeCom suite as the simulator knows it. */
export function suiteApp(name = randomBytes(4).toString('hex')) {
  return { suiteId: `wwsuite_${name}`, suiteSecret: `suite-secret-${name}-${randomBytes(6).toString('hex')}`, token: `token-${name}`, encodingAESKey: aesKey() };
}

export type SuiteApp = ReturnType<typeof suiteApp>;

/** tokenhub's config of a suite. */
export function suiteConfig(app: SuiteApp, baseUrl = 'sim:wecom-suite', providerCorpId?: string): Record<string, unknown> {
  return {
    platform: 'wecom',
    appType: 'suite',
    appId: app.suiteId,
    appSecret: app.suiteSecret,
    token: app.token,
    encodingAESKey: app.encodingAESKey,
    ...(providerCorpId === undefined ? {} : { providerCorpId }),
    baseUrl,
  };
}

/** Sends a push built by a simulator (or tampered with) to an events URL, as the platform does. */
export async function sendPush(url: string, push: WxPush): Promise<{ status: number; body: string }> {
  const target = new URL(url);
  for (const [k, v] of Object.entries(push.query)) target.searchParams.set(k, v);
  const res = await request(target, { method: push.method, ...(push.body === undefined ? {} : { body: push.body, headers: { 'content-type': 'text/xml' } }) });
  return { status: res.statusCode, body: await res.body.text() };
}

/** A component and a suite on their simulators, as the recovery tests run them; see {@link startThirdParty}. */
export interface ThirdParty {
  readonly component: WeChatComponentSim;
  readonly wecom: WeComSuiteSim;
  readonly sims: RunningSimulators;
  /** tokenhub's `apps`: `open` (the component) and `suite`, on the simulators. */
  readonly apps: Record<string, Record<string, unknown>>;
  readonly componentAppId: string;
  readonly suiteId: string;
  /** A tokenhub's client key, and its `clients` entry. */
  readonly key: string;
  readonly clients: Record<string, unknown>[];
  /** Points both platforms' pushes at one tokenhub's events URLs. */
  pushTo(url: string): void;
}

/**
 * A WeChat component whose simulator hands out a new refresh token at every refresh (and answers
 * 61023 to the old one), and a WeCom suite, on one simulator server; tickets pushed on demand only.
 */
export async function startThirdParty(): Promise<ThirdParty> {
  const comp = componentApp();
  const suite = suiteApp();
  const component = new WeChatComponentSim({ apps: [comp], ticketPushIntervalSeconds: 0, startPushTicketIntervalSeconds: 0, refreshTokenRotateEvery: 1 });
  const wecom = new WeComSuiteSim({ apps: [suite], ticketPushIntervalSeconds: 0 });
  const sims = await startSimulators({ sims: [component, wecom] });
  const key = `test-${randomBytes(16).toString('hex')}`;
  return {
    component,
    wecom,
    sims,
    componentAppId: comp.appId,
    suiteId: suite.suiteId,
    key,
    clients: [{ name: 'test', key, apps: ['*'], reportsPerMinute: 100_000 }],
    apps: {
      // Every report makes a fetch, so that each one rotates the grant.
      open: { ...componentConfig(comp, sims.baseUrl('wechat-open')), reportIntervalSeconds: 0 },
      suite: { ...suiteConfig(suite, sims.baseUrl('wecom-suite')), reportIntervalSeconds: 0 },
    },
    pushTo(url) {
      component.setEventUrl(`${url}/v1/apps/open/events`);
      wecom.setEventUrl(`${url}/v1/apps/suite/events`);
    },
  };
}
