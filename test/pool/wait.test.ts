/**
 * TELEGATE_REDIS_WAIT_REPLICAS: a change is answered only once that many
 * replicas hold it; otherwise the store answers "unavailable" (503) and an
 * acquire that did happen on the master is given back, never left to nobody.
 * Real servers: a master alone, then the same master with a replica.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type Redis from 'ioredis';
import { RedisLeadership } from '../../src/cluster/leader';
import { ReplicationTimeoutError, StoreUnavailableError } from '../../src/errors';
import { createLogger } from '../../src/log';
import { RedisStore, createRedis } from '../../src/pool/redis';
import { until } from '../../support/poll';
import { RedisServer, testClient } from '../../support/redis';
import { storeContract } from './store.contract';
import { subscribeFreed } from './subscriber';
import type { RedisFreedSource } from '../../src/pool/notifier';

/** Start a replica of `master` and wait until the master counts it as online. */
async function startReplica(master: RedisServer, masterClient: Redis): Promise<RedisServer> {
  const replica = await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  await until(async () => /slave0:.*state=online/.test(await masterClient.info('replication')), 'the replica to be online', 15_000);
  return replica;
}

/** Short where no replica can answer; generous where one must (a loaded machine). */
const WAIT_ONE = { replicas: 1, timeoutMs: 100 };
const WAIT_ONE_PATIENT = { replicas: 1, timeoutMs: 1000 };

