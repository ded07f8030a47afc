/**
 * Configuration from the environment (12-factor). loadConfig() is pure: it
 * reads only the env object (and the keys file it names) and throws a
 * ConfigError naming the variable; main.ts turns that into one line and exit 1.
 */
import { readFileSync } from 'node:fs';
import Ajv, { type ErrorObject } from 'ajv';
import cron from 'node-cron';
import type { Proxy } from './pool/types';

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly variable: string,
    hint: string,
  ) {
    super(`${variable}: ${hint}`);
  }
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  port: number;
  redisUrl: string | null;
  apiKeys: string[];
  /** When non-empty, admin-only endpoints require one of these. */
  adminKeys: string[];
  sessionsDir: string;
  leaseTtlMs: number;
  syncCron: string;
  defaultProxy: Proxy | null;
  keyPrefix: string;
  logLevel: LogLevel;
  syncMaxRemoveFraction: number;
  exposeSessionString: boolean;
  /** Requests per minute per API key; 0 disables. */
  rateLimit: number;
  /** Hits of the shared rate-limit budget a replica takes from Redis at once; 0 = automatic (1% of the limit, 1..100). */
  rateLimitSlice: number;
  /** Number of proxy hops in front of the service (Express `trust proxy`). */
  trustProxy: number;
  /** Serve /metrics without an API key. */
  metricsPublic: boolean;
  /** Leader lock TTL. */
  leaderTtlMs: number;
  /** How often the leader reclaims expired leases. */
  reaperIntervalMs: number;
  /** Bound on graceful shutdown. */
  shutdownTimeoutMs: number;
  /** Account-wide rest after PEER_FLOOD / USER_RESTRICTED / FROZEN_METHOD_INVALID (POST /report), seconds. */
  restrictedRestSeconds: number;
  /** Recent events kept in the capped stream (GET /events). */
  eventsMaxLen: number;
  /** Release / flood wait demand the lease token from every key, admins included. */
  requireLeaseToken: boolean;
  /** Issue nothing this long after Redis is found to have lost data; 0 disables. */
  recoveryGraceMs: number;
  /** Where Redis is (standalone, Sentinel or Cluster); null → the embedded store. */
  redis: RedisTarget | null;
  /** WAIT for this many replicas after every state change (0: do not wait). */
  redisWaitReplicas: number;
  redisWaitTimeoutMs: number;
}

export interface HostPort {
  host: string;
  port: number;
}

/**
 * How to reach Redis. `url` is REDIS_URL; with Sentinel or Cluster it only
 * carries the data nodes' username, password, TLS (rediss://) and, for
 * Sentinel, the db; its host and port are not used.
 */
export type RedisTarget =
  | { mode: 'standalone'; url: string }
  | { mode: 'sentinel'; sentinels: HostPort[]; name: string; sentinelPassword: string | null; url: string | null }
  | { mode: 'cluster'; nodes: HostPort[]; url: string | null };

