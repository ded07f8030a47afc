/**
 * npm run bench:scoped [-- --sessions N] [-- --samples N]
 *
 * Issue 12 item 8: acquire latency with scoped rests and tags in use, against
 * the unscoped acquire in the same run, and Redis bytes per session.
 *
 * One redis-server of its own; N sessions (default 100,000) registered through
 * applySync, each with a tag ("t0".."t9") and an auth key id as sync stores
 * them. Then half of them rest on the asked scope "m0" (their LRU scores
 * OLDER than every fully free session's: the worst case for the scoped walk)
 * and 19 other scopes hold 1,000 rests each (20 scopes in use). Measured, one
 * client, acquire + release per sample (the release restores the state):
 *   unscoped        GET /session as every existing client makes it
 *   scoped m0       half the pool rests on it, older than the free head
 *   scoped m7       a scope 1,000 sessions rest on
 *   scoped m0+tag   the same with a tag every tenth session carries
 * and the Redis memory per session before and after the rests (INFO memory).
 * The store is called directly (the HTTP layer adds the same for every kind).
 * Results go to bench/results/scoped-<date>.json and stdout; docs/benchmarks.md
 * quotes them by hand.
 */
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RedisStore, createRedis } from '../src/pool/redis';
import { RedisServer } from '../support/redis';

const HOUR = 3_600_000;
const argv = process.argv.slice(2);
const arg = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const N = arg('--sessions', 100_000);
const SAMPLES = arg('--samples', 2000);
const BATCH = 1000;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function usedMemory(store: RedisStore): Promise<number> {
  const info = await store.redis.info('memory');
  return Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
}

async function main(): Promise<void> {
  const server = await RedisServer.start();
  const redis = createRedis(server.url);
  await once(redis, 'ready');
  const store = new RedisStore(redis, 'bench');
  try {
    const empty = await usedMemory(store);
    console.log(`registering ${N} sessions`);
    for (let i = 0; i < N; i += BATCH) {
      const upserts = Array.from({ length: Math.min(BATCH, N - i) }, (_, j) => ({
        name: String(79_000_000_000 + i + j),
        meta: { proxy: null, format: 'telethon' as const, dcId: 2, authKeyId: (i + j).toString(16).padStart(16, '0'), tags: [`t${(i + j) % 10}`] },
        sig: `${1000 + i + j}-1700000000000`,
      }));
      await store.applySync({ upserts, removes: [] });
    }
    const registered = await usedMemory(store);

    // Lease everything, rest half on m0 and 19,000 on m1..m19 (oldest LRU scores), then give the rest back.
    console.log('resting half the pool on m0 and 19 other scopes on 1% of it each');
    const leased = [];
    for (let i = 0; i < N; i += BATCH) {
      const got = await Promise.all(Array.from({ length: Math.min(BATCH, N - i) }, () => store.acquire(HOUR)));
      for (const r of got) if (r.ok) leased.push(r.session);
    }
    const half = Math.floor(N / 2);
    const perScope = Math.min(1000, Math.floor(N / 100)); // 1,000 each at 100k
    const others = 19 * perScope;
    for (let i = 0; i < half + others; i += BATCH) {
      await Promise.all(
        leased.slice(i, Math.min(i + BATCH, half + others)).map((s, j) => {
          const k = i + j;
          return store.floodWait(s.id, 12 * HOUR, s.leaseToken, k < half ? 'm0' : `m${1 + Math.floor((k - half) / perScope)}`);
        }),
      );
    }
    const stillFree = leased.slice(half + others);
    for (let i = 0; i < stillFree.length; i += BATCH) {
      await Promise.all(stillFree.slice(i, i + BATCH).map((s) => store.release(s.id, s.leaseToken)));
    }
    const rested = await usedMemory(store);
    const st = await store.status();
    console.log(`status: free ${st.free}, in_floodwait ${st.inFloodwait}, scopes ${Object.keys(st.rests).length}`);

    const kinds: Array<[string, { scopes?: string[]; tags?: string[] }]> = [
      ['unscoped', {}],
      ['scoped m0 (half the pool rests on it)', { scopes: ['m0'] }],
      ['scoped m7 (1% of the pool rests on it)', { scopes: ['m7'] }],
      ['scoped m0 + tag t3', { scopes: ['m0'], tags: ['t3'] }],
    ];
    const results: Record<string, { p50: number; p99: number; max: number }> = {};
    for (const [label, opts] of kinds) {
      const ms: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const t0 = process.hrtime.bigint();
        const r = await store.acquire(HOUR, opts);
        ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (!r.ok) throw new Error(`${label}: nothing issued`);
        await store.release(r.session.id, r.session.leaseToken);
      }
      ms.sort((a, b) => a - b);
      results[label] = { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), max: ms[ms.length - 1] ?? NaN };
      console.log(`${label.padEnd(40)} p50 ${results[label].p50.toFixed(3)} ms  p99 ${results[label].p99.toFixed(3)} ms`);
    }
    const unscopedP99 = results.unscoped?.p99 ?? NaN;
    const memory = {
      bytesPerSessionRegistered: Math.round((registered - empty) / N),
      bytesPerSessionWithRests: Math.round((rested - empty) / N),
      restedSessions: half + others,
    };
    console.log(`bytes per session: ${memory.bytesPerSessionRegistered} registered (tags, auth key id), ${memory.bytesPerSessionWithRests} with ${memory.restedSessions} scoped rests`);
    for (const [label, r] of Object.entries(results)) console.log(`${label.padEnd(40)} p99 / unscoped p99 = ${(r.p99 / unscopedP99).toFixed(2)}`);
    const out = path.join(__dirname, 'results', `scoped-${new Date().toISOString().slice(0, 10)}.json`);
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ sessions: N, samples: SAMPLES, results, memory }, null, 2) + '\n');
    console.log(`results: ${out}`);
  } finally {
    await store.close();
    await server.stop();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
