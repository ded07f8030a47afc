/** Build an app (no listen) on a chosen store, for supertest. */
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { loadConfig, type Config } from '../../src/config';
import { createApp } from '../../src/http/app';
import { RedisRateLimitStore } from '../../src/http/ratelimit';
import { createLogger, type Logger } from '../../src/log';
import { createMetrics, type Metrics } from '../../src/metrics';
import { MemoryStore } from '../../src/pool/memory';
import { memoryFreedSource } from '../../src/pool/notifier';
import { PoolService } from '../../src/pool/poolService';
import { RedisStore, createRedis } from '../../src/pool/redis';
import type { PoolStore } from '../../src/pool/types';
import { runSync } from '../../src/sync';
import { sharedRedisUrl } from './global';

export const KEY = 'test-key-0123456789abcdef';
export const ADMIN_KEY = 'admin-key-0123456789abcdef';

export type StoreKind = 'memory' | 'redis';

export function noProxyParser(): never {
  throw new Error('no proxy parser in this test');
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({ TELEGATE_API_KEYS: KEY, LOG_LEVEL: 'silent', ...env }, noProxyParser);
}

export function sessionsDir(...names: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-sessions-'));
  for (const n of names) writeFileSync(path.join(dir, `${n}.session`), '');
  return dir;
}

export interface TestApp {
  app: ReturnType<typeof createApp>;
  store: PoolStore;
  pool: PoolService;
  config: Config;
  redis?: Redis;
  metrics?: Metrics;
  close(): Promise<void>;
}

export interface MakeAppOptions {
  /** Build Prometheus metrics (GET /metrics) for this app. */
  metrics?: boolean;
  /** How long a scrape waits for the store (metrics only). */
  storeTimeoutMs?: number;
  /** Log here instead of nowhere. */
  logger?: Logger;
}

/** An app on a directory holding `names`, synced; close() also removes the directory. */
export async function syncedApp(kind: StoreKind, names: string[], env: Record<string, string> = {}): Promise<TestApp> {
  const dir = sessionsDir(...names);
  const t = await makeApp(kind, { TELEGATE_SESSIONS_DIR: dir, ...env });
  await t.store.applySync({ upserts: names.map((name) => ({ name, meta: { proxy: null } })), removes: [] });
  return {
    ...t,
    close: async () => {
      await t.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function makeApp(
  kind: StoreKind,
  env: Record<string, string> = {},
  storeOverride?: PoolStore,
  opts: MakeAppOptions = {},
): Promise<TestApp> {
  const config = testConfig(env);
  let store: PoolStore;
  let redis: Redis | undefined;
  if (storeOverride) store = storeOverride;
  else if (kind === 'redis') {
    redis = createRedis(sharedRedisUrl());
    await once(redis, 'ready');
    await redis.flushdb();
    store = new RedisStore(redis, 'test');
  } else store = new MemoryStore();
  // Long-poll wake-ups in these tests come from the safety poll or an in-process store.
  const freed = store instanceof MemoryStore ? memoryFreedSource(store) : { onFreed: () => () => undefined };
  const metrics: Metrics | undefined = opts.metrics ? createMetrics({ store, waiting: (): number => pool.waiting, storeTimeoutMs: opts.storeTimeoutMs }) : undefined;
  const pool: PoolService = new PoolService({
    store,
    freed,
    leaseTtlMs: config.leaseTtlMs,
    restrictedRestSeconds: config.restrictedRestSeconds,
    runSync: (force) =>
      runSync({ dir: config.sessionsDir, store, defaultProxy: config.defaultProxy, maxRemoveFraction: config.syncMaxRemoveFraction, force }),
    metrics,
  });
  const app = createApp({
    config,
    poolService: pool,
    metrics,
    logger: opts.logger ?? createLogger('silent'),
    rateLimitStore: redis ? new RedisRateLimitStore(redis, '{test}:rl:') : undefined,
    ready: () => store.ping(),
  });
  return {
    app,
    store,
    pool,
    config,
    redis,
    metrics,
    close: async () => {
      pool.close();
      await store.close();
    },
  };
}
