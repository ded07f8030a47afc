/**
 * The one contract both stores pass (spec §2): RedisStore through its Lua
 * scripts on a real redis-server, MemoryStore in-process. Expiry is tested
 * with real short TTLs and polling, since Redis time cannot be faked.
 */
import assert from 'node:assert/strict';
import { LeaseMismatchError, SessionNotFoundError, StaleFenceError } from '../../src/errors';
import { DUP_SIG, GONE_SIG } from '../../src/pool/keys';
import type { FreedSource } from '../../src/pool/longPoll';
import { MAX_STATUS_SCOPES, PROMOTE_BATCH } from '../../src/pool/rules';
import type { LeasedSession, ListQuery, PoolStore, SessionState } from '../../src/pool/types';
import { decide } from '../../src/telegram/errors';
import { until } from '../../support/poll';

export interface StoreHarness {
  store: PoolStore;
  /** Make `fence` the current leader fence. */
  setFence(fence: number): Promise<void>;
  /** The store's "a session became free" announcements, as long-poll waiters hear them. */
  freed: FreedSource;
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

    describe('give back and take the next one, atomically (next=true)', () => {
      it('release: the session goes back and the least recently used free one is issued in the same step', async () => {
        await register('a', 'b');
        const a = await take();
        const r = await store.giveBackAndAcquire({ kind: 'release', id: a.id, leaseToken: a.leaseToken }, HOUR);
        assert.equal(r.floodWait, undefined);
        assert.ok(r.next.ok);
        assert.equal(r.next.session.name, 'b', 'b was never used: it comes before the a just released');
        assert.notEqual(r.next.session.leaseToken, a.leaseToken);
        assert.equal(await stateOf(a.id), 'free');
        const s = await store.status();
        assert.deepEqual([s.free, s.inUse], [1, 1]);
        await invariant();
      });

      it('release of the only session issues it again under a new lease, and the old token is dead', async () => {
        await register('a');
        const a = await take();
        const r = await store.giveBackAndAcquire({ kind: 'release', id: a.id, leaseToken: a.leaseToken }, HOUR);
        assert.ok(r.next.ok);
        assert.equal(r.next.session.id, a.id);
        await assert.rejects(store.heartbeat(a.id, a.leaseToken, HOUR), LeaseMismatchError);
        await store.heartbeat(a.id, r.next.session.leaseToken, HOUR);
        await invariant();
      });

      it('a foreign token changes nothing and issues nothing', async () => {
        await register('a', 'b');
        const a = await take();
        await assert.rejects(store.giveBackAndAcquire({ kind: 'release', id: a.id, leaseToken: 'not-the-token' }, HOUR), LeaseMismatchError);
        await assert.rejects(store.giveBackAndAcquire({ kind: 'floodwait', id: a.id, waitMs: 1000, leaseToken: 'nope' }, HOUR), LeaseMismatchError);
        await assert.rejects(store.giveBackAndAcquire({ kind: 'floodwait', id: 404, waitMs: 1000 }, HOUR), SessionNotFoundError);
        const s = await store.status();
        assert.deepEqual([s.free, s.inUse], [1, 1]);
        await invariant();
      });

      it('flood wait: the session rests, its result is answered, and the next one is issued', async () => {
        await register('a', 'b');
        const a = await take();
        const r = await store.giveBackAndAcquire({ kind: 'floodwait', id: a.id, waitMs: 100_000, leaseToken: a.leaseToken }, HOUR);
        assert.ok(r.floodWait);
        assert.deepEqual([r.floodWait.id, r.floodWait.name, r.floodWait.state], [a.id, 'a', 'floodwait']);
        assert.ok(r.next.ok);
        assert.equal(r.next.session.name, 'b');
        assert.equal(await stateOf(a.id), 'floodwait');
        await invariant();
      });

      it('answers "none free" (with the next release) when the give-back leaves nothing to issue', async () => {
        await register('a');
        const a = await take();
        const r = await store.giveBackAndAcquire({ kind: 'floodwait', id: a.id, waitMs: 100_000, leaseToken: a.leaseToken }, HOUR);
        assert.ok(!r.next.ok);
        assert.equal(r.next.inFloodwait, 1);
        assert.ok(r.next.nextReleaseInMs !== null && r.next.nextReleaseInMs > 90_000);
        await invariant();
      });

      it('a session whose file is gone goes out as file_missing and is not issued again', async () => {
        await register('a', 'b');
        const a = await take();
        await store.applySync({ upserts: [], removes: ['a'] });
        const r = await store.giveBackAndAcquire({ kind: 'release', id: a.id, leaseToken: a.leaseToken }, HOUR);
        assert.ok(r.next.ok);
        assert.equal(r.next.session.name, 'b');
        assert.equal(await stateOf(a.id), 'invalidated');
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

      it('a session kept while its file is missing is not "removed" in the history; one removed is, once', async () => {
        await register('a', 'b');
        const a = await take();
        await gone('a', 'b');
        await gone('a');
        const removed = (await store.history({ limit: 100 })).events.filter((e) => e.type === 'removed');
        assert.deepEqual(removed.map((e) => e.name), ['b']);
        assert.equal((await listed(a.id)).fileMissing, true);
      });

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

      it('a gone session with scoped rests is issued for no scope, keeps them, and goes out when they end', async () => {
        await register('a', 'b');
        const a = await take();
        const b = await take();
        await store.floodWait(a.id, 1500, a.leaseToken, 'x'); // free for other scopes
        await store.floodWait(b.id, 1500, b.leaseToken, 'x');
        const b2 = await store.acquire(HOUR, { scopes: ['y'] });
        assert.ok(b2.ok);
        assert.deepEqual(await gone('a'), { added: 0, removed: 0, updated: 0 }, 'resting on a scope: kept');
        await gone('b');
        assert.equal((await store.acquire(HOUR, { scopes: ['y'] })).ok, false, 'never issued while its file is gone');
        await store.release(b2.session.id, b2.session.leaseToken);
        assert.equal((await store.acquire(HOUR, { scopes: ['y'] })).ok, false, 'released while gone: still not issued');
        await invariant();
        await until(async () => (await listed(a.id)).state === 'invalidated' && (await listed(b.id)).state === 'invalidated', 'the scoped rests to end');
        assert.equal((await listed(a.id)).reason, 'file_error: file_missing');
        await store.acquire(HOUR); // promotes whatever is due
        assert.equal((await store.acquire(HOUR)).ok, false);
        await invariant();
        assert.deepEqual(await gone('a', 'b'), { added: 0, removed: 2, updated: 0 });
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

      // With issue 12 (scoped rests, tags, health): the rule holds on every acquire path and health rule.
      it('a scoped rest taken with the old key holds it too, like a lease or an account-wide rest', async () => {
        await put(file('a', 'K1'));
        await put(file('b', 'K1'));
        const a = await take();
        await store.floodWait(a.id, HOUR, a.leaseToken, 'x'); // resting on scope x only: free for other scopes
        await put(file('a', 'K2'), file('b', 'K1')); // a new login in a while its rest on x taken with K1 runs
        assert.deepEqual([(await byName('b')).state, (await byName('b')).reason], ['invalidated', 'file_error: same auth key as a']);
        const y = await store.acquire(HOUR, { scopes: ['y'] });
        assert.ok(y.ok);
        assert.equal(y.session.name, 'a');
        assert.deepEqual(await drain(), [], 'b is not issued while the rest on K1 runs');
        await invariant();
      });

      it('a duplicate is never issued by a scoped or a tagged acquire either', async () => {
        const tagged = (name: string, fp: string) => ({ ...file(name, fp), meta: { tags: ['ru'] } });
        await store.applySync({ upserts: [tagged('x', 'K'), tagged('x copy', 'K')], removes: [] });
        const asks = [{ tags: ['ru'] }, { scopes: ['y'] }, { tags: ['ru'], scopes: ['y'] }];
        const x = await store.acquire(HOUR, asks[0]);
        assert.ok(x.ok);
        assert.equal(x.session.name, 'x');
        for (const opts of asks) assert.equal((await store.acquire(HOUR, opts)).ok, false, JSON.stringify(opts));
        await store.floodWait(x.session.id, HOUR, x.session.leaseToken, 'z'); // x rests on z only: free for y
        const issued: Array<string | null> = [];
        for (const opts of asks) {
          const r = await store.acquire(HOUR, opts);
          issued.push(r.ok ? r.session.name : null);
          if (r.ok) await store.floodWait(r.session.id, HOUR, r.session.leaseToken, 'z');
        }
        assert.deepEqual(issued, [null, 'x', 'x'], 'resting on z: not for an unscoped ask; the copy never');
        await invariant();
      });

      it('a logged_out session whose file now holds another session\'s key stays out (no relogin by a copy)', async () => {
        const login = (name: string, fp: string, authKeyId: string) => ({ ...file(name, fp), meta: { authKeyId } });
        await store.applySync({ upserts: [login('a', 'K1', 'k1'), login('b', 'K2', 'k2')], removes: [] });
        const a = await take();
        await store.report(a.id, { error: 'AUTH_KEY_UNREGISTERED', decision: decide('AUTH_KEY_UNREGISTERED', undefined, 3600), leaseToken: a.leaseToken });
        // cp b.session a.session: another authKeyId in a, but it is b's key
        await store.applySync({ upserts: [login('a', 'K2', 'k2')], removes: [] });
        const row = await byName('a');
        assert.deepEqual([row.state, row.reason, row.health], ['invalidated', 'file_error: same auth key as b', 'logged_out']);
        assert.deepEqual(await drain(), ['b'], 'zero double issue');
        assert.equal((await store.restore(a.id)).state, 'invalidated');
        assert.deepEqual(await drain(), []);
        await invariant();
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

    describe('scoped rests', () => {
      const scoped = async (...scopes: string[]): Promise<LeasedSession | null> => {
        const r = await store.acquire(HOUR, { scopes });
        return r.ok ? r.session : null;
      };

      it('rest one scope only: the session leaves in_use, is free for other scopes and never for an unscoped acquire', async () => {
        await register('a');
        const a = await take();
        const r = await store.floodWait(a.id, 100_000, a.leaseToken, 'messages.sendmessage');
        assert.deepEqual([r.state, r.scope], ['floodwait', 'messages.sendmessage']);
        const s = await store.status();
        assert.deepEqual([s.free, s.inUse, s.inFloodwait, s.rests], [0, 0, 1, { 'messages.sendmessage': 1 }]);
        assert.ok(s.nextAvailable !== null && Math.abs(s.nextAvailable - r.until) < 5, 'next_available includes scoped deadlines');
        await invariant();
        const none = await store.acquire(HOUR);
        assert.ok(!none.ok, 'an unscoped acquire never gets a session with a running rest');
        assert.ok(none.nextReleaseInMs !== null && none.nextReleaseInMs > 90_000, String(none.nextReleaseInMs));
        const same = await store.acquire(HOUR, { scopes: ['contacts.resolveusername', 'messages.sendmessage'] });
        assert.ok(!same.ok, 'never issued while resting on an asked scope');
        assert.equal(same.inFloodwait, 1);
        assert.ok(same.nextReleaseInMs !== null && same.nextReleaseInMs > 90_000 && same.nextReleaseInMs <= 100_000, String(same.nextReleaseInMs));
        const other = await scoped('contacts.resolveusername');
        assert.equal(other?.id, a.id, 'free for a scope it does not rest on');
        assert.equal(await stateOf(a.id), 'in_use');
        await invariant();
        // given back with its rest still running: free for other scopes only
        await store.release(a.id, other.leaseToken);
        assert.equal(await stateOf(a.id), 'floodwait');
        assert.equal((await store.acquire(HOUR)).ok, false);
        assert.equal((await scoped('messages.getdialogs'))?.id, a.id);
        await invariant();
      });

      it('a longer rest on a scope is never shortened; scopes rest independently', async () => {
        await register('a');
        const a = await take();
        const long = await store.floodWait(a.id, 100_000, a.leaseToken, 'x');
        const short = await store.floodWait(a.id, 1_000, undefined, 'x');
        assert.equal(short.until, long.until);
        await store.floodWait(a.id, 200_000, undefined, 'y');
        const listed = (await store.list({ limit: 10 })).sessions[0];
        assert.deepEqual(Object.keys(listed?.rests ?? {}).sort(), ['x', 'y']);
        assert.equal(listed?.rests.x, long.until);
        assert.equal(listed?.state, 'floodwait');
        assert.equal(listed?.floodwaitUntil, listed?.rests.y, 'free for an unscoped client when the last rest ends');
        assert.deepEqual((await store.status()).rests, { x: 1, y: 1 });
        assert.equal(await scoped('x'), null);
        assert.equal(await scoped('y'), null);
        assert.equal((await scoped('z'))?.id, a.id);
      });

      it('a scoped acquire issues the least recently used session among fully free and scoped-free ones', async () => {
        await register('a', 'b');
        const a = await take();
        const b = await take();
        const rested = await store.floodWait(a.id, 100_000, a.leaseToken, 'x'); // free for other scopes since now
        await until(async () => (await store.status()).now > rested.until - 100_000, 'the store clock to move on');
        await store.release(b.id, b.leaseToken); // fully free, more recently
        assert.equal((await scoped('x'))?.id, b.id, 'a rests on x: b');
        await store.release(b.id);
        assert.equal((await scoped('y'))?.id, a.id, 'a was used longest ago');
        await store.release(a.id);
        assert.equal((await take()).id, b.id, 'unscoped: only b');
      });

      it('answers the earliest moment a session this request can use frees', async () => {
        await register('a', 'b');
        const a = await take();
        const b = await take();
        await store.floodWait(a.id, 100_000, a.leaseToken, 'x');
        await store.floodWait(b.id, 50_000, b.leaseToken, 'x');
        await store.floodWait(b.id, 200_000, undefined, 'y');
        const r = await store.acquire(HOUR, { scopes: ['x', 'y'] });
        assert.ok(!r.ok);
        // a frees for [x, y] in 100 s; b only in 200 s
        assert.ok(r.nextReleaseInMs !== null && r.nextReleaseInMs > 90_000 && r.nextReleaseInMs <= 100_000, String(r.nextReleaseInMs));
        const onlyX = await store.acquire(HOUR, { scopes: ['x'] });
        assert.ok(!onlyX.ok && onlyX.nextReleaseInMs !== null && onlyX.nextReleaseInMs <= 50_000, String(!onlyX.ok && onlyX.nextReleaseInMs));
      });

      it('a scoped rest ends by itself: the session is free for everyone again', async () => {
        await register('a');
        const a = await take();
        await store.floodWait(a.id, 1500, a.leaseToken, 'x');
        assert.equal((await store.acquire(HOUR)).ok, false);
        await until(async () => (await store.status()).free === 1, 'the scoped rest to end');
        const s = await store.status();
        assert.deepEqual([s.inFloodwait, s.nextAvailable, s.rests], [0, null, {}]);
        assert.equal((await take()).id, a.id);
        assert.deepEqual((await store.list({ limit: 10 })).sessions[0]?.rests, {});
        await invariant();
      });

      it('scoped rests outlive an account-wide one; an account-wide one covers them', async () => {
        await register('a');
        const a = await take();
        await store.floodWait(a.id, 100_000, a.leaseToken, 'x');
        await store.floodWait(a.id, 1500);
        assert.equal(await scoped('y'), null, 'the account-wide rest blocks every scope');
        await until(async () => (await scoped('y')) !== null, 'the account-wide rest to end');
        const s = await store.status();
        assert.deepEqual([s.inUse, s.rests], [1, { x: 1 }]);
        await store.release(a.id);
        assert.equal((await store.acquire(HOUR)).ok, false, 'still resting on x');
        await invariant();
      });

      it('restore ends scoped rests; invalidate and removal take the session out of every set', async () => {
        await register('a', 'b');
        const a = await take();
        const b = await take();
        await store.floodWait(a.id, 100_000, a.leaseToken, 'x');
        await store.floodWait(b.id, 100_000, b.leaseToken, 'x');
        assert.deepEqual(await store.restore(a.id), { id: a.id, state: 'free' });
        assert.equal((await take()).id, a.id);
        await store.invalidate(b.id, 'banned');
        assert.equal(await scoped('y'), null);
        assert.equal(await stateOf(b.id), 'invalidated');
        await invariant();
        await store.applySync({ upserts: [], removes: ['b'] });
        const s = await store.status();
        assert.deepEqual([s.total, s.rests], [1, {}]);
        await invariant();
      });

      it('a scoped rest of 0 seconds releases the session like an account-wide one', async () => {
        await register('a');
        const a = await take();
        const r = await store.floodWait(a.id, 0, a.leaseToken, 'x');
        assert.equal(r.state, 'free');
        assert.equal((await take()).id, a.id);
      });

      it('/status lists MAX_STATUS_SCOPES scopes with running rests even when a scope\'s rests were all ended by /restore', async () => {
        await register('a', 'b', 'c', 'd', 'e');
        // "stale": its only rest (ending before every other) ended early by /restore
        await store.floodWait(1, HOUR / 2, undefined, 'stale');
        await store.restore(1);
        for (let i = 0; i < MAX_STATUS_SCOPES; i++) await store.floodWait(1 + (i % 5), HOUR, undefined, `s${i}`);
        const rests = (await store.status()).rests;
        assert.equal(rests.stale, undefined);
        assert.equal(Object.keys(rests).length, MAX_STATUS_SCOPES);
      });

      it('an invalidated session stays invalidated under a scoped rest', async () => {
        await register('a');
        const a = await take();
        await store.invalidate(a.id);
        assert.equal((await store.floodWait(a.id, 10_000, undefined, 'x')).state, 'invalidated');
        assert.equal(await stateOf(a.id), 'invalidated');
        assert.deepEqual((await store.status()).rests, {});
      });

      it('100 scoped and unscoped acquires in parallel never issue a session resting on an asked scope', async () => {
        await register(...Array.from({ length: 40 }, (_, i) => `q${i}`));
        const all: LeasedSession[] = [];
        for (let i = 0; i < 40; i++) all.push(await take());
        for (const [i, x] of all.entries()) {
          if (i % 2 === 0) await store.floodWait(x.id, 100_000, x.leaseToken, i % 4 === 0 ? 'x' : 'y');
          else await store.release(x.id, x.leaseToken);
        }
        const restsOf = new Map(all.map((x, i) => [x.id, i % 2 === 0 ? (i % 4 === 0 ? 'x' : 'y') : null]));
        const asks = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? [] : i % 3 === 1 ? ['x'] : ['x', 'y']));
        const results = await Promise.all(asks.map((scopes) => store.acquire(HOUR, { scopes })));
        const issued = results.flatMap((r, i) => (r.ok ? [[r.session.id, asks[i] ?? []] as const] : []));
        assert.equal(new Set(issued.map(([id]) => id)).size, issued.length, 'issued twice');
        for (const [id, scopes] of issued) {
          const rest = restsOf.get(id) ?? null;
          if (scopes.length === 0) assert.equal(rest, null, `unscoped got ${id} resting on ${rest}`);
          else assert.ok(rest === null || !scopes.includes(rest), `session ${id} resting on ${rest} issued for ${scopes.join(',')}`);
        }
        // 20 fully free, 10 free for y-less asks... every eligible one was issued: none left for any ask
        assert.equal(issued.length, 20 + 10);
        await invariant();
      });
    });

    describe('report and health', () => {
      const report = (id: number, error: string, method?: string, leaseToken?: string) =>
        store.report(id, { error, decision: decide(error, method, 3600), leaseToken });
      const listed = async (id: number) => (await store.list({ limit: 1000 })).sessions.find((s) => s.id === id);

      it('a *_WAIT_X rests the method that raised it and records the error', async () => {
        await register('a');
        const a = await take();
        const r = await report(a.id, 'FLOOD_WAIT_600', 'contacts.resolveusername', a.leaseToken);
        assert.deepEqual([r.action, r.scope, r.health], ['rest', 'contacts.resolveusername', null]);
        assert.ok(r.until !== null && Math.abs(r.until - (Date.now() + 600_000)) < 5000);
        const row = await listed(a.id);
        assert.deepEqual([row?.state, row?.health, row?.lastError?.name, Object.keys(row?.rests ?? {})], ['floodwait', 'ok', 'FLOOD_WAIT_600', ['contacts.resolveusername']]);
        assert.equal((await store.acquire(HOUR, { scopes: ['messages.sendmessage'] })).ok, true);
      });

      it('PEER_FLOOD: restricted, an account-wide rest; /restore ends both', async () => {
        await register('a', 'b');
        const a = await take();
        const r = await report(a.id, 'PEER_FLOOD', 'messages.sendmessage');
        assert.deepEqual([r.action, r.scope, r.health], ['rest', null, 'restricted']);
        assert.ok(r.until !== null && r.until > Date.now() + 3_500_000);
        let s = await store.status();
        assert.deepEqual(s.health, { ok: 1, restricted: 1, logged_out: 0, banned: 0, file_error: 0 });
        assert.equal((await listed(a.id))?.health, 'restricted');
        assert.equal((await store.acquire(HOUR, { scopes: ['messages.getdialogs'] })).ok, true, 'b');
        assert.equal((await store.acquire(HOUR, { scopes: ['messages.getdialogs'] })).ok, false, 'a rests account-wide');
        await store.restore(a.id);
        s = await store.status();
        assert.equal(s.health.restricted, 0);
        assert.equal((await listed(a.id))?.health, 'ok');
        await invariant();
      });

      it('AUTH_KEY_UNREGISTERED: logged_out until the file holds another auth key', async () => {
        await store.applySync({ upserts: [{ name: 'a', meta: { authKeyId: 'k1' }, sig: '1' }], removes: [] });
        const a = await take();
        const r = await report(a.id, 'AUTH_KEY_UNREGISTERED', undefined, a.leaseToken);
        assert.deepEqual([r.action, r.health], ['invalidate', 'logged_out']);
        assert.deepEqual([(await listed(a.id))?.state, (await listed(a.id))?.health, (await listed(a.id))?.reason], ['invalidated', 'logged_out', 'AUTH_KEY_UNREGISTERED']);
        assert.equal((await store.status()).health.logged_out, 1);
        await store.applySync({ upserts: [{ name: 'a', meta: { authKeyId: 'k1' }, sig: '2' }], removes: [] });
        assert.equal(await stateOf(a.id), 'invalidated', 'the same auth key: still logged out');
        await store.applySync({ upserts: [{ name: 'a', meta: { authKeyId: 'k2' }, sig: '3' }], removes: [] });
        const row = await listed(a.id);
        assert.deepEqual([row?.state, row?.health, row?.reason], ['free', 'ok', null]);
        assert.equal((await take()).id, a.id);
        await invariant();
      });

      it('USER_DEACTIVATED_BAN: banned whatever the file says, until /restore', async () => {
        await store.applySync({ upserts: [{ name: 'a', meta: { authKeyId: 'k1' }, sig: '1' }], removes: [] });
        const a = await take();
        assert.deepEqual((await report(a.id, 'USER_DEACTIVATED_BAN')).health, 'banned');
        await store.applySync({ upserts: [{ name: 'a', meta: { authKeyId: 'k2' }, sig: '2' }], removes: [] });
        assert.deepEqual([(await listed(a.id))?.state, (await listed(a.id))?.health], ['invalidated', 'banned']);
        assert.equal((await store.status()).health.banned, 1);
        await store.restore(a.id);
        assert.deepEqual([(await listed(a.id))?.state, (await listed(a.id))?.health], ['free', 'ok']);
        assert.equal((await store.status()).health.banned, 0);
      });

      it('transient and unknown errors change nothing but are recorded', async () => {
        await register('a');
        const a = await take();
        for (const e of ['RPC_CALL_FAIL', 'PHONE_MIGRATE_2', 'SOMETHING_NEW']) {
          const r = await report(a.id, e, 'messages.sendmessage', a.leaseToken);
          assert.deepEqual([r.action, r.scope, r.until, r.health], ['none', null, null, null]);
        }
        const row = await listed(a.id);
        assert.deepEqual([row?.state, row?.health, row?.lastError?.name], ['in_use', 'ok', 'SOMETHING_NEW']);
      });

      it('refuses unknown ids and foreign tokens, changing nothing', async () => {
        await register('a');
        const a = await take();
        for (const e of ['FLOOD_WAIT_5', 'AUTH_KEY_UNREGISTERED', 'RPC_CALL_FAIL']) {
          await assert.rejects(report(404, e), SessionNotFoundError);
          await assert.rejects(report(a.id, e, undefined, 'not-the-token'), LeaseMismatchError);
        }
        const row = await listed(a.id);
        assert.deepEqual([row?.state, row?.lastError], ['in_use', null]);
      });

      it('a reported rest on an invalidated session changes nothing', async () => {
        await register('a');
        const a = await take();
        await store.invalidate(a.id, 'operator');
        const r = await report(a.id, 'PEER_FLOOD');
        assert.deepEqual([r.action, r.health], ['none', null]);
        assert.equal((await store.status()).health.restricted, 0);
      });

      it('a restricted report never hides a broken file: health stays file_error', async () => {
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '1' }], removes: [] });
        const x = await take();
        // broken while leased: the lease goes on, the health says file_error
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '2', fileError: 'not a SQLite database' }], removes: [] });
        const r = await report(x.id, 'PEER_FLOOD', undefined, x.leaseToken);
        assert.equal(r.action, 'rest');
        assert.equal((await listed(x.id))?.health, 'file_error');
        assert.deepEqual((await store.status()).health, { ok: 0, restricted: 0, logged_out: 0, banned: 0, file_error: 1 });
      });

