/**
 * One factory for every Redis mode: a standalone server (REDIS_URL), a
 * Sentinel-managed master (REDIS_SENTINELS) or a Redis Cluster
 * (REDIS_CLUSTER_NODES). Failover is ioredis's own: in Sentinel mode it asks
 * the Sentinels for the master on every (re)connect and checks the node's
 * ROLE; in Cluster mode it follows MOVED/ASK and refreshes the slot map. The
 * fail-fast options (redisOptions) hold in every mode, so a request during a
 * switch answers 503 instead of waiting for it.
 */
import Redis, { Cluster, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config';
import { defineScripts, type RedisClient } from './scripts';

export type { RedisClient };

/**
 * Client options for a service that must answer 503 fast rather than hang:
 * no offline queue (a command while disconnected fails at once), a command
 * timeout below the 2 s budget, and endless reconnects in the background.
 * RESP2 is pinned: script replies have one documented shape, and managed
 * Redis versions without HELLO work too.
 */
export function redisOptions(extra: RedisOptions = {}): RedisOptions {
  return {
    protocol: 2,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 1500,
    connectTimeout: 2000,
    // Commands issued in one event-loop turn go out in one write: under load
    // the per-command syscall was the largest single CPU cost (docs/benchmarks.md).
    enableAutoPipelining: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    ...extra,
  };
}

/** Username, password, TLS and db that REDIS_URL gives the data nodes in Sentinel/Cluster mode. */
function dataNodeOptions(url: string | null): Pick<RedisOptions, 'username' | 'password' | 'db' | 'tls'> {
  if (url === null) return {};
  const u = new URL(url);
  const db = Number(u.pathname.replace(/^\//, '') || '0');
  return {
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/**
 * The client for `target` with the service's fail-fast options (`extra`
 * overrides them, e.g. for the subscriber connection), scripts defined.
 */
export function connectRedis(target: RedisTarget, extra: RedisOptions = {}): RedisClient {
  const opts = redisOptions(extra);
  let client: RedisClient;
  switch (target.mode) {
    case 'standalone':
      client = new Redis(target.url, opts);
      break;
    case 'sentinel': {
      const data = dataNodeOptions(target.url);
      client = new Redis({
        ...opts,
        ...data,
        sentinels: target.sentinels,
        name: target.name,
        ...(target.sentinelPassword === null ? {} : { sentinelPassword: target.sentinelPassword }),
        // TLS to the data nodes when REDIS_URL is rediss://, and to the Sentinels then too.
        ...(data.tls ? { enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
        sentinelCommandTimeout: 1000,
        // Subscribe to +switch-master on the Sentinels: a failover is followed at once, not at the next error.
        failoverDetector: true,
      });
      break;
    }
    case 'cluster': {
      const { retryStrategy, enableOfflineQueue, ...nodeOptions } = opts;
      const options: ClusterOptions = {
        redisOptions: { ...nodeOptions, ...dataNodeOptions(target.url) },
        enableOfflineQueue,
        clusterRetryStrategy: retryStrategy ?? null,
        enableAutoPipelining: opts.enableAutoPipelining,
        scaleReads: 'master',
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        // A redirection storm during a resharding must still end within the 2 s budget.
        maxRedirections: 8,
        slotsRefreshTimeout: 1000,
      };
      client = new Cluster(target.nodes, options);
      break;
    }
  }
  defineScripts(client);
  return client;
}
