/** Two replicas on one Redis, the client sending each request to the next replica in turn. */
import { API_KEY, checkPool, fmt, log, measured, serviceEnv, warmUp, type Step } from '../lib/context';
import { runCycles } from '../lib/load';
import { at, cpuCell, f, n, table } from '../lib/markdown';
import { stepMs, windowOf, type Plan } from '../lib/plan';
import { startService } from '../lib/procs';
import type { Results } from '../lib/results';

export function replicasSection(r: Results): string[] {
  const md: string[] = [];
  md.push('## Several replicas');
  md.push('');
  md.push(
    'Two replicas on one Redis, the client sending each request to the next replica in turn (so a session is usually acquired ' +
      'through one replica and released through the other). On 2 cores shared with Redis and the client this shows the overhead ' +
      'and the correctness of several replicas, not how they scale.',
  );
  md.push('');
  md.push(
    table(
      ['concurrency', 'cycles/s', 'vs one replica', 'acquire p50 / p99 ms', 'double issues', 'lease mismatches', 'CPU cores used'],
      r.replicas.map((m) => {
        const one = at(r.cycles.redis, m.result.concurrency)?.result.cyclesPerSec;
        return [
          m.result.concurrency,
          n(m.result.cyclesPerSec),
          one ? `${f((m.result.cyclesPerSec / one) * 100, 0)}%` : '–',
          `${f(m.result.acquire.p50)} / ${f(m.result.acquire.p99)}`,
          m.result.doubleIssues,
          m.result.leaseMismatches,
          cpuCell(m),
        ];
      }),
    ),
  );
  md.push('');
  return md;
}

export const replicas: Step = {
  name: 'replicas',
  usesServiceA: true,
  budgetMs: (plan: Plan) => 60_000 + plan.replicaConcurrency.length * (stepMs(plan) + 10_000),
  async run(ctx) {
    const { plan, children, results, filesDir, distDir } = ctx;
    const r = ctx.redis;
    const self = process.pid;
    const w = windowOf(plan);
    const svcA = await ctx.serviceA();
    const b = await startService(children, { name: 'telegate-b', distDir: distDir, env: serviceEnv({ redisUrl: r.url, prefix: 'cyc', sessionsDir: filesDir }) });
    try {
      await warmUp(plan.serverWarmupMs, b.port);
      for (const c of plan.replicaConcurrency) {
        const m = await measured({ client: self, 'service a': svcA.child.pid, 'service b': b.child.pid, redis: r.child.pid }, (hooks) =>
          runCycles({ ports: [svcA.port, b.port], apiKey: API_KEY, concurrency: c, ...w, ...hooks }),
        );
        results.replicas.push(m);
        log(`  2 replicas ${fmt(m.result)}`);
      }
      results.poolChecks.replicas = await checkPool(b.port, plan.cyclePool);
    } finally {
      await b.stop();
    }
  },
  section: replicasSection,
};
