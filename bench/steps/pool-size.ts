/** Acquire latency against pool size (same Redis, grown in place through applySync). */
import { sleep } from '../../support/poll';
import { API_KEY, checkPool, fmt, log, measured, serviceEnv, waitForPool, warmUp, type Step } from '../lib/context';
import { runCycles } from '../lib/load';
import { f, n, table } from '../lib/markdown';
import { aofQuiet, redisMemory, startService } from '../lib/procs';
import type { PoolSizePoint, Results } from '../lib/results';
import { seedRedis } from '../lib/seed';

export function poolSizeSection(r: Results): string[] {
  const md: string[] = [];
  md.push('## Pool size');
  md.push('');
  md.push('![Acquire latency vs pool size](bench-poolsize.svg)');
  md.push('');
  md.push(
    table(
      ['sessions', 'registered in (applySync)', 'Redis used_memory', 'concurrency', 'cycles/s', 'acquire p50 / p99 ms', 'double issues', 'other CPU'],
      r.poolSize.flatMap((p) =>
        p.runs.map((m) => [
          n(p.sessions),
          p.seed ? `${f(p.seed.seconds, 1)} s (${n(p.seed.perSecond)}/s)` : '–',
          `${n(p.usedMemoryMb)} MB`,
          m.result.concurrency,
          n(m.result.cyclesPerSec),
          `${f(m.result.acquire.p50)} / ${f(m.result.acquire.p99)}`,
          m.result.doubleIssues,
          f(m.cpu.foreignCores),
        ]),
      ),
    ),
  );
  md.push('');
  return md;
}

export const poolSize: Step = {
  name: 'pool-size',
  budgetMs: () => 330_000,
  async run(ctx) {
    const { plan, children, results, emptyDir, distDir } = ctx;
    const r = ctx.redis;
    const self = process.pid;
    await r.admin.flushall();
    const svc = await startService(children, { name: 'telegate-size', distDir: distDir, env: serviceEnv({ redisUrl: r.url, prefix: 'size', sessionsDir: emptyDir }) });
    try {
      let have = 0;
      for (const n of plan.poolSizes) {
        const seed = await seedRedis(r.url, 'size', have, n);
        have = n;
        log(`  seeded ${seed.added} sessions in ${seed.seconds} s (${seed.perSecond}/s)`);
        await r.admin.bgrewriteaof().catch(() => undefined);
        await sleep(200);
        await aofQuiet(r.admin);
        await waitForPool(svc.port, n);
        if (have === plan.poolSizes[0]) await warmUp(plan.serverWarmupMs, svc.port);
        const point: PoolSizePoint = { sessions: n, seed, usedMemoryMb: Math.round(((await redisMemory(r.admin)).used_memory ?? 0) / 1048576), runs: [] };
        for (const c of plan.poolSizeConcurrency) {
          const run = await measured({ client: self, service: svc.child.pid, redis: r.child.pid }, (hooks) =>
            runCycles({ ports: [svc.port], apiKey: API_KEY, concurrency: c, warmupMs: plan.warmupMs, durationMs: plan.poolSizeDurationMs, ...hooks }),
          );
          point.runs.push(run);
          log(`  ${n} sessions: ${fmt(run.result)}`);
        }
        results.poolSize.push(point);
      }
      results.poolChecks['pool-size'] = await checkPool(svc.port, have);
    } finally {
      await svc.stop();
    }
  },
  section: poolSizeSection,
};
