/**
 * RedisStore under Redis faults (issue 10 items 2–4), on real redis-servers:
 * an acquire whose answer was lost leaves no lease, a store that lost its data
 * holds issuing for the recovery grace, and an evicting Redis is refused.
 * The memory store has none of these faults (its data dies with its process).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import type Redis from 'ioredis';
import { StoreMisconfiguredError, StoreUnavailableError } from '../../src/errors';
import { createLogger } from '../../src/log';
import { SESSION_BUCKET } from '../../src/pool/keys';
import { RedisStore, createRedis } from '../../src/pool/redis';
import type { AcquireResult, LeasedSession } from '../../src/pool/types';
import { until } from '../../support/poll';
import { RedisServer } from '../../support/redis';
import { sharedRedisUrl } from '../helpers/global';

const HOUR = 3_600_000;

async function connect(url: string, commandTimeout?: number): Promise<Redis> {
  const r = createRedis(url, commandTimeout === undefined ? {} : { commandTimeout });
  r.on('error', () => undefined);
  await once(r, 'ready');
  return r;
}

async function register(s: RedisStore, ...names: string[]): Promise<void> {
  await s.applySync({ upserts: names.map((n) => ({ name: n, meta: {} })), removes: [] });
}

function issued(r: AcquireResult): LeasedSession {
  assert.ok(r.ok, `expected a session, got ${JSON.stringify(r)}`);
  return r.session;
}

/** Run cancelAcquire for `token` as the store would after a lost answer. */
function cancel(r: Redis, s: RedisStore, token: string): Promise<unknown> {
  const k = s.keys;
  return r.cancelAcquire(k.free, k.leased, k.acquireToken(token), k.rfree, k.rend, k.events, token, k.freedChannel, k.sessionPrefix, SESSION_BUCKET);
}

