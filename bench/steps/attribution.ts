/** Middleware cost on Redis by configuration alone (no code change): request log off, rate limit off. */
import { API_KEY, fmt, log, measured, serviceEnv, waitForPool, warmUp, type Step } from '../lib/context';
import { runCycles } from '../lib/load';
import { cpuPerRequest, f, n, serviceUs, table } from '../lib/markdown';
import { stepMs, windowOf, type Plan } from '../lib/plan';
import { startService } from '../lib/procs';
import type { Results } from '../lib/results';

const variants: Array<[string, Record<string, string>]> = [
  ['as deployed (all on)', {}],
  ['request log off (LOG_LEVEL=warn)', { LOG_LEVEL: 'warn' }],
  ['rate limit off (TELEGATE_RATE_LIMIT=0)', { TELEGATE_RATE_LIMIT: '0' }],
  ['both off', { LOG_LEVEL: 'warn', TELEGATE_RATE_LIMIT: '0' }],
];

/** "Where the time goes": the CPU chart, and the middleware variants when the run measured them. */
export function attributionSection(r: Results): string[] {
  const md: string[] = [];
  md.push('## Where the time goes');
  md.push('');
  md.push('![CPU per request](bench-cpu.svg)');
  md.push('');
  if (r.attribution.length > 0) {
    md.push('Middleware cost by configuration alone (same build, Redis, concurrency 64; each variant a fresh replica):');
    md.push('');
    md.push(
      table(
        ['variant', 'cycles/s', 'acquire p50 / p99 ms', 'service CPU µs/request', 'Redis CPU µs/request', 'other CPU'],
        r.attribution.map((a) => [
          a.variant,
          n(a.run.result.cyclesPerSec),
          `${f(a.run.result.acquire.p50)} / ${f(a.run.result.acquire.p99)}`,
          n(serviceUs(a.run)),
          n(cpuPerRequest(a.run).redis),
          f(a.run.cpu.foreignCores),
        ]),
      ),
    );
    md.push('');
  }
  return md;
}

export const attribution: Step = {
  name: 'attribution',
  inPlan: (plan) => plan.attribution,
  budgetMs: (plan: Plan) => 30_000 + variants.length * (stepMs(plan) + 10_000),
  async run(ctx) {
    const { plan, children, results, filesDir, distDir } = ctx;
    const r = ctx.redis;
    const self = process.pid;
    const w = windowOf(plan);
    for (const [variant, extra] of variants) {
      const svc = await startService(children, { name: 'telegate-attr', distDir: distDir, env: serviceEnv({ redisUrl: r.url, prefix: 'cyc', sessionsDir: filesDir, extra }) });
      try {
        await waitForPool(svc.port, plan.cyclePool);
        await warmUp(plan.serverWarmupMs, svc.port);
        const run = await measured({ client: self, service: svc.child.pid, redis: r.child.pid }, (hooks) =>
          runCycles({ ports: [svc.port], apiKey: API_KEY, concurrency: 64, ...w, ...hooks }),
        );
        results.attribution.push({ variant, env: extra, run });
        log(`  ${variant}: ${fmt(run.result)}`);
      } finally {
        await svc.stop();
      }
    }
  },
  section: attributionSection,
};
