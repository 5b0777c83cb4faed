// Spans of upstream token calls through @opentelemetry/api, with a tracer provider of the test's
// own registered (the API accepts any object that implements its interfaces).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SpanStatusCode, trace, type Attributes, type Span, type SpanOptions, type Tracer, type TracerProvider } from '@opentelemetry/api';
import { tracingObserver } from '../../src/observe/tracing.js';
import { FeishuSim } from '../../src/sim/index.js';
import { startStack, type Stack } from '../helpers/stack.js';

interface Recorded {
  name: string;
  attributes: Attributes;
  startTime: number;
  endTime: number | undefined;
  status: { code: SpanStatusCode; message?: string } | undefined;
}

/** A tracer that keeps every span it was asked for. */
function recordingProvider(spans: Recorded[]): TracerProvider {
  const tracer = {
    startSpan(name: string, options: SpanOptions = {}): Span {
      const span: Recorded = { name, attributes: { ...options.attributes }, startTime: Number(options.startTime), endTime: undefined, status: undefined };
      spans.push(span);
      const handle = {
        setStatus: (status: Recorded['status']) => ((span.status = status), handle),
        end: (endTime?: number) => void (span.endTime = Number(endTime)),
      };
      return handle as unknown as Span;
    },
    startActiveSpan(): never {
      throw new Error('not used');
    },
  } as unknown as Tracer;
  return { getTracer: () => tracer };
}

describe('OpenTelemetry spans of upstream token calls', () => {
  const spans: Recorded[] = [];
  let stack: Stack;
  let sim: FeishuSim;
  const SECRET = `otel-${randomBytes(8).toString('hex')}`;

  before(async () => {
    trace.setGlobalTracerProvider(recordingProvider(spans));
    sim = new FeishuSim({ apps: [{ appId: 'cli_otel', appSecret: SECRET }] });
    stack = await startStack({ sims: [sim], apps: { main: { platform: 'feishu', appId: 'cli_otel', appSecret: SECRET, baseUrl: 'sim:feishu' } }, config: { upstream: { timeoutMs: 500 } } });
  });
  after(async () => {
    await stack.close();
    trace.disable();
  });

  it('one client span per call, with app, platform, kind, reason, outcome and host, its own start and end; failures marked as errors', async () => {
    assert.equal((await stack.call('GET', '/v1/apps/main/tokens/tenant_access_token')).status, 200);
    sim.faults.set('status500');
    assert.equal((await stack.call('GET', '/v1/apps/main/tokens/app_access_token')).status, 503);
    sim.faults.set('none');
    const host = new URL(stack.sims.baseUrl('feishu')).host;
    const [ok, ...failed] = spans;
    assert.equal(ok!.name, 'tokenhub token call tenant_access_token');
    assert.deepEqual(ok!.attributes, {
      'tokenhub.app': 'main', 'tokenhub.platform': 'feishu', 'tokenhub.kind': 'tenant_access_token', 'tokenhub.reason': 'cold', 'tokenhub.outcome': 'ok', 'server.address': host,
    });
    assert.ok(ok!.endTime! >= ok!.startTime && ok!.status === undefined);
    assert.ok(failed.length >= 1);
    for (const span of failed) {
      assert.deepEqual([span.attributes['tokenhub.kind'], span.attributes['tokenhub.outcome'], span.status?.code], ['app_access_token', 'transient', SpanStatusCode.ERROR]);
    }
    assert.ok(!JSON.stringify(spans).includes(SECRET));
  });

  it('without the API installed there are no spans and nothing breaks', async () => {
    const observer = tracingObserver(() => Promise.reject(new Error('Cannot find package @opentelemetry/api')));
    await new Promise((r) => setImmediate(r));
    assert.doesNotThrow(() => observer.upstream?.({ app: 'a', platform: 'p', kind: 'k', reason: 'cold', outcome: 'ok', durationMs: 1 }));
  });
});
