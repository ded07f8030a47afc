/**
 * The two stacks a replica can run on, each built in one place: the Redis
 * backend (any number of replicas on one Redis) and the embedded one (one
 * process, state in memory). startService composes whichever the config
 * names and never looks inside.
 */
import type { Config, RedisTarget } from './config';
import type { Logger } from './log';
import { LocalLeadership, RedisLeadership, type Leadership } from './cluster/leader';
import { RedisRateLimitStore } from './http/ratelimit';
import { connectRedis } from './pool/connect';
import { MemoryStore } from './pool/memory';
import { RedisFreedSource, memoryFreedSource } from './pool/notifier';
import type { FreedSource } from './pool/longPoll';
import { RedisStore } from './pool/redis';
import { readScripts } from './pool/scripts';
import type { PoolStore } from './pool/types';

export interface Backend {
  store: PoolStore;
  /** "A session became free" announcements, for long-polls. */
  freed: FreedSource;
  /** Fenced on both backends: the leader's syncs carry its fence, the store refuses an older one. */
  leadership: Leadership;
  /** Shared rate-limit counters; undefined → express-rate-limit's in-process store. */
  rateLimitStore?: RedisRateLimitStore;
  /** True once the backend can serve (scripts compiled); the store's ping is checked by the caller. */
  ready(): boolean;
  /** Time left of a recovery grace after a store data loss, null when none (Redis only). */
  recoveryEndsInMs?: () => Promise<number | null>;
  /** Close every connection; never waits on a dead server. */
  close(): Promise<void>;
}

export function createRedisBackend(config: Config & { redis: RedisTarget }, logger: Logger, replicaId: string): Backend {
  const redis = connectRedis(config.redis);
  const wait = { replicas: config.redisWaitReplicas, timeoutMs: config.redisWaitTimeoutMs };
  const scripts = readScripts();
  let scriptsLoaded = false;
  const loadScripts = async (): Promise<void> => {
    // Compiles every script once per connection: a syntax error shows at start, and readiness waits for it.
    await Promise.all(scripts.map((s) => redis.script('LOAD', s.lua)));
    scriptsLoaded = true;
  };
  redis.on('ready', () => {
    loadScripts().catch((err: unknown) => logger.error({ err }, 'loading Lua scripts failed'));
  });
  let lastError = '';
  redis.on('error', (err: Error) => {
    if (err.message !== lastError) logger.warn({ err: err.message }, 'redis connection error');
    lastError = err.message;
  });
  redis.on('ready', () => {
    if (lastError) logger.info('redis connection restored');
    lastError = '';
  });
  const store = new RedisStore(redis, config.keyPrefix, { recoveryGraceMs: config.recoveryGraceMs, logger, wait, eventsMaxLen: config.eventsMaxLen });
  // The subscriber queues its SUBSCRIBE until connected and resubscribes after reconnects.
  const sub = connectRedis(config.redis, { enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
  sub.on('error', () => undefined); // reported by the main connection
  const freed = new RedisFreedSource(sub, store.keys.freedChannel);
  freed.ready.catch((err: unknown) => logger.error({ err }, 'subscribing to release announcements failed'));
  logger.info({ replica: replicaId, store: 'redis', mode: config.redis.mode, waitReplicas: wait.replicas }, 'using Redis store');
  return {
    store,
    freed,
    leadership: new RedisLeadership(redis, store.keys, replicaId, config.leaderTtlMs, logger, wait),
    rateLimitStore: new RedisRateLimitStore(redis, `{${config.keyPrefix}}:rl:`, logger, config.rateLimitSlice),
    ready: () => scriptsLoaded,
    recoveryEndsInMs: () => store.recoveryEndsInMs(),
    close: async () => {
      await freed.close().catch(() => undefined);
      await store.close().catch(() => undefined);
    },
  };
}

export function createMemoryBackend(logger: Logger, eventsMaxLen?: number): Backend {
  const store = new MemoryStore(Date.now, eventsMaxLen);
  logger.warn(
    { store: 'memory' },
    'REDIS_URL is not set: state is kept IN MEMORY — one replica only, and every lease and flood wait is lost on restart',
  );
  return {
    store,
    freed: memoryFreedSource(store),
    leadership: new LocalLeadership(store),
    ready: () => true,
    close: () => store.close(),
  };
}

/** The backend the config names: Redis when a Redis target is set, else the embedded store. */
export function createBackend(config: Config, logger: Logger, replicaId: string): Backend {
  const { redis } = config;
  return redis ? createRedisBackend({ ...config, redis }, logger, replicaId) : createMemoryBackend(logger, config.eventsMaxLen);
}
