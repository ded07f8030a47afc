import assert from 'node:assert/strict';
import { once } from 'node:events';
import type Redis from 'ioredis';
import { PROMOTE_BATCH, RedisStore, SCOPED_WALK, createRedis } from '../../src/pool/redis';
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
