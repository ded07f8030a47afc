/**
 * Assembles one replica: store (Redis or embedded), pool, leadership, jobs,
 * HTTP server; and takes it down gracefully. main.ts owns the process.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Config } from './config';
import type { Logger } from './log';
import { createMetrics } from './metrics';
import { LeaderJobs } from './cluster/jobs';
import { LocalLeadership, RedisLeadership, type Leadership } from './cluster/leader';
import { createApp } from './http/app';
import { RedisRateLimitStore } from './http/ratelimit';
import { MemoryStore } from './pool/memory';
import { RedisFreedSource, memoryFreedSource } from './pool/notifier';
import { Pool, type FreedSource } from './pool/pool';
import { RedisStore, createRedis } from './pool/redis';
import { readScripts } from './pool/scripts';
import type { PoolStore } from './pool/types';
import { runSync, type SessionFileReader } from './sync';
import { syncLogHooks } from './syncLog';

export interface Service {
  readonly server: Server;
  readonly port: number;
  readonly store: PoolStore;
  readonly pool: Pool;
  readonly leadership: Leadership;
  readonly replicaId: string;
  /** Graceful shutdown; resolves when everything is closed. */
  shutdown(reason: string): Promise<void>;
}

export interface ServiceOptions {
  config: Config;
  logger: Logger;
  /** Reads session files at sync; absent → a session is its file name. */
  reader?: SessionFileReader;
  /** Listen host (default all interfaces). */
  host?: string;
}

export async function startService({ config, logger, reader, host }: ServiceOptions): Promise<Service> {
  const replicaId = `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  let store: PoolStore;
  let freed: FreedSource;
  let leadership: Leadership;
  let rateLimitStore: RedisRateLimitStore | undefined;
  const closers: Array<() => Promise<void>> = [];
  let scriptsLoaded = config.redisUrl === null;
  let recoveryEndsInMs: (() => Promise<number | null>) | undefined;

  if (config.redisUrl) {
    const redis = createRedis(config.redisUrl);
    const scripts = readScripts();
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
    const redisStore = new RedisStore(redis, config.keyPrefix, { recoveryGraceMs: config.recoveryGraceMs, logger, eventsMaxLen: config.eventsMaxLen });
    recoveryEndsInMs = () => redisStore.recoveryEndsInMs();
    store = redisStore;
    // The subscriber queues its SUBSCRIBE until connected and resubscribes after reconnects.
    const sub = createRedis(config.redisUrl, { enableOfflineQueue: true, maxRetriesPerRequest: null, commandTimeout: undefined });
    sub.on('error', () => undefined); // reported by the main connection
    const source = new RedisFreedSource(sub, redisStore.keys.freedChannel);
    source.ready.catch((err: unknown) => logger.error({ err }, 'subscribing to release announcements failed'));
    freed = source;
    leadership = new RedisLeadership(redis, redisStore.keys, replicaId, config.leaderTtlMs, logger);
    rateLimitStore = new RedisRateLimitStore(redis, `{${config.keyPrefix}}:rl:`);
    closers.push(() => source.close(), () => store.close());
    logger.info({ replica: replicaId, store: 'redis' }, 'using Redis store');
  } else {
    const memory = new MemoryStore(Date.now, config.eventsMaxLen);
    store = memory;
    freed = memoryFreedSource(memory);
    leadership = new LocalLeadership();
    closers.push(() => store.close());
    logger.warn(
      { store: 'memory' },
      'REDIS_URL is not set: state is kept IN MEMORY — one replica only, and every lease and flood wait is lost on restart',
    );
  }

  const pool = new Pool(store, config.leaseTtlMs, freed);
  const metrics = createMetrics({ store, isLeader: () => leadership.isLeader, waiting: () => pool.waiting });
  const fileLog = syncLogHooks(logger, reader);
  const sync = (fence: number | undefined, force: boolean) =>
    runSync({
      dir: config.sessionsDir,
      store,
      reader: fileLog.reader,
      defaultProxy: config.defaultProxy,
      maxRemoveFraction: config.syncMaxRemoveFraction,
      force,
      fence,
      onSkip: fileLog.onSkip,
      keepSessionString: config.exposeSessionString,
    });

  let shuttingDown = false;
  const app = createApp({
    config,
    pool,
    logger,
    rateLimitStore,
    metrics,
    runSync: (force) => sync(undefined, force),
    ready: async () => !shuttingDown && scriptsLoaded && (await store.ping()),
    recoveryEndsInMs,
  });

  const jobs = new LeaderJobs({
    leadership,
    syncCron: config.syncCron,
    reaperIntervalMs: config.reaperIntervalMs,
    runSync: (fence) => sync(leadership instanceof LocalLeadership ? undefined : fence, false),
    reap: (limit) => store.reap(limit),
    logger,
    onSync: (result, seconds) => metrics.sync('scheduled', result, seconds),
    onReap: (count) => metrics.reaped(count),
  });

  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, host ?? '0.0.0.0', () => resolve(s));
    s.once('error', reject);
  });
  // Long-polls hold a request up to 60 s: keep sockets alive past that.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 90_000;
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, replica: replicaId }, 'telegate listening');
  leadership.start();

  let done: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    done ??= (async () => {
      logger.info({ reason }, 'shutting down');
      shuttingDown = true; // readiness fails at once
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets that finish their last response after close() would
      // otherwise linger until their idle timeout: close them as they go idle.
      const reaper = setInterval(() => server.closeIdleConnections(), 50);
      server.closeIdleConnections();
      pool.drain(); // parked long-polls are answered now
      jobs.stop();
      await leadership.stop();
      const bound = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
      await Promise.race([closed, bound]);
      clearInterval(reaper);
      server.closeAllConnections();
      pool.close();
      for (const close of closers) await close().catch(() => undefined);
      logger.info('shutdown complete');
    })();
    return done;
  };

  return { server, port, store, pool, leadership, replicaId, shutdown };
}
