/**
 * Rate limiting per API key (express-rate-limit). Behind a load balancer the
 * counters must be shared, so on Redis they live in Redis: one script call
 * per request (lua/hitRateLimit-1.lua). rate-limit-redis was not used: it
 * caches its SCRIPT LOAD promise, so a Redis that is down (or not yet
 * connected) when the limiter starts leaves it failing until restart.
 *
 * When Redis is down the limiter fails OPEN (passOnStoreError): the pool
 * endpoints answer 503 store_unavailable by themselves, and a Redis blip must
 * not turn into 500s or lock every worker out.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { rateLimit, type ClientRateLimitInfo, type Options, type Store } from 'express-rate-limit';
import type { RedisClient } from '../pool/connect';
import type { Principal } from './auth';
import { HttpError } from './errors';

export class RedisRateLimitStore implements Store {
  private windowMs = 60_000;
  readonly localKeys = false;

  constructor(
    private readonly redis: RedisClient,
    readonly prefix: string,
  ) {}

  init(options: Options): void {
    this.windowMs = options.windowMs;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const reply = (await this.redis.hitRateLimit(this.prefix + key, this.windowMs));
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
export function rateLimiter(limitPerMinute: number, store?: Store): RequestHandler {
  if (limitPerMinute <= 0) return (_req: Request, _res: Response, next: NextFunction) => next();
  return rateLimit({
    windowMs: 60_000,
    limit: limitPerMinute,
    standardHeaders: 'draft-6',
    legacyHeaders: false,
    passOnStoreError: true,
    ...(store ? { store } : {}),
    keyGenerator: (_req, res) => (res.locals.principal as Principal).keyId,
    handler: (_req, res, next, options) => {
      const reset = (res.getHeader('RateLimit-Reset') as string | undefined) ?? String(Math.ceil(options.windowMs / 1000));
      next(new HttpError(429, 'Too Many Requests', { 'Retry-After': reset }));
    },
  });
}
