/**
 * The rate limit across real replicas (node dist/main.js) on one redis-server:
 * each replica takes a slice of a key's budget from Redis and spends it
 * locally (src/http/ratelimit.ts), so the limit stays shared, admitted
 * requests never exceed it, and the limiter goes to Redis once per slice
 * instead of once per request.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type Redis from 'ioredis';
import { rateLimitSlice } from '../../src/http/ratelimit';
import { RedisServer, testClient } from '../../support/redis';
import { Replica, stopReplicas } from '../../support/replica';
import { makeDir } from '../../support/sessions';

const KEY = 'ratelimit-test-key-0123456789';

/** Script calls so far (EVALSHA, and EVAL after a NOSCRIPT), from INFO commandstats. */
async function scriptCalls(c: Redis): Promise<number> {
  const info = await c.info('commandstats');
  let n = 0;
  for (const m of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) n += Number(m[2]);
  return n;
}

describe('rate limit: one budget shared by the replicas, taken from Redis in slices', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let client: Redis;
  let dir: string;
  let replicas: Replica[] = [];

  before(async () => {
    [redis, dir] = [await RedisServer.start(), makeDir(0)];
    client = await testClient(redis.url);
  });
  afterEach(async function () {
    await stopReplicas(replicas, this.currentTest?.state === 'failed');
    replicas = [];
  });
  after(async () => {
    client.disconnect();
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the automatic slice is 1% of the limit, between 1 and 100, never over the limit', () => {
    assert.equal(rateLimitSlice(60_000), 100);
    assert.equal(rateLimitSlice(5_000), 50);
    assert.equal(rateLimitSlice(3), 1);
    assert.equal(rateLimitSlice(300, 20), 20);
    assert.equal(rateLimitSlice(10, 20), 10);
  });

  it('2 replicas: admitted requests stay within [limit - slice, limit] in one window, with one script call per slice', async () => {
    const limit = 300;
    const slice = 20;
    const sent = 480; // well over limit + 2 slices: every replica runs dry
    const env = {
      REDIS_URL: redis.url,
      TELEGATE_API_KEYS: KEY,
      TELEGATE_SESSIONS_DIR: dir,
      TELEGATE_RATE_LIMIT: String(limit),
      TELEGATE_RATE_LIMIT_SLICE: String(slice),
      TELEGATE_SYNC_CRON: '0 0 1 1 *', // no sync during the burst: the leader's start-up sync only
    };
    replicas = await Promise.all([Replica.start(env), Replica.start(env)]);
    const counter = `{telegate}:rl:`;
    await client.config('RESETSTAT');
    const before = await scriptCalls(client);

    // 8 clients, alternating between the replicas, `sent` requests in all (GET /status: one pool script each).
    const answers = new Map<number, number>();
    const perReplica = replicas.map(() => 0);
    let issued = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (issued < sent) {
          const i = issued++ % replicas.length;
          const res = await replicas[i]!.fetch('/status', { key: KEY });
          await res.arrayBuffer();
          answers.set(res.status, (answers.get(res.status) ?? 0) + 1);
          if (res.status === 200) perReplica[i]!++;
        }
      }),
    );
    const calls = (await scriptCalls(client)) - before;
    const admitted = answers.get(200) ?? 0;
    assert.deepEqual([...answers.keys()].sort(), [200, 429], `answers: ${JSON.stringify([...answers])}`);
    assert.equal(admitted + (answers.get(429) ?? 0), sent);

    // One window: the counter is still alive (its 60 s window began with the burst) and never passed the limit.
    const keys = await client.keys(`${counter}*`);
    assert.equal(keys.length, 1, `one counter for the one key: ${keys.join(', ')}`);
    assert.ok((await client.pttl(keys[0]!)) > 0, 'the burst ran within one window');
    assert.equal(Number(await client.get(keys[0]!)), limit, 'the shared counter granted the whole budget, no more');
    // Shared: 2 replicas together are admitted at most the limit (never 2x), at least limit - (replicas - 1) x slice.
    assert.ok(admitted <= limit, `admitted ${admitted} > limit ${limit}`);
    assert.ok(admitted >= limit - (replicas.length - 1) * slice, `admitted ${admitted} < ${limit} - ${slice}`);
    assert.ok(perReplica.every((n) => n > 0), `both replicas admitted requests: ${perReplica.join(', ')}`);
    // Cheaper: the limiter's calls are one per slice (+1 per replica to find the budget spent), not one per request.
    // calls = the admitted requests' pool scripts + the limiter's takes + a few leader renewals/reaps.
    const takes = calls - admitted;
    const most = Math.ceil(limit / slice) + replicas.length + 10;
    assert.ok(takes <= most, `${takes} limiter script calls for ${sent} requests (at most ${most} expected)`);
  });
});
