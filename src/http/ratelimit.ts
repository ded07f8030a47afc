/**
 * Rate limiting per API key (express-rate-limit's stores). Behind a load balancer the
 * limit must be shared, so on Redis the window's budget lives in Redis; but a
 * request does not go there. Each replica takes a SLICE of a key's budget in
 * one script call (lua/takeRateLimit-1.lua: INCRBY of the slice, cut to what
 * is left of the limit) and spends it locally, one hit per request; it goes
 * back to Redis only when its slice is spent. A key over its limit is
 * remembered until the window ends, so refused requests cost no round trip
 * either. rate-limit-redis was not used: it caches its SCRIPT LOAD promise, so
 * a Redis that is down (or not yet connected) when the limiter starts leaves
 * it failing until restart.
 *
 * The bounds (README, Rate limiting): the shared counter never grants more
 * than the limit in a window, and a replica's slice lapses no later than the
 * shared window (its end is computed from the time the request was SENT plus
 * the PTTL Redis answered), so admitted requests per window never exceed the
 * limit: no overshoot. The price is the other way: a client may be refused
 * while other replicas still hold unspent hits of their slices, so it is
 * admitted at least `limit - (replicas - 1) x slice` times a window (a replica
 * that died holding a slice strands at most one more slice until the window
 * ends). The slice is TELEGATE_RATE_LIMIT_SLICE, by default 1% of the limit,
 * between 1 and 100.
 *
 * One time budget per request: a slice's call gets RATE_LIMIT_BUDGET_MS, the
 * pool call after it keeps its own 1.5 s command timeout, so a request that
 * meets a stalled or dead Redis is answered within 2 s as a whole.
 *
 * When Redis cannot answer (disconnected, stalled past the budget) the limiter
 * fails CLOSED into 503 store_unavailable, whether or not this replica still
 * holds a slice: the pool call behind it would only wait for the same Redis,
 * and the answer is the one the pool would give. When Redis answers but
 * refuses to count (OOM) it fails OPEN: the request's own store call gives
 * the right answer (a read still works, a sync says sync_failed). Either way
 * the limiter logs the trouble once per outage, as JSON, never per request.
 */
import type { ServerResponse } from 'node:http';
import { MemoryStore, type ClientRateLimitInfo, type Options, type Store } from 'express-rate-limit';
import type { RedisClient } from '../pool/connect';
import { StoreRefusedError, StoreUnavailableError } from '../errors';
import type { Logger } from '../log';
import { mapError } from '../pool/redis';
import { HttpError } from './errors';

/** The counter's share of a request's 2 s budget. */
export const RATE_LIMIT_BUDGET_MS = 500;

/** The slice a replica takes at once: `configured` when > 0, else 1% of the limit between 1 and 100; never over the limit. */
export function rateLimitSlice(limit: number, configured = 0): number {
  const slice = configured > 0 ? configured : Math.min(100, Math.floor(limit / 100));
  return Math.max(1, Math.min(slice, limit));
}

/** One key's slice in this replica for the current window. */
interface Slice {
  /** Hits taken from Redis and not yet spent. */
  tokens: number;
  /** The shared counter after the last take (hits granted to all replicas this window). */
  count: number;
  /** Date.now() by which the shared window has ended (at the latest). */
  endsAt: number;
  /** The limit was reached: refuse locally until endsAt. */
  exhausted: boolean;
  /** The take in flight, shared by every request that waits for it. */
  taking?: Promise<void>;
}

export class RedisRateLimitStore implements Store {
  private windowMs = 60_000;
  private limit = 60_000;
  readonly localKeys = false;
  private readonly slices = new Map<string, Slice>();

  /** The trouble logged for the outage under way, or null while the counter works. */
  private outage: string | null = null;

  constructor(
    private readonly redis: RedisClient,
    readonly prefix: string,
    private readonly logger?: Logger,
    /** TELEGATE_RATE_LIMIT_SLICE; 0 = automatic (see rateLimitSlice). */
    private readonly configuredSlice = 0,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
    if (typeof options.limit === 'number') this.limit = options.limit;
  }

