/**
 * Child processes of a benchmark run (redis-server, service replicas, the
 * Express ceiling): started on free loopback ports, tracked, and all killed
 * at the end, on error and on SIGINT/SIGTERM. Plus /proc sampling of CPU and
 * RSS per process, and of the whole machine (to see load that is not ours).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type Redis from 'ioredis';
import { sleep } from '../../support/poll';
import { freePort } from '../../support/ports';
import { RedisServer, testClient } from '../../support/redis';

export const ROOT = path.resolve(__dirname, '..', '..');

/** Reject after ms (with what), else settle as p does. */
export async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${Math.round(ms / 1000)} s`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface Child {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<void>;
  running(): boolean;
  /** SIGTERM (graceful), SIGKILL after graceMs. */
  stop(graceMs?: number): Promise<void>;
  /** Last lines of stderr, for error messages. */
  stderrTail(): string;
}

/** Every child of this run; killAll() at the end, killAllNow() from an exit handler. */
export class Children {
  private readonly live = new Set<Child>();
  readonly tmp = mkdtempSync(path.join(os.tmpdir(), 'telegate-bench-'));

  spawn(name: string, cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; stdoutFile?: string; cwd?: string } = {}): Child {
    const out = opts.stdoutFile === undefined ? 'ignore' : openSync(opts.stdoutFile, 'a');
    const proc = spawn(cmd, args, { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, stdio: ['ignore', out, 'pipe'] });
    if (typeof out === 'number') closeSync(out); // the child has its own copy
    if (proc.pid === undefined) throw new Error(`${name}: could not start ${cmd}`);
    let tail = '';
    proc.stderr?.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
    });
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    const running = (): boolean => proc.exitCode === null && proc.signalCode === null;
    const child: Child = {
      name,
      proc,
      pid: proc.pid,
      exited,
      running,
      stderrTail: () => tail.trim().split('\n').slice(-15).join('\n'),
      stop: async (graceMs = 5000) => {
        if (running()) {
          proc.kill('SIGTERM');
          const killer = setTimeout(() => running() && proc.kill('SIGKILL'), graceMs);
          await exited;
          clearTimeout(killer);
        }
        this.live.delete(child);
      },
    };
    this.live.add(child);
    void exited.then(() => this.live.delete(child));
    return child;
  }

  async killAll(): Promise<void> {
    await Promise.all([...this.live].map((c) => c.stop(3000)));
  }

  /** Synchronous last resort (process 'exit' handler): SIGKILL whatever still runs. */
  killAllNow(): void {
    for (const c of this.live) if (c.running()) c.proc.kill('SIGKILL');
    this.live.clear();
    rmSync(this.tmp, { recursive: true, force: true });
  }

  cleanupTmp(): void {
    rmSync(this.tmp, { recursive: true, force: true });
  }
}

export interface RedisProc {
  child: Child;
  port: number;
  url: string;
  version: string;
  /** A plain client for INFO, MEMORY USAGE, FLUSHALL. */
  admin: Redis;
  stop(): Promise<void>;
}

/**
 * redis-server as deployed (k8s/base/redis-statefulset.yaml): AOF on with
 * fsync every second, no eviction; no RDB snapshots; loopback only. Started by
 * support/redis.ts (as the tests start theirs), tracked by `children`.
 */
export async function startRedis(children: Children): Promise<RedisProc> {
  let child: Child | undefined;
  const server = await RedisServer.start({
    dir: mkdtempSync(path.join(children.tmp, 'redis-')),
    appendonly: true,
    args: ['--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction'],
    spawn: (cmd, args) => (child = children.spawn('redis-server', cmd, args)).proc,
  });
  if (!child) throw new Error('redis-server was not started through the registry');
  const tracked = child;
  const admin = await testClient(server.url);
  const version = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
  return {
    child: tracked,
    port: server.port,
    url: server.url,
    version,
    admin,
    stop: async () => {
      admin.disconnect();
      await tracked.stop();
    },
  };
}

/** Wait until Redis is not rewriting its AOF (a fork would land in a measurement). */
export async function aofQuiet(admin: Redis, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const info = await admin.info('persistence');
    if (/aof_rewrite_in_progress:0/.test(info) && /aof_rewrite_scheduled:0/.test(info)) return;
    if (Date.now() > deadline) throw new Error('AOF rewrite still running');
    await sleep(200);
  }
}

/**
 * Bytes of data: used_memory without client buffers and the AOF buffer
 * (transient: a big pipeline's query buffer would count as data otherwise);
 * the least of three samples 100 ms apart, once no AOF rewrite runs.
 */
export async function dataBytes(admin: Redis): Promise<number> {
  await aofQuiet(admin);
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(100);
    const m = await redisMemory(admin);
    best = Math.min(best, (m.used_memory ?? 0) - (m.mem_clients_normal ?? 0) - (m.mem_aof_buffer ?? 0));
  }
  return best;
}

/** used_memory etc. from INFO memory. */
export async function redisMemory(admin: Redis): Promise<Record<string, number>> {
  const info = await admin.info('memory');
  const out: Record<string, number> = {};
  for (const line of info.split('\r\n')) {
    const m = /^(\w+):(\d+(?:\.\d+)?)$/.exec(line);
    if (m?.[1] && m[2]) out[m[1]] = Number(m[2]);
  }
  return out;
}

export interface ServiceProc {
  child: Child;
  port: number;
  /** From spawn to /readyz answering 200. */
  readyMs: number;
  logFile: string;
  stop(): Promise<void>;
}

export interface ServiceOptions {
  name: string;
  distDir: string;
  env: Record<string, string>;
  /** Write a V8 CPU profile into this directory at exit. */
  cpuProfDir?: string;
}

/** node <dist>/main.js, as in the Dockerfile (NODE_ENV=production); request logs go to a file. */
export async function startService(children: Children, o: ServiceOptions): Promise<ServiceProc> {
  const port = await freePort();
  const logFile = path.join(children.tmp, `${o.name}-${port}.log`);
  const args = [...(o.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfDir] : []), path.join(o.distDir, 'main.js')];
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', PORT: String(port), ...o.env };
  const t0 = Date.now();
  const child = children.spawn(o.name, process.execPath, args, { env, stdoutFile: logFile });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!child.running()) throw new Error(`${o.name} exited at start: ${child.stderrTail()}`);
    const status = await httpStatus(port, '/readyz').catch(() => 0);
    if (status === 200) break;
    if (Date.now() > deadline) throw new Error(`${o.name} not ready within 20 s: ${child.stderrTail()}`);
    await sleep(100);
  }
  return { child, port, logFile, readyMs: Date.now() - t0, stop: () => child.stop(10_000) };
}

/** The bare Express app of bench/ceiling.ts; it prints its port on stdout. */
export async function startCeiling(children: Children): Promise<{ child: Child; port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', PORT: String(port) };
  const child = children.spawn('express-ceiling', process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'ceiling.ts')], { env });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (!child.running()) throw new Error(`ceiling exited at start: ${child.stderrTail()}`);
    if ((await httpStatus(port, '/').catch(() => 0)) === 200) break;
    if (Date.now() > deadline) throw new Error('ceiling not answering within 20 s');
    await sleep(100);
  }
  return { child, port, stop: () => child.stop() };
}

/** One GET on a fresh connection: the status code. */
export function httpStatus(port: number, p: string, headers: Record<string, string> = {}): Promise<number> {
  return httpJson(port, 'GET', p, headers).then((r) => r.status);
}

export function httpJson(port: number, method: string, p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  return fetch(`http://127.0.0.1:${port}${p}`, { method, headers, signal: AbortSignal.timeout(5000) }).then(async (r) => {
    const text = await r.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: r.status, body };
  });
}