describe('RedisStore: an acquire whose answer never reached the client', () => {
  let r: Redis;
  let s: RedisStore;
  beforeEach(async () => {
    r = await connect(sharedRedisUrl());
    await r.flushdb();
    s = new RedisStore(r, 'cancel');
  });
  afterEach(() => s.close());

  it('cancelAcquire frees that session and puts it back at its place in the LRU order', async () => {
    await register(s, 'a', 'b');
    const a = issued(await s.acquire(HOUR));
    assert.equal(a.name, 'a');
    assert.equal(await cancel(r, s, a.leaseToken), a.id);
    const st = await s.status();
    assert.deepEqual([st.free, st.inUse], [2, 0]);
    assert.equal(issued(await s.acquire(HOUR)).name, 'a', 'nobody used it: still the least recently used');
    assert.equal(await r.exists(s.keys.acquireToken(a.leaseToken)), 0, 'the token key is gone');
  });

  it('a cancelled acquire leaves no history: its "issued" event is deleted and its count taken back', async () => {
    await register(s, 'a');
    const kept = issued(await s.acquire(HOUR));
    await s.release(kept.id, kept.leaseToken);
    const a = issued(await s.acquire(HOUR));
    assert.equal(await cancel(r, s, a.leaseToken), a.id);
    const events = (await s.history({ limit: 10 })).events.map((e) => e.type);
    assert.deepEqual(events, ['released', 'issued'], 'only the answered acquire and its release');
    assert.equal((await s.list({ limit: 10 })).sessions[0]?.counters.issued, 1);
  });

  it('a tampered history (events key of another type, counters not JSON) never fails a change: the lease is answered and cancellable', async () => {
    await register(s, 'a');
    const first = issued(await s.acquire(HOUR));
    await s.release(first.id, first.leaseToken);
    await r.del(s.keys.events);
    await r.set(s.keys.events, 'not a stream');
    const bucket = `${s.keys.sessionPrefix}${Math.floor(first.id / SESSION_BUCKET)}`;
    await r.hset(bucket, `${first.id}:c`, '{broken');
    const a = issued(await s.acquire(HOUR));
    assert.equal(a.id, first.id);
    assert.equal(await cancel(r, s, a.leaseToken), a.id, 'its token key was written after the failed history write');
    const st = await s.status();
    assert.deepEqual([st.free, st.inUse], [1, 0]);
    const b = issued(await s.acquire(HOUR));
    await s.release(b.id, b.leaseToken);
    assert.equal(await r.type(s.keys.events), 'string', 'the tampered key is left as it is');
    const counters = JSON.parse((await r.hget(bucket, `${first.id}:c`)) ?? 'null') as { i?: number };
    assert.equal(counters.i, 1, 'the counters started over: issued once (the cancelled acquire taken back)');
  });

  it('counters that decode but cannot be written back (1e999 is inf in Lua) start over instead of failing the change', async () => {
    await register(s, 'a');
    const first = issued(await s.acquire(HOUR));
    await s.release(first.id, first.leaseToken);
    const bucket = `${s.keys.sessionPrefix}${Math.floor(first.id / SESSION_BUCKET)}`;
    await r.hset(bucket, `${first.id}:c`, '{"i":1e999,"n":1e999,"s":1,"r":{"*":1e999}}');
    const a = issued(await s.acquire(HOUR));
    assert.equal(a.id, first.id);
    assert.deepEqual(JSON.parse((await r.hget(bucket, `${first.id}:c`)) ?? 'null'), { i: 1 }, 'issued once since they started over');
    await r.hset(bucket, `${first.id}:c`, '{"n":1e999}');
    const rest = await s.floodWait(a.id, 60_000, a.leaseToken);
    assert.ok(rest.until > Date.now(), 'the rest was set');
    assert.deepEqual(JSON.parse((await r.hget(bucket, `${first.id}:c`)) ?? 'null'), { n: 1, s: 60, r: { '*': 1 } });
    const st = await s.status();
    assert.deepEqual([st.free, st.inUse, st.inFloodwait], [0, 0, 1]);
  });

  it('cancelAcquire gives a session still resting on a scope back to the scoped-free set, never to free', async () => {
    await register(s, 'a');
    const a = issued(await s.acquire(HOUR));
    await s.floodWait(a.id, HOUR, a.leaseToken, 'x');
    const scoped = issued(await s.acquire(HOUR, { scopes: ['y'] }));
    assert.equal(await cancel(r, s, scoped.leaseToken), a.id);
    assert.equal((await s.acquire(HOUR)).ok, false, 'an unscoped acquire still cannot get it');
    assert.equal(issued(await s.acquire(HOUR, { scopes: ['y'] })).id, a.id);
  });

  it('cancelAcquire never frees a session whose file a sync removed in between: it goes out as file_missing', async () => {
    // The compensation can wait for the next 'ready' (pendingCancels): a sync may run first.
    await register(s, 'a');
    const a = issued(await s.acquire(HOUR));
    await s.applySync({ upserts: [], removes: ['a'] });
    assert.equal(await cancel(r, s, a.leaseToken), a.id);
    assert.equal((await s.acquire(HOUR)).ok, false, 'a session whose file is gone is never issued');
    const row = (await s.list({ limit: 10 })).sessions[0];
    assert.deepEqual([row?.state, row?.reason], ['invalidated', 'file_error: file_missing']);
  });

  it('a compensation never frees a lease that was re-issued to someone else since', async () => {
    await register(s, 'a');
    const first = issued(await s.acquire(HOUR));
    await s.release(first.id, first.leaseToken);
    const second = issued(await s.acquire(HOUR));
    assert.equal(second.id, first.id);
    assert.equal(await cancel(r, s, first.leaseToken), 0);
    assert.equal((await s.status()).inUse, 1);
    assert.ok((await s.heartbeat(second.id, second.leaseToken, HOUR)) > Date.now(), 'the new holder keeps its lease');
    // Nor one that ended and went elsewhere: a flood wait set by the holder stays.
    await s.floodWait(second.id, HOUR, second.leaseToken);
    assert.equal(await cancel(r, s, second.leaseToken), 0);
    assert.equal((await s.status()).inFloodwait, 1);
  });

  it('a compensation that cannot be queued (connection down) is kept and sent at the next ready', async () => {
    await register(s, 'a');
    const a = issued(await s.acquire(HOUR));
    r.disconnect(true); // drop the connection; ioredis reconnects by itself
    // The store's own path for a lost answer (private; bracket access keeps the type check).
    s['cancelAcquire'](a.leaseToken);
    await until(() => s.pendingCancelCount === 1, 'the compensation to be kept');
    await until(async () => s.pendingCancelCount === 0 && (await s.status().catch(() => null))?.free === 1, 'the kept compensation to free the session', 10_000);
  });

  it('an acquire never written (connection down) needs no compensation and queues none', async () => {
    await register(s, 'a');
    r.disconnect(true);
    await assert.rejects(s.acquire(HOUR), StoreUnavailableError);
    // ioredis's auto-pipeline writes (or refuses) a command on the next setImmediate: let a compensation, had one been sent, fail.
    for (let i = 0; i < 3; i++) await new Promise((res) => setImmediate(res));
    assert.equal(s.pendingCancelCount, 0);
    await until(async () => (await s.status().catch(() => null))?.free === 1, 'the connection back, the session untouched');
  });

  describe('on a stalled Redis (SIGSTOP)', function () {
    this.timeout(60_000);
    let server: RedisServer;
    let fast: Redis;
    let store: RedisStore;
    before(async () => {
      server = await RedisServer.start();
    });
    after(async () => {
      await store?.close();
      await server.stop();
    });

    it('timed-out acquires run after the stall and are undone right behind them: every session free again', async () => {
      fast = await connect(server.url, 300);
      store = new RedisStore(fast, 'stall');
      const names = Array.from({ length: 20 }, (_, i) => `s${i}`);
      await register(store, ...names);
      server.signal('SIGSTOP');
      let results: Array<PromiseSettledResult<AcquireResult>>;
      try {
        results = await Promise.allSettled(names.map(() => store.acquire(HOUR)));
      } finally {
        server.signal('SIGCONT');
      }
      for (const res of results) assert.ok(res.status === 'rejected' && res.reason instanceof StoreUnavailableError, JSON.stringify(res));
      const check = await connect(server.url);
      try {
        await until(
          async () => {
            const st = await store.status().catch(() => null);
            return st?.free === names.length && st.inUse === 0 && (await check.zcard(store.keys.leased)) === 0;
          },
          'every session free again, no lease to nobody',
          20_000,
        );
      } finally {
        check.disconnect();
      }
    });

    it('a release-and-acquire (next=true) that timed out: the give-back stands, the lease it issued is undone', async () => {
      const conn = await connect(server.url, 300);
      const st = new RedisStore(conn, 'stallnext');
      try {
        const names = Array.from({ length: 10 }, (_, i) => `n${i}`);
        await register(st, ...names);
        const held = await Promise.all(names.map(async () => issued(await st.acquire(HOUR))));
        server.signal('SIGSTOP');
        let results: Array<PromiseSettledResult<unknown>>;
        try {
          results = await Promise.allSettled(held.map((l) => st.giveBackAndAcquire({ kind: 'release', id: l.id, leaseToken: l.leaseToken }, HOUR)));
        } finally {
          server.signal('SIGCONT');
        }
        for (const res of results) assert.ok(res.status === 'rejected' && res.reason instanceof StoreUnavailableError, JSON.stringify(res));
        await until(
          async () => {
            const now = await st.status().catch(() => null);
            return now?.free === names.length && now.inUse === 0;
          },
          'every session free: released, and no lease issued to nobody',
          20_000,
        );
      } finally {
        await st.close();
      }
    });
  });
});

