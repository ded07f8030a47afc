import assert from 'node:assert/strict';
import { once } from 'node:events';
import type Redis from 'ioredis';
import { RedisStore, createRedis } from '../../src/pool/redis';
import { sharedRedisUrl } from '../helpers/redis';
import { storeContract } from './store.contract';

let redis: Redis;
let store: RedisStore;

storeContract(
  'redis',
  async () => {
    redis = createRedis(sharedRedisUrl());
    await once(redis, 'ready');
    await redis.flushdb();
    store = new RedisStore(redis, 'test');
    return {
      store,
      setFence: async (f: number) => {
        await redis.set(store.keys.fence, String(f));
      },
      // Every registered id is in exactly one of the four state sets.
      checkRaw: async () => {
        const k = store.keys;
        const ids = (await redis.hvals(k.ids)).map((v) => v.split(':')[0]);
        const sets = await Promise.all([k.free, k.leased, k.flood, k.invalid].map((key) => redis.zrange(key, '0', '-1')));
        const all = sets.flat();
        assert.equal(all.length, new Set(all).size, 'an id is in two state sets');
        assert.deepEqual([...all].sort(), [...ids].sort(), 'state sets and registered ids differ');
      },
    };
  },
  () => store.close(),
);
