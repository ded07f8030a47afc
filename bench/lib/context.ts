/**
 * What every bench step gets (bench/steps/*.ts): the run's plan, processes,
 * Redis and results, and the helpers several steps share (the service's
 * environment, waiting for a pool, warming up, measuring a window).
 */
import type { Plan } from './plan';
import { runCycles, runRequests, requestBytes, type CyclesResult, type RequestsResult, type Window } from './load';
import { ProcMonitor, httpJson, type Children, type CpuReport, type RedisProc, type ServiceProc } from './procs';
import type { Measured, PoolCheck, Results } from './results';
import { sleep } from '../../support/poll';

export const API_KEY = 'bench-key-3f9c0a7d5e1b4c2a';
const OTHER_KEYS = ['bench-other-key-1', 'bench-other-key-2'];
const ADMIN_KEY = 'bench-admin-key-7a1c';
/** Per API key per minute: far above the offered load, so the limiter runs on every request but never says 429. */
export const RATE_LIMIT = 60_000_000;
/** Never within a run: the startup sync still runs, the hourly one cannot land in a measurement. */
const SYNC_CRON = '0 0 1 1 *';

export interface BenchContext {
  plan: Plan;
  /** The build the service runs from (dist/ or --dist). */
  distDir: string;
  children: Children;
  /** The run's redis-server (AOF as deployed). */
  redis: RedisProc;
  results: Results;
  /** plan.cyclePool session files, synced at start-up by every service started on them. */
  filesDir: string;
  /** An empty sessions directory (for pools registered straight into Redis). */
  emptyDir: string;
  /** The Redis replica on filesDir that several steps share ('telegate-a'), started and warmed up on first use. */
  serviceA(): Promise<ServiceProc>;
}

export interface Step {
  readonly name: string;
  /** Whether a run of this plan without --only runs the step (default: yes); `--only <name>` runs it whatever this says. */
  inPlan?(plan: Plan): boolean;
  /** Bound on the step's wall time. */
  budgetMs(plan: Plan): number;
  /** Uses ctx.serviceA(): the driver stops that replica after the last step of the run that does. */
  usesServiceA?: boolean;
  /** Measure, and record into ctx.results. */
  run(ctx: BenchContext): Promise<void>;
  /** Its part of docs/benchmarks.md, from recorded results (bench/lib/report.ts puts the parts in order). */
  section?(r: Results, resultsFile: string): string[];
}

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export function fmt(r: CyclesResult): string {
  const err = Object.keys(r.errors).length ? ` errors=${JSON.stringify(r.errors)}` : '';
  return `c=${r.concurrency} ${r.cyclesPerSec} cycles/s, acquire p50 ${r.acquire.p50} p99 ${r.acquire.p99} ms, release p50 ${r.release.p50} p99 ${r.release.p99} ms, double issues ${r.doubleIssues}${err}`;
}

export function fmtReq(r: RequestsResult): string {
  const err = Object.keys(r.errors).length ? ` errors=${JSON.stringify(r.errors)}` : '';
  return `c=${r.concurrency} ${r.rps} req/s, p50 ${r.latency.p50} p99 ${r.latency.p99} ms${err}`;
}

/** Run a measured window, sampling the CPU and RSS of `pids` from its start to its end. */
export async function measured<T>(pids: Record<string, number>, run: (w: Pick<Window, 'onStart' | 'onEnd'>) => Promise<T>): Promise<Measured<T>> {
  const mon = new ProcMonitor(pids);
  let cpu: CpuReport | undefined;
  const result = await run({ onStart: () => mon.start(), onEnd: () => (cpu = mon.stop()) });
  return { result, cpu: cpu ?? mon.stop() };
}

/** The service's environment in the bench: every production middleware on, keys of the bench. */
export function serviceEnv(o: { redisUrl?: string; prefix: string; sessionsDir: string; extra?: Record<string, string> }): Record<string, string> {
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

export async function waitForPool(port: number, total: number, ms = 60_000): Promise<void> {
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

export async function checkPool(port: number, expected: number): Promise<PoolCheck> {
  const s = await poolStatus(port);
  return { total: s.total, free: s.free, in_use: s.in_use, ok: s.total === expected && s.free === expected && s.in_use === 0 };
}

/** Unrecorded acquire → release load on a fresh service (or GETs on the ceiling). */
export async function warmUp(ms: number, port: number, ceiling = false): Promise<void> {
  if (ceiling) await runRequests({ port, request: requestBytes('GET', port, '/', {}), concurrency: 16, warmupMs: 0, durationMs: ms });
  else await runCycles({ ports: [port], apiKey: API_KEY, concurrency: 16, warmupMs: 0, durationMs: ms });
}
