import type { Provider } from '../core/types.js';
import { ConfigError, type AppConfig } from '../config.js';
import { DingTalkProvider } from './dingtalk.js';
import { FeishuProvider } from './feishu.js';
import { FeishuStoreProvider } from './feishu-store.js';
import { QingtuiProvider } from './qingtui.js';
import { WeChatProvider } from './wechat.js';
import { WeComProvider } from './wecom.js';

/** The provider for one configured app. Each platform's file knows only its own HTTP API. */
export function createProvider(id: string, app: AppConfig): Provider {
  switch (app.platform) {
    case 'feishu':
    case 'lark':
      if (app.appType === 'store') {
        // validateConfig has made sure of it; checked again because a provider without it would accept no event.
        if (app.verificationToken === undefined) throw new ConfigError([`apps.${id}.verificationToken: required for store apps`]);
        return new FeishuStoreProvider({
          platform: app.platform,
          appId: app.appId,
          appSecret: app.appSecret,
          baseUrl: app.baseUrl,
          verificationToken: app.verificationToken,
          encryptKey: app.encryptKey,
        });
      }
      return new FeishuProvider({ platform: app.platform, appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl });
    case 'dingtalk':
      return new DingTalkProvider({ appKey: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl, api: app.api });
    case 'wecom':
      return new WeComProvider({ corpId: app.appId, corpSecret: app.appSecret, baseUrl: app.baseUrl });
    case 'wechat':
      return new WeChatProvider({ appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl, tokenApi: app.tokenApi });
    case 'qingtui':
      return new QingtuiProvider({ appId: app.appId, appSecret: app.appSecret, baseUrl: app.baseUrl });
    default: {
      // Every platform the config accepts is handled (the compiler checks); this guards callers that skip validation.
      const unknown: never = app;
      throw new ConfigError([`apps.${id}.platform: ${String((unknown as { platform?: unknown }).platform)} is not a platform`]);
    }
  }
}
