import type { FastifyInstance } from 'fastify';
import type { Counters } from './counters.js';
import type { Faults } from './faults.js';

/** One platform's simulator, hosted by {@link startSimulators} under the path prefix `/{platform}`. */
export interface PlatformSim {
  /** Path prefix and name in the control API (`feishu`, `lark`, …). */
  readonly platform: string;
  /** Add the platform's routes, relative to its prefix, to an encapsulated Fastify scope. */
  register(app: FastifyInstance): void;
  /** Make an issued token invalid at once; `false` when it was unknown or already revoked. */
  revoke(token: string): boolean;
  /** Whether the platform would accept `token` now (issued, unexpired, unrevoked). */
  isValid(token: string): boolean;
  /** Back to healthy: no fault, zero counters. Issued tokens stay valid. */
  reset(): void;
  readonly faults: Faults;
  readonly counters: Counters;
}
