import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { FAULT_MODES, type FaultMode, type FaultOptions, type FaultState, type Faults } from './faults.js';
import type { PlatformSim } from './types.js';

export interface StartSimulatorsOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default `0`: a free port. */
  port?: number;
  /** One per platform name; each is served under `/{platform}`. */
  sims: PlatformSim[];
  /** Fastify's request logging. Default `false`, to keep benchmarks fast. */
  logger?: boolean;
}

/** Simulators listening on one HTTP server. */
export interface RunningSimulators {
  /** `http://host:port`, no trailing slash. */
  readonly url: string;
  /** The base URL to configure for a platform: `${url}/${platform}`. */
  baseUrl(platform: string): string;
  /** The simulator of a platform; throws a `RangeError` for an unknown one. */
  sim(platform: string): PlatformSim;
  /** Stop listening and drop every connection, hung ones included. */
  close(): Promise<void>;
}

/** Defaults of {@link StartSimulatorsOptions}. */
export const DEFAULT_SIMULATOR_OPTIONS = { host: '127.0.0.1', port: 0, logger: false } as const;

const PLATFORM_NAME = /^[a-z][a-z0-9-]*$/;

/**
 * Serve platform simulators on one Fastify server, each under its own path prefix, plus a
 * control API for driving them by hand:
 * `POST /_sim/{platform}/fault` `{"mode","delayMs","retryAfterSeconds"}` (token endpoints),
 * `POST /_sim/{platform}/jsapi/fault` (the same, for the JS-SDK ticket endpoints),
 * `POST /_sim/{platform}/jsapi/verify` (a page's JS-SDK config plus its `url`: `{"ok":true}` or `{"ok":false,"reason"}`),
 * `POST /_sim/{platform}/revoke` `{"token"}` (a token or a ticket), `GET /_sim/{platform}/stats`, `POST /_sim/{platform}/reset`,
 * and each simulator's own routes beside them ({@link PlatformSim.registerControl}: pushes, authorizations).
 *
 * @example
 * ```ts
 * const sims = await startSimulators({ sims: [new FeishuSim({ apps: [{ appId: 'cli_a1', appSecret: 's' }] })] });
 * await fetch(`${sims.baseUrl('feishu')}/open-apis/auth/v3/tenant_access_token/internal`, { method: 'POST', … });
 * await sims.close();
 * ```
 */
export async function startSimulators(options: StartSimulatorsOptions): Promise<RunningSimulators> {
  const byName = new Map<string, PlatformSim>();
  for (const [i, sim] of options.sims.entries()) {
    if (!PLATFORM_NAME.test(sim.platform)) throw new TypeError(`sims[${i}].platform: not a path segment: ${sim.platform}`);
    if (byName.has(sim.platform)) throw new TypeError(`sims[${i}].platform: duplicate ${sim.platform}`);
    byName.set(sim.platform, sim);
  }

  // forceCloseConnections: close() must not wait for keep-alive or hung connections.
  const app = Fastify({ logger: options.logger ?? DEFAULT_SIMULATOR_OPTIONS.logger, forceCloseConnections: true });
  for (const sim of byName.values()) {
    await app.register(async (scope) => sim.register(scope), { prefix: `/${sim.platform}` });
  }
  await app.register(async (scope) => registerControl(scope, byName), { prefix: '/_sim' });
  for (const sim of byName.values()) {
    if (sim.registerControl === undefined) continue;
    await app.register(
      async (scope) => {
        parseJsonBodies(scope);
        sim.registerControl!(scope);
      },
      { prefix: `/_sim/${sim.platform}` },
    );
  }

  let url: string;
  try {
    url = await app.listen({
      host: options.host ?? DEFAULT_SIMULATOR_OPTIONS.host,
      port: options.port ?? DEFAULT_SIMULATOR_OPTIONS.port,
    });
  } catch (error) {
    await app.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  const sim = (platform: string): PlatformSim => {
    const found = byName.get(platform);
    if (found === undefined) throw new RangeError(`platform: no simulator for ${platform}`);
    return found;
  };
  return {
    url,
    baseUrl: (platform) => `${url}/${sim(platform).platform}`,
    sim,
    close() {
      closing ??= (async () => {
        for (const s of byName.values()) {
          s.faults.closeHung();
          s.ticketFaults?.closeHung();
        }
        await app.close();
      })();
      return closing;
    },
  };
}

/** Bodies parsed as JSON whatever their content type; an empty body, as `curl -H … -X POST` sends, as `{}`. */
function parseJsonBodies(scope: FastifyInstance): void {
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(Object.assign(new Error('body: not JSON'), { statusCode: 400 }));
    }
  });
}

