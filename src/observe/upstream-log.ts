import type { BrokerObserver } from '../core/broker.js';
import type { Logger } from '../core/types.js';

/**
 * One info line per upstream token call: app, platform, kind, reason (`cold`, `refresh`,
 * `invalidate`), outcome (`ok` or the failure class), duration and the host it went to. Never a
 * token, a secret or a tenant key: the event holds none.
 *
 * @example
 * // {"level":"info","time":"…","component":"upstream","app":"feishu-main","platform":"feishu","kind":"tenant_access_token",
 * //  "reason":"refresh","outcome":"ok","durationMs":41,"host":"open.feishu.cn","msg":"token refreshed"}
 */
export function upstreamLog(log: Logger): BrokerObserver {
  return {
    upstream({ app, platform, kind, reason, outcome, durationMs, host }) {
      const msg = outcome !== 'ok' ? 'token call failed' : reason === 'refresh' ? 'token refreshed' : 'token fetched';
      log.info({ app, platform, kind, reason, outcome, durationMs: Math.round(durationMs), ...(host === undefined ? {} : { host }) }, msg);
    },
  };
}
