import type { FastifyInstance } from 'fastify';
import { isRecord } from './request.js';

/** Helpers for a simulator's own control routes ({@link PlatformSim.registerControl}). */

/**
 * A `POST` control route whose handler gets the JSON body as a record; a `TypeError` or
 * `RangeError` it throws (a missing field, an unknown app) is answered 400 with its message.
 *
 * @example
 * ```ts
 * controlPost(scope, '/push-ticket', (body) => sim.pushTicket(optionalText(body, 'componentAppId')));
 * ```
 */
export function controlPost(scope: FastifyInstance, path: string, handler: (body: Record<string, unknown>) => unknown): void {
  scope.post(path, async (request, reply) => {
    try {
      return await handler(isRecord(request.body) ? request.body : {});
    } catch (error) {
      if (error instanceof TypeError || error instanceof RangeError) return reply.code(400).send({ error: error.message });
      throw error;
    }
  });
}

/** A non-empty string field; a `TypeError` naming it otherwise. */
export function requiredText(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== 'string' || value === '') throw new TypeError(`${name}: expected a non-empty string`);
  return value;
}

/** A non-empty string field, or undefined when left out; a `TypeError` naming it when of another type. */
export function optionalText(body: Record<string, unknown>, name: string): string | undefined {
  return body[name] === undefined ? undefined : requiredText(body, name);
}

/** An array of whole numbers, or undefined when left out. */
export function optionalIds(body: Record<string, unknown>, name: string): number[] | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v))) throw new TypeError(`${name}: expected an array of whole numbers`);
  return value as number[];
}
