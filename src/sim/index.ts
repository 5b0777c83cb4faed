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
  DEFAULT_FEISHU_SIM_OPTIONS,
  FEISHU_ENDPOINTS,
  FeishuSim,
  type FeishuSimApp,
  type FeishuSimOptions,
  type FeishuSimStoreApp,
  type FeishuTokenKind,
} from './feishu.js';
export { buildEvent, encryptEvent, type BuildEventOptions, type BuiltEvent, type EventSettings, type PushResult } from './feishu-events.js';
export { DEFAULT_QINGTUI_SIM_OPTIONS, QINGTUI_ENDPOINTS, QingtuiSim, type QingtuiSimApp, type QingtuiSimOptions } from './qingtui.js';
export {
  DEFAULT_SIMULATOR_OPTIONS,
  startSimulators,
  type RunningSimulators,
  type StartSimulatorsOptions,
} from './server.js';
export type { PlatformSim } from './types.js';
