export { Counters, type CounterSnapshot } from './counters.js';
export {
  DEFAULT_FAULT_OPTIONS,
  FAULT_MODES,
  Faults,
  type FaultMode,
  type FaultOptions,
  type FaultState,
  type PlatformFaultAnswers,
} from './faults.js';
export {
  DEFAULT_DINGTALK_SIM_OPTIONS,
  DINGTALK_ENDPOINTS,
  DingTalkSim,
  type DingTalkIpBan,
  type DingTalkSimApp,
  type DingTalkSimOptions,
} from './dingtalk.js';
export {
  DEFAULT_FEISHU_SIM_OPTIONS,
  FEISHU_ENDPOINTS,
  FeishuSim,
  type FeishuSimApp,
  type FeishuSimOptions,
  type FeishuSimStoreApp,
  type FeishuTokenKind,
} from './feishu.js';
export {
  DEFAULT_JSAPI_MAX_SKEW_SECONDS,
  cardSignature,
  jsapiSignature,
  type JsapiVerdict,
} from './jsapi.js';
export { buildEvent, encryptEvent, type BuildEventOptions, type BuiltEvent, type EventSettings, type PushResult } from './feishu-events.js';
export { DEFAULT_QINGTUI_SIM_OPTIONS, QINGTUI_ENDPOINTS, QingtuiSim, type QingtuiSimApp, type QingtuiSimOptions } from './qingtui.js';
export {
  DEFAULT_SIMULATOR_OPTIONS,
  startSimulators,
  type RunningSimulators,
  type StartSimulatorsOptions,
} from './server.js';
export { Script, SimTokens, type ScriptedAnswer, type SimToken, type TokenCheck } from './tokens.js';
export type { PlatformSim } from './types.js';
export {
  DEFAULT_WECHAT_SIM_OPTIONS,
  WECHAT_ENDPOINTS,
  WeChatSim,
  type WeChatSimApp,
  type WeChatSimOptions,
  type WeChatTicketType,
  type WeChatTokenApi,
} from './wechat.js';
export {
  DEFAULT_WECHAT_COMPONENT_SIM_OPTIONS,
  WECHAT_COMPONENT_ENDPOINTS,
  type AuthorizationEvent,
  type AuthorizeOptions,
  type WeChatComponentSimApp,
  type WeChatComponentSimOptions,
} from './wechat-component-options.js';
export { WeChatComponentSim } from './wechat-component.js';
export {
  DEFAULT_WECOM_SUITE_SIM_OPTIONS,
  WECOM_SUITE_ENDPOINTS,
  type AuthCodeEvent,
  type SuiteAuthOptions,
  type WeComSuiteSimApp,
  type WeComSuiteSimOptions,
} from './wecom-suite-options.js';
export { WeComSuiteSim } from './wecom-suite.js';
export {
  PushLog,
  cdata,
  deliver,
  plainSignature,
  seal,
  xml,
  type PushRecord,
  type SealOptions,
  type Sealed,
  type WxCryptoSettings,
  type WxPush,
  type WxPushResult,
} from './wxbiz-events.js';
export {
  DEFAULT_WECOM_SIM_OPTIONS,
  WECOM_ENDPOINTS,
  WeComSim,
  type WeComSimApp,
  type WeComSimOptions,
  type WeComTicketType,
} from './wecom.js';
