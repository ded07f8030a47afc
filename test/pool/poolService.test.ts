/**
 * PoolService, the one thing routes call: what it owns beyond the store's rules
 * (give-back when the client left, the Telegram error table's decision, scopes
 * and tags compared case-insensitively, the metrics of each operation), on both
 * stores.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type Redis from 'ioredis';
import { MemoryStore } from '../../src/pool/memory';
import { memoryFreedSource } from '../../src/pool/notifier';
import { PoolService, type PoolMetrics } from '../../src/pool/poolService';
import { RedisStore, createRedis } from '../../src/pool/redis';
import type { PoolStore } from '../../src/pool/types';
import { sharedRedisUrl } from '../helpers/global';

/** Records what PoolService reports. */
function recorder(): PoolMetrics & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    acquisition: (outcome) => void seen.push(`acquisition:${outcome}`),
    floodWait: () => void seen.push('floodWait'),
    invalidation: () => void seen.push('invalidation'),
    timeSync: (trigger, run) => {
      seen.push(`sync:${trigger}`);
      return run();
    },
  };
}

for (const kind of ['memory', 'redis'] as const) {
  describe(`PoolService (${kind} store)`, () => {
    let store: PoolStore;
    let redis: Redis | undefined;
    let service: PoolService;
    let metrics: ReturnType<typeof recorder>;

    beforeEach(async () => {
      if (kind === 'redis') {
        redis = createRedis(sharedRedisUrl());
        await once(redis, 'ready');
        await redis.flushdb();
        store = new RedisStore(redis, 'svc');
      } else store = new MemoryStore();
      await store.applySync({ upserts: [{ name: 'alpha', meta: { proxy: null } }], removes: [] });
      metrics = recorder();
      const freed = store instanceof MemoryStore ? memoryFreedSource(store) : { onFreed: () => () => undefined };
      service = new PoolService({
        store,
        freed,
        leaseTtlMs: 60_000,
        restrictedRestSeconds: 600,
        runSync: () => Promise.resolve({ new_sessions: 0, removed_sessions: 0, total_sessions: 1, updated_sessions: 0 }),
        metrics,
      });
    });
    afterEach(async () => {
      service.close();
      await store.close();
    });

    it('a session leased for a client that has left is given straight back, and counted abandoned', async () => {
      const gone = new AbortController();
      gone.abort();
      const r = await service.acquire({ waitMs: 0, signal: gone.signal });
      assert.deepEqual(r, { ok: false, abandoned: true });
      assert.equal((await service.status()).free, 1, 'nothing is held for nobody');
      assert.deepEqual(metrics.seen, ['acquisition:abandoned']);
      assert.equal((await service.acquire({ waitMs: 0 })).ok, true, 'the session is issued to the next request');
      assert.deepEqual(metrics.seen, ['acquisition:abandoned', 'acquisition:issued']);
    });

    it('without a signal, a client found gone once the lease is taken (left()) gets nothing held for it', async () => {
      let asked = 0;
      const r = await service.acquire({ waitMs: 0, left: () => ++asked > 0 });
      assert.deepEqual(r, { ok: false, abandoned: true });
      assert.equal(asked, 1, 'asked once, after the acquire');
      assert.equal((await service.status()).free, 1, 'nothing is held for nobody');
      assert.deepEqual(metrics.seen, ['acquisition:abandoned']);
    });

    it('report applies the Telegram error table: the name upper-cased, the method as a lowercased scope', async () => {
      const lease = await service.acquire({ waitMs: 0 });
      assert.ok(lease.ok);
      const r = await service.report({ id: lease.session.id, error: 'flood_wait_60', method: 'Messages.SendMessage', leaseToken: lease.session.leaseToken });
      assert.equal(r.error, 'FLOOD_WAIT_60');
      assert.equal(r.action, 'rest');
      assert.equal(r.scope, 'messages.sendmessage');
      // Scopes compare case-insensitively: the rest keeps the session from this scope in any case, not from others.
      assert.equal((await service.acquire({ waitMs: 0, scopes: ['MESSAGES.sendMessage'] })).ok, false);
      assert.deepEqual((await service.list({ scope: 'Messages.SendMessage', limit: 10 })).sessions.map((s) => s.name), ['alpha']);
      assert.equal((await service.acquire({ waitMs: 0, scopes: ['Contacts.ResolveUsername'] })).ok, true);
    });

    it('flood waits (with or without next) and invalidations are counted; a manual sync is timed', async () => {
      const lease = await service.acquire({ waitMs: 0 });
      assert.ok(lease.ok);
      const next = await service.floodWaitAndNext({ id: lease.session.id, waitMs: 60_000, leaseToken: lease.session.leaseToken }, { waitMs: 0 });
      assert.equal(next.ok, false, 'the only session rests');
      await service.floodWait({ id: lease.session.id, waitMs: 60_000 });
      await service.invalidate(lease.session.id, 'test');
      await service.sync(false);
      assert.deepEqual(metrics.seen, ['acquisition:issued', 'floodWait', 'acquisition:none_free', 'floodWait', 'invalidation', 'sync:manual']);
    });
  });
}
