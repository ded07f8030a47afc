/**
 * npm run bench [-- --quick] [-- --no-docs] [-- --dist DIR] [-- --out FILE]
 *
 * Starts everything it needs (its own redis-server on a free port, service
 * replicas from the built code, a bare Express ceiling), runs bounded steps
 * against 127.0.0.1 only, writes bench/results/<date>[-quick].json and (full
 * runs) regenerates docs/benchmarks.md and its SVG charts. Every child
 * process is killed at the end, on error and on SIGINT/SIGTERM.
 *
 *   --quick     short steps, smaller pools (< 1 minute): for checking a change
 *   --no-docs   do not regenerate docs/ (default for --quick; --docs forces it)
 *   --dist DIR  run the service from another build (experiments)
 *   --out FILE  results file (default bench/results/<date>[-quick].json)
 *   --no-profile  skip the CPU-profile step
 *   --only a,b  run only these steps (sweep, replicas, attribution, memory, pool-size,
 *               profile, ha); the results file gets a -only-<steps> suffix and docs/
 *               is not regenerated unless --docs (bench/lib/report.ts takes the ha
 *               section from the newest full results file that has one). --quick
 *               runs ha only when named here (`--quick --only ha`, about 30 s)
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCycles, runRequests, requestBytes, type CyclesResult, type RequestsResult, type Window } from './lib/load';
import { measureMemory } from './lib/memory';
import {
  Children,
  ProcMonitor,
  ROOT,
  bounded,
  httpJson,
  redisMemory,
  startCeiling,
  startRedis,
  startService,
  type CpuReport,
  type RedisProc,
  type ServiceProc,
  aofQuiet,
} from './lib/procs';
import { summariseProfile } from './lib/profile';
import { writeReport } from './lib/report';
import type { HeadlineRound, Measured, PoolCheck, PoolSizePoint, Results } from './lib/results';
import { makeSessionFiles, seedRedis } from './lib/seed';
import { sleep } from '../support/poll';
import { medianBy } from '../support/stats';
import { useDist } from './lib/built';
import { measureHa, type HaPlan } from './lib/ha';

export const API_KEY = 'bench-key-3f9c0a7d5e1b4c2a';
const OTHER_KEYS = ['bench-other-key-1', 'bench-other-key-2'];
const ADMIN_KEY = 'bench-admin-key-7a1c';
/** Per API key per minute: far above the offered load, so the limiter runs on every request but never says 429. */
export const RATE_LIMIT = 60_000_000;
/** Never within a run: the startup sync still runs, the hourly one cannot land in a measurement. */
const SYNC_CRON = '0 0 1 1 *';

interface Plan {
  mode: 'full' | 'quick';
  warmupMs: number;
  durationMs: number;
  concurrency: number[];
  /** Sessions in the pool for the cycle tests (session files, synced at start-up). */
  cyclePool: number;
  poolSizes: number[];
  poolSizeConcurrency: number[];
  poolSizeDurationMs: number;
  memorySessions: number;
  /** Measure the what-if layouts too (bench/lib/layouts.ts). */
  layouts: boolean;
  replicaConcurrency: number[];
  /** Rounds of (ceiling, Redis, embedded) at concurrency 64; the median round is reported. */
  headlineRounds: number;
  attribution: boolean;
  profile: boolean;
  /** Unrecorded load on every freshly started server first (JIT, connection pools). */
  serverWarmupMs: number;
  /** Redis HA (bench/lib/ha.ts): the cost of WAIT and a Sentinel failover. */
  ha: HaPlan;
  /** Whole-run bound. */
  budgetMs: number;
}

