import assert from 'node:assert/strict';
import { once } from 'node:events';
import type Redis from 'ioredis';
import { PROMOTE_BATCH, RedisStore, SCOPED_WALK, createRedis } from '../../src/pool/redis';
import { readScripts } from '../../src/pool/scripts';
import type { AcquireResult, LeasedSession, PoolEvent } from '../../src/pool/types';
import { decide } from '../../src/telegram/errors';
import { until } from '../../support/poll';
import { sharedRedisUrl } from '../helpers/global';
import { storeContract } from './store.contract';
import { subscribeFreed } from './subscriber';
import type { RedisFreedSource } from '../../src/pool/notifier';

let redis: Redis;
let store: RedisStore;
let freed: RedisFreedSource;

storeContract(
  'redis',
  async () => {
    redis = createRedis(sharedRedisUrl());
    await once(redis, 'ready');
    await redis.flushdb();
    store = new RedisStore(redis, 'test');
    freed = await subscribeFreed(sharedRedisUrl(), store);
    return {
      store,
      freed,
      setFence: async (f: number) => {
        await redis.set(store.keys.fence, String(f));
      },
      // Every registered id is in exactly one of the five state sets (free, leased, flood, invalid, rfree).
      checkRaw: async () => {
        const k = store.keys;
        const ids = (await redis.hvals(k.ids)).map((v) => v.split(':')[0]);
        const sets = await Promise.all([k.free, k.leased, k.flood, k.invalid, k.rfree].map((key) => redis.zrange(key, '0', '-1')));
        const all = sets.flat();
        assert.equal(all.length, new Set(all).size, 'an id is in two state sets');
        assert.deepEqual([...all].sort(), [...ids].sort(), 'state sets and registered ids differ');
        // rend scores exactly the rfree members
        assert.deepEqual((await redis.zrange(k.rend, '0', '-1')).sort(), [...(sets[4] ?? [])].sort(), 'rend and rfree differ');
      },
    };
  },
  async () => {
    await freed.close();
    await store.close();
  },
);

describe('RedisStore: bounded work per call', () => {
  let r: Redis;
  let s: RedisStore;
  before(async () => {
    r = createRedis(sharedRedisUrl());
    await once(r, 'ready');
    await r.flushdb();
    s = new RedisStore(r, 'bounded');
  });
  after(() => s.close());

  it('acquire moves at most PROMOTE_BATCH expired leases per call, and still serves every session', async () => {
    const n = PROMOTE_BATCH * 2 + 50;
    await s.applySync({ upserts: Array.from({ length: n }, (_, i) => ({ name: `b${i}`, meta: {} })), removes: [] });
    // Arrange n leases that expired long ago, directly (no race with a short TTL on a loaded machine).
    const ids = await r.zrange(s.keys.free, '0', '-1');
    assert.equal(ids.length, n);
    const tx = r.multi();
    ids.forEach((id, i) => tx.zrem(s.keys.free, id).zadd(s.keys.leased, String(1000 + i), id));
    await tx.exec();
    const st0 = await s.status();
    assert.deepEqual([st0.free, st0.inUse], [n, 0], 'status counts expired leases as free without moving anything');
    assert.equal(await r.zcard(s.keys.leased), n);
    assert.ok((await s.acquire(3_600_000)).ok);
    assert.equal(await r.zcard(s.keys.leased), n - PROMOTE_BATCH + 1, 'one call promoted exactly one batch');
    for (let i = 1; i < n; i++) assert.ok((await s.acquire(3_600_000)).ok, `acquire ${i}`);
    const st = await s.status();
    assert.deepEqual([st.free, st.inUse], [0, n]);
  });

  it('a scoped acquire walks a bounded number of older sessions resting on its scope while a free one exists, and all of them before a 503', async () => {
    const scoped = new RedisStore(r, 'walk'); // shares the connection: closed with s
    const n = SCOPED_WALK * 3;
    await scoped.applySync({ upserts: Array.from({ length: n + 1 }, (_, i) => ({ name: `w${i}`, meta: {} })), removes: [] });
    const held = [];
    for (let i = 0; i <= n; i++) {
      const x = await scoped.acquire(3_600_000);
      assert.ok(x.ok);
      held.push(x.session);
    }
    const rests = await Promise.all(held.slice(0, n).map((x) => scoped.floodWait(x.id, 3_600_000, x.leaseToken, 'x')));
    const restedAt = Math.max(...rests.map((x) => x.until)) - 3_600_000;
    const last = held[n];
    assert.ok(last);
    await until(async () => (await scoped.status()).now > restedAt, 'the store clock to move past the rests');
    await scoped.release(last.id, last.leaseToken); // the only fully free session, used most recently
    const zscores = async (): Promise<number> => Number(/cmdstat_zscore:calls=(\d+)/.exec(await r.info('commandstats'))?.[1] ?? 0);
    const before = await zscores();
    const got = await scoped.acquire(3_600_000, { scopes: ['x'] });
    assert.ok(got.ok && got.session.id === last.id, 'the free one, after looking at SCOPED_WALK older resting ones');
    const looked = (await zscores()) - before;
    assert.ok(looked <= SCOPED_WALK + 10, `bounded work: ${looked} ZSCOREs for ${n} older sessions resting on the scope`);
    const none = await scoped.acquire(3_600_000, { scopes: ['x'] });
    assert.equal(none.ok, false, 'free empty: every resting one was looked at, none eligible');
    assert.equal((await scoped.acquire(3_600_000, { scopes: ['y'] })).ok, true, 'eligible for another scope');
  });

  it('keeps about eventsMaxLen events in the stream (XADD MAXLEN ~) whatever happens', async () => {
    const capped = new RedisStore(r, 'capped', { eventsMaxLen: 100 }); // shares the connection: closed with s
    await capped.applySync({ upserts: [{ name: 'a', meta: {} }], removes: [] });
    for (let i = 0; i < 600; i++) {
      const x = await capped.acquire(60_000);
      assert.ok(x.ok);
      await capped.release(x.session.id, x.session.leaseToken);
    }
    const len = await r.xlen(capped.keys.events);
    assert.ok(len >= 100 && len <= 300, `stream length ${len}`);
    assert.equal((await capped.history({ limit: 1000 })).events.length, len);
  });
});

