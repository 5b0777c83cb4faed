import type { FastifyInstance } from 'fastify';
import type { Counters } from './counters.js';
import type { Faults } from './faults.js';
import type { JsapiVerdict } from './jsapi.js';

/** One platform's simulator, hosted by {@link startSimulators} under the path prefix `/{platform}`. */
export interface PlatformSim {
  /** Path prefix and name in the control API (`feishu`, `lark`, …). */
  readonly platform: string;
  /** Add the platform's routes, relative to its prefix, to an encapsulated Fastify scope. */
  register(app: FastifyInstance): void;
  /** Make an issued token or JS-SDK ticket invalid at once; `false` when it was unknown or already revoked. */
  revoke(token: string): boolean;
  /** Whether the platform would accept `token` (an access token or a JS-SDK ticket) now: issued, unexpired, unrevoked. */
  isValid(token: string): boolean;
  /** Back to healthy: no fault, zero counters. Issued tokens stay valid. */
  reset(): void;
  /** Faults of the token endpoints. */
  readonly faults: Faults;
  /** Faults of the JS-SDK ticket endpoints, apart from the token endpoints' (where the platform has tickets). */
  readonly ticketFaults?: Faults;
  readonly counters: Counters;
  /**
   * What the platform's client would make of a page's JS-SDK config (the object passed to
   * `wx.config`, `dd.config`, `h5sdk.config`… plus the page's `url`): `{ ok: true }` when its
   * signature is one of the app's valid tickets would give, else the reason.
   */
  verifyJsapi?(config: Record<string, unknown>): JsapiVerdict;
  /**
   * The simulator's own control routes, added under `/_sim/{platform}` to a scope whose JSON
   * bodies are parsed (an empty body as `{}`). Names other than the shared ones (`fault`,
   * `jsapi/…`, `revoke`, `stats`, `reset`).
   */
  registerControl?(scope: FastifyInstance): void;
}
