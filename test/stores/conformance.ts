import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import { grantAccess } from '../../src/core/grants.js';
import type { StoreChange, StoredToken, TokenStore } from '../../src/core/types.js';
import { TOKEN_RETENTION_MS } from '../../src/stores/retention.js';
import { sleep } from '../helpers/stack.js';

/** A store under test, fresh and empty, with its clean-up. */
export interface StoreUnderTest {
  store: TokenStore;
  /** Another holder of the same store (another instance); only for stores shared between instances. */
  peer?: () => Promise<TokenStore>;
  cleanup(): Promise<void>;
}

export interface ConformanceOptions {
  name: string;
  create(): Promise<StoreUnderTest>;
  /** Whether several instances share it (then `peer` must be given and `subscribe` must deliver). */
  shared: boolean;
  /** For stores that take `now`: one on an injected clock. */
  createWithClock?(now: () => number): Promise<StoreUnderTest>;
}

const token = (version: number, value = `t-v${version}`): StoredToken => ({ value, version, expiresAt: Date.now() + 7_200_000, obtainedAt: Date.now() });

/** Stores unref their wait timers (a server's sockets keep it alive); a test has none, so it holds the loop open itself. */
function held<T>(promise: Promise<T>): Promise<T> {
  const timer = setInterval(() => {}, 1_000);
  return promise.finally(() => clearInterval(timer));
}