      it('file errors count as health file_error and stop counting when repaired', async () => {
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '1', fileError: 'not a SQLite database' }], removes: [] });
        assert.equal((await store.status()).health.file_error, 1);
        assert.equal((await store.list({ limit: 10 })).sessions[0]?.health, 'file_error');
        await store.applySync({ upserts: [{ name: 'x', meta: {}, sig: '2' }], removes: [] });
        assert.deepEqual((await store.status()).health, { ok: 1, restricted: 0, logged_out: 0, banned: 0, file_error: 0 });
      });
    });

    describe('tags', () => {
      const tagged = (name: string, ...tags: string[]) => ({ name, meta: { tags } });
      const ask = async (tags: string[], scopes: string[] = []) => {
        const r = await store.acquire(HOUR, { tags, scopes });
        return r.ok ? r.session.name : null;
      };

      it('issues only sessions carrying every asked tag, least recently used first', async () => {
        await store.applySync({ upserts: [tagged('a', 'ru'), tagged('b', 'premium', 'ru'), tagged('c', 'premium'), tagged('d')], removes: [] });
        assert.equal(await ask(['premium', 'ru']), 'b');
        assert.equal(await ask(['premium', 'ru']), null);
        assert.equal(await ask(['ru']), 'a');
        assert.equal(await ask(['nope']), null);
        assert.equal(await ask([]), 'c');
        await invariant();
      });

      it('stays exact when the tagged sessions are the most recently used of many', async () => {
        // 12 untagged sessions come first in LRU order: a store that looks only at the head must search further
        await register(...Array.from({ length: 12 }, (_, i) => `u${String(i).padStart(2, '0')}`));
        await store.applySync({ upserts: [tagged('t1', 'x'), tagged('t2', 'x')], removes: [] });
        assert.equal(await ask(['x']), 't1');
        assert.equal(await ask(['x']), 't2');
        assert.equal(await ask(['x']), null);
      });

      it('tags change with the file at sync, and go with it', async () => {
        await store.applySync({ upserts: [tagged('a', 'ru')], removes: [] });
        await store.applySync({ upserts: [tagged('a', 'de')], removes: [] });
        assert.equal(await ask(['ru']), null);
        assert.equal(await ask(['de']), 'a');
        await store.applySync({ upserts: [], removes: ['a'] });
        await store.applySync({ upserts: [tagged('b')], removes: [] });
        assert.equal(await ask(['de']), null, 'a removed session leaves no tag behind');
      });

      it('combine with scopes: the tags and no rest on an asked scope', async () => {
        await store.applySync({ upserts: [tagged('a', 'ru'), tagged('b', 'ru'), tagged('c')], removes: [] });
        const a = await take();
        const b = await take();
        await store.floodWait(a.id, 100_000, a.leaseToken, 'x');
        await store.release(b.id, b.leaseToken);
        assert.equal(await ask(['ru'], ['x']), 'b');
        assert.equal(await ask(['ru'], ['y']), 'a', 'free for y, resting on x');
        const none = await store.acquire(HOUR, { tags: ['ru'], scopes: ['x'] });
        assert.equal(none.ok, false);
      });
    });

    describe('history, counters and filters', () => {
      it('list pages end where the scripts end them: a cursor while ids were issued above, a bounded look per page', async () => {
        await register('a', 'b', 'c');
        await store.applySync({ upserts: [], removes: ['c'] });
        const first = await store.list({ limit: 2 });
        assert.deepEqual([first.sessions.map((x) => x.name), first.nextCursor], [['a', 'b'], '2']);
        assert.deepEqual(await store.list({ limit: 2, cursor: '2' }), { sessions: [], nextCursor: null });
        // a filter matching only past the look of one page (1000 ids at least): an empty page and a cursor
        await store.applySync({ upserts: Array.from({ length: 1000 }, (_, i) => ({ name: `p${i}`, meta: {} })), removes: [] });
        // only the newest session (id 1003) in use
        const held = [];
        for (let i = 0; i < 1002; i++) held.push(await take());
        for (const x of held.slice(0, -1)) await store.release(x.id, x.leaseToken);
        const page = await store.list({ limit: 1, state: 'in_use' });
        assert.deepEqual([page.sessions.length, page.nextCursor], [0, '1000']);
        const rest = await store.list({ limit: 1, state: 'in_use', cursor: page.nextCursor ?? '' });
        assert.deepEqual(rest.sessions.map((x) => x.id), [held[held.length - 1]?.id]);
      });

      it('records issued, released, rest, report, invalidated, restored, file changes and removals, newest first', async () => {
        await store.applySync({ upserts: [{ name: 'a', meta: {}, sig: '1' }, { name: 'b', meta: {}, sig: '1' }], removes: [] });
        const a = await take();
        await store.release(a.id, a.leaseToken);
        const a2 = await take();
        await store.floodWait(a2.id, 60_000, a2.leaseToken, 'x');
        await store.report(a2.id, { error: 'RPC_CALL_FAIL', decision: decide('RPC_CALL_FAIL', undefined, 1) });
        await store.invalidate(a2.id, 'operator');
        await store.restore(a2.id);
        await store.applySync({ upserts: [{ name: 'a', meta: {}, sig: '2' }], removes: ['b'] });
        const page = await store.history({ limit: 100 });
        assert.deepEqual(page.events.slice(0, 2).map((e) => e.type).sort(), ['file_changed', 'removed'], 'one sync: either order');
        assert.deepEqual(page.events.slice(2).map((e) => e.type), ['restored', 'invalidated', 'report', 'rest', 'issued', 'released', 'issued']);
        const rest = page.events.find((e) => e.type === 'rest');
        assert.deepEqual([rest?.sessionId, rest?.scope], [a2.id, 'x']);
        assert.ok(rest?.until !== undefined && rest.until > Date.now());
        const report = page.events.find((e) => e.type === 'report');
        assert.deepEqual([report?.error, report?.action], ['RPC_CALL_FAIL', 'none']);
        assert.equal(page.events.find((e) => e.type === 'removed')?.name, 'b');
        assert.equal(page.events.find((e) => e.type === 'invalidated')?.reason, 'operator');
        const ids = page.events.map((e) => e.id);
        assert.equal(new Set(ids).size, ids.length);
        assert.ok(page.events.every((e, i) => i === 0 || e.at <= (page.events[i - 1]?.at ?? 0)), 'newest first');
      });

      it('a flood wait of 0 that ends a lease is a release in the history (account-wide, scoped, next=true); one on a free session is nothing', async () => {
        await register('a');
        let a = await take();
        await store.floodWait(a.id, 0, a.leaseToken);
        a = await take();
        await store.floodWait(a.id, 0, a.leaseToken, 'x');
        assert.equal(await stateOf(a.id), 'free');
        await store.floodWait(a.id, 0);
        await store.floodWait(a.id, 0, undefined, 'x');
        a = await take();
        const next = await store.giveBackAndAcquire({ kind: 'floodwait', id: a.id, waitMs: 0, leaseToken: a.leaseToken }, HOUR);
        assert.ok(next.next.ok, 'next=true: the same session again');
        const types = (await store.history({ limit: 100 })).events.map((e) => e.type);
        assert.deepEqual(types, ['issued', 'released', 'issued', 'released', 'issued', 'released', 'issued']);
      });

      it('pages with a cursor and filters by session', async () => {
        await register('a', 'b');
        for (let i = 0; i < 5; i++) {
          const x = await take();
          await store.release(x.id, x.leaseToken);
        }
        const first = await store.history({ limit: 4 });
        assert.equal(first.events.length, 4);
        assert.ok(first.nextCursor);
        const rest = await store.history({ limit: 100, cursor: first.nextCursor });
        assert.equal(rest.events.length, 6);
        assert.equal(rest.nextCursor, null);
        assert.deepEqual([...first.events, ...rest.events].map((e) => e.id), (await store.history({ limit: 100 })).events.map((e) => e.id));
        const onlyA = await store.history({ limit: 100, sessionId: 1 });
        assert.ok(onlyA.events.length > 0 && onlyA.events.every((e) => e.sessionId === 1));
      });

      it('counts times issued, rests per scope and seconds rested', async () => {
        await register('a');
        let a = await take();
        await store.floodWait(a.id, 0, a.leaseToken);
        a = await take();
        await store.floodWait(a.id, 60_000, a.leaseToken, 'x');
        await store.report(a.id, { error: 'FLOOD_WAIT_30', decision: decide('FLOOD_WAIT_30', 'x', 1) });
        await store.report(a.id, { error: 'FLOOD_WAIT_20', decision: decide('FLOOD_WAIT_20', undefined, 1) });
        const row = (await store.list({ limit: 10 })).sessions[0];
        assert.deepEqual(row?.counters, { issued: 2, rests: 3, restedSeconds: 110, restsByScope: { x: 2, '*': 1 } });
      });

      it('lists by health, tag and scope', async () => {
        await store.applySync({ upserts: [{ name: 'a', meta: { tags: ['ru'] } }, { name: 'b', meta: {} }, { name: 'c', meta: { tags: ['ru'] } }], removes: [] });
        const a = await take();
        const b = await take();
        await store.floodWait(a.id, 60_000, a.leaseToken, 'x');
        await store.report(b.id, { error: 'USER_DEACTIVATED_BAN', decision: decide('USER_DEACTIVATED_BAN', undefined, 1) });
        const names = async (q: Partial<ListQuery>) => (await store.list({ limit: 100, ...q })).sessions.map((s) => s.name);
        assert.deepEqual(await names({ tag: 'ru' }), ['a', 'c']);
        assert.deepEqual(await names({ scope: 'x' }), ['a']);
        assert.deepEqual(await names({ scope: 'y' }), []);
        assert.deepEqual(await names({ health: 'banned' }), ['b']);
        assert.deepEqual(await names({ health: 'ok', tag: 'ru' }), ['a', 'c']);
      });
    });

    describe('one rule set for both stores (issue 11 item 3)', () => {
      it('ties in LRU order go as Redis orders equal scores: by the id as a string ("10" before "9")', async () => {
        await register(...Array.from({ length: 10 }, (_, i) => `t${i + 1}`));
        const broken = (sig: string, fileError?: string) => ['t9', 't10'].map((name) => ({ name, meta: {}, sig, fileError }));
        await store.applySync({ upserts: broken('1', 'not a SQLite database'), removes: [] });
        await store.applySync({ upserts: broken('2'), removes: [] }); // both repaired in one script: both free since the same instant
        for (let i = 1; i <= 8; i++) assert.equal((await take()).name, `t${i}`);
        assert.equal((await take()).name, 't10');
        assert.equal((await take()).name, 't9');
      });

      /** Lease every registered session for an hour, then end each lease now (a heartbeat of 0 ms), without any reaping. */
      async function expiredLeases(n: number): Promise<LeasedSession[]> {
        await register(...Array.from({ length: n }, (_, i) => `e${i}`));
        const held: LeasedSession[] = [];
        for (let i = 0; i < n; i++) held.push(await take());
        let last = 0;
        for (const x of held) last = Math.max(last, await store.heartbeat(x.id, x.leaseToken, 0));
        await until(async () => (await store.status()).now > last, 'the store clock to pass the ended leases');
        return held;
      }

      async function releasedEvents(): Promise<number> {
        return (await store.history({ limit: 10_000 })).events.filter((e) => e.type === 'released').length;
      }

      it('an acquire moves at most PROMOTE_BATCH ended leases back to free; reads move none, and count them free at once', async () => {
        const n = PROMOTE_BATCH + 20;
        const held = await expiredLeases(n);
        // reads (status, list, heartbeat's refusal) change nothing, and count as of now
        const before = await store.status();
        assert.deepEqual([before.free, before.inUse], [n, 0]);
        assert.equal((await store.list({ limit: 1000 })).sessions.filter((x) => x.state === 'free').length, n);
        const got = await take();
        const after = await store.status();
        assert.deepEqual([after.free, after.inUse], [n - 1, 1]);
        // A release finds the ended lease the acquire did not move still leased (and frees it: an event),
        // and finds the moved ones already free (nothing to do, no event).
        for (const x of held) if (x.id !== got.id) await store.release(x.id, x.leaseToken);
        assert.equal(await releasedEvents(), n - PROMOTE_BATCH, 'exactly the ended leases beyond one batch were still leased');
        await invariant();
      });

      it('reap moves at most `limit` ended leases per call', async () => {
        const n = 12;
        await expiredLeases(n);
        assert.equal(await store.reap(5), 5);
        assert.equal(await store.reap(5), 5);
        assert.equal(await store.reap(5), 2);
        assert.equal(await store.reap(5), 0);
        await invariant();
      });

      it('releasing an ended lease that nothing reclaimed yet makes it the most recently used', async () => {
        await register('a', 'b');
        const a = await take();
        const b = await take();
        const ended = await store.heartbeat(a.id, a.leaseToken, 0);
        await until(async () => (await store.status()).now > ended, 'a lease to end');
        await store.release(b.id, b.leaseToken); // b: free from now
        const bFreed = (await store.status()).now;
        await until(async () => (await store.status()).now > bFreed, 'the store clock to move past b');
        await store.release(a.id, a.leaseToken); // a: ended before b was freed, released after
        assert.equal((await take()).name, 'b');
        assert.equal((await take()).name, 'a');
      });

      it('announces exactly these: sync adds, releases, wait-0 rests, scoped rests of a lease, restores, and a reap that moved something', async () => {
        const heard: string[] = [];
        const off = h.freed.onFreed((what) => heard.push(what));
        try {
          await register('a', 'b', 'c', 'd', 'm');
          await register('a'); // nothing added
          const a = await take();
          await store.heartbeat(a.id, a.leaseToken, HOUR);
          await store.status();
          await store.list({ limit: 10 });
          await store.release(a.id, a.leaseToken);
          const b = await take();
          await store.floodWait(b.id, HOUR, b.leaseToken);
          await store.restore(b.id);
          const c = await take();
          await store.floodWait(c.id, 0, c.leaseToken);
          const d = await take();
          await store.floodWait(d.id, HOUR, d.leaseToken, 'x');
          await store.invalidate(d.id);
          const e = await take();
          const rest = await store.floodWait(e.id, 1, e.leaseToken);
          await until(async () => (await store.status()).now > rest.until, 'a short rest to end');
          assert.equal(await store.reap(100), 0, 'a rest is no lease');
          assert.equal(await store.reap(100), 0);
          const f = await take();
          const rest2 = await store.floodWait(f.id, 1, f.leaseToken);
          await until(async () => (await store.status()).now > rest2.until, 'another short rest to end');
          await take(); // the acquire that moves it back: no announcement
          await register('z'); // the last announcement: everything before it has been heard
          await until(() => heard.length > 1 && heard[heard.length - 1] === 'sync', 'the last announcement');
          assert.deepEqual(heard, ['sync', String(a.id), String(b.id), String(c.id), `scoped:${d.id}`, 'reap', 'sync']);
        } finally {
          off();
        }
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
