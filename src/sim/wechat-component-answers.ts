import { randomBytes } from 'node:crypto';
import type { FastifyReply } from 'fastify';
import type { PlatformFaultAnswers } from './faults.js';

/** The WeChat Open Platform's own answers: its error body, and the bodies of the faults whose shape is its own. */

/** WeChat's error body: the message followed by a request id. */
export function wechatError(errcode: number, message: string): Record<string, unknown> {
  return { errcode, errmsg: `${message} rid: ${randomBytes(4).toString('hex')}-${randomBytes(4).toString('hex')}-${randomBytes(2).toString('hex')}` };
}

function ratelimit(reply: FastifyReply): void {
  reply.send(wechatError(45011, 'api minute-quota reach limit  mustslower  retry next minute'));
}

export const COMPONENT_TOKEN_FAULTS: PlatformFaultAnswers = {
  ratelimit,
  okWithoutToken: { expires_in: 7200 },
  sampleOk: JSON.stringify({ component_access_token: '61_W3mEpU66027wgNZ_MhGHNQDHnFATkDa9-2llqrMBjUwxRSNPbVsMmyD-yq8wZETSoE5NQgecigDrSHkPtIYA', expires_in: 7200 }),
};

export const START_PUSH_FAULTS: PlatformFaultAnswers = {
  ratelimit,
  okWithoutToken: {},
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok' }),
};

export const QUERY_AUTH_FAULTS: PlatformFaultAnswers = {
  ratelimit,
  okWithoutToken: { authorization_info: { authorizer_appid: 'wxf8b4f85f3a794e77', expires_in: 7200, func_info: [] } },
  sampleOk: JSON.stringify({
    authorization_info: {
      authorizer_appid: 'wxf8b4f85f3a794e77',
      authorizer_access_token: 'QXjUqNqfYVH0yBE1iI_7vuN_9gQbpjfK7hYwJ3P7xOa88a89-Aga5x1NMYJyB8G2yKt1KCl0nPC3W9GJzw0Zzq_dBxc8pxIGUNi_bFes0qM',
      expires_in: 7200,
      authorizer_refresh_token: 'dTo-YCXPL4llX-u1W1pPpnp8Hgm4wpJtlR6iV0doKdY',
      func_info: [{ funcscope_category: { id: 1 } }],
    },
  }),
};

export const AUTHORIZER_TOKEN_FAULTS: PlatformFaultAnswers = {
  ratelimit,
  okWithoutToken: { expires_in: 7200 },
  sampleOk: JSON.stringify({ authorizer_access_token: 'some-access-token-of-the-authorizer-0123456789', expires_in: 7200, authorizer_refresh_token: 'refresh_token_value' }),
};

export const TICKET_FAULTS: PlatformFaultAnswers = {
  ratelimit,
  okWithoutToken: { errcode: 0, errmsg: 'ok', expires_in: 7200 },
  sampleOk: JSON.stringify({ errcode: 0, errmsg: 'ok', ticket: 'sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg', expires_in: 7200 }),
};
