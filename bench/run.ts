/**
 * npm run bench [-- --quick] [-- --no-docs] [-- --dist DIR] [-- --out FILE]
 *
 * Starts everything it needs (its own redis-server on a free port, service
 * replicas from the built code, a bare Express ceiling), runs bounded steps
 * (bench/steps/*.ts) against 127.0.0.1 only, writes
 * bench/results/<date>[-quick].json and (full runs) regenerates
 * docs/benchmarks.md and its SVG charts (bench/lib/report.ts). Every child
 * process is killed at the end, on error and on SIGINT/SIGTERM.
 *
 *   --quick     short steps, smaller pools (< 1 minute): for checking a change
 *   --no-docs   do not regenerate docs/ (default for --quick; --docs forces it)
 *   --dist DIR  run the service from another build (experiments)
 *   --out FILE  results file (default bench/results/<date>[-quick].json)
 *   --no-profile  skip the CPU-profile step
 *   --only a,b  run only these steps (sweep, replicas, attribution, memory, pool-size,
 *               profile, ha, scoped), whether or not the plan runs them by default;
 *               the results file gets a -only-<steps> suffix and docs/ is not
 *               regenerated unless --docs (bench/lib/report.ts takes the ha and scoped
 *               sections from the newest full results file that has them). A plain
 *               --quick runs neither ha nor attribution nor profile: `--quick --only ha`
 *               (about 30 s) and `--quick --only scoped` are their short variants
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { useDist } from './lib/built';
import { log, serviceEnv, waitForPool, warmUp, RATE_LIMIT, type BenchContext, type Step } from './lib/context';
import { FULL, QUICK, type Plan } from './lib/plan';
import { Children, ROOT, bounded, startRedis, startService, type RedisProc, type ServiceProc } from './lib/procs';
import { writeReport } from './lib/report';
import type { Results } from './lib/results';
import { makeSessionFiles } from './lib/seed';
import { attribution } from './steps/attribution';
import { ha } from './steps/ha';
import { memory } from './steps/memory';
import { poolSize } from './steps/pool-size';
import { profile } from './steps/profile';
import { replicas } from './steps/replicas';
import { scoped } from './steps/scoped';
import { sweep } from './steps/sweep';

/** In the order they run. */
const STEPS: Step[] = [sweep, replicas, attribution, memory, poolSize, profile, ha, scoped];

interface Args {
  plan: Plan;
  only?: Set<string>;
  docs: boolean;
  distDir: string;
  out?: string;
}