/** Environment schema: the single source of names, defaults and bounds. */
const envSchema = {
  type: 'object',
  properties: {
    PORT: { type: 'integer', minimum: 1, maximum: 65535, default: 8000 },
    REDIS_URL: { type: 'string', pattern: '^rediss?://' },
    TELEGATE_API_KEYS: { type: 'string' },
    TELEGATE_API_KEYS_FILE: { type: 'string', minLength: 1 },
    TELEGATE_ADMIN_KEYS: { type: 'string' },
    TELEGATE_SESSIONS_DIR: { type: 'string', minLength: 1, default: './sessions' },
    TELEGATE_LEASE_TTL_SECONDS: { type: 'integer', minimum: 1, maximum: 31536000, default: 10800 },
    TELEGATE_RESTRICTED_REST_SECONDS: { type: 'integer', minimum: 0, maximum: 31536000, default: 86400 },
    TELEGATE_EVENTS_MAX_LEN: { type: 'integer', minimum: 100, maximum: 10000000, default: 10000 },
    TELEGATE_SYNC_CRON: { type: 'string', minLength: 1, default: '0 * * * *' },
    TELEGATE_DEFAULT_PROXY: { type: 'string' },
    TELEGATE_KEY_PREFIX: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,64}$', default: 'telegate' },
    LOG_LEVEL: { type: 'string', enum: LOG_LEVELS, default: 'info' },
    TELEGATE_SYNC_MAX_REMOVE_FRACTION: { type: 'number', minimum: 0, maximum: 1, default: 0.5 },
    TELEGATE_EXPOSE_SESSION_STRING: { type: 'boolean', default: false },
    TELEGATE_RATE_LIMIT: { type: 'integer', minimum: 0, default: 60000 },
    TELEGATE_RATE_LIMIT_SLICE: { type: 'integer', minimum: 0, maximum: 100000, default: 0 },
    TELEGATE_TRUST_PROXY: { type: 'integer', minimum: 0, maximum: 10, default: 0 },
    TELEGATE_METRICS_PUBLIC: { type: 'boolean', default: false },
    TELEGATE_LEADER_TTL_MS: { type: 'integer', minimum: 500, maximum: 600000, default: 15000 },
    TELEGATE_REAPER_INTERVAL_MS: { type: 'integer', minimum: 100, maximum: 3600000, default: 5000 },
    TELEGATE_SHUTDOWN_TIMEOUT_MS: { type: 'integer', minimum: 0, maximum: 600000, default: 30000 },
    TELEGATE_REQUIRE_LEASE_TOKEN: { type: 'boolean', default: false },
    TELEGATE_RECOVERY_GRACE_SECONDS: { type: 'integer', minimum: 0, maximum: 86400, default: 180 },
    REDIS_SENTINELS: { type: 'string' },
    REDIS_SENTINEL_NAME: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
    REDIS_SENTINEL_PASSWORD: { type: 'string' },
    REDIS_CLUSTER_NODES: { type: 'string' },
    TELEGATE_REDIS_WAIT_REPLICAS: { type: 'integer', minimum: 0, maximum: 16, default: 0 },
    TELEGATE_REDIS_WAIT_TIMEOUT_MS: { type: 'integer', minimum: 10, maximum: 1500, default: 500 },
  },
} as const;

type Env = Record<string, string | undefined>;

const ajv = new Ajv({ useDefaults: true, coerceTypes: true, allErrors: false });
const validateEnv = ajv.compile(envSchema);

function hintFor(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'type':
      return `must be ${p.type === 'integer' ? 'a whole number' : p.type === 'boolean' ? 'true or false' : `a ${String(p.type)}`}`;
    case 'minimum':
    case 'maximum':
      return `must be ${e.keyword === 'minimum' ? '>=' : '<='} ${String(p.limit)}`;
    case 'enum':
      return `must be one of ${(p.allowedValues as string[]).join(', ')}`;
    case 'pattern':
      return e.instancePath === '/REDIS_URL' ? 'must start with redis:// or rediss://' : `must match ${String(p.pattern)}`;
    default:
      return e.message ?? 'is invalid';
  }
}

function splitKeys(raw: string | undefined): string[] {
  return (raw ?? '')
    .split(/[,\n]/)
    .map((k) => k.trim())
    .filter((k) => k.length > 0 && !k.startsWith('#'));
}

/**
 * Parse a proxy URL (`socks5://user:pass@host:port`). Delegated to the
 * session-files module, which normalises proxies from every source.
 */
export type ProxyParser = (url: string) => Proxy;

