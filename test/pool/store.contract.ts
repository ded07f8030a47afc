/**
 * The one contract both stores pass (spec §2): RedisStore through its Lua
 * scripts on a real redis-server, MemoryStore in-process. Expiry is tested
 * with real short TTLs and polling, since Redis time cannot be faked.
 */
import assert from 'node:assert/strict';
import { LeaseMismatchError, SessionNotFoundError, StaleFenceError } from '../../src/errors';
import { DUP_SIG, GONE_SIG } from '../../src/pool/keys';
import type { LeasedSession, PoolStore, SessionState } from '../../src/pool/types';
import { until } from '../helpers/poll';

export interface StoreHarness {
  store: PoolStore;
  /** Make `fence` the current leader fence. */
  setFence(fence: number): Promise<void>;
  /** Extra invariant checks on the raw data (e.g. one set per id in Redis). */
  checkRaw?(): Promise<void>;
}

const HOUR = 3_600_000;

export function storeContract(name: string, make: () => Promise<StoreHarness>, teardown: () => Promise<void>): void {
  describe(`store contract: ${name}`, () => {
    let h: StoreHarness;
    let store: PoolStore;

    beforeEach(async () => {
      h = await make();
      store = h.store;
    });
    afterEach(teardown);

    async function register(...names: string[]): Promise<void> {
      await store.applySync({ upserts: names.map((n) => ({ name: n, meta: { proxy: null } })), removes: [] });
    }

    async function take(ttl = HOUR): Promise<LeasedSession> {
      const r = await store.acquire(ttl);
      assert.ok(r.ok, 'expected a free session');
      return r.session;
    }

    async function stateOf(id: number): Promise<SessionState | undefined> {
      const page = await store.list({ limit: 1000 });
      return page.sessions.find((s) => s.id === id)?.state;
    }

    async function invariant(): Promise<void> {
      const s = await store.status();
      assert.equal(s.total, s.free + s.inUse + s.inFloodwait, `invariant broken: ${JSON.stringify(s)}`);
      assert.ok(s.invalidated <= s.inFloodwait);
      await h.checkRaw?.();
    }

    it('registers new sessions as free and counts them', async () => {
      await register('a', 'b', 'c');
      const s = await store.status();
      assert.deepEqual([s.total, s.free, s.inUse, s.inFloodwait, s.invalidated, s.nextAvailable], [3, 3, 0, 0, 0, null]);
      await invariant();
    });

    it('issues never-used sessions first, then the least recently used', async () => {
      await register('a', 'b', 'c');
      const first = await take();
      assert.equal(first.name, 'a');
      await store.release(first.id, first.leaseToken);
      // b and c were never used: they come before a
      assert.equal((await take()).name, 'b');
      assert.equal((await take()).name, 'c');
      assert.equal((await take()).name, 'a');
    });

    it('gives each lease an unguessable token and an expiry', async () => {
      await register('a', 'b');
      const x = await take();
      const y = await take();
      assert.match(x.leaseToken, /^[A-Za-z0-9_-]{20,}$/);
      assert.notEqual(x.leaseToken, y.leaseToken);
      const now = Date.now();
      assert.ok(Math.abs(x.leaseExpiresAt - (now + HOUR)) < 5000, 'expiry is now + ttl');
    });

    it('answers "none free" with flood counts and the next release', async () => {
      await register('a', 'b', 'c');
      const a = await take();
      const b = await take();
      const c = await take();
      await store.floodWait(a.id, 100_000);
      await store.floodWait(b.id, 50_000);
      await store.invalidate(c.id);
      const r = await store.acquire(HOUR);
      assert.ok(!r.ok);
      assert.equal(r.inFloodwait, 3);
      assert.equal(r.inUse, 0);
      assert.ok(r.nextReleaseInMs !== null && r.nextReleaseInMs > 45_000 && r.nextReleaseInMs <= 50_000, String(r.nextReleaseInMs));
      const s = await store.status();
      assert.ok(s.nextAvailable !== null && Math.abs(s.nextAvailable - (Date.now() + 50_000)) < 5000);
      assert.equal(s.invalidated, 1);
      await invariant();
    });

    it('answers "none free" with null next release when nothing is in timed flood wait', async () => {
      await register('a');
      const a = await take();
      const r = await store.acquire(HOUR);
      assert.ok(!r.ok);
      assert.equal(r.nextReleaseInMs, null);
      assert.equal(r.inUse, 1);
      await store.invalidate(a.id);
      const r2 = await store.acquire(HOUR);
      assert.ok(!r2.ok);
      assert.deepEqual([r2.inFloodwait, r2.inUse, r2.nextReleaseInMs], [1, 0, null]);
    });

    describe('release', () => {
      it('frees an in-use session', async () => {
        await register('a');
        const a = await take();
        assert.equal((await store.status()).inUse, 1);
        await store.release(a.id, a.leaseToken);
        const s = await store.status();
        assert.deepEqual([s.free, s.inUse], [1, 0]);
      });

      it('is idempotent: unknown id, already free, released twice with the same token', async () => {
        await register('a');
        await store.release(999);
        const a = await take();
        await store.release(a.id, a.leaseToken);
        await store.release(a.id, a.leaseToken);
        await store.release(a.id);
        assert.equal((await store.status()).free, 1);
      });

      it('refuses a token that is not the lease, changing nothing', async () => {
        await register('a');
        const a = await take();
        await assert.rejects(store.release(a.id, 'not-the-token'), LeaseMismatchError);
        assert.equal((await store.status()).inUse, 1);
      });

      it('never ends a flood wait or an invalidation', async () => {
        await register('a', 'b');
        const a = await take();
        const b = await take();
        await store.floodWait(a.id, 60_000, a.leaseToken);
        await store.invalidate(b.id);
        await store.release(a.id, a.leaseToken);
        await store.release(b.id);
        assert.equal(await stateOf(a.id), 'floodwait');
        assert.equal(await stateOf(b.id), 'invalidated');
        assert.equal((await store.acquire(HOUR)).ok, false);
        await invariant();
      });
    });

    describe('flood wait', () => {
      it('takes an in-use session out until its deadline, then it is free by itself', async () => {
        await register('a');
        const a = await take();
        const r = await store.floodWait(a.id, 1500, a.leaseToken);
        assert.equal(r.state, 'floodwait');
        assert.equal(r.name, 'a');
        let s = await store.status();
        assert.deepEqual([s.free, s.inUse, s.inFloodwait], [0, 0, 1]);
        await until(async () => (await store.status()).free === 1, 'flood deadline to pass');
        s = await store.status();
        assert.deepEqual([s.free, s.inFloodwait, s.nextAvailable], [1, 0, null]);
        assert.equal((await take()).id, a.id);
      });

      it('never shortens a longer flood wait', async () => {
        await register('a');
        const a = await take();
        const long = await store.floodWait(a.id, 100_000);
        const short = await store.floodWait(a.id, 1_000);
        assert.equal(short.until, long.until);
        assert.equal(short.state, 'floodwait');
      });

      it('with 0 seconds simply releases', async () => {
        await register('a');
        const a = await take();
        const r = await store.floodWait(a.id, 0, a.leaseToken);
        assert.equal(r.state, 'free');
        assert.equal((await store.status()).free, 1);
      });

      it('leaves an invalidated session invalidated', async () => {
        await register('a');
        const a = await take();
        await store.invalidate(a.id, 'banned');
        const r = await store.floodWait(a.id, 10_000);
        assert.equal(r.state, 'invalidated');
        assert.equal(await stateOf(a.id), 'invalidated');
      });

      it('rejects unknown ids and foreign tokens', async () => {
        await register('a');
        const a = await take();
        await assert.rejects(store.floodWait(404, 10), SessionNotFoundError);
        await assert.rejects(store.floodWait(a.id, 10_000, 'nope'), LeaseMismatchError);
        assert.equal(await stateOf(a.id), 'in_use');
      });
    });

    describe('invalidate and restore', () => {
      it('invalidates from any state, idempotently, keeping the reason', async () => {
        await register('a', 'b');
        const a = await take();
        await store.invalidate(a.id, 'AUTH_KEY_UNREGISTERED');
        await store.invalidate(a.id);
        await store.invalidate(12345);
        const listed = (await store.list({ limit: 10, state: 'invalidated' })).sessions;
        assert.deepEqual(listed.map((s) => [s.name, s.reason]), [['a', 'AUTH_KEY_UNREGISTERED']]);
        const s = await store.status();
        assert.deepEqual([s.free, s.inUse, s.inFloodwait, s.invalidated], [1, 0, 1, 1]);
        await invariant();
      });

      it('with a lease token, invalidates only the session that token leased (idempotently)', async () => {
        await register('a', 'b');
        const a = await take();
        await assert.rejects(store.invalidate(a.id, 'banned', 'nope'), LeaseMismatchError);
        const b = await store.list({ limit: 10 });
        await assert.rejects(store.invalidate(b.sessions[1]!.id, 'banned', a.leaseToken), LeaseMismatchError, 'a never-leased session');
        assert.deepEqual([await stateOf(a.id), await stateOf(b.sessions[1]!.id)], ['in_use', 'free']);
        await store.invalidate(a.id, 'USER_DEACTIVATED_BAN', a.leaseToken);
        await store.invalidate(a.id, undefined, a.leaseToken); // a retry
        const listed = (await store.list({ limit: 10, state: 'invalidated' })).sessions;
        assert.deepEqual(listed.map((s) => [s.id, s.reason]), [[a.id, 'USER_DEACTIVATED_BAN']]);
        await store.invalidate(12345, 'x', 'any'); // unknown ids stay a no-op
        await invariant();
      });

      it('restore ends an invalidation or a flood wait now', async () => {
        await register('a', 'b');
        const a = await take();
        const b = await take();
        await store.invalidate(a.id, 'x');
        await store.floodWait(b.id, 100_000);
        assert.deepEqual(await store.restore(a.id), { id: a.id, state: 'free' });
        assert.deepEqual(await store.restore(b.id), { id: b.id, state: 'free' });
        const s = await store.status();
        assert.deepEqual([s.free, s.inFloodwait, s.invalidated], [2, 0, 0]);
        assert.equal((await store.list({ limit: 10 })).sessions.find((x) => x.id === a.id)?.reason, null);
      });

      it('restore never takes a session from its worker, and rejects unknown ids', async () => {
        await register('a');
        const a = await take();
        assert.deepEqual(await store.restore(a.id), { id: a.id, state: 'in_use' });
        await assert.rejects(store.restore(77), SessionNotFoundError);
      });
    });

    describe('leases', () => {
      it('an expired lease counts as free at once and is issued again without a release', async () => {
        await register('a');
        const first = await store.acquire(1500);
        assert.ok(first.ok);
        assert.equal((await store.acquire(HOUR)).ok, false);
        await until(async () => (await store.status()).free === 1, 'lease expiry');
        await invariant();
        const second = await take();
        assert.equal(second.id, first.session.id);
        assert.notEqual(second.leaseToken, first.session.leaseToken);
        // the old holder can neither free nor extend the new lease
        await assert.rejects(store.release(first.session.id, first.session.leaseToken), LeaseMismatchError);
        await assert.rejects(store.heartbeat(first.session.id, first.session.leaseToken, HOUR), LeaseMismatchError);
        assert.equal(await stateOf(second.id), 'in_use');
      });

      it('heartbeat extends a current lease and refuses an ended one', async () => {
        await register('a');
        const a = await store.acquire(1500);
        assert.ok(a.ok);
        const extended = await store.heartbeat(a.session.id, a.session.leaseToken, HOUR);
        assert.ok(extended > a.session.leaseExpiresAt);
        await assert.rejects(store.heartbeat(a.session.id, 'other', HOUR), LeaseMismatchError);
        await assert.rejects(store.heartbeat(999, 'x', HOUR), SessionNotFoundError);
        await store.release(a.session.id, a.session.leaseToken);
        await assert.rejects(store.heartbeat(a.session.id, a.session.leaseToken, HOUR), LeaseMismatchError);
      });

      it('the reaper returns expired leases to the pool', async () => {
        await register('a', 'b');
        await store.acquire(1000);
        await store.acquire(HOUR);
        await until(async () => (await store.reap(100)) === 1, 'reaper to reclaim one lease');
        assert.equal(await store.reap(100), 0);
        const s = await store.status();
        assert.deepEqual([s.free, s.inUse], [1, 1]);
      });
    });

    describe('sync apply', () => {
      it('removes free and invalidated sessions whose file is gone, and is idempotent', async () => {
        await register('a', 'b', 'c', 'd');
        const a = await take();
        await store.release(a.id, a.leaseToken);
        const b = await take();
        await store.floodWait(b.id, 0, b.leaseToken);
        const c = await take();
        await store.invalidate(c.id);
        const r1 = await store.applySync({ upserts: [], removes: ['a', 'b', 'c', 'gone'] });
        assert.deepEqual(r1, { added: 0, removed: 3, updated: 0 });
        const r2 = await store.applySync({ upserts: [], removes: ['a', 'b', 'c'] });
        assert.deepEqual(r2, { added: 0, removed: 0, updated: 0 });
        const s = await store.status();
        assert.deepEqual([s.total, s.free], [1, 1]);
        await store.release(a.id, a.leaseToken); // unknown now: a no-op
        await invariant();
        const names: string[] = [];
        for await (const page of store.scanNames()) names.push(...page.map(([n]) => n));
        assert.deepEqual(names, ['d']);
      });

      it('registering the same name twice adds it once', async () => {
        await register('a');
        await register('a');
        assert.equal((await store.status()).total, 1);
      });

      it('keeps broken files out of circulation and brings them back when repaired', async () => {
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '1-1', fileError: 'not a SQLite database' }], removes: [] });
        let listed = (await store.list({ limit: 10 })).sessions[0];
        assert.deepEqual([listed?.state, listed?.reason], ['invalidated', 'file_error: not a SQLite database']);
        for await (const page of store.scanNames()) assert.deepEqual(page, [['x', '1-1']]);
        await store.applySync({ upserts: [{ name: 'x', meta: { format: 'telethon', dcId: 2 }, sig: '2-2' }], removes: [] });
        listed = (await store.list({ limit: 10 })).sessions[0];
        assert.deepEqual([listed?.state, listed?.reason, listed?.meta.dcId], ['free', null, 2]);
      });

      it('a file that turns broken never ends a lease or a rest: the session goes out when they end, and a repair brings it back', async () => {
        const broken = (name: string) => ({ name, meta: {}, sig: '2-2', fileError: 'not a SQLite database' });
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '1-1' }, { name: 'y', meta: {}, sig: '1-1' }], removes: [] });
        const x = await take();
        const y = await take();
        await store.floodWait(y.id, HOUR, y.leaseToken);
        await store.applySync({ upserts: [broken('x'), broken('y')], removes: [] });
        const lx = (await store.list({ limit: 10 })).sessions.find((s) => s.id === x.id);
        const ly = (await store.list({ limit: 10 })).sessions.find((s) => s.id === y.id);
        assert.deepEqual([lx?.state, lx?.leaseExpiresAt, lx?.reason], ['in_use', x.leaseExpiresAt, 'file_error: not a SQLite database']);
        assert.deepEqual([ly?.state, ly?.reason], ['floodwait', 'file_error: not a SQLite database']);
        for await (const page of store.scanNames()) for (const [, sig] of page) assert.equal(sig, GONE_SIG, 're-read at the next sync');
        assert.ok((await store.heartbeat(x.id, x.leaseToken, HOUR)) >= x.leaseExpiresAt, 'the holder keeps its lease');
        await invariant();
        await store.release(x.id, x.leaseToken);
        await store.restore(y.id);
        assert.equal((await store.acquire(HOUR)).ok, false, 'neither broken session is issued once its lease or rest ended');
        await store.applySync({ upserts: [broken('x')], removes: [] });
        const again = (await store.list({ limit: 10 })).sessions.find((s) => s.id === x.id);
        assert.deepEqual([again?.state, again?.reason], ['invalidated', 'file_error: not a SQLite database'], 'the re-read names the real error');
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '3-3' }], removes: [] });
        assert.equal((await take()).id, x.id, 'repaired: free again under the same id');
        await invariant();
      });

      it('a broken file repaired while its session is still leased: the session simply continues', async () => {
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '1-1' }], removes: [] });
        const x = await take();
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '2-2', fileError: 'truncated' }], removes: [] });
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '3-3' }], removes: [] });
        const l = (await store.list({ limit: 10 })).sessions[0];
        assert.deepEqual([l?.state, l?.reason], ['in_use', null]);
        await store.release(x.id, x.leaseToken);
        assert.equal((await take()).id, x.id);
        await invariant();
      });

      it('an operator invalidation survives a re-read of its file', async () => {
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '1' }], removes: [] });
        const x = await take();
        await store.invalidate(x.id, 'banned');
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '2' }], removes: [] });
        assert.equal(await stateOf(x.id), 'invalidated');
      });

      it('rejects a stale fence and accepts the current one', async () => {
        await h.setFence(5);
        await assert.rejects(store.applySync({ upserts: [{ name: 'a', meta: {} }], removes: [] }, 4), StaleFenceError);
        assert.equal((await store.status()).total, 0);
        await store.applySync({ upserts: [{ name: 'a', meta: {} }], removes: [] }, 5);
        assert.equal((await store.status()).total, 1);
      });
    });

    describe('a file missing for one sync (issue 10 item 1)', () => {
      const gone = (...names: string[]) => store.applySync({ upserts: [], removes: names });
      const back = (...names: string[]) => store.applySync({ upserts: names.map((n) => ({ name: n, meta: { proxy: null }, sig: 'back' })), removes: [] });
      async function listed(id: number) {
        const s = (await store.list({ limit: 1000 })).sessions.find((x) => x.id === id);
        assert.ok(s, `session ${id} is listed`);
        return s;
      }
      async function sigOf(name: string): Promise<string | null | undefined> {
        for await (const page of store.scanNames()) for (const [n, sig] of page) if (n === name) return sig;
        return undefined;
      }

      it('never ends a lease: the session keeps id and token, is not counted removed, and is re-read when it returns', async () => {
        await store.applySync({ upserts: [{ name: 'a', meta: {}, sig: '1' }], removes: [] });
        const a = await take();
        assert.deepEqual(await gone('a'), { added: 0, removed: 0, updated: 0 });
        assert.deepEqual(await gone('a'), { added: 0, removed: 0, updated: 0 }, 'a second sync while still missing');
        const l = await listed(a.id);
        assert.deepEqual([l.state, l.fileMissing, l.leaseExpiresAt], ['in_use', true, a.leaseExpiresAt]);
        assert.equal(await sigOf('a'), GONE_SIG, 'no real signature: sync re-sends the file when it returns');
        await invariant();
        assert.ok((await store.heartbeat(a.id, a.leaseToken, HOUR)) >= a.leaseExpiresAt);
        assert.deepEqual(await back('a'), { added: 0, removed: 0, updated: 1 });
        const l2 = await listed(a.id);
        assert.deepEqual([l2.state, l2.fileMissing], ['in_use', false]);
        await store.heartbeat(a.id, a.leaseToken, HOUR);
        await store.release(a.id, a.leaseToken);
        assert.equal((await take()).id, a.id, 'it simply continues: free again under the same id');
        await invariant();
      });

      it('a gone session is never issued: its release takes it out as file_missing, then sync removes it', async () => {
        await register('a', 'b');
        const a = await take();
        await gone('a');
        await store.release(a.id, a.leaseToken);
        const l = await listed(a.id);
        assert.deepEqual([l.state, l.reason, l.fileMissing], ['invalidated', 'file_error: file_missing', true]);
        await store.release(a.id, a.leaseToken); // a retried release stays a no-op
        await invariant();
        const b = await take();
        assert.equal(b.name, 'b');
        assert.equal((await store.acquire(HOUR)).ok, false, 'the gone session is not issued');
        assert.deepEqual(await gone('a'), { added: 0, removed: 1, updated: 0 });
        assert.equal((await store.status()).total, 1);
        await invariant();
      });

      it('a gone session whose file returns after its lease ended comes back free under the same id', async () => {
        await register('a');
        const a = await take();
        await gone('a');
        const fw = await store.floodWait(a.id, 0, a.leaseToken);
        assert.equal(fw.state, 'invalidated');
        assert.equal((await store.acquire(HOUR)).ok, false);
        assert.deepEqual(await back('a'), { added: 0, removed: 0, updated: 1 });
        const l = await listed(a.id);
        assert.deepEqual([l.state, l.reason, l.fileMissing], ['free', null, false]);
        assert.equal((await take()).id, a.id);
        await invariant();
      });

      it('never ends a rest: the deadline is kept; restore takes it out, it does not free it', async () => {
        await register('a');
        const a = await take();
        const fw = await store.floodWait(a.id, 100_000, a.leaseToken);
        assert.deepEqual(await gone('a'), { added: 0, removed: 0, updated: 0 });
        const l = await listed(a.id);
        assert.deepEqual([l.state, l.floodwaitUntil, l.fileMissing], ['floodwait', fw.until, true]);
        const s = await store.status();
        assert.deepEqual([s.total, s.inFloodwait, s.nextAvailable], [1, 1, fw.until]);
        // a retried flood wait with the last token is answered with the deadline that applies
        assert.deepEqual(await store.floodWait(a.id, 10_000, a.leaseToken), { ...fw, until: fw.until });
        assert.equal((await store.restore(a.id)).state, 'invalidated');
        assert.equal((await store.acquire(HOUR)).ok, false);
        assert.equal((await listed(a.id)).reason, 'file_error: file_missing');
        await invariant();
        assert.deepEqual(await gone('a'), { added: 0, removed: 1, updated: 0 });
        await invariant();
      });

      it('a rest that ends while gone goes out as file_missing (acquire and reaper), not free', async () => {
        await register('a', 'b');
        const a = await take();
        const b = await take();
        await store.floodWait(a.id, 1500, a.leaseToken);
        await store.floodWait(b.id, 1500, b.leaseToken);
        await gone('a', 'b');
        await back('b');
        await until(async () => (await store.acquire(HOUR)).ok, 'b to come out of its rest');
        assert.equal((await store.acquire(HOUR)).ok, false, 'a is never issued');
        await store.reap(100);
        const l = await listed(a.id);
        assert.deepEqual([l.state, l.reason], ['invalidated', 'file_error: file_missing']);
        await invariant();
        assert.deepEqual(await gone('a'), { added: 0, removed: 1, updated: 0 });
      });

      it('an expired lease of a gone session is reclaimed as file_missing, not free', async () => {
        await register('a');
        const a = await store.acquire(1000);
        assert.ok(a.ok);
        assert.deepEqual(await gone('a'), { added: 0, removed: 0, updated: 0 }, 'an expired-or-not lease is kept');
        await until(async () => (await listed(a.session.id)).state === 'invalidated', 'the lease to expire');
        assert.equal((await listed(a.session.id)).reason, 'file_error: file_missing');
        await store.reap(100);
        assert.equal((await store.acquire(HOUR)).ok, false);
        const s = await store.status();
        assert.deepEqual([s.total, s.free, s.invalidated], [1, 0, 1]);
        await invariant();
        await back('a');
        assert.equal((await take()).id, a.session.id);
      });

      it('status counts a gone session whose lease or rest ended as invalidated at once, before any reaper run', async () => {
        await register('a', 'b', 'c');
        const a = await store.acquire(1000);
        const b = await take();
        assert.ok(a.ok);
        await store.floodWait(b.id, 1000, b.leaseToken);
        await gone('a', 'b');
        await until(async () => (await listed(b.id)).state === 'invalidated' && (await listed(a.session.id)).state === 'invalidated', 'the lease and the rest to end');
        const s = await store.status();
        assert.deepEqual([s.total, s.free, s.inUse, s.inFloodwait, s.invalidated], [3, 1, 0, 2, 2], JSON.stringify(s));
        await invariant();
      });

      it('an operator invalidation of a gone session is kept when the file returns', async () => {
        await register('a');
        const a = await take();
        await gone('a');
        await store.invalidate(a.id, 'banned');
        await back('a');
        const l = await listed(a.id);
        assert.deepEqual([l.state, l.reason, l.fileMissing], ['invalidated', 'banned', false]);
      });
    });

    describe('one account, one session: auth-key fingerprints (A2)', () => {
      let n = 0;
      /** An upsert of file `name` holding auth key `fp`, as a reader sync sends it (a new signature each time). */
      const file = (name: string, fp: string) => ({ name, meta: { proxy: null }, sig: `${++n}-1+f`, keyFingerprint: fp });
      const put = (...files: Array<ReturnType<typeof file>>) => store.applySync({ upserts: files, removes: [] });
      const gone = (...names: string[]) => store.applySync({ upserts: [], removes: names });
      async function byName(name: string) {
        const s = (await store.list({ limit: 1000 })).sessions.find((x) => x.name === name);
        assert.ok(s, `${name} is listed`);
        return s;
      }
      async function sigOf(name: string): Promise<string | null | undefined> {
        for await (const page of store.scanNames()) for (const [x, sig] of page) if (x === name) return sig;
        return undefined;
      }
      /** Every session that can be issued, each taken once. */
      async function drain(): Promise<string[]> {
        const out: string[] = [];
        for (let r = await store.acquire(HOUR); r.ok; r = await store.acquire(HOUR)) out.push(r.session.name);
        return out;
      }

      it('a copy is a file error, never issued nor restored, and re-read at every sync', async () => {
        await put(file('x', 'K'));
        assert.deepEqual(await put(file('x copy', 'K')), { added: 1, removed: 0, updated: 0 });
        const dup = await byName('x copy');
        assert.deepEqual([dup.state, dup.reason], ['invalidated', 'file_error: same auth key as x']);
        assert.equal(await sigOf('x copy'), DUP_SIG);
        assert.equal((await store.restore(dup.id)).state, 'invalidated', 'an operator restore does not put it in circulation');
        await put(file('x copy', 'K'), file('x', 'K')); // both re-read: the holder keeps its key
        assert.deepEqual(await drain(), ['x']);
        assert.equal((await byName('x copy')).state, 'invalidated');
        await invariant();
      });

      it('a renamed file is a duplicate while the old id is held, and takes over (new id) once the old one is removed', async () => {
        await put(file('s0', 'K'));
        const a = await take();
        // the sync after `mv s0.session renamed.session`: removes first, then the new name
        await gone('s0');
        await put(file('renamed', 'K'));
        const dup = await byName('renamed');
        assert.deepEqual([dup.state, dup.reason], ['invalidated', 'file_error: same auth key as s0']);
        assert.equal((await store.acquire(HOUR)).ok, false, 'zero double issue');
        await gone('s0'); // still held: kept
        await put(file('renamed', 'K'));
        assert.equal((await store.acquire(HOUR)).ok, false);
        await store.release(a.id, a.leaseToken);
        assert.equal((await store.acquire(HOUR)).ok, false, 'the old id went out as file_missing');
        assert.deepEqual(await gone('s0'), { added: 0, removed: 1, updated: 0 });
        await put(file('renamed', 'K'));
        const r = await take();
        assert.deepEqual([r.name, r.id], ['renamed', dup.id]);
        assert.notEqual(r.id, a.id);
        await invariant();
      });

      it('a rename nobody holds is the same account under its new name within one sync', async () => {
        await put(file('s0', 'K'));
        await gone('s0');
        await put(file('renamed', 'K'));
        assert.deepEqual(await drain(), ['renamed']);
      });

      it('a new login (the key changes) frees the old key, but not while a lease taken with it runs', async () => {
        await put(file('a', 'K1'));
        await put(file('b', 'K1'));
        const a = await take();
        await put(file('a', 'K2'), file('b', 'K1'));
        assert.equal((await byName('b')).state, 'invalidated', 'a lease taken with K1 still runs');
        await store.release(a.id, a.leaseToken);
        await put(file('b', 'K1'));
        assert.deepEqual((await drain()).sort(), ['a', 'b'], 'a with K2, b with K1');
        assert.equal((await byName('b')).reason, null);
        await invariant();
      });

      it('removing a duplicate leaves the key with its holder', async () => {
        await put(file('a', 'K'), file('b', 'K'));
        await gone('b');
        await put(file('c', 'K'));
        assert.deepEqual([(await byName('c')).reason, await drain()], ['file_error: same auth key as a', ['a']]);
      });

      it('two files with one key in one batch: the first one wins, and the rule does not touch name-only sessions', async () => {
        await put(file('m', 'K'), file('n', 'K'));
        await register('p', 'q');
        assert.deepEqual([(await byName('n')).reason, await drain()], ['file_error: same auth key as m', ['m', 'p', 'q']]);
      });
    });

    describe('list', () => {
      it('pages in id order with a cursor and filters by state', async () => {
        const names = Array.from({ length: 25 }, (_, i) => `s${String(i).padStart(2, '0')}`);
        await register(...names);
        const a = await take();
        await store.floodWait(a.id, 100_000);
        const seen: string[] = [];
        let cursor: string | undefined;
        for (let pages = 0; pages < 20; pages++) {
          const page = await store.list({ limit: 10, cursor });
          assert.ok(page.sessions.length <= 10);
          seen.push(...page.sessions.map((s) => s.name));
          if (page.nextCursor === null) break;
          cursor = page.nextCursor;
        }
        assert.deepEqual(seen, names);
        const flooded = await store.list({ limit: 10, state: 'floodwait' });
        assert.deepEqual(flooded.sessions.map((s) => s.name), ['s00']);
        assert.ok(flooded.sessions[0]?.floodwaitUntil);
      });
    });

    it('200 parallel acquires on 50 sessions issue each session exactly once', async () => {
      await register(...Array.from({ length: 50 }, (_, i) => `p${i}`));
      const results = await Promise.all(Array.from({ length: 200 }, () => store.acquire(HOUR)));
      const issued = results.flatMap((r) => (r.ok ? [r.session.id] : []));
      assert.equal(issued.length, 50);
      assert.equal(new Set(issued).size, 50);
      const s = await store.status();
      assert.deepEqual([s.free, s.inUse], [0, 50]);
      await invariant();
    });

    it('a store that lost nothing is never recovering: "none free" and status carry no recovery grace', async () => {
      // The grace itself (Redis only: the memory store's data dies with its process) is in redisFaults.test.ts.
      await register('a');
      await take();
      const r = await store.acquire(HOUR);
      assert.ok(!r.ok);
      assert.equal(r.recoveryEndsInMs, undefined);
      assert.equal((await store.status()).recoveryEndsInMs, undefined);
    });
  });
}