function registerControl(scope: FastifyInstance, byName: ReadonlyMap<string, PlatformSim>): void {
  parseJsonBodies(scope);

  const lookup = (platform: string, reply: FastifyReply): PlatformSim | undefined => {
    const sim = byName.get(platform);
    if (sim === undefined) void reply.code(404).send({ error: `no simulator for platform ${platform}` });
    return sim;
  };
  type Params = { Params: { platform: string }; Body: unknown };

  const setFault = (faults: Faults, body: Record<string, unknown>, reply: FastifyReply): FaultState | undefined => {
    const mode = body.mode;
    if (typeof mode !== 'string' || !(FAULT_MODES as readonly string[]).includes(mode)) {
      void reply.code(400).send({ error: `mode: expected one of ${FAULT_MODES.join(', ')}` });
      return undefined;
    }
    const options: FaultOptions = {};
    if (body.delayMs !== undefined) options.delayMs = Number(body.delayMs);
    if (body.retryAfterSeconds !== undefined) options.retryAfterSeconds = Number(body.retryAfterSeconds);
    try {
      faults.set(mode as FaultMode, options);
    } catch (error) {
      void reply.code(400).send({ error: (error as Error).message });
      return undefined;
    }
    return faults.state;
  };

  scope.post<Params>('/:platform/fault', async (request, reply) => {
    const sim = lookup(request.params.platform, reply);
    if (sim === undefined) return reply;
    const fault = setFault(sim.faults, asRecord(request.body), reply);
    return fault === undefined ? reply : { platform: sim.platform, fault };
  });

  scope.post<Params>('/:platform/jsapi/fault', async (request, reply) => {
    const sim = lookup(request.params.platform, reply);
    if (sim === undefined) return reply;
    if (sim.ticketFaults === undefined) return reply.code(404).send({ error: `platform ${sim.platform} has no JS-SDK tickets` });
    const fault = setFault(sim.ticketFaults, asRecord(request.body), reply);
    return fault === undefined ? reply : { platform: sim.platform, ticketFault: fault };
  });

  scope.post<Params>('/:platform/jsapi/verify', async (request, reply) => {
    const sim = lookup(request.params.platform, reply);
    if (sim === undefined) return reply;
    if (sim.verifyJsapi === undefined) return reply.code(404).send({ error: `platform ${sim.platform} has no JS-SDK verifier` });
    return sim.verifyJsapi(asRecord(request.body));
  });

  scope.post<Params>('/:platform/revoke', async (request, reply) => {
    const sim = lookup(request.params.platform, reply);
    if (sim === undefined) return reply;
    const token = asRecord(request.body).token;
    if (typeof token !== 'string') return reply.code(400).send({ error: 'token: expected a string' });
    return { platform: sim.platform, revoked: sim.revoke(token) };
  });

  scope.get<Params>('/:platform/stats', async (request, reply) => {
    const sim = lookup(request.params.platform, reply);
    if (sim === undefined) return reply;
    return { platform: sim.platform, ...faultStates(sim), counters: sim.counters.snapshot() };
  });

  scope.post<Params>('/:platform/reset', async (request, reply) => {
    const sim = lookup(request.params.platform, reply);
    if (sim === undefined) return reply;
    sim.reset();
    return { platform: sim.platform, ...faultStates(sim), counters: sim.counters.snapshot() };
  });
}

function faultStates(sim: PlatformSim): { fault: FaultState; ticketFault?: FaultState } {
  return { fault: sim.faults.state, ...(sim.ticketFaults === undefined ? {} : { ticketFault: sim.ticketFaults.state }) };
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}
