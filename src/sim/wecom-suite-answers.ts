import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PlatformFaultAnswers } from './faults.js';

/** WeCom's own answers to a suite's calls: its error body, and the bodies of the faults whose shape is its own. */

/** WeCom's error body: the message with a hint, the caller's IP and a lookup link. */
export function wecomError(errcode: number, message: string, request: FastifyRequest): Record<string, unknown> {
  const hint = `${Math.floor(Date.now() / 1000)}_${randomBytes(2).readUInt16BE() % 100}_${randomBytes(16).toString('hex')}`;
  return { errcode, errmsg: `${message}, hint: [${hint}], from ip: ${request.ip}, more info at https://open.work.weixin.qq.com/devtool/query?e=${errcode}` };
}

function ratelimit(reply: FastifyReply): void {
  reply.send({ errcode: 45009, errmsg: 'api freq out of limit, more info at https://open.work.weixin.qq.com/devtool/query?e=45009' });
}

export const SUITE_TOKEN_FAULTS: PlatformFaultAnswers = {
  ratelimit,
  okWithoutToken: { expires_in: 7200 },
  sampleOk: JSON.stringify({ suite_access_token: '61W3mEpU66027wgNZ_MhGHNQDHnFATkDa9-2llMBjUwxRSNPbVsMmyD-yq8wZETSoE5NQgecigDrSHkPtIYA', expires_in: 7200 }),
};

export const PERMANENT_CODE_FAULTS: PlatformFaultAnswers = {
  ratelimit,
  okWithoutToken: { errcode: 0, errmsg: 'ok', auth_corp_info: { corpid: 'wwsimcorp', corp_name: 'Sim corp' } },
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 'xxxxxx', expires_in: 7200, permanent_code: 'xxxx', auth_corp_info: { corpid: 'wwsimcorp', corp_name: 'Sim corp' } }),
};

export const CORP_TOKEN_FAULTS: PlatformFaultAnswers = {
  ratelimit,
  okWithoutToken: { errcode: 0, errmsg: 'ok', expires_in: 7200 },
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok', access_token: 'kQv1ds0Fz4uBn8X1mN0vQ2kHcQeS3nYb7yT9pL0aZ6rW', expires_in: 7200 }),
};

export const TICKET_FAULTS: PlatformFaultAnswers = {
  ratelimit,
  okWithoutToken: { errcode: 0, errmsg: 'ok', expires_in: 7200 },
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok', ticket: 'bxLdikRXVbTPdHSM05e5u5sUoXNKd8-41ZO3MhKoyN5OfkWITDGgnr2fwJ0m9E8NYzWKVZvdVtaUgWvsdshFKA', expires_in: 7200 }),
};