export function loadConfig(env: Env, parseProxy: ProxyParser): Config {
  // Only the variables we know, with empty strings treated as unset.
  const input: Record<string, string> = {};
  for (const name of Object.keys(envSchema.properties)) {
    const v = env[name];
    if (v !== undefined && v.trim() !== '') input[name] = v.trim();
  }
  for (const name of ['TELEGATE_EXPOSE_SESSION_STRING', 'TELEGATE_METRICS_PUBLIC', 'TELEGATE_REQUIRE_LEASE_TOKEN']) {
    const v = input[name]?.toLowerCase();
    if (v === undefined) continue;
    if (!['true', 'false', '1', '0'].includes(v)) throw new ConfigError(name, 'must be true or false');
    input[name] = v === '1' || v === 'true' ? 'true' : 'false';
  }
  if (!validateEnv(input)) {
    const e = validateEnv.errors?.[0];
    if (!e) throw new ConfigError('environment', 'is invalid');
    throw new ConfigError(e.instancePath.slice(1) || 'environment', hintFor(e));
  }
  const v = input as unknown as {
    PORT: number;
    REDIS_URL?: string;
    TELEGATE_API_KEYS?: string;
    TELEGATE_API_KEYS_FILE?: string;
    TELEGATE_ADMIN_KEYS?: string;
    TELEGATE_SESSIONS_DIR: string;
    TELEGATE_LEASE_TTL_SECONDS: number;
    TELEGATE_RESTRICTED_REST_SECONDS: number;
    TELEGATE_EVENTS_MAX_LEN: number;
    TELEGATE_SYNC_CRON: string;
    TELEGATE_DEFAULT_PROXY?: string;
    TELEGATE_KEY_PREFIX: string;
    LOG_LEVEL: LogLevel;
    TELEGATE_SYNC_MAX_REMOVE_FRACTION: number;
    TELEGATE_EXPOSE_SESSION_STRING: boolean;
    TELEGATE_RATE_LIMIT: number;
    TELEGATE_RATE_LIMIT_SLICE: number;
    TELEGATE_TRUST_PROXY: number;
    TELEGATE_METRICS_PUBLIC: boolean;
    TELEGATE_LEADER_TTL_MS: number;
    TELEGATE_REAPER_INTERVAL_MS: number;
    TELEGATE_SHUTDOWN_TIMEOUT_MS: number;
    TELEGATE_REQUIRE_LEASE_TOKEN: boolean;
    TELEGATE_RECOVERY_GRACE_SECONDS: number;
    REDIS_SENTINELS?: string;
    REDIS_SENTINEL_NAME?: string;
    REDIS_SENTINEL_PASSWORD?: string;
    REDIS_CLUSTER_NODES?: string;
    TELEGATE_REDIS_WAIT_REPLICAS: number;
    TELEGATE_REDIS_WAIT_TIMEOUT_MS: number;
  };

  const apiKeys = splitKeys(v.TELEGATE_API_KEYS);
  if (v.TELEGATE_API_KEYS_FILE !== undefined) {
    let text: string;
    try {
      text = readFileSync(v.TELEGATE_API_KEYS_FILE, 'utf8');
    } catch (err) {
      throw new ConfigError('TELEGATE_API_KEYS_FILE', `cannot read ${v.TELEGATE_API_KEYS_FILE}: ${(err as Error).message}`);
    }
    apiKeys.push(...splitKeys(text));
  }
  if (apiKeys.length === 0) {
    throw new ConfigError(
      'TELEGATE_API_KEYS',
      'no API key configured; set TELEGATE_API_KEYS (comma-separated) or TELEGATE_API_KEYS_FILE (one key per line). The service never runs without keys',
    );
  }
  const adminKeys = splitKeys(v.TELEGATE_ADMIN_KEYS);
  // Admin keys are API keys too: an admin may call every endpoint.
  for (const k of adminKeys) if (!apiKeys.includes(k)) apiKeys.push(k);

  if (!cron.validate(v.TELEGATE_SYNC_CRON)) {
    throw new ConfigError('TELEGATE_SYNC_CRON', `"${v.TELEGATE_SYNC_CRON}" is not a valid cron expression (e.g. "0 * * * *")`);
  }

  let defaultProxy: Proxy | null = null;
  if (v.TELEGATE_DEFAULT_PROXY !== undefined) {
    try {
      defaultProxy = parseProxy(v.TELEGATE_DEFAULT_PROXY);
    } catch (err) {
      throw new ConfigError('TELEGATE_DEFAULT_PROXY', `${(err as Error).message} (expected e.g. socks5://user:pass@host:1080)`);
    }
  }

  const redis = redisTarget(v);
  if (redis === null && v.TELEGATE_REDIS_WAIT_REPLICAS > 0) {
    throw new ConfigError('TELEGATE_REDIS_WAIT_REPLICAS', 'needs Redis (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES); the embedded store has no replicas');
  }

  return {
    port: v.PORT,
    redisUrl: v.REDIS_URL ?? null,
    apiKeys,
    adminKeys,
    sessionsDir: v.TELEGATE_SESSIONS_DIR,
    leaseTtlMs: v.TELEGATE_LEASE_TTL_SECONDS * 1000,
    restrictedRestSeconds: v.TELEGATE_RESTRICTED_REST_SECONDS,
    eventsMaxLen: v.TELEGATE_EVENTS_MAX_LEN,
    syncCron: v.TELEGATE_SYNC_CRON,
    defaultProxy,
    keyPrefix: v.TELEGATE_KEY_PREFIX,
    logLevel: v.LOG_LEVEL,
    syncMaxRemoveFraction: v.TELEGATE_SYNC_MAX_REMOVE_FRACTION,
    exposeSessionString: v.TELEGATE_EXPOSE_SESSION_STRING,
    rateLimit: v.TELEGATE_RATE_LIMIT,
    rateLimitSlice: v.TELEGATE_RATE_LIMIT_SLICE,
    trustProxy: v.TELEGATE_TRUST_PROXY,
    metricsPublic: v.TELEGATE_METRICS_PUBLIC,
    leaderTtlMs: v.TELEGATE_LEADER_TTL_MS,
    reaperIntervalMs: v.TELEGATE_REAPER_INTERVAL_MS,
    shutdownTimeoutMs: v.TELEGATE_SHUTDOWN_TIMEOUT_MS,
    requireLeaseToken: v.TELEGATE_REQUIRE_LEASE_TOKEN,
    recoveryGraceMs: v.TELEGATE_RECOVERY_GRACE_SECONDS * 1000,
    redis,
    redisWaitReplicas: v.TELEGATE_REDIS_WAIT_REPLICAS,
    redisWaitTimeoutMs: v.TELEGATE_REDIS_WAIT_TIMEOUT_MS,
  };
}

