import type { Provider } from '../core/types.js';
import { ConfigError, type AppConfig } from '../config.js';
import { DingTalkProvider } from './dingtalk.js';
import { FeishuProvider } from './feishu.js';
import { WeChatProvider } from './wechat.js';
import { WeComProvider } from './wecom.js';

/** The provider for one configured app. Each platform's file knows only its own HTTP API. */
export function createProvider(id: string, app: AppConfig): Provider {
  switch (app.platform) {
    case 'feishu':
    case 'lark':
      if (app.appType === 'store') throw new ConfigError([`apps.${id}.appType: store apps are not available yet`]);
      return new FeishuProvider({ platform: app.platform, appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl });
    case 'dingtalk':
      return new DingTalkProvider({ appKey: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl, api: app.api });
    case 'wecom':
      return new WeComProvider({ corpId: app.appId, corpSecret: app.appSecret, baseUrl: app.baseUrl });
    case 'wechat':
      return new WeChatProvider({ appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl, tokenApi: app.tokenApi });
    default:
      throw new ConfigError([`apps.${id}.platform: ${app.platform} is not available yet`]);
  }
}