// ---------------------------------------------------------------- /proc sampling

const TICKS = 100; // USER_HZ on Linux

function procTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
  } catch {
    return 0;
  }
}

function procRssBytes(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096;
  } catch {
    return 0;
  }
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const v = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = v;
  return { busy: user + nice + system + irq + softirq + steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

export interface CpuReport {
  seconds: number;
  /** Cores used per process (1.0 = one core busy all the time). */
  cores: Record<string, number>;
  /** Cores busy with processes that are not ours (other engineers' tests...). */
  foreignCores: number;
  /** Whole machine busy, in cores. */
  machineCores: number;
  rssMaxMb: Record<string, number>;
  rssMeanMb: Record<string, number>;
  loadavg1: number;
}

/** Samples CPU (start/stop deltas) and RSS (every 250 ms) of the named pids. */
export class ProcMonitor {
  private t0 = 0;
  private ticks0 = new Map<string, number>();
  private m0 = { busy: 0, total: 0 };
  private rss = new Map<string, number[]>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly pids: Record<string, number>) {}

  start(): void {
    this.t0 = performance.now();
    for (const [name, pid] of Object.entries(this.pids)) this.ticks0.set(name, procTicks(pid));
    this.m0 = machineTicks();
    this.sampleRss();
    this.timer = setInterval(() => this.sampleRss(), 250);
  }

  private sampleRss(): void {
    for (const [name, pid] of Object.entries(this.pids)) {
      const list = this.rss.get(name) ?? [];
      list.push(procRssBytes(pid));
      this.rss.set(name, list);
    }
  }

  stop(): CpuReport {
    clearInterval(this.timer);
    this.sampleRss();
    const seconds = (performance.now() - this.t0) / 1000;
    const m1 = machineTicks();
    const cores: Record<string, number> = {};
    let ours = 0;
    for (const [name, pid] of Object.entries(this.pids)) {
      const d = procTicks(pid) - (this.ticks0.get(name) ?? 0);
      ours += d;
      cores[name] = r2(d / TICKS / seconds);
    }
    const busy = m1.busy - this.m0.busy;
    const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;
    const rssMaxMb: Record<string, number> = {};
    const rssMeanMb: Record<string, number> = {};
    for (const [name, list] of this.rss) {
      rssMaxMb[name] = mb(Math.max(...list));
      rssMeanMb[name] = mb(list.reduce((a, b) => a + b, 0) / Math.max(1, list.length));
    }
    return {
      seconds: r2(seconds),
      cores,
      foreignCores: r2(Math.max(0, (busy - ours) / TICKS / seconds)),
      machineCores: r2(busy / TICKS / seconds),
      rssMaxMb,
      rssMeanMb,
      loadavg1: r2(os.loadavg()[0] ?? 0),
    };
  }
}

function r2(v: number): number {
  return Math.round(v * 100) / 100;
}