/** `host:port,host:port` (IPv6 as `[::1]:26379`); a missing port is `defaultPort`. */
function parseHostPorts(variable: string, raw: string, defaultPort: number): HostPort[] {
  const items = raw.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new ConfigError(variable, 'must list at least one host:port');
  return items.map((item) => {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9_.-]+))(?::(\d{1,5}))?$/.exec(item);
    const host = m?.[1] ?? m?.[2];
    const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
    if (!host || port < 1 || port > 65535) throw new ConfigError(variable, `"${item}" is not host:port (e.g. redis-0:${defaultPort})`);
    return { host, port };
  });
}

/**
 * Exactly one of REDIS_URL (alone), REDIS_SENTINELS, REDIS_CLUSTER_NODES
 * selects the mode. With Sentinel or Cluster, REDIS_URL may come along for the
 * data nodes' credentials and TLS; Cluster has no databases but 0.
 */
function redisTarget(v: {
  REDIS_URL?: string;
  REDIS_SENTINELS?: string;
  REDIS_SENTINEL_NAME?: string;
  REDIS_SENTINEL_PASSWORD?: string;
  REDIS_CLUSTER_NODES?: string;
}): RedisTarget | null {
  const url = v.REDIS_URL ?? null;
  if (v.REDIS_SENTINELS !== undefined && v.REDIS_CLUSTER_NODES !== undefined) {
    throw new ConfigError('REDIS_CLUSTER_NODES', 'set either REDIS_SENTINELS or REDIS_CLUSTER_NODES, not both');
  }
  if (v.REDIS_SENTINELS === undefined) {
    for (const name of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD'] as const) {
      if (v[name] !== undefined) throw new ConfigError(name, 'only applies with REDIS_SENTINELS (Sentinel mode); set REDIS_SENTINELS or remove it');
    }
  }
  if (url !== null) {
    try {
      new URL(url);
    } catch {
      throw new ConfigError('REDIS_URL', 'is not a valid URL (e.g. redis://:password@redis:6379/0)');
    }
  }
  if (v.REDIS_SENTINELS !== undefined) {
    return {
      mode: 'sentinel',
      sentinels: parseHostPorts('REDIS_SENTINELS', v.REDIS_SENTINELS, 26379),
      name: v.REDIS_SENTINEL_NAME ?? 'mymaster',
      sentinelPassword: v.REDIS_SENTINEL_PASSWORD ?? null,
      url,
    };
  }
  if (v.REDIS_CLUSTER_NODES !== undefined) {
    if (url !== null && !['', '/', '/0'].includes(new URL(url).pathname)) {
      throw new ConfigError('REDIS_URL', 'Redis Cluster has only database 0: remove the /<db> from REDIS_URL');
    }
    return { mode: 'cluster', nodes: parseHostPorts('REDIS_CLUSTER_NODES', v.REDIS_CLUSTER_NODES, 6379), url };
  }
  return url === null ? null : { mode: 'standalone', url };
}
