import type { BaseAppConfig, PlatformDescriptor } from './descriptor.js';
import { dingtalkPlatform } from './dingtalk.js';
import { feishuPlatform } from './feishu.js';
import { qingtuiPlatform } from './qingtui.js';
import { wechatPlatform } from './wechat.js';
import { wecomPlatform } from './wecom.js';

export type { AppIssue, BaseAppConfig, PlatformDescriptor, ProviderEnvironment, SimulatorOptions } from './descriptor.js';

/** Every platform tokenhub knows, in the order the config names them. Adding a platform is adding it here. */
export const PLATFORM_REGISTRY = [feishuPlatform, dingtalkPlatform, wecomPlatform, wechatPlatform, qingtuiPlatform] as const;

type AppOf<D> = D extends PlatformDescriptor<infer App> ? App : never;

/** An app of any platform, as configured (narrowed by `platform`). */
export type AnyAppConfig = AppOf<(typeof PLATFORM_REGISTRY)[number]>;

/** The registry as the loops over it see it. */
export const platforms: readonly PlatformDescriptor[] = PLATFORM_REGISTRY;

/** Every `platform` value of the config. */
export const PLATFORM_NAMES: readonly string[] = platforms.flatMap((d) => d.names);

/** The descriptor of platform `name`, or undefined for one tokenhub does not know. */
export function platformNamed(name: string): PlatformDescriptor | undefined {
  return platforms.find((d) => d.names.includes(name));
}

/** The descriptor of a configured app (whose platform the config has checked). */
export function platformOf(app: BaseAppConfig): PlatformDescriptor {
  const found = platformNamed(app.platform);
  if (found === undefined) throw new RangeError(`platform: ${app.platform} is not a platform`);
  return found;
}

/** The name of the simulator an app's calls go to: its platform's, unless its descriptor names another (a third-party app's). */
export function simulatorNameOf(app: BaseAppConfig): string {
  return platformOf(app).simulatorName?.(app) ?? app.platform;
}
