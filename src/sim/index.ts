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
  type FeishuTokenKind,
} from './feishu.js';
export {
  DEFAULT_SIMULATOR_OPTIONS,
  startSimulators,
  type RunningSimulators,
  type StartSimulatorsOptions,
} from './server.js';
export type { PlatformSim } from './types.js';
