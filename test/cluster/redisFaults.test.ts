/**
 * A real replica (node dist/main.js) on a dedicated redis-server that
 * misbehaves (issue 10 items 2–4): it stalls (SIGSTOP), it restarts with no
 * data, it evicts keys. The promise that holds through each: no session in
 * two hands, and no lease left to nobody.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type Redis from 'ioredis';
import { makeKeys } from '../../src/pool/keys';
import { until } from '../../support/poll';
import { RedisServer, testClient } from '../../support/redis';
import { Replica } from '../../support/replica';
import { makeDir } from '../../support/sessions';

const KEY = 'faults-test-key-0123456789';
const keys = makeKeys('telegate');

interface Detail {
  detail: { error: string; in_floodwait?: number; next_release_in?: number; reason?: string };
}

describe('Redis faults under a real replica', function () {
  this.timeout(120_000);
  let redis: RedisServer | undefined;
  let replica: Replica | undefined;
  let client: Redis | undefined;
  let dir: string | undefined;

  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    REDIS_URL: redis!.url,
    TELEGATE_API_KEYS: KEY,
    TELEGATE_SESSIONS_DIR: dir!,
    TELEGATE_LEADER_TTL_MS: '1500',
    TELEGATE_REAPER_INTERVAL_MS: '200',
    TELEGATE_SYNC_CRON: '*/1 * * * * *',
    TELEGATE_RATE_LIMIT: '0',
    ...extra,
  });

  const get = (p: string, init: RequestInit = {}): Promise<Response> => replica!.fetch(p, { key: KEY, ...init });

  async function status(): Promise<Record<string, unknown> | null> {
    const res = await get('/status').catch(() => null);
    return res?.status === 200 ? ((await res.json()) as Record<string, unknown>) : null;
  }

  afterEach(async () => {
    client?.disconnect();
    await replica?.kill('SIGKILL');
    await redis?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    client = replica = redis = dir = undefined;
  });

  it('stalled Redis (SIGSTOP): 50 parallel GET /session answer 503 during the stall, and afterwards no session is left in use by nobody', async () => {
    redis = await RedisServer.start();
    dir = makeDir(50);
    replica = await Replica.start(env());
    await until(async () => (await status())?.total === 50, 'start-up sync of 50 sessions', 20_000);
    redis.signal('SIGSTOP');
    let answers: Array<{ status: number; body: Detail }>;
    try {
      // Redis stays frozen until every request has answered: each answered before the stall ended.
      answers = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const res = await get('/session');
          return { status: res.status, body: (await res.json()) as Detail };
        }),
      );
    } finally {
      redis.signal('SIGCONT');
    }
    for (const a of answers) assert.deepEqual([a.status, a.body.detail.error], [503, 'store_unavailable']);
    client = await testClient(redis.url);
    await until(
      async () => {
        const s = await status();
        return s?.free === 50 && s.in_use === 0 && (await client!.zcard(keys.leased)) === 0;
      },
      'every session free again once Redis runs the queued acquires and their compensations',
      30_000,
    );
    assert.ok(replica.alive);
  });

  it('Redis restarted without persistence: store_recovering for the grace (Retry-After, /status, /readyz), the old holder loses its lease, then issuing resumes', async () => {
    redis = await RedisServer.start();
    dir = makeDir(5);
    replica = await Replica.start(env({ TELEGATE_RECOVERY_GRACE_SECONDS: '60' }));
    await until(async () => (await status())?.total === 5, 'start-up sync', 20_000);
    const held = (await (await get('/session')).json()) as { session_id: number; lease_token: string };
    assert.ok(held.lease_token);

    await redis.kill('SIGKILL');
    await redis.spawn(); // same port, no data
    const s = await until(async () => {
      const st = await status();
      return st?.total === 5 && st.recovering === true ? st : null;
    }, 'the re-sync and the loss detected (reaper tick or acquire)', 30_000);
    assert.equal(s.in_use, 0);
    assert.ok(typeof s.recovery_ends_in === 'number' && s.recovery_ends_in > 0 && s.recovery_ends_in <= 60, JSON.stringify(s));

    for (let i = 0; i < 5; i++) {
      const res = await get('/session');
      const body = (await res.json()) as Detail;
      assert.equal(res.status, 503);
      assert.equal(body.detail.error, 'store_recovering');
      assert.equal(body.detail.in_floodwait, 0);
      const left = body.detail.next_release_in!;
      assert.ok(left > 0 && left <= 60, String(left));
      assert.equal(res.headers.get('retry-after'), String(left));
    }
    const waited = await get('/session?wait=1');
    assert.equal(((await waited.json()) as Detail).detail.error, 'store_recovering', 'a long-poll just waits through the grace');

    const hb = await get(`/heartbeat?session_id=${held.session_id}&lease_token=${held.lease_token}`, { method: 'POST' });
    assert.ok([404, 409].includes(hb.status), `old holder's heartbeat answered ${hb.status}`);

    const ready = await replica.fetch('/readyz');
    assert.equal(ready.status, 200, 'readiness holds: the Service keeps routing, clients get 503 + Retry-After');
    assert.deepEqual(Object.keys((await ready.json()) as object).sort(), ['recovering', 'recovery_ends_in', 'status']);
    assert.equal((await status())?.in_use, 0, 'nothing issued during the grace');

    client = await testClient(redis.url);
    await client.pexpire(keys.recovering, 200); // the grace runs out (without waiting a wall-clock minute)
    await until(async () => (await get('/session')).status === 200, 'issuing to resume after the grace', 15_000);
    const after = await status();
    assert.equal(after?.recovering, undefined);
  });

  it('Redis with maxmemory-policy allkeys-lru: not ready, store_misconfigured naming the fix, one error line; CONFIG SET noeviction brings it back', async () => {
    redis = await RedisServer.start({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    dir = makeDir(2);
    replica = await Replica.start(env({ LOG_LEVEL: 'debug' }), '/healthz');
    await until(async () => (await replica!.fetch('/readyz')).status === 503 && (await get('/status')).status === 503, 'the policy check', 15_000);
    // The leader's scheduled sync (every second here) and its reaper run into it too, and still log no second error line.
    await until(() => replica!.output.includes('"job":"sync"'), 'the leader to have tried a sync', 15_000);
    for (const p of ['/status', '/session', '/sessions']) {
      const res = await get(p);
      const body = (await res.json()) as Detail;
      assert.equal(res.status, 503, p);
      assert.equal(body.detail.error, 'store_misconfigured', p);
      assert.match(body.detail.reason ?? '', /allkeys-lru.*noeviction/, p);
    }
    const lines = replica.output.split('\n').filter((l) => l.includes('maxmemory-policy') && l.includes('"level":"error"'));
    assert.equal(lines.length, 1, replica.output);
    client = await testClient(redis.url);
    assert.equal(await client.exists(keys.ids), 0, 'the leader synced nothing into an evicting Redis');

    await client.config('SET', 'maxmemory-policy', 'noeviction');
    await until(async () => (await replica!.fetch('/readyz')).status === 200, 'readiness after the fix', 15_000);
    await until(async () => (await status())?.total === 2, 'the sync after the fix', 20_000);
    assert.equal((await get('/session')).status, 200);
  });
});