const FULL: Plan = {
  mode: 'full',
  warmupMs: 2000,
  durationMs: 8000,
  concurrency: [1, 16, 64],
  cyclePool: 1000,
  poolSizes: [1000, 100_000, 1_000_000],
  poolSizeConcurrency: [1, 64],
  poolSizeDurationMs: 6000,
  memorySessions: 100_000,
  layouts: true,
  replicaConcurrency: [16, 64],
  headlineRounds: 3,
  attribution: true,
  profile: true,
  serverWarmupMs: 3000,
  ha: { concurrency: [16, 64], rounds: 3, warmupMs: 1000, durationMs: 5000, failover: { concurrency: 16, beforeMs: 3000, windowMs: 20_000 } },
  budgetMs: 9.5 * 60_000,
};

const QUICK: Plan = {
  mode: 'quick',
  warmupMs: 500,
  durationMs: 2000,
  concurrency: [64],
  cyclePool: 200,
  poolSizes: [1000, 50_000],
  poolSizeConcurrency: [1, 64],
  poolSizeDurationMs: 1500,
  memorySessions: 20_000,
  layouts: false,
  replicaConcurrency: [64],
  headlineRounds: 1,
  attribution: false,
  profile: false,
  serverWarmupMs: 1000,
  ha: { concurrency: [16, 64], rounds: 1, warmupMs: 300, durationMs: 1500, failover: { concurrency: 16, beforeMs: 1000, windowMs: 10_000 } },
  budgetMs: 55_000,
};

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
  // A partial run must not regenerate the whole doc from its few numbers.
  if (only !== undefined && !argv.includes('--docs')) docs = false;
  return { plan, docs, distDir, out: val('--out'), only: only === undefined ? undefined : new Set(only.split(',')) };
}

// ------------------------------------------------------------------ helpers

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

function sh(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

async function measured<T>(pids: Record<string, number>, run: (w: Pick<Window, 'onStart' | 'onEnd'>) => Promise<T>): Promise<Measured<T>> {
  const mon = new ProcMonitor(pids);
  let cpu: CpuReport | undefined;
  const result = await run({ onStart: () => mon.start(), onEnd: () => (cpu = mon.stop()) });
  return { result, cpu: cpu ?? mon.stop() };
}

function serviceEnv(o: { redisUrl?: string; prefix: string; sessionsDir: string; extra?: Record<string, string> }): Record<string, string> {
  return {
    ...(o.redisUrl ? { REDIS_URL: o.redisUrl } : {}),
    TELEGATE_API_KEYS: [API_KEY, ...OTHER_KEYS].join(','),
    TELEGATE_ADMIN_KEYS: ADMIN_KEY,
    TELEGATE_SESSIONS_DIR: o.sessionsDir,
    TELEGATE_KEY_PREFIX: o.prefix,
    TELEGATE_RATE_LIMIT: String(RATE_LIMIT),
    TELEGATE_SYNC_CRON: SYNC_CRON,
    LOG_LEVEL: 'info',
    ...(o.extra ?? {}),
  };
}

async function poolStatus(port: number): Promise<{ total: number; free: number; in_use: number }> {
  const r = await httpJson(port, 'GET', '/status', { 'X-API-Key': API_KEY });
  if (r.status !== 200) throw new Error(`GET /status answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body as { total: number; free: number; in_use: number };
}

async function waitForPool(port: number, total: number, ms = 60_000): Promise<void> {
  const t0 = Date.now();
  const deadline = t0 + ms;
  for (;;) {
    const s = await poolStatus(port).catch(() => null);
    if (s && s.total >= total && s.free >= total) {
      if (Date.now() - t0 > 1000) log(`  pool of ${total} ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      return;
    }
    if (Date.now() > deadline) throw new Error(`pool did not reach ${total} free sessions within ${ms / 1000} s (now ${JSON.stringify(s)})`);
    await sleep(100);
  }
}

async function checkPool(port: number, expected: number): Promise<PoolCheck> {
  const s = await poolStatus(port);
  return { total: s.total, free: s.free, in_use: s.in_use, ok: s.total === expected && s.free === expected && s.in_use === 0 };
}