describe('RedisStore: each change is one command, its event and counters written with it', () => {
  const HOUR = 3_600_000;
  let r: Redis;
  let s: RedisStore;
  let monitor: Redis;
  /** Commands the store's own connection sent, as Redis saw them (MONITOR; a script's inner commands come from "lua"). */
  const seen: string[][] = [];
  let fences = 0;
  before(async () => {
    r = createRedis(sharedRedisUrl());
    await once(r, 'ready');
    await r.flushdb();
    // Loaded first, so no NOSCRIPT fallback (EVALSHA then EVAL) shows up as a second command.
    await Promise.all(readScripts().map((x) => r.script('LOAD', x.lua)));
    s = new RedisStore(r, 'one');
    await s.applySync({ upserts: [{ name: 'a', meta: {} }, { name: 'b', meta: {} }], removes: [] });
    const addr = /addr=(\S+)/.exec(String(await r.client('INFO')))?.[1];
    monitor = await r.monitor();
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === addr) seen.push(args.map((a) => a.toLowerCase()));
    });
  });
  after(async () => {
    monitor.disconnect();
    await s.close();
  });

  /** ECHO a fresh marker on the store's connection and wait for MONITOR to show it: everything sent before it has been seen. */
  async function fence(): Promise<number> {
    const mark = `fence-${++fences}`;
    await r.echo(mark);
    await until(() => seen.some((a) => a[0] === 'echo' && a[1] === mark), 'MONITOR to show the fence');
    return seen.findIndex((a) => a[0] === 'echo' && a[1] === mark);
  }

  type Shape = Omit<PoolEvent, 'id' | 'at'>;
  /** Run one store call: it must send exactly one command. Its answer, and the events it left (newest first). */
  async function one<T>(what: string, call: () => Promise<T>): Promise<[T, Shape[]]> {
    const last = (await s.history({ limit: 1 })).events[0]?.id;
    const start = await fence();
    const out = await call();
    const end = await fence();
    // (auto-pipelined, a script goes out as EVAL; else as EVALSHA)
    const sent = seen.slice(start + 1, end).map((a) => (a[0] === 'evalsha' ? 'eval' : a[0]));
    assert.deepEqual(sent, ['eval'], `${what}: one script call, nothing behind it`);
    const page = (await s.history({ limit: 20 })).events;
    const fresh = last === undefined ? page : page.slice(0, page.findIndex((e) => e.id === last));
    return [out, fresh.map(({ id: _id, at: _at, ...e }) => e)];
  }
  const leased = (x: AcquireResult): LeasedSession => {
    assert.ok(x.ok);
    return x.session;
  };

  it('acquire, release, next=true, rests, reports, invalidate and restore: same events and counters as before', async () => {
    const [a0, e1] = await one('acquire', () => s.acquire(HOUR));
    const a = leased(a0);
    assert.deepEqual(e1, [{ type: 'issued', sessionId: a.id }]);
    assert.deepEqual((await one('release', () => s.release(a.id, a.leaseToken)))[1], [{ type: 'released', sessionId: a.id }]);
    assert.deepEqual((await one('release of a free session', () => s.release(a.id)))[1], []);
    const x = leased((await one('acquire', () => s.acquire(HOUR)))[0]);
    const [g1, e5] = await one('release, next=true', () => s.giveBackAndAcquire({ kind: 'release', id: x.id, leaseToken: x.leaseToken }, HOUR));
    const y = leased(g1.next);
    assert.deepEqual(e5, [{ type: 'issued', sessionId: y.id }, { type: 'released', sessionId: x.id }]);
    const [g2, e6] = await one('rest, next=true', () =>
      s.giveBackAndAcquire({ kind: 'floodwait', id: y.id, waitMs: 30_000, leaseToken: y.leaseToken, scope: 'x' }, HOUR),
    );
    const z = leased(g2.next);
    assert.deepEqual(e6, [{ type: 'issued', sessionId: z.id }, { type: 'rest', sessionId: y.id, scope: 'x', until: g2.floodWait?.until }]);
    const [f, e7] = await one('rest', () => s.floodWait(z.id, 20_000, z.leaseToken));
    assert.deepEqual(e7, [{ type: 'rest', sessionId: z.id, until: f.until }]);
    const [rep, e8] = await one('reported rest', () => s.report(y.id, { error: 'FLOOD_WAIT_30', decision: decide('FLOOD_WAIT_30', 'x', 1) }));
    assert.deepEqual(e8, [{ type: 'report', sessionId: y.id, scope: 'x', until: rep.until ?? -1, error: 'FLOOD_WAIT_30', action: 'rest' }]);
    const none = { error: 'RPC_CALL_FAIL', decision: decide('RPC_CALL_FAIL', undefined, 1) };
    assert.deepEqual((await one('reported error', () => s.report(y.id, none)))[1], [{ type: 'report', sessionId: y.id, error: 'RPC_CALL_FAIL', action: 'none' }]);
    assert.deepEqual((await one('invalidate', () => s.invalidate(y.id, 'operator')))[1], [{ type: 'invalidated', sessionId: y.id, reason: 'operator' }]);
    assert.deepEqual((await one('invalidate again', () => s.invalidate(y.id)))[1], []);
    await s.restore(y.id);
    assert.deepEqual((await one('invalidate, empty reason', () => s.invalidate(y.id, '')))[1], [{ type: 'invalidated', sessionId: y.id, reason: '' }]);
    await s.restore(y.id);
    assert.deepEqual((await one('invalidate, no reason', () => s.invalidate(y.id)))[1], [{ type: 'invalidated', sessionId: y.id }]);
    const flood = { error: 'FLOOD_WAIT_30', decision: decide('FLOOD_WAIT_30', undefined, 1) };
    assert.deepEqual((await one('reported rest, invalidated', () => s.report(y.id, flood)))[1], [{ type: 'report', sessionId: y.id, error: 'FLOOD_WAIT_30', action: 'none' }]);
    const ban = { error: 'USER_DEACTIVATED_BAN', decision: decide('USER_DEACTIVATED_BAN', undefined, 1) };
    assert.deepEqual((await one('reported ban', () => s.report(z.id, ban)))[1], [{ type: 'report', sessionId: z.id, error: 'USER_DEACTIVATED_BAN', action: 'invalidate' }]);
    assert.deepEqual((await one('restore', () => s.restore(z.id)))[1], [{ type: 'restored', sessionId: z.id }]);
    const counters = Object.fromEntries((await s.list({ limit: 10 })).sessions.map((row) => [row.id, row.counters]));
    assert.deepEqual(counters[y.id], { issued: 2, rests: 2, restedSeconds: 60, restsByScope: { x: 2 } });
    assert.deepEqual(counters[z.id], { issued: 2, rests: 1, restedSeconds: 20, restsByScope: { '*': 1 } });
  });
});
