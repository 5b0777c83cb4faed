import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { WeComSim, startSimulators, type WeComSimOptions } from '../../src/sim/index.js';

const CORP = 'ww0123456789abcdef';
const AGENT_A = { corpId: CORP, corpSecret: 'secret-of-agent-a' };
const AGENT_B = { corpId: CORP, corpSecret: 'secret-of-agent-b', agentId: 1000042 };
const OTHER = { corpId: 'wwother', corpSecret: 'secret-other', ipAllowed: false };

async function start(t: TestContext, options: Partial<WeComSimOptions> = {}) {
  const sim = new WeComSim({ apps: [AGENT_A, AGENT_B, OTHER], ...options });
  const sims = await startSimulators({ sims: [sim] });
  t.after(() => sims.close());
  return { sim, base: sims.baseUrl('wecom') };
}

async function getToken(base: string, query: Record<string, string> = { corpid: CORP, corpsecret: AGENT_A.corpSecret }): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/cgi-bin/gettoken?${new URLSearchParams(query)}`);
  return { status: res.status, body: await res.json() };
}

async function business(base: string, token?: string, path = '/cgi-bin/user/get?userid=zhangsan'): Promise<any> {
  const url = new URL(base + path);
  if (token !== undefined) url.searchParams.set('access_token', token);
  return (await fetch(url)).json();
}

describe('WeComSim tokens', () => {
  it('issues one token per corp id + secret, each accepted for its own app', async (t) => {
    const { sim, base } = await start(t);
    const a = await getToken(base);
    assert.equal(a.status, 200);
    assert.equal(a.body.errcode, 0);
    assert.equal(a.body.errmsg, 'ok');
    assert.ok(a.body.expires_in === 7200 || a.body.expires_in === 7199, `expires_in ${a.body.expires_in}: whole seconds left, floored`);
    assert.ok(a.body.access_token.length >= 100);
    const b = await getToken(base, { corpid: CORP, corpsecret: AGENT_B.corpSecret });
    assert.notEqual(b.body.access_token, a.body.access_token);

    const asA = await business(base, a.body.access_token);
    assert.deepEqual(asA, { errcode: 0, errmsg: 'ok', corpid: CORP, agentid: 1000001, method: 'GET', path: '/cgi-bin/user/get', query: { userid: 'zhangsan' } });
    assert.equal((await business(base, b.body.access_token)).agentid, 1000042);
    assert.equal(sim.tokensIssued(CORP), 2);
    assert.equal(sim.tokensIssued(CORP, AGENT_B.corpSecret), 1);
  });

  it('returns the same token with a renewed lifetime while it is valid', async (t) => {
    let clock = 1_700_000_000_000;
    const { sim, base } = await start(t, { now: () => clock });
    const first = (await getToken(base)).body.access_token;
    clock += 7000_000;
    const again = (await getToken(base)).body;
    assert.deepEqual([again.access_token, again.expires_in], [first, 7200]);
    clock += 7199_000;
    assert.equal(sim.isValid(first), true);
    clock += 1000;
    assert.equal((await business(base, first)).errcode, 42001);
    assert.notEqual((await getToken(base)).body.access_token, first);
  });

  it('refuses with WeCom codes under HTTP 200', async (t) => {
    const { sim, base } = await start(t);
    const cases: Array<[Record<string, string>, number]> = [
      [{ corpsecret: 'x' }, 41002],
      [{ corpid: CORP }, 41004],
      [{ corpid: 'wwnobody', corpsecret: 'x' }, 40013],
      [{ corpid: CORP, corpsecret: 'wrong' }, 40001],
      [{ corpid: OTHER.corpId, corpsecret: OTHER.corpSecret }, 60020],
    ];
    for (const [query, code] of cases) {
      const res = await getToken(base, query);
      assert.equal(res.status, 200);
      assert.equal(res.body.errcode, code, JSON.stringify(query));
      assert.match(res.body.errmsg, new RegExp(`more info at https://open.work.weixin.qq.com/devtool/query\\?e=${code}$`));
      assert.equal(res.body.access_token, undefined);
    }
    sim.setIpAllowed(OTHER.corpId, true);
    assert.equal((await getToken(base, { corpid: OTHER.corpId, corpsecret: OTHER.corpSecret })).body.errcode, 0);
    assert.throws(() => sim.setIpAllowed('wwnobody', true), RangeError);
  });

  it('business endpoints: 41001 without a token, 40014 for an unknown or revoked one', async (t) => {
    const { sim, base } = await start(t);
    assert.equal((await business(base)).errcode, 41001);
    assert.equal((await business(base, 'bogus')).errcode, 40014);
    const token = (await getToken(base)).body.access_token;
    const post: any = await (await fetch(`${base}/cgi-bin/message/send?access_token=${token}`, { method: 'POST', body: JSON.stringify({ touser: '@all' }) })).json();
    assert.deepEqual(post.body, { touser: '@all' });
    assert.equal(sim.revoke(token), true);
    assert.equal((await business(base, token)).errcode, 40014);
    assert.notEqual((await getToken(base)).body.access_token, token, 'an early invalidated token is replaced on the next fetch');
  });
});

describe('WeComSim faults and scripted answers', () => {
  it('ratelimit answers 45009; scripted busy answers come before the rules', async (t) => {
    const { sim, base } = await start(t);
    sim.faults.set('ratelimit');
    assert.equal((await getToken(base)).body.errcode, 45009);
    sim.faults.set('none');
    sim.script.push({ body: { errcode: -1, errmsg: 'system busy' } }, 2);
    assert.equal((await getToken(base)).body.errcode, -1);
    assert.equal((await getToken(base)).body.errcode, -1);
    assert.equal((await getToken(base)).body.errcode, 0);
    assert.equal(sim.counters.count('gettoken', CORP), 4);
    sim.reset();
    assert.equal(sim.counters.count(), 0);
  });

  it('missing-fields answers success without a token', async (t) => {
    const { sim, base } = await start(t);
    sim.faults.set('missing-fields');
    assert.deepEqual((await getToken(base)).body, { errcode: 0, errmsg: 'ok' });
  });

  it('rejects bad options', () => {
    assert.throws(() => new WeComSim({ apps: [AGENT_A, { ...AGENT_A }] }), /duplicate secret/);
    assert.throws(() => new WeComSim({ apps: [{ corpId: '', corpSecret: 'x' }] }), /corpId/);
  });
});