describe('RedisStore: a store that lost its data holds issuing for the recovery grace', () => {
  const GRACE = 60_000;
  let r: Redis;
  let s: RedisStore;
  const others: RedisStore[] = [];
  beforeEach(async () => {
    r = await connect(sharedRedisUrl());
    await r.flushdb();
    s = new RedisStore(r, 'epoch', { recoveryGraceMs: GRACE });
  });
  afterEach(async () => {
    for (const o of others.splice(0)) await o.close();
    await s.close();
  });

  /** Another replica on its own connection (it has seen no epoch unless it learns one). */
  async function replica(grace = GRACE): Promise<RedisStore> {
    const o = new RedisStore(await connect(sharedRedisUrl()), 'epoch', { recoveryGraceMs: grace });
    others.push(o);
    return o;
  }

  function recovering(res: AcquireResult): number {
    assert.ok(!res.ok && res.recoveryEndsInMs !== undefined, `expected store_recovering, got ${JSON.stringify(res)}`);
    assert.deepEqual([res.inFloodwait, res.inUse, res.nextReleaseInMs], [0, 0, res.recoveryEndsInMs]);
    return res.recoveryEndsInMs;
  }

  it('a fresh deployment creates the epoch and issues at once; the counter counts issues', async () => {
    await register(s, 'a', 'b');
    issued(await s.acquire(HOUR));
    issued(await s.acquire(HOUR));
    const epoch = await r.get(s.keys.epoch);
    assert.match(epoch ?? '', /^n[0-9a-f]+:2$/);
    assert.equal(await r.exists(s.keys.recovering), 0);
  });

  it('FLUSHALL: nothing is issued or reaped during the grace, on any replica; /status says so; afterwards issuing resumes', async () => {
    await register(s, 'a', 'b');
    issued(await s.acquire(HOUR));
    await r.flushall();
    await register(s, 'a', 'b'); // the leader's re-sync: every session free again
    const left = recovering(await s.acquire(HOUR));
    assert.ok(left > GRACE - 10_000 && left <= GRACE, String(left));
    assert.equal(await s.reap(100), 0);
    const st = await s.status();
    assert.ok(st.recoveryEndsInMs !== undefined && st.recoveryEndsInMs <= GRACE, JSON.stringify(st));
    assert.equal(st.free, 2);
    recovering(await (await replica()).acquire(HOUR));
    assert.equal((await s.status()).inUse, 0);
    await r.pexpire(s.keys.recovering, 1); // the grace runs out
    await until(async () => (await s.acquire(HOUR)).ok, 'issuing to resume after the grace');
    assert.equal((await s.status()).recoveryEndsInMs, undefined);
  });

  it('a release with next=true during the grace gives the session back and answers store_recovering', async () => {
    await register(s, 'a', 'b');
    const a = issued(await s.acquire(HOUR));
    await r.set(s.keys.recovering, 'x', 'PX', GRACE); // a grace under way (as after a detected loss)
    const res = await s.giveBackAndAcquire({ kind: 'release', id: a.id, leaseToken: a.leaseToken }, HOUR);
    recovering(res.next);
    const st = await s.status();
    assert.deepEqual([st.free, st.inUse], [2, 0]);
  });

  it('a counter lower than the one this replica saw (failover to a stale replica) starts the grace', async () => {
    await register(s, 'a', 'b', 'c');
    issued(await s.acquire(HOUR));
    issued(await s.acquire(HOUR));
    const [id] = (await r.get(s.keys.epoch))!.split(':');
    await r.set(s.keys.epoch, `${id}:1`);
    recovering(await s.acquire(HOUR));
    assert.notEqual((await r.get(s.keys.epoch))!.split(':')[0], id, 'a new epoch');
  });

  it('the reaper alone notices a loss (no acquires needed)', async () => {
    await register(s, 'a');
    issued(await s.acquire(HOUR));
    await r.flushall();
    assert.equal(await s.reap(100), 0);
    assert.ok((await r.pttl(s.keys.recovering)) > 0);
  });

  it('a loss that a fresh replica papered over (new epoch, no grace) is still graced by a replica that knew the old one', async () => {
    await register(s, 'a', 'b', 'c');
    issued(await s.acquire(HOUR));
    await r.flushall();
    const fresh = await replica();
    await register(fresh, 'a', 'b', 'c'); // re-synced by the fresh replica (say it won the leadership)
    issued(await fresh.acquire(HOUR)); // it cannot know: nothing to compare with
    recovering(await s.acquire(HOUR));
    recovering(await fresh.acquire(HOUR));
  });

  it('a re-sync by a replica that knew the epoch starts the grace before it registers anything, so a fresh replica issues nothing', async () => {
    await register(s, 'a', 'b', 'c');
    issued(await s.acquire(HOUR));
    await r.flushall();
    await register(s, 'a', 'b', 'c'); // the leader's re-sync, and no acquire on it since
    recovering(await (await replica()).acquire(HOUR));
  });

  it('a replica learns the epoch at connect, so a loss right after its start is noticed', async () => {
    await register(s, 'a');
    issued(await s.acquire(HOUR));
    const late = await replica();
    await until(() => late['epoch'] !== undefined, 'the epoch learnt at connect');
    await r.flushall();
    await register(s, 'a');
    recovering(await late.acquire(HOUR));
  });

  it('an epoch key rewritten to junk (or another type) is a loss, not an error on every acquire', async () => {
    await register(s, 'a', 'b', 'c');
    issued(await s.acquire(HOUR));
    for (const junk of ['garbage', 'x:', ':7', 'n1:seven']) {
      await r.set(s.keys.epoch, junk);
      await r.del(s.keys.recovering);
      recovering(await s.acquire(HOUR));
      assert.match((await r.get(s.keys.epoch)) ?? '', /^g[0-9a-f]+:0$/, `a new epoch replaces ${junk}`);
    }
    await r.del(s.keys.epoch);
    await r.hset(s.keys.epoch, 'x', '1');
    await r.del(s.keys.recovering);
    recovering(await s.acquire(HOUR));
    assert.equal(await s.reap(100), 0);
    // a replica that never saw an epoch simply starts one
    await r.set(s.keys.epoch, 'garbage');
    await r.del(s.keys.recovering);
    issued(await (await replica()).acquire(HOUR));
  });

  it('grace 0 disables the hold (the loss is still detected: one new epoch that every replica adopts)', async () => {
    const [x, y] = [await replica(0), await replica(0)];
    await register(s, 'a', 'b', 'c', 'd');
    issued(await x.acquire(HOUR));
    issued(await y.acquire(HOUR));
    const before = (await r.get(s.keys.epoch))!.split(':')[0];
    await r.flushall();
    await register(s, 'a', 'b', 'c', 'd');
    issued(await x.acquire(HOUR));
    const after = (await r.get(s.keys.epoch))!.split(':')[0];
    assert.notEqual(after, before);
    issued(await y.acquire(HOUR));
    issued(await x.acquire(HOUR));
    assert.equal(await r.get(s.keys.epoch), `${after}:3`, 'adopted, not replaced again by each replica in turn');
    assert.equal(await r.exists(s.keys.recovering), 0);
  });
});