describe('RedisStore with TELEGATE_REDIS_WAIT_REPLICAS', function () {
  this.timeout(40_000);
  let master: RedisServer;
  let replica: RedisServer | undefined;
  let raw: Redis;
  let redis: Redis;

  before(async () => {
    master = await RedisServer.start();
    raw = await testClient(master.url);
  });
  after(async () => {
    raw.disconnect();
    await replica?.stop();
    await master.stop();
  });
  beforeEach(async () => {
    await raw.flushall();
    redis = createRedis(master.url);
    await once(redis, 'ready');
  });
  afterEach(() => redis.disconnect());

  async function seeded(wait = WAIT_ONE, n = 3): Promise<RedisStore> {
    // Seeded without WAIT: the rules under test are those of the store that waits.
    await new RedisStore(redis, 'w').applySync({ upserts: Array.from({ length: n }, (_, i) => ({ name: `s${i}`, meta: {} })), removes: [] });
    return new RedisStore(redis, 'w', { wait });
  }

  describe('no replica acknowledges', () => {
    it('an acquire answers store-unavailable and its lease is given back', async () => {
      const store = await seeded();
      await assert.rejects(store.acquire(60_000), (err) => err instanceof ReplicationTimeoutError && err instanceof StoreUnavailableError);
      // The compensation is queued behind the acquire on the same connection.
      await until(async () => (await store.status()).free === 3, 'the lease to be given back');
      assert.equal((await store.status()).inUse, 0);
    });

    it('a change no replica acknowledged still has its history (written with it), a cancelled lease has none', async () => {
      await seeded();
      const lease = await new RedisStore(redis, 'w').acquire(60_000);
      assert.ok(lease.ok);
      const store = new RedisStore(redis, 'w', { wait: WAIT_ONE });
      await assert.rejects(store.acquire(60_000), ReplicationTimeoutError);
      await until(async () => (await store.status()).free === 2, 'the unacknowledged lease to be given back');
      await assert.rejects(store.release(lease.session.id, lease.session.leaseToken), ReplicationTimeoutError);
      // The release happened on the master (a failover may still lose it, with its event: both or neither).
      const events = (await store.history({ limit: 10 })).events.map((e) => [e.type, e.sessionId]);
      assert.deepEqual(events, [['released', lease.session.id], ['issued', lease.session.id]]);
      const counted = (await store.list({ limit: 10 })).sessions.map((x) => x.counters.issued);
      assert.deepEqual(counted.sort(), [0, 0, 1], 'the given-back lease is not counted');
    });

    it('a release with next=true answers store-unavailable, and the lease it issued is given back', async () => {
      await seeded();
      const lease = await new RedisStore(redis, 'w').acquire(60_000);
      assert.ok(lease.ok);
      const store = new RedisStore(redis, 'w', { wait: WAIT_ONE });
      await assert.rejects(
        store.giveBackAndAcquire({ kind: 'release', id: lease.session.id, leaseToken: lease.session.leaseToken }, 60_000),
        ReplicationTimeoutError,
      );
      await until(async () => (await store.status()).free === 3, 'the next lease to be given back');
    });

    it('release, flood wait, heartbeat, sync and reap answer store-unavailable', async () => {
      await seeded();
      const lease = await new RedisStore(redis, 'w').acquire(60_000);
      assert.ok(lease.ok);
      const store = new RedisStore(redis, 'w', { wait: WAIT_ONE });
      const id = lease.session.id;
      const token = lease.session.leaseToken;
      for (const attempt of [
        () => store.heartbeat(id, token, 60_000),
        () => store.floodWait(id, 60_000, token),
        () => store.release(id, token),
        () => store.applySync({ upserts: [{ name: 'new', meta: {} }], removes: [] }),
        () => store.reap(10),
      ]) {
        await assert.rejects(attempt(), ReplicationTimeoutError);
      }
    });

    it('while replicas are missing, one write at a time waits; the others are refused before they run', async () => {
      const store = await seeded();
      await assert.rejects(store.acquire(60_000), ReplicationTimeoutError); // learns that replicas are missing
      await until(async () => (await store.status()).free === 3, 'the lease to be given back');
      await raw.config('RESETSTAT');
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => store.acquire(60_000)));
      assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof ReplicationTimeoutError));
      // WAIT blocks its connection: five queued WAITs would hold the fifth answer five timeouts long.
      const waits = /cmdstat_wait:calls=(\d+)/.exec(await raw.info('commandstats'))?.[1];
      assert.equal(Number(waits ?? 0), 1, 'one probing WAIT');
      await until(async () => (await store.status()).free === 3, 'the probe\'s lease to be given back');
    });

    it('a replica does not take leadership on a fence no replica holds', async () => {
      const leadership = new RedisLeadership(redis, new RedisStore(redis, 'w').keys, 'r1', 5000, createLogger('silent'), WAIT_ONE);
      await leadership.tick();
      assert.equal(leadership.isLeader, false);
      await leadership.stop();
    });
  });

  describe('with a replica online', () => {
    before(async () => {
      replica = await startReplica(master, raw);
    });

    it('an acquire is on the replica by the time it is answered', async () => {
      const store = await seeded(WAIT_ONE_PATIENT);
      const replicaClient = await testClient(replica!.url);
      try {
        const lease = await store.acquire(60_000);
        assert.ok(lease.ok);
        // WAIT 1 returned: the replica applied the lease before the answer.
        assert.notEqual(await replicaClient.zscore(store.keys.leased, String(lease.session.id)), null);
      } finally {
        replicaClient.disconnect();
      }
    });

    it('leadership is taken once the replica holds the fence', async () => {
      const leadership = new RedisLeadership(redis, new RedisStore(redis, 'w').keys, 'r1', 5000, createLogger('silent'), WAIT_ONE_PATIENT);
      await leadership.tick();
      assert.equal(leadership.isLeader, true);
      await leadership.stop();
    });
  });
});

// Every shared rule holds when each script goes through the WAIT pipeline.
describe('store contract through WAIT 1', function () {
  this.timeout(40_000);
  let master: RedisServer;
  let replica: RedisServer;
  let raw: Redis;
  let redis: Redis;
  let store: RedisStore;
  let freed: RedisFreedSource;

  before(async () => {
    master = await RedisServer.start();
    raw = await testClient(master.url);
    replica = await startReplica(master, raw);
  });
  after(async () => {
    raw.disconnect();
    await replica.stop();
    await master.stop();
  });

  storeContract(
    'redis (WAIT 1)',
    async () => {
      redis = createRedis(master.url);
      await once(redis, 'ready');
      await redis.flushdb();
      store = new RedisStore(redis, 'test', { wait: { replicas: 1, timeoutMs: 1000 } });
      freed = await subscribeFreed(master.url, store);
      return {
        store,
        freed,
        setFence: async (f: number) => {
          await redis.set(store.keys.fence, String(f));
        },
      };
    },
    async () => {
      await freed.close();
      await store.close();
    },
  );
});
