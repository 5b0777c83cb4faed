import type { BrokerObserver, UpstreamCall } from '../core/broker.js';

type OtelApi = typeof import('@opentelemetry/api');
type Tracer = import('@opentelemetry/api').Tracer;

/**
 * A span per upstream token call, when `@opentelemetry/api` (an optional peer dependency) is
 * installed: spans go to whatever tracer provider the application registered, and with none
 * registered the API's own no-op tracer makes nothing. The API is imported when the hub is made;
 * calls made before it is loaded (the first milliseconds) have no span.
 *
 * Each span is made when the call has ended, with the call's start and end time: the broker's
 * observer hears of a call once it is over, and no caller's context is its parent (a fetch is
 * shared by every caller that waits for it).
 */
export function tracingObserver(load: () => Promise<OtelApi> = () => import('@opentelemetry/api')): BrokerObserver {
  let api: OtelApi | undefined;
  let tracer: Tracer | undefined;
  load().then(
    (loaded) => {
      api = loaded;
      tracer = loaded.trace.getTracer('tokenhub');
    },
    () => {
      // Not installed: no spans.
    },
  );
  return {
    upstream(call: UpstreamCall) {
      if (api === undefined || tracer === undefined) return;
      const end = Date.now();
      const span = tracer.startSpan(`tokenhub token call ${call.kind}`, {
        kind: api.SpanKind.CLIENT,
        startTime: end - call.durationMs,
        attributes: {
          'tokenhub.app': call.app,
          'tokenhub.platform': call.platform,
          'tokenhub.kind': call.kind,
          'tokenhub.reason': call.reason,
          'tokenhub.outcome': call.outcome,
          ...(call.host === undefined ? {} : { 'server.address': call.host }),
        },
      });
      if (call.outcome !== 'ok') span.setStatus({ code: api.SpanStatusCode.ERROR, message: call.outcome });
      span.end(end);
    },
  };
}
