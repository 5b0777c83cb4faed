// The apps of the scale benchmarks, named once for the simulator and for tokenhub's config.
import type { FeishuSimApp, FeishuSimStoreApp } from '../../src/sim/index.js';

/** The i-th Feishu custom app, as the simulator knows it. */
export function customApp(i: number): FeishuSimApp {
  return { appId: `cli_bench_${i}`, appSecret: `bench-secret-${i}-xxxxxxxxxxxxxxxx` };
}

/** The i-th Feishu store app, as the simulator knows it (no encrypt key: plain pushes). */
export function storeApp(i: number): FeishuSimStoreApp {
  return { appId: `cli_store_${i}`, appSecret: `store-secret-${i}-xxxxxxxxxxxxxxxx`, verificationToken: `verification-token-${i}-xxxxxxxx` };
}

/** tokenhub's id of the i-th custom app: `feishu-main` when it is the only one. */
export function customAppId(i: number, count: number): string {
  return count === 1 ? 'feishu-main' : `feishu-${i}`;
}

export function storeAppId(i: number): string {
  return `store-${i}`;
}