describe('RedisStore: a Redis that may evict pool keys is refused', function () {
  this.timeout(30_000);
  let server: RedisServer;
  let r: Redis;
  let s: RedisStore;
  let logged = '';
  before(async () => {
    server = await RedisServer.start({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    r = await connect(server.url);
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        logged += chunk.toString();
        done();
      },
    });
    s = new RedisStore(r, 'evict', { logger: createLogger('info', sink) });
  });
  after(async () => {
    await s.close();
    await server.stop();
  });

  it('allkeys-lru: every store call answers store_misconfigured naming the fix, readiness fails, ONE error line', async () => {
    await until(async () => !(await s.ping()), 'the policy check to refuse the store');
    for (let i = 0; i < 5; i++) {
      await assert.rejects(s.status(), (err: unknown) => {
        assert.ok(err instanceof StoreMisconfiguredError);
        assert.match(err.reason, /allkeys-lru/);
        assert.match(err.reason, /noeviction/);
        assert.match(err.reason, /volatile-/);
        return true;
      });
    }
    await assert.rejects(s.acquire(HOUR), StoreMisconfiguredError);
    await assert.rejects(s.applySync({ upserts: [{ name: 'a', meta: {} }], removes: [] }), StoreMisconfiguredError);
    assert.equal(await r.exists(s.keys.epoch, s.keys.ids), 0, 'nothing was written');
    const errors = logged.split('\n').filter((l) => l.includes('"level":"error"'));
    assert.equal(errors.length, 1, logged);
    assert.match(errors[0]!, /maxmemory-policy/);
  });

  it('CONFIG SET maxmemory-policy noeviction makes it ready again without a restart', async () => {
    await r.config('SET', 'maxmemory-policy', 'noeviction');
    await until(() => s.ping(), 'readiness after the fix', 10_000);
    await register(s, 'a');
    issued(await s.acquire(HOUR));
  });

  it('a policy switched to allkeys-* at run time is noticed by the readiness re-check (no reconnect needed)', async () => {
    await r.config('SET', 'maxmemory-policy', 'allkeys-random');
    assert.equal(await s.ping(), true, 'a healthy store re-reads the policy only every POLICY_HEALTHY_RECHECK_MS');
    s['policyCheckedAt'] = 0; // that interval has passed
    assert.equal(await s.ping(), false);
    await assert.rejects(s.status(), /allkeys-random/);
  });
});