  /** The take call, bounded by RATE_LIMIT_BUDGET_MS; store errors mapped (no command arguments). */
  private async call(key: string, slice: number): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(new Error(`rate-limit counter took over ${RATE_LIMIT_BUDGET_MS} ms`))), RATE_LIMIT_BUDGET_MS);
    });
    try {
      const reply = this.redis.takeRateLimit(this.prefix + key, this.windowMs, this.limit, slice);
      return await Promise.race([reply.catch((err: unknown) => Promise.reject(mapError(err))), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Take a slice for `s` from Redis; logs the start and the end of an outage once each. */
  private async take(key: string, s: Slice): Promise<void> {
    const sentAt = Date.now();
    let reply: unknown;
    try {
      if (this.redis.status !== 'ready') throw new StoreUnavailableError(new Error(`connection ${this.redis.status}`));
      reply = await this.call(key, rateLimitSlice(this.limit, this.configuredSlice));
    } catch (err) {
      const refused = err instanceof StoreRefusedError;
      const trouble = refused ? 'refused' : 'unavailable';
      // Slices held through an outage are dropped: the server may come back without them (a restart), and the
      // first request after it goes to Redis, which is how the outage is seen to end.
      if (!refused) this.slices.clear();
      if (this.outage !== trouble) {
        this.outage = trouble;
        const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
        if (refused) this.logger?.error({ reason }, 'rate limiter: the store refuses to count (out of memory?); requests pass uncounted until it accepts writes');
        else this.logger?.warn({ reason }, 'rate limiter: the store is unavailable; requests are answered 503 store_unavailable until it is back');
      }
      throw refused || err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
    }
    if (this.outage !== null) {
      this.outage = null;
      this.logger?.info('rate limiter: the store counts again');
    }
    if (!Array.isArray(reply) || !reply.every((n) => typeof n === 'number') || reply.length !== 3) {
      throw new Error(`takeRateLimit: unexpected reply ${JSON.stringify(reply)}`);
    }
    const [granted, count, ttl] = reply as [number, number, number];
    s.tokens += granted;
    s.count = count;
    s.endsAt = sentAt + ttl;
    s.exhausted = granted === 0;
  }

  private info(s: Slice, totalHits: number): ClientRateLimitInfo {
    return { totalHits, resetTime: new Date(s.endsAt) };
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    for (;;) {
      let s = this.slices.get(key);
      const now = Date.now();
      const current = s !== undefined && now < s.endsAt;
      if (s && current && this.redis.status === 'ready') {
        if (s.tokens > 0) {
          s.tokens--;
          return this.info(s, s.count - s.tokens);
        }
        if (s.exhausted) return this.info(s, this.limit + 1);
      }
      if (!s || (!current && !s.taking)) {
        s = { tokens: 0, count: 0, endsAt: 0, exhausted: false };
        this.slices.set(key, s);
      }
      const slice = s;
      slice.taking ??= this.take(key, slice).finally(() => (slice.taking = undefined));
      try {
        await slice.taking;
      } catch (err) {
        if (err instanceof StoreRefusedError) return { totalHits: 1, resetTime: new Date(Date.now() + this.windowMs) };
        throw err;
      }
    }
  }

  async decrement(key: string): Promise<void> {
    const s = this.slices.get(key);
    if (s && Date.now() < s.endsAt && s.count - s.tokens > 0) s.tokens++;
    return Promise.resolve();
  }

  async resetKey(key: string): Promise<void> {
    this.slices.delete(key);
    await this.redis.del(this.prefix + key);
  }
}

/** The limit's window: requests per minute. */
const WINDOW_MS = 60_000;

/**
 * One request's hit on its key's budget: resolves once admitted, with the RateLimit-* headers (IETF draft 6, as
 * express-rate-limit's middleware wrote them) set on `res`; rejects with 429 (Retry-After: seconds until the window
 * ends) over the limit, or with what the store threw (503 store_unavailable).
 */
export type Limiter = (keyId: string, res: ServerResponse) => Promise<void>;

/**
 * Requests per minute per API key id, counted by `store` (RedisRateLimitStore, shared by the replicas) or, undefined,
 * by express-rate-limit's in-process MemoryStore (the embedded default); undefined when the limit is off. The store is
 * called directly rather than through express-rate-limit's middleware: the key is the caller's key id, known before
 * the call, its validations are for IP-keyed limiters, and its async wrapper and option handling were a per-request
 * cost of their own (bench/findings.md).
 */
export function rateLimiter(limitPerMinute: number, store?: Store): Limiter | undefined {
  if (limitPerMinute <= 0) return undefined;
  const counter = store ?? new MemoryStore();
  // The stores read only the window (and ours the limit) from the middleware's options; the rest are the middleware's.
  void counter.init?.({ windowMs: WINDOW_MS, limit: limitPerMinute } as Options); // both stores init synchronously
  const policy = `${limitPerMinute};w=${WINDOW_MS / 1000}`;
  const limit = String(limitPerMinute);
  return async (keyId, res) => {
    const { totalHits, resetTime } = await counter.increment(keyId);
    const reset = String(resetTime ? Math.max(0, Math.ceil((resetTime.getTime() - Date.now()) / 1000)) : WINDOW_MS / 1000);
    res.setHeader('RateLimit-Policy', policy);
    res.setHeader('RateLimit-Limit', limit);
    res.setHeader('RateLimit-Remaining', String(Math.max(limitPerMinute - totalHits, 0)));
    res.setHeader('RateLimit-Reset', reset);
    if (totalHits > limitPerMinute) throw new HttpError(429, 'Too Many Requests', { 'Retry-After': reset });
  };
}