/** Unrecorded acquire → release load on a fresh service (or GETs on the ceiling). */
async function warmUp(ms: number, port: number, ceiling = false): Promise<void> {
  if (ceiling) await runRequests({ port, request: requestBytes('GET', port, '/', {}), concurrency: 16, warmupMs: 0, durationMs: ms });
  else await runCycles({ ports: [port], apiKey: API_KEY, concurrency: 16, warmupMs: 0, durationMs: ms });
}

/** Mean size of a request log line (from the last MB of the log): proof that logging at info was on. */
function requestLogLineBytes(file: string): number | undefined {
  const size = statSync(file).size;
  const len = Math.min(size, 1 << 20);
  const buf = Buffer.alloc(len);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, len, size - len);
  } finally {
    closeSync(fd);
  }
  const lines = buf.toString('utf8').split('\n').slice(1).filter((l) => l.includes('"req":{'));
  if (lines.length === 0) return undefined;
  return Math.round(lines.reduce((n, l) => n + Buffer.byteLength(l) + 1, 0) / lines.length);
}

function fmt(r: CyclesResult): string {
  const err = Object.keys(r.errors).length ? ` errors=${JSON.stringify(r.errors)}` : '';
  return `c=${r.concurrency} ${r.cyclesPerSec} cycles/s, acquire p50 ${r.acquire.p50} p99 ${r.acquire.p99} ms, release p50 ${r.release.p50} p99 ${r.release.p99} ms, double issues ${r.doubleIssues}${err}`;
}

function fmtReq(r: RequestsResult): string {
  const err = Object.keys(r.errors).length ? ` errors=${JSON.stringify(r.errors)}` : '';
  return `c=${r.concurrency} ${r.rps} req/s, p50 ${r.latency.p50} p99 ${r.latency.p99} ms${err}`;
}

