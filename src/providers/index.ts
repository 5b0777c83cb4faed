import type { Provider } from '../core/types.js';
import { ConfigError, type AppConfig } from '../config.js';
import { FeishuProvider } from './feishu.js';

/** The provider for one configured app. Each platform's file knows only its own HTTP API. */
export function createProvider(id: string, app: AppConfig): Provider {
  switch (app.platform) {
    case 'feishu':
    case 'lark':
      if (app.appType === 'store') throw new ConfigError([`apps.${id}.appType: store apps are not available yet`]);
      return new FeishuProvider({ platform: app.platform, appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl });
    default:
      throw new ConfigError([`apps.${id}.platform: ${app.platform} is not available yet`]);
  }
}