/** What the broker relies on, asserted the same way against every store. */
export function storeConformance(options: ConformanceOptions): void {
  describe(`${options.name} store: what the broker relies on`, () => {
    const open: StoreUnderTest[] = [];
    const fresh = async (): Promise<StoreUnderTest> => {
      const s = await options.create();
      await s.store.open?.();
      open.push(s);
      return s;
    };
    afterEach(async () => {
      for (const s of open.splice(0)) await s.cleanup();
    });
    after(async () => {
      for (const s of open.splice(0)) await s.cleanup();
    });

    it('a token reads back as written, with its version; an unknown key reads undefined', async () => {
      const { store } = await fresh();
      assert.equal(await store.getToken('tok:a'), undefined);
      const t = token(1, 't-ünïcode-✓');
      assert.deepEqual(await store.putToken('tok:a', t), t);
      assert.deepEqual(await store.getToken('tok:a'), t);
      assert.equal(await store.getToken('tok:b'), undefined);
    });

    it('putToken is a compare-and-set on the version: an older or equal version never replaces a newer token', async () => {
      const { store } = await fresh();
      await store.putToken('tok:a', token(5));
      const refused = await store.putToken('tok:a', token(4, 't-old'));
      assert.equal(refused.value, 't-v5', 'the answer is the winner');
      assert.equal(refused.version, 5);
      assert.equal((await store.putToken('tok:a', token(5, 't-same-version'))).value, 't-v5');
      assert.equal((await store.getToken('tok:a'))?.value, 't-v5');
      assert.equal((await store.putToken('tok:a', token(6))).value, 't-v6');
      assert.equal((await store.getToken('tok:a'))?.version, 6);
    });

    it('concurrent writes in any order leave the highest version', async () => {
      const { store } = await fresh();
      const versions = Array.from({ length: 30 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
      await Promise.all(versions.map((v) => store.putToken('tok:race', token(v))));
      assert.equal((await store.getToken('tok:race'))?.version, 30);
    });

    it('deleteToken removes a token', async () => {
      const { store } = await fresh();
      await store.putToken('tok:a', token(1));
      await store.deleteToken('tok:a');
      assert.equal(await store.getToken('tok:a'), undefined);
    });

    it('state reads back, is deleted, and expires after its TTL', async () => {
      const { store } = await fresh();
      assert.equal(await store.getState('state:x'), undefined);
      await store.setState('state:x', 'refresh-token-✓');
      await store.setState('state:ttl', 'ticket', 400);
      assert.equal(await store.getState('state:x'), 'refresh-token-✓');
      assert.equal(await store.getState('state:ttl'), 'ticket');
      await store.setState('state:x', 'replaced');
      assert.equal(await store.getState('state:x'), 'replaced');
      await store.deleteState('state:x');
      assert.equal(await store.getState('state:x'), undefined);
      await sleep(700);
      assert.equal(await store.getState('state:ttl'), undefined, 'state outlived its TTL');
    });

    it('addState sets only where nothing unexpired is, and of many concurrent adds exactly one wins', async () => {
      const { store } = await fresh();
      const added = await Promise.all(Array.from({ length: 20 }, (_, i) => store.addState('state:seen', `v${i}`, 400)));
      assert.equal(added.filter(Boolean).length, 1);
      assert.equal(await store.getState('state:seen'), `v${added.indexOf(true)}`);
      assert.equal(await store.addState('state:seen', 'again', 400), false);
      await store.setState('state:kept', 'kept');
      assert.equal(await store.addState('state:kept', 'over', 400), false, 'added over a value without a TTL');
      assert.equal(await store.getState('state:kept'), 'kept');
      await sleep(700);
      assert.equal(await store.addState('state:seen', 'after', 400), true, 'the expired marker still blocks');
      assert.equal(await store.getState('state:seen'), 'after');
    });

    it('takeQuota counts up to the limit, then refuses and counts nothing; quotaUsed reads the count', async () => {
      const { store } = await fresh();
      assert.equal(await store.quotaUsed('quota:0f1e2d:3600'), 0);
      const answers = [];
      for (let i = 0; i < 5; i++) answers.push(await store.takeQuota('quota:0f1e2d:3600', 3, 60_000));
      assert.deepEqual(answers, [1, 2, 3, undefined, undefined]);
      assert.equal(await store.quotaUsed('quota:0f1e2d:3600'), 3, 'a refused take was counted');
      assert.equal(await store.quotaUsed('quota:other'), 0, 'counts are per key');
      assert.equal(await store.takeQuota('quota:other', 3, 60_000), 1);
      assert.equal(await store.takeQuota('quota:none', 0, 60_000), undefined, 'a limit of 0 allows nothing');
      assert.equal(await store.quotaUsed('quota:none'), 0);
    });

    it('of 50 concurrent takes against a limit of 20, exactly 20 are counted', async () => {
      const { store } = await fresh();
      const answers = await Promise.all(Array.from({ length: 50 }, () => store.takeQuota('quota:race', 20, 60_000)));
      const counted = answers.filter((a) => a !== undefined).sort((a, b) => a - b);
      assert.deepEqual(counted, Array.from({ length: 20 }, (_, i) => i + 1), 'each count answered once');
      assert.equal(await store.quotaUsed('quota:race'), 20);
    });

    it("a quota count disappears ttlMs after its first use; later uses do not extend it", async () => {
      const { store } = await fresh();
      assert.equal(await store.takeQuota('quota:window', 2, 400), 1);
      await sleep(100);
      assert.equal(await store.takeQuota('quota:window', 2, 400), 2);
      assert.equal(await store.takeQuota('quota:window', 2, 400), undefined);
      // Past the first use's 400 ms, though short of the second's.
      await sleep(350);
      assert.equal(await store.quotaUsed('quota:window'), 0, 'the count outlived its window');
      assert.equal(await store.takeQuota('quota:window', 2, 400), 1, 'a new window starts from zero');
    });

    if (options.createWithClock) {
      it('on its clock: a quota count lives exactly ttlMs from its first use', async () => {
        let clock = 1_900_000_000_000;
        const s = await options.createWithClock!(() => clock);
        await s.store.open?.();
        open.push(s);
        const { store } = s;
        assert.equal(await store.takeQuota('quota:w', 5, 1_000), 1);
        clock += 999;
        assert.equal(await store.takeQuota('quota:w', 5, 1_000), 2);
        assert.equal(await store.quotaUsed('quota:w'), 2);
        clock += 1;
        assert.equal(await store.quotaUsed('quota:w'), 0);
        assert.equal(await store.takeQuota('quota:w', 5, 1_000), 1);
      });
    }

    it('a token is dropped once past its expiry and the retention', async () => {
      const { store } = await fresh();
      const now = Date.now();
      await store.putToken('tok:idle', { value: 't-idle', version: 1, expiresAt: now - TOKEN_RETENTION_MS + 400, obtainedAt: now - TOKEN_RETENTION_MS });
      await store.putToken('tok:kept', { value: 't-kept', version: 1, expiresAt: now - TOKEN_RETENTION_MS + 60_000, obtainedAt: now - TOKEN_RETENTION_MS });
      assert.equal((await store.getToken('tok:idle'))?.value, 't-idle', 'an expired token within the retention is kept: its version still fences');
      await sleep(800);
      assert.equal(await store.getToken('tok:idle'), undefined);
      assert.equal((await store.getToken('tok:kept'))?.value, 't-kept');
    });

    if (options.createWithClock) {
      it('on its clock: a token past expiry + retention is gone, and a write of any version takes its place', async () => {
        let clock = 1_900_000_000_000;
        const s = await options.createWithClock!(() => clock);
        await s.store.open?.();
        open.push(s);
        const { store } = s;
        await store.putToken('tok:t1', { value: 't-old', version: 7, expiresAt: clock + 7_200_000, obtainedAt: clock });
        clock += 7_200_000 + TOKEN_RETENTION_MS - 1;
        assert.equal((await store.getToken('tok:t1'))?.value, 't-old');
        clock += 1;
        assert.equal(await store.getToken('tok:t1'), undefined);
        assert.equal((await store.putToken('tok:t1', { value: 't-new', version: 1, expiresAt: clock + 7_200_000, obtainedAt: clock })).value, 't-new');
      });
    }

    describe('grants', () => {
      it('a grant reads back as written, version 1, then one more at each write; an unknown key reads undefined', async () => {
        const { store } = await fresh();
        assert.equal(await store.getGrant('grant:a'), undefined);
        assert.deepEqual(await store.putGrant('grant:a', 'refresh-ünïcode-✓', 0), { value: 'refresh-ünïcode-✓', version: 1 });
        assert.deepEqual(await store.getGrant('grant:a'), { value: 'refresh-ünïcode-✓', version: 1 });
        assert.deepEqual(await store.putGrant('grant:a', 'refresh-2', 1), { value: 'refresh-2', version: 2 });
        assert.deepEqual(await store.getGrant('grant:a'), { value: 'refresh-2', version: 2 });
        assert.equal(await store.getGrant('grant:b'), undefined);
      });

      it('putGrant is a compare-and-set: a write expecting another version writes nothing', async () => {
        const { store } = await fresh();
        await store.putGrant('grant:a', 'first', 0);
        assert.equal(await store.putGrant('grant:a', 'as-if-new', 0), undefined, 'a second first write replaced the grant');
        assert.equal(await store.putGrant('grant:a', 'from-the-future', 2), undefined);
        assert.equal(await store.putGrant('grant:none', 'expects-one', 1), undefined, 'a write expecting a version created a grant');
        assert.equal(await store.getGrant('grant:none'), undefined);
        assert.deepEqual(await store.getGrant('grant:a'), { value: 'first', version: 1 });
      });

      it('of 20 concurrent writers expecting the same version exactly one wins, at each version', async () => {
        const s = await fresh();
        const holders = s.peer ? [s.store, await s.peer()] : [s.store];
        for (let version = 0; version < 5; version++) {
          const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => holders[i % holders.length]!.putGrant('grant:race', `v${version + 1}-w${i}`, version)));
          const won = answers.filter((a) => a !== undefined);
          assert.equal(won.length, 1, `${won.length} writers won at version ${version}`);
          assert.equal(won[0]!.version, version + 1);
          assert.deepEqual(await holders[version % holders.length]!.getGrant('grant:race'), won[0], "the winner's value is the one stored");
        }
      });

      it("update re-reads after a lost race: 20 concurrent increments make 20, each made on the value before it", async () => {
        const s = await fresh();
        const holders = s.peer ? [s.store, await s.peer()] : [s.store];
        const seen: string[] = [];
        await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            grantAccess(holders[i % holders.length]!, 'test').update(
              'counter',
              (current) => {
                seen.push(current?.value ?? 'none');
                return String(Number(current?.value ?? 0) + 1);
              },
              { attempts: 25 },
            ),
          ),
        );
        assert.deepEqual(await s.store.getGrant('grant:test:counter'), { value: '20', version: 20 });
        // Every value 0..19 was the base of exactly one winning write; losers saw some again, then re-read.
        for (let n = 1; n < 20; n++) assert.ok(seen.includes(String(n)), `no update was made on ${n}`);
      });

      it('deleteGrant deletes, only at the expected version when one is given; a new grant starts above the deleted one', async () => {
        const { store } = await fresh();
        await store.putGrant('grant:a', 'g1', 0);
        await store.putGrant('grant:a', 'g2', 1);
        assert.equal(await store.deleteGrant('grant:a', 1), false, 'deleted at a version it did not have');
        assert.deepEqual(await store.getGrant('grant:a'), { value: 'g2', version: 2 });
        assert.equal(await store.deleteGrant('grant:a', 2), true);
        assert.equal(await store.getGrant('grant:a'), undefined);
        assert.equal(await store.deleteGrant('grant:a'), false, 'deleted twice');
        assert.equal(await store.putGrant('grant:a', 'late', 2), undefined, 'a write from before the delete landed after it');
        // Authorized anew: starts above the deleted version, so a late write expecting an old one still fails.
        assert.deepEqual(await store.putGrant('grant:a', 'again', 0), { value: 'again', version: 3 });
        assert.equal(await store.putGrant('grant:a', 'late', 1), undefined);
        assert.equal(await store.deleteGrant('grant:b'), false);
        await store.putGrant('grant:b', 'b', 0);
        assert.equal(await store.deleteGrant('grant:b'), true, 'deleted without a version');
      });

      it('listGrants answers the live grants under a prefix, by key, whatever characters the keys hold', async () => {
        const { store } = await fresh();
        assert.deepEqual(await store.listGrants('grant:app:'), []);
        for (const key of ['grant:app:tenant.b', 'grant:app:tenant-a', 'grant:app:*?[x]', 'grant:apq:x', 'grant:app2:y', 'grant:app:gone']) await store.putGrant(key, `v-${key}`, 0);
        await store.deleteGrant('grant:app:gone');
        const listed = await store.listGrants('grant:app:');
        assert.deepEqual(
          listed.map((l) => l.key),
          ['grant:app:*?[x]', 'grant:app:tenant-a', 'grant:app:tenant.b'],
        );
        assert.deepEqual(listed[1], { key: 'grant:app:tenant-a', grant: { value: 'v-grant:app:tenant-a', version: 1 } });
        assert.deepEqual((await store.listGrants('grant:app:*')).map((l) => l.key), ['grant:app:*?[x]'], 'a * in the prefix is a character, not a pattern');
        assert.equal((await store.listGrants('grant:')).length, 5);
      });

      it('a grant is never dropped for its age, nor by the TTL of what shares its key', async () => {
        const { store } = await fresh();
        await store.putGrant('grant:kept', 'kept', 0);
        await store.setState('grant:kept', 'state-under-the-same-key', 300);
        await store.putToken('grant:kept', token(1));
        await sleep(600);
        assert.deepEqual(await store.getGrant('grant:kept'), { value: 'kept', version: 1 });
      });

      if (options.createWithClock) {
        it('on its clock: a grant outlives every retention; a deleted one is remembered for a week, then forgotten', async () => {
          let clock = 1_900_000_000_000;
          const s = await options.createWithClock!(() => clock);
          await s.store.open?.();
          open.push(s);
          const { store } = s;
          await store.putGrant('grant:old', 'from-long-ago', 0);
          await store.putGrant('grant:gone', 'g', 0);
          await store.deleteGrant('grant:gone');
          clock += 7 * 24 * 3600_000 - 1;
          assert.equal(await store.putGrant('grant:gone', 'late', 1), undefined);
          clock += 10 * 365 * 24 * 3600_000;
          await (store as { sweep?: () => unknown }).sweep?.();
          assert.deepEqual(await store.getGrant('grant:old'), { value: 'from-long-ago', version: 1 });
          // The mark is gone: the next grant starts at 1 again.
          assert.deepEqual(await store.putGrant('grant:gone', 'new', 0), { value: 'new', version: 1 });
        });
      }
    });

    it('a lease is exclusive until released', async () => {
      const { store } = await fresh();
      const lease = await store.acquire('tok:a', 10_000);
      assert.ok(lease);
      assert.equal(await store.acquire('tok:a', 10_000), undefined);
      assert.ok(await store.acquire('tok:other', 10_000), 'leases are per key');
      await lease.release();
      const next = await store.acquire('tok:a', 10_000);
      assert.ok(next, 'released: another may take it');
      await next.release();
    });

    it('of many concurrent acquires exactly one gets the lease', async () => {
      const { store } = await fresh();
      const leases = await Promise.all(Array.from({ length: 25 }, () => store.acquire('tok:a', 10_000)));
      assert.equal(leases.filter(Boolean).length, 1);
    });

    it('a lease expires after its TTL, and an expired holder cannot release its successor', async () => {
      const { store } = await fresh();
      const first = await store.acquire('tok:a', 800);
      assert.ok(first);
      assert.equal(await store.acquire('tok:a', 800), undefined);
      await sleep(1_300);
      const second = await store.acquire('tok:a', 10_000);
      assert.ok(second, 'the expired lease still blocks');
      await first.release();
      assert.equal(await store.acquire('tok:a', 10_000), undefined, 'the old holder released its successor');
      await second.release();
    });

    it('fences increase, and a fence is above the stored version', async () => {
      const { store } = await fresh();
      const fences: number[] = [];
      for (let i = 0; i < 5; i++) {
        const lease = await store.acquire('tok:a', 10_000);
        assert.ok(lease);
        fences.push(lease.fence);
        await lease.release();
      }
      for (let i = 1; i < fences.length; i++) assert.ok(fences[i]! > fences[i - 1]!, `fences ${fences.join(', ')}`);
      await store.putToken('tok:a', token(1_000));
      const lease = await store.acquire('tok:a', 10_000);
      assert.ok(lease && lease.fence > 1_000, `fence ${lease?.fence} after version 1000`);
      // So a token written with the new fence as version wins.
      assert.equal((await store.putToken('tok:a', token(lease.fence, 't-fenced'))).value, 't-fenced');
      await lease.release();
    });

    it('waitForChange wakes on a write and on a release, and otherwise times out', async () => {
      const { store } = await fresh();
      let started = Date.now();
      const onWrite = held(store.waitForChange('tok:a', 10_000));
      await sleep(50);
      await store.putToken('tok:a', token(1));
      await onWrite;
      assert.ok(Date.now() - started < 5_000, 'not woken by the write');

      const lease = await store.acquire('tok:a', 30_000);
      assert.ok(lease);
      started = Date.now();
      const onRelease = held(store.waitForChange('tok:a', 20_000));
      await sleep(50);
      await lease.release();
      await onRelease;
      assert.ok(Date.now() - started < 5_000, 'not woken by the release');

      // A lease held by someone who writes nothing: the wait ends with its timeout.
      assert.ok(await store.acquire('tok:quiet', 30_000));
      started = Date.now();
      await held(store.waitForChange('tok:quiet', 400));
      const waited = Date.now() - started;
      assert.ok(waited >= 350 && waited < 5_000, `timed out after ${waited} ms`);
    });

    it('ping answers; close resolves and wakes waiters', async () => {
      const s = await options.create();
      await s.store.open?.();
      await s.store.ping();
      const started = Date.now();
      assert.ok(await s.store.acquire('tok:a', 30_000));
      const waiting = held(s.store.waitForChange('tok:a', 30_000));
      await sleep(20);
      await s.store.close();
      await waiting;
      assert.ok(Date.now() - started < 5_000, 'a waiter outlived close()');
      await s.cleanup();
    });

    if (!options.shared) {
      it('subscribe delivers nothing: no other holder shares it', async () => {
        const { store } = await fresh();
        const changes: StoreChange[] = [];
        const unsubscribe = store.subscribe((c) => changes.push(c));
        await store.putToken('tok:a', token(1));
        await sleep(100);
        assert.deepEqual(changes, []);
        unsubscribe();
      });
      return;
    }

    describe('shared between instances', () => {
      it("subscribe delivers another holder's writes and deletes within a second, not one's own", async () => {
        const s = await fresh();
        const peer = await s.peer!();
        const mine: StoreChange[] = [];
        const theirs: StoreChange[] = [];
        const un1 = s.store.subscribe((c) => mine.push(c));
        const un2 = peer.subscribe((c) => theirs.push(c));
        await s.store.putToken('tok:a', token(1));
        const started = Date.now();
        while (theirs.length === 0 && Date.now() - started < 1_000) await sleep(10);
        assert.deepEqual(theirs, [{ key: 'tok:a' }]);
        await sleep(100);
        assert.deepEqual(mine, [], 'a holder heard its own write');
        assert.equal((await peer.getToken('tok:a'))?.value, 't-v1');
        // A delete is told as one (the others may hold the token in memory), whether a token was there or not.
        await s.store.deleteToken('tok:a');
        await s.store.deleteToken('tok:never-there');
        const deleted = Date.now();
        while (theirs.length < 3 && Date.now() - deleted < 1_000) await sleep(10);
        assert.deepEqual(theirs.slice(1), [{ key: 'tok:a', deleted: true }, { key: 'tok:never-there', deleted: true }]);
        assert.equal(await peer.getToken('tok:a'), undefined);
        await sleep(100);
        assert.deepEqual(mine, [], 'a holder heard its own delete');
        un1();
        un2();
        await s.store.putToken('tok:a', token(2));
        await sleep(100);
        assert.equal(theirs.length, 3, 'heard after unsubscribing');
      });

      it('a lease taken by one holder excludes the others, and its release wakes their waiters', async () => {
        const s = await fresh();
        const peer = await s.peer!();
        const lease = await s.store.acquire('tok:a', 30_000);
        assert.ok(lease);
        assert.equal(await peer.acquire('tok:a', 30_000), undefined);
        const started = Date.now();
        const waiting = held(peer.waitForChange('tok:a', 20_000));
        await sleep(50);
        await lease.release();
        await waiting;
        assert.ok(Date.now() - started < 3_000, 'the waiter was not woken by the release');
        const theirs = await peer.acquire('tok:a', 30_000);
        assert.ok(theirs && theirs.fence > lease.fence);
        await theirs.release();
      });

      it("a waiter wakes on another holder's write", async () => {
        const s = await fresh();
        const peer = await s.peer!();
        const lease = await s.store.acquire('tok:a', 30_000);
        const started = Date.now();
        const waiting = held(peer.waitForChange('tok:a', 20_000));
        await sleep(50);
        await s.store.putToken('tok:a', token(lease!.fence));
        await waiting;
        assert.ok(Date.now() - started < 3_000);
        assert.equal((await peer.getToken('tok:a'))?.version, lease!.fence);
        await lease!.release();
      });

      it('holders share one quota count: 50 concurrent takes split between two holders, limit 20, count 20', async () => {
        const s = await fresh();
        const peer = await s.peer!();
        const holders = [s.store, peer];
        const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => holders[i % 2]!.takeQuota('quota:shared', 20, 60_000)));
        assert.equal(answers.filter((a) => a !== undefined).length, 20);
        assert.equal(await s.store.quotaUsed('quota:shared'), 20);
        assert.equal(await peer.quotaUsed('quota:shared'), 20);
        assert.equal(await peer.takeQuota('quota:shared', 20, 60_000), undefined);
        assert.equal(await s.store.takeQuota('quota:shared', 21, 60_000), 21, "one holder's count is the other's");
      });

      it("a waiter is not kept past the holder's lease when the holder dies", async () => {
        const s = await fresh();
        const peer = await s.peer!();
        // Taken and never released: its holder is gone.
        assert.ok(await s.store.acquire('tok:a', 800));
        const started = Date.now();
        await held(peer.waitForChange('tok:a', 20_000));
        const waited = Date.now() - started;
        assert.ok(waited < 3_000, `waited ${waited} ms for a lease of 800 ms`);
        assert.ok(await peer.acquire('tok:a', 10_000));
      });
    });
  });
}