// ------------------------------------------------------------------ main

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

  const w = { warmupMs: plan.warmupMs, durationMs: plan.durationMs };
  const self = process.pid;
  const results: Results = {
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
      build: path.resolve(args.distDir) === path.join(ROOT, 'dist') ? 'dist/ (npm run build of the working tree)' : args.distDir,
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

  const step = async (name: string, budgetMs: number, fn: () => Promise<void>): Promise<void> => {
    if (args.only && !args.only.has(name)) return;
    const elapsed = Date.now() - started;
    if (elapsed + Math.min(budgetMs, 10_000) > plan.budgetMs) {
      log(`skipping ${name}: the run's time budget is spent`);
      results.steps.push({ name, seconds: 0, ok: false, error: 'skipped: time budget spent' });
      return;
    }
    log(`step ${name}`);
    const t0 = Date.now();
    try {
      await bounded(fn(), budgetMs, name);
      results.steps.push({ name, seconds: Math.round((Date.now() - t0) / 100) / 10, ok: true });
    } catch (err) {
      log(`step ${name} FAILED: ${(err as Error).message}`);
      results.steps.push({ name, seconds: Math.round((Date.now() - t0) / 100) / 10, ok: false, error: (err as Error).message });
    }
  };

  let redis: RedisProc | undefined;
  const dirs = path.join(children.tmp, 'sessions');
  const filesDir = path.join(dirs, 'files');
  const emptyDir = path.join(dirs, 'empty');
  mkdirSync(emptyDir, { recursive: true });
  const stepMs = plan.warmupMs + plan.durationMs;

  try {
    redis = await startRedis(children);
    results.machine.redis = redis.version;
    log(`redis ${redis.version} on ${redis.port}; ${os.cpus().length} cores, load ${os.loadavg()[0]?.toFixed(2)}`);
    await makeSessionFiles(filesDir, plan.cyclePool);
    const r = redis;

    // 1. + 2. + 5. The ceiling, Redis and the embedded store side by side, interleaved per
    // concurrency (each measurement next in time to the ones it is compared with); at
    // concurrency 64, which the targets use, several rounds and the median round is kept.
    let a: ServiceProc | undefined;
    const startA = async (): Promise<ServiceProc> => {
      if (!a) {
        a = await startService(children, { name: 'telegate-a', distDir: args.distDir, env: serviceEnv({ redisUrl: r.url, prefix: 'cyc', sessionsDir: filesDir }) });
        await waitForPool(a.port, plan.cyclePool);
        await warmUp(plan.serverWarmupMs, a.port);
      }
      return a;
    };
    const sweepMs = plan.concurrency.reduce((t, c) => t + (c === 64 ? plan.headlineRounds * 4 : 3) * (stepMs + 2000), 0); // at 64: + next=true
    await step('sweep', 90_000 + sweepMs, async () => {
      const ceil = await startCeiling(children);
      const mem = await startService(children, { name: 'telegate-mem', distDir: args.distDir, env: serviceEnv({ prefix: 'mem', sessionsDir: filesDir }) });
      try {
        const svc = await startA();
        await waitForPool(mem.port, plan.cyclePool);
        await warmUp(plan.serverWarmupMs, mem.port);
        await warmUp(plan.serverWarmupMs, ceil.port, true);
        const ceilReq = requestBytes('GET', ceil.port, '/', {});
        for (const c of plan.concurrency) {
          const rounds: HeadlineRound[] = [];
          for (let round = 0; round < (c === 64 ? plan.headlineRounds : 1); round++) {
            const ceiling = await measured({ client: self, ceiling: ceil.child.pid }, (hooks) => runRequests({ port: ceil.port, request: ceilReq, concurrency: c, ...w, ...hooks }));
            log(`  ceiling ${fmtReq(ceiling.result)}`);
            const redisRun = await measured({ client: self, service: svc.child.pid, redis: r.child.pid }, (hooks) =>
              runCycles({ ports: [svc.port], apiKey: API_KEY, concurrency: c, ...w, ...hooks }),
            );
            log(`  redis ${fmt(redisRun.result)}`);
            // One request per cycle (POST /release with next=true), at the concurrency the targets use.
            const redisNext =
              c === 64
                ? await measured({ client: self, service: svc.child.pid, redis: r.child.pid }, (hooks) =>
                    runCycles({ ports: [svc.port], apiKey: API_KEY, concurrency: c, next: true, ...w, ...hooks }),
                  )
                : undefined;
            if (redisNext) log(`  redis next=true ${fmt(redisNext.result)}`);
            const memRun = await measured({ client: self, service: mem.child.pid }, (hooks) => runCycles({ ports: [mem.port], apiKey: API_KEY, concurrency: c, ...w, ...hooks }));
            log(`  embedded ${fmt(memRun.result)}`);
            rounds.push({ ceiling, redis: redisRun, memory: memRun, ...(redisNext ? { redisNext } : {}) });
          }
          // The round whose Redis/ceiling throughput ratio is the median stands for this concurrency.
          const mid = medianBy(rounds, (x) => x.redis.result.cyclesPerSec / x.ceiling.result.rps)!;
          results.ceiling.push(mid.ceiling);
          results.cycles.redis.push(mid.redis);
          results.cycles.memory.push(mid.memory);
          if (mid.redisNext) (results.cycles.redisNext ??= []).push(mid.redisNext);
          if (rounds.length > 1) results.headlineRounds = rounds.map((x) => ({ ...x, chosen: x === mid }));
        }
        results.poolChecks['cycles-redis'] = await checkPool(svc.port, plan.cyclePool);
        results.poolChecks['cycles-memory'] = await checkPool(mem.port, plan.cyclePool);
        results.logBytesPerRequest = requestLogLineBytes(svc.logFile);
        // 3. GET /status on both stores.
        for (const [kind, port, pids] of [
          ['redis', svc.port, { client: self, service: svc.child.pid, redis: r.child.pid }],
          ['memory', mem.port, { client: self, service: mem.child.pid }],
        ] as const) {
          const req = requestBytes('GET', port, '/status', { 'X-API-Key': API_KEY });
          const m = await measured(pids, (hooks) => runRequests({ port, request: req, concurrency: 64, ...w, ...hooks }));
          results.status[kind] = m;
          log(`  ${kind} GET /status ${fmtReq(m.result)}`);
        }
      } finally {
        await ceil.stop();
        await mem.stop();
      }
    });

    // 6. Two replicas on one Redis, round-robin.
    await step('replicas', 60_000 + plan.replicaConcurrency.length * (stepMs + 10_000), async () => {
      const svcA = await startA();
      const b = await startService(children, { name: 'telegate-b', distDir: args.distDir, env: serviceEnv({ redisUrl: r.url, prefix: 'cyc', sessionsDir: filesDir }) });
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
    });
    if (a) await a.stop();

    // Middleware cost on Redis by configuration alone (no code change): request log off, rate limit off.
    if (plan.attribution) {
      const variants: Array<[string, Record<string, string>]> = [
        ['as deployed (all on)', {}],
        ['request log off (LOG_LEVEL=warn)', { LOG_LEVEL: 'warn' }],
        ['rate limit off (TELEGATE_RATE_LIMIT=0)', { TELEGATE_RATE_LIMIT: '0' }],
        ['both off', { LOG_LEVEL: 'warn', TELEGATE_RATE_LIMIT: '0' }],
      ];
      await step('attribution', 30_000 + variants.length * (stepMs + 10_000), async () => {
        for (const [variant, extra] of variants) {
          const svc = await startService(children, { name: 'telegate-attr', distDir: args.distDir, env: serviceEnv({ redisUrl: r.url, prefix: 'cyc', sessionsDir: filesDir, extra }) });
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
      });
    }

    // 5. Redis bytes per registered session.
    await step('memory', 150_000, async () => {
      results.memory = await measureMemory(r, plan.memorySessions, filesDir, log, plan.layouts);
      log(`  ${results.memory.bytesPerSession} B/session registered, ${results.memory.bytesPerSessionAfterUse} B after each was leased once`);
    });

    // 4. Acquire latency against pool size (same Redis, grown in place).
    await step('pool-size', 330_000, async () => {
      await r.admin.flushall();
      const svc = await startService(children, { name: 'telegate-size', distDir: args.distDir, env: serviceEnv({ redisUrl: r.url, prefix: 'size', sessionsDir: emptyDir }) });
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
    });

    // Where the service's CPU goes under the Redis cycle load (separate: profiling slows it).
    if (plan.profile) {
      await step('profile', 90_000, async () => {
        await r.admin.flushall();
        const profDir = path.join(children.tmp, 'cpuprof');
        mkdirSync(profDir, { recursive: true });
        const svc = await startService(children, {
          name: 'telegate-prof',
          distDir: args.distDir,
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
      });
    }

    // Redis HA: the throughput cost of TELEGATE_REDIS_WAIT_REPLICAS=1 and a Sentinel failover's window (own Redis processes).
    const ha = plan.ha;
    const haMs = ha.concurrency.length * ha.rounds * 2 * (ha.warmupMs + ha.durationMs + 1000) + ha.failover.windowMs;
    // Not in a plain --quick run (it would double its minute): `--quick --only ha` is its short variant.
    if (plan.mode === 'full' || args.only?.has('ha')) await step('ha', 90_000 + haMs, async () => {
      results.ha = await measureHa(ha, {
        startTeleGate: async (name, prefix, extra) => {
          const svc = await startService(children, { name, distDir: args.distDir, env: serviceEnv({ prefix, sessionsDir: filesDir, extra }) });
          await waitForPool(svc.port, plan.cyclePool);
          await warmUp(plan.serverWarmupMs, svc.port);
          return svc;
        },
        measured,
        log,
        fmt,
        apiKey: API_KEY,
      });
    });
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
}

main().catch((err: unknown) => {
  log(`failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
