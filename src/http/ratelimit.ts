/**
 * Rate limiting per API key (express-rate-limit). Behind a load balancer the
 * counters must be shared, so on Redis they live in Redis: one script call
 * per request (lua/hitRateLimit-1.lua). rate-limit-redis was not used: it
 * caches its SCRIPT LOAD promise, so a Redis that is down (or not yet
 * connected) when the limiter starts leaves it failing until restart.
 *
 * One time budget per request: the counter gets RATE_LIMIT_BUDGET_MS, the
 * pool call after it keeps its own 1.5 s command timeout, so a request that
 * meets a stalled or dead Redis is answered within 2 s as a whole.
 *
 * When Redis cannot answer (down, stalled past the budget) the limiter fails
 * CLOSED into 503 store_unavailable: the pool call behind it would only wait
 * for the same Redis, and the answer is the one the pool would give. When
 * Redis answers but refuses to count (OOM) it fails OPEN: the request's own
 * store call gives the right answer (a read still works, a sync says
 * sync_failed). Either way the limiter logs the trouble once per outage, as
 * JSON, never per request.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit, type ClientRateLimitInfo, type Options, type Store } from 'express-rate-limit';
import type { RedisClient } from '../pool/connect';
import { StoreRefusedError, StoreUnavailableError } from '../errors';
import type { Logger } from '../log';
import { mapError } from '../pool/redis';
import type { Principal } from './auth';
import { HttpError } from './errors';

/** The counter's share of a request's 2 s budget. */
export const RATE_LIMIT_BUDGET_MS = 500;

export class RedisRateLimitStore implements Store {
  private windowMs = 60_000;
  readonly localKeys = false;

  /** The trouble logged for the outage under way, or null while the counter works. */
  private outage: string | null = null;

  constructor(
    private readonly redis: RedisClient,
    readonly prefix: string,
    private readonly logger?: Logger,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  /** The counter call, bounded by RATE_LIMIT_BUDGET_MS; store errors mapped (no command arguments). */
  private async hit(key: string): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError(new Error(`rate-limit counter took over ${RATE_LIMIT_BUDGET_MS} ms`))), RATE_LIMIT_BUDGET_MS);
    });
    try {
      return await Promise.race([this.redis.hitRateLimit(this.prefix + key, this.windowMs).catch((err: unknown) => Promise.reject(mapError(err))), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    let reply: unknown;
    try {
      reply = await this.hit(key);
    } catch (err) {
      const refused = err instanceof StoreRefusedError;
      const trouble = refused ? 'refused' : 'unavailable';
      if (this.outage !== trouble) {
        this.outage = trouble;
        const reason = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
        if (refused) this.logger?.error({ reason }, 'rate limiter: the store refuses to count (out of memory?); requests pass uncounted until it accepts writes');
        else this.logger?.warn({ reason }, 'rate limiter: the store is unavailable; requests are answered 503 store_unavailable until it is back');
      }
      if (refused) return { totalHits: 1, resetTime: new Date(Date.now() + this.windowMs) };
      throw err instanceof StoreUnavailableError ? err : new StoreUnavailableError(err);
    }
    if (this.outage !== null) {
      this.outage = null;
      this.logger?.info('rate limiter: the store counts again');
    }
    if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number') {
      throw new Error(`hitRateLimit: unexpected reply ${JSON.stringify(reply)}`);
    }
    return { totalHits: reply[0], resetTime: new Date(Date.now() + reply[1]) };
  }

  async decrement(key: string): Promise<void> {
    await this.redis.decr(this.prefix + key);
  }

  async resetKey(key: string): Promise<void> {
    await this.redis.del(this.prefix + key);
  }
}

/** Requests per minute per API key; `store` undefined → in-process memory (the embedded default). */
export function rateLimiter(limitPerMinute: number, store?: Store, logger?: Logger): RequestHandler {
  if (limitPerMinute <= 0) return (_req: Request, _res: Response, next: NextFunction) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: limitPerMinute,
    standardHeaders: 'draft-6',
    legacyHeaders: false,
    passOnStoreError: false, // see the top of this file: the store decides, and throws only what must be a 503
    ...(store ? { store } : {}),
    // express-rate-limit's own warnings as JSON log lines (its default is console, multi-line text).
    ...(logger
      ? {
          logger: {
            error: (err: unknown, msg?: string) => logger.error({ err }, msg ?? 'express-rate-limit'),
            warn: (err: unknown, msg?: string) => logger.warn({ err }, msg ?? 'express-rate-limit'),
          },
        }
      : {}),
    keyGenerator: (_req, res) => (res.locals.principal as Principal).keyId,
    handler: (_req, res, next, options) => {
      const reset = (res.getHeader('RateLimit-Reset') as string | undefined) ?? String(Math.ceil(options.windowMs / 1000));
      next(new HttpError(429, 'Too Many Requests', { 'Retry-After': reset }));
    },
  });
}