function parseArgs(argv: string[]): Args {
  const quick = argv.includes('--quick');
  const plan = { ...(quick ? QUICK : FULL) };
  if (argv.includes('--no-profile')) plan.profile = false;
  let docs = !quick;
  if (argv.includes('--no-docs')) docs = false;
  if (argv.includes('--docs')) docs = true;
  const val = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const distDir = path.resolve(val('--dist') ?? path.join(ROOT, 'dist'));
  for (const a of argv) {
    if (a.startsWith('--') && !['--quick', '--no-docs', '--docs', '--dist', '--out', '--no-profile', '--only'].includes(a)) {
      throw new Error(`unknown option ${a} (see the header of bench/run.ts)`);
    }
  }
  const only = val('--only');
  const names = only === undefined ? undefined : new Set(only.split(','));
  for (const name of names ?? []) if (!STEPS.some((s) => s.name === name)) throw new Error(`unknown step ${name} (steps: ${STEPS.map((s) => s.name).join(', ')})`);
  // A partial run must not regenerate the whole doc from its few numbers.
  if (names !== undefined && !argv.includes('--docs')) docs = false;
  return { plan, docs, distDir, out: val('--out'), only: names };
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function emptyResults(plan: Plan, distDir: string): Results {
  return {
    version: 1,
    date: new Date().toISOString(),
    mode: plan.mode,
    seconds: 0,
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round(os.totalmem() / 2 ** 30),
      os: `${os.type()} ${os.release()}`,
      node: process.version,
      redis: '',
      loadavgStart: os.loadavg().map((v) => Math.round(v * 100) / 100),
      loadavgEnd: [],
      gitCommit: sh('git', ['rev-parse', '--short', 'HEAD']),
      gitDirty: sh('git', ['status', '--porcelain', '--', 'src', 'lua']).split('\n').filter(Boolean),
    },
    config: {
      warmupMs: plan.warmupMs,
      durationMs: plan.durationMs,
      cyclePool: plan.cyclePool,
      rateLimitPerMinute: RATE_LIMIT,
      logLevel: 'info',
      redis: 'redis-server, AOF on (appendfsync everysec), no RDB, noeviction, loopback',
      client: 'bench/lib/load.ts: closed-loop VUs, one keep-alive raw HTTP/1.1 connection per VU and target',
      build: path.resolve(distDir) === path.join(ROOT, 'dist') ? 'dist/ (npm run build of the working tree)' : distDir,
    },
    ceiling: [],
    cycles: { redis: [], memory: [] },
    poolChecks: {},
    status: {},
    replicas: [],
    poolSize: [],
    attribution: [],
    steps: [],
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const plan = args.plan;
  if (!existsSync(path.join(args.distDir, 'main.js'))) throw new Error(`${args.distDir}/main.js not found: run npm run build first`);
  useDist(args.distDir);
  const started = Date.now();
  const children = new Children();
  let cleaning = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (cleaning) return;
    cleaning = true;
    log(`${sig}: stopping every child process`);
    void children.killAll().finally(() => {
      children.cleanupTmp();
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.on('exit', () => children.killAllNow());
  // Hard bound on the whole run, whatever hangs.
  const hard = setTimeout(() => {
    log(`run exceeded ${Math.round((plan.budgetMs + 30_000) / 1000)} s: aborting`);
    children.killAllNow();
    process.exit(2);
  }, plan.budgetMs + 30_000);
  hard.unref();

  const results = emptyResults(plan, args.distDir);
  const steps = STEPS.filter((s) => (args.only ? args.only.has(s.name) : (s.inPlan?.(plan) ?? true)));
  let redis: RedisProc | undefined;
  try {
    redis = await startRedis(children);
    results.machine.redis = redis.version;
    log(`redis ${redis.version} on ${redis.port}; ${os.cpus().length} cores, load ${os.loadavg()[0]?.toFixed(2)}`);
    const filesDir = path.join(children.tmp, 'sessions', 'files');
    const emptyDir = path.join(children.tmp, 'sessions', 'empty');
    mkdirSync(emptyDir, { recursive: true });
    await makeSessionFiles(filesDir, plan.cyclePool);
    const r = redis;
    let a: ServiceProc | undefined;
    const ctx: BenchContext = {
      plan,
      distDir: args.distDir,
      children,
      redis: r,
      results,
      filesDir,
      emptyDir,
      serviceA: async () => {
        if (!a) {
          a = await startService(children, { name: 'telegate-a', distDir: args.distDir, env: serviceEnv({ redisUrl: r.url, prefix: 'cyc', sessionsDir: filesDir }) });
          await waitForPool(a.port, plan.cyclePool);
          await warmUp(plan.serverWarmupMs, a.port);
        }
        return a;
      },
    };
    for (const [i, step] of steps.entries()) {
      await runStep(step, ctx, started);
      if (a && !steps.slice(i + 1).some((s) => s.usesServiceA)) {
        await a.stop();
        a = undefined;
      }
    }
  } finally {
    results.machine.loadavgEnd = os.loadavg().map((v) => Math.round(v * 100) / 100);
    results.seconds = Math.round((Date.now() - started) / 1000);
    await children.killAll();
    redis?.admin.disconnect();
    children.cleanupTmp();
  }

  const stamp = results.date.replace(/[:]/g, '-').replace(/\..*$/, '');
  const only = args.only ? `-only-${[...args.only].join('+')}` : '';
  const out = args.out ?? path.join(ROOT, 'bench', 'results', `${stamp}${plan.mode === 'quick' ? '-quick' : ''}${only}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  log(`results: ${path.relative(ROOT, out)} (${results.seconds} s)`);
  if (args.docs) {
    const written = writeReport(results, path.relative(ROOT, out));
    log(`docs: ${written.join(', ')}`);
  }
  printSummary(results);
  clearTimeout(hard);
  const failed = results.steps.filter((s) => !s.ok);
  if (failed.length > 0) {
    log(`${failed.length} step(s) failed: ${failed.map((s) => s.name).join(', ')}`);
    process.exitCode = 1;
  }
}

/** One step within its budget and what is left of the run's; its outcome goes into results.steps. */
async function runStep(step: Step, ctx: BenchContext, started: number): Promise<void> {
  const { plan, results } = ctx;
  const budgetMs = step.budgetMs(plan);
  if (Date.now() - started + Math.min(budgetMs, 10_000) > plan.budgetMs) {
    log(`skipping ${step.name}: the run's time budget is spent`);
    results.steps.push({ name: step.name, seconds: 0, ok: false, error: 'skipped: time budget spent' });
    return;
  }
  log(`step ${step.name}`);
  const t0 = Date.now();
  const seconds = (): number => Math.round((Date.now() - t0) / 100) / 10;
  try {
    await bounded(step.run(ctx), budgetMs, step.name);
    results.steps.push({ name: step.name, seconds: seconds(), ok: true });
  } catch (err) {
    log(`step ${step.name} FAILED: ${(err as Error).message}`);
    results.steps.push({ name: step.name, seconds: seconds(), ok: false, error: (err as Error).message });
  }
}

function printSummary(r: Results): void {
  const c64 = r.ceiling.find((x) => x.result.concurrency === 64)?.result;
  const red64 = r.cycles.redis.find((x) => x.result.concurrency === 64)?.result;
  if (c64 && red64) {
    log(
      `summary: ceiling ${c64.rps} req/s p99 ${c64.latency.p99} ms | redis c=64 ${red64.cyclesPerSec} cycles/s (${Math.round((red64.cyclesPerSec / c64.rps) * 100)}% of ceiling), ` +
        `acquire p99 ${red64.acquire.p99} ms (${(red64.acquire.p99 / c64.latency.p99).toFixed(2)}× ceiling p99)`,
    );
    const next64 = r.cycles.redisNext?.find((x) => x.result.concurrency === 64)?.result;
    if (next64) log(`summary: redis c=64 next=true ${next64.cyclesPerSec} cycles/s (${Math.round((next64.cyclesPerSec / c64.rps) * 100)}% of ceiling)`);
  }
  if (r.memory) log(`summary: ${r.memory.bytesPerSession} B of Redis memory per registered session`);
  const sc = r.scoped?.results;
  if (sc?.unscoped) {
    const worst = Math.max(...Object.values(sc).map((x) => x.p99));
    log(`summary: scoped acquire p99 at most ${(worst / sc.unscoped.p99).toFixed(2)}× the unscoped one (${r.scoped?.sessions} sessions)`);
  }
}

main().catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
