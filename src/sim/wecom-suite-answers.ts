import type { PlatformFaultAnswers } from './faults.js';
import { wecomRateLimit as ratelimit } from './wecom-tickets.js';

/** The bodies of the faults whose shape is WeCom's own, on a suite's token endpoints (the ticket endpoints': `WECOM_TICKET_FAULTS`). */

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
