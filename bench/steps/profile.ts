/** Where the service's CPU goes under the Redis cycle load (a step of its own: profiling slows it). */
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { API_KEY, fmt, log, measured, serviceEnv, waitForPool, warmUp, type Step } from '../lib/context';
import { runCycles, type CyclesResult } from '../lib/load';
import { f, n, table } from '../lib/markdown';
import { windowOf } from '../lib/plan';
import { ROOT, startService } from '../lib/procs';
import { summariseProfile } from '../lib/profile';
import type { Measured, Results } from '../lib/results';
import { seedRedis } from '../lib/seed';

export function profileSection(r: Results): string[] {
  const md: string[] = [];
  if (r.profile) {
    const p = r.profile;
    md.push(
      `CPU profile of the service (\`node --cpu-prof\`) over the Redis cycle load at concurrency 64 (${n(p.cycles.result.cyclesPerSec)} cycles/s while profiling; ` +
        `${n(p.busyMs)} ms of busy CPU; file \`${p.file}\`, git-ignored, opens in Chrome DevTools). Self time by component:`,
    );
    md.push('');
    md.push(table(['component', 'self time', ''], p.byComponent.slice(0, 18).map((c) => [c.name, `${f(c.pct, 1)}%`, '█'.repeat(Math.max(1, Math.round(c.pct / 1.5)))])));
    md.push('');
    md.push('Top functions by self time:');
    md.push('');
    md.push(table(['function', 'self time'], p.topFunctions.slice(0, 15).map((c) => [`\`${c.name}\``, `${f(c.pct, 1)}%`])));
    md.push('');
  }
  return md;
}

export const profile: Step = {
  name: 'profile',
  inPlan: (plan) => plan.profile,
  budgetMs: () => 90_000,
  async run(ctx) {
    const { plan, children, results, emptyDir, distDir } = ctx;
    const r = ctx.redis;
    const self = process.pid;
    const w = windowOf(plan);
    await r.admin.flushall();
    const profDir = path.join(children.tmp, 'cpuprof');
    mkdirSync(profDir, { recursive: true });
    const svc = await startService(children, {
      name: 'telegate-prof',
      distDir: distDir,
      cpuProfDir: profDir,
      env: serviceEnv({ redisUrl: r.url, prefix: 'prof', sessionsDir: emptyDir }),
    });
    let cycles: Measured<CyclesResult>;
    try {
      // Registered through applySync rather than files: the profile shows requests, not SQLite reading files at start-up.
      await seedRedis(r.url, 'prof', 0, plan.cyclePool);
      await waitForPool(svc.port, plan.cyclePool);
      await warmUp(plan.serverWarmupMs, svc.port);
      cycles = await measured({ client: self, service: svc.child.pid, redis: r.child.pid }, (hooks) =>
        runCycles({ ports: [svc.port], apiKey: API_KEY, concurrency: 64, ...w, ...hooks }),
      );
    } finally {
      await svc.stop(); // SIGTERM → graceful exit → the profile is written
    }
    const file = readdirSync(profDir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error('no .cpuprofile written');
    // Kept next to the results (git-ignored: *.cpuprofile) for Chrome DevTools / speedscope.
    const keep = path.join(ROOT, 'bench', 'results', 'service-cycles.cpuprofile');
    copyFileSync(path.join(profDir, file), keep);
    results.profile = { ...summariseProfile(keep), file: path.relative(ROOT, keep), cycles };
    log(`  profiled: ${fmt(cycles.result)}`);
  },
  section: profileSection,
};
