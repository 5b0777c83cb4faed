import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { grantAccess } from '../../src/core/grants.js';
import { grantKey, grantScope } from '../../src/core/keys.js';
import type { StoredGrant } from '../../src/core/types.js';
import { MemoryStore } from '../../src/stores/memory.js';

const stores: MemoryStore[] = [];
const store = (): MemoryStore => {
  const s = new MemoryStore();
  stores.push(s);
  return s;
};
after(async () => {
  for (const s of stores) await s.close();
});

describe('grant access', () => {
  it("names an app's grants grant:<platform>:<appId>:<name>, without the secret, and lists them by name", async () => {
    const s = store();
    const grants = grantAccess(s, grantScope('wechat', 'wx_component'));
    await grants.put('authorizer:wx2', 'b', 0);
    await grants.put('authorizer:wx1', 'a', 0);
    await grantAccess(s, grantScope('wechat', 'wx_other')).put('authorizer:wx9', 'theirs', 0);
    assert.deepEqual(await s.getGrant(grantKey('wechat:wx_component', 'authorizer:wx1')), { value: 'a', version: 1 });
    assert.deepEqual((await grants.list('authorizer:')).map((g) => g.name), ['authorizer:wx1', 'authorizer:wx2']);
    assert.deepEqual((await grants.list()).map((g) => g.name), ['authorizer:wx1', 'authorizer:wx2'], "another app's grants are not listed");
  });

  it('update leaves the grant as it is when change answers undefined, and creates it when none is kept', async () => {
    const grants = grantAccess(store(), 'scope');
    assert.equal(await grants.update('g', () => undefined), undefined);
    assert.deepEqual(await grants.update('g', (current) => (current === undefined ? 'first' : undefined)), { value: 'first', version: 1 });
    assert.deepEqual(await grants.update('g', () => undefined), { value: 'first', version: 1 });
  });

  it('update gives up after its attempts with TOKENHUB_GRANT_CONFLICT, the stored grant intact', async () => {
    const s = store();
    const grants = grantAccess(s, 'scope');
    await grants.put('g', 'v1', 0);
    let calls = 0;
    // Another writer gets in between each read and write.
    const change = async (current: StoredGrant | undefined): Promise<string> => {
      calls++;
      await grants.put('g', `other-${calls}`, current!.version);
      return 'mine';
    };
    await assert.rejects(grants.update('g', change, { attempts: 3 }), { code: 'TOKENHUB_GRANT_CONFLICT', statusCode: 409 });
    assert.equal(calls, 3);
    assert.deepEqual(await grants.get('g'), { value: 'other-3', version: 4 });
  });

  it('a write the store failed to answer is read back: made, it is the answer; not made, the error is', async () => {
    const s = store();
    const realPut = s.putGrant.bind(s);
    let mode: 'lost answer' | 'not written' = 'lost answer';
    s.putGrant = async (key, value, expected) => {
      if (mode === 'lost answer') await realPut(key, value, expected);
      throw new Error('connection reset');
    };
    const grants = grantAccess(s, 'scope');
    assert.deepEqual(await grants.update('g', () => 'written'), { value: 'written', version: 1 });
    mode = 'not written';
    await assert.rejects(grants.update('g', () => 'lost'), /connection reset/);
    assert.deepEqual(await grants.get('g'), { value: 'written', version: 1 });
  });
});
