/**
 * The headline: the bare Express ceiling, the service on Redis and on the
 * embedded store side by side, interleaved per concurrency (each measurement
 * next in time to the ones it is compared with); at concurrency 64, which the
 * targets use, several rounds and the median round is kept. Then GET /status
 * on both stores.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { medianBy } from '../../support/stats';
import { API_KEY, checkPool, fmt, fmtReq, log, measured, serviceEnv, waitForPool, warmUp, type Step } from '../lib/context';
import { runCycles, runRequests, requestBytes, type CyclesResult } from '../lib/load';
import { cpuCell, errorsOf, f, n, table } from '../lib/markdown';
import { stepMs, windowOf, type Plan } from '../lib/plan';
import { startCeiling, startService } from '../lib/procs';
import type { HeadlineRound, Measured, Results } from '../lib/results';

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

/** The headline rounds, throughput and latency tables, and GET /status. */
export function sweepSection(r: Results): string[] {
  const md: string[] = [];
  if (r.headlineRounds && r.headlineRounds.length > 1) {
    md.push(
      `Concurrency 64, which the first two targets use, was measured in ${r.headlineRounds.length} interleaved rounds (ceiling, then Redis, then the embedded store, ` +
        'each next in time to the others); the round with the median Redis/ceiling ratio is the one reported everywhere else. All rounds:',
    );
    md.push('');
    md.push(
      table(
        ['round', 'ceiling req/s', 'ceiling p99 ms', 'Redis cycles/s', 'share of ceiling', 'acquire p99 ms', '× ceiling p99', 'next=true cycles/s (share)', 'embedded cycles/s', 'other CPU (cores)'],
        r.headlineRounds.map((h, i) => [
          `${i + 1}${h.chosen ? ' (reported)' : ''}`,
          n(h.ceiling.result.rps),
          f(h.ceiling.result.latency.p99),
          n(h.redis.result.cyclesPerSec),
          `${f((h.redis.result.cyclesPerSec / h.ceiling.result.rps) * 100, 1)}%`,
          f(h.redis.result.acquire.p99),
          f(h.redis.result.acquire.p99 / h.ceiling.result.latency.p99),
          h.redisNext ? `${n(h.redisNext.result.cyclesPerSec)} (${f((h.redisNext.result.cyclesPerSec / h.ceiling.result.rps) * 100, 1)}%)` : 'n/a',
          n(h.memory.result.cyclesPerSec),
          `${f(h.ceiling.cpu.foreignCores)} / ${f(h.redis.cpu.foreignCores)} / ${f(h.memory.cpu.foreignCores)}`,
        ]),
      ),
    );
    md.push('');
    const rps = r.headlineRounds.map((h) => h.ceiling.result.rps);
    md.push(
      `"Other" CPU only sees processes inside this machine. The ceiling itself moved between ${n(Math.min(...rps))} and ${n(Math.max(...rps))} req/s ` +
        'from round to round while nothing else ran here (contention on the host is invisible from inside a VM): compare numbers within a round, ' +
        'and read single numbers to ±20%.',
    );
    md.push('');
  }
  md.push('## Throughput');
  md.push('');
  md.push('![Throughput vs concurrency](bench-throughput.svg)');
  md.push('');
  const rows: Array<Array<string | number>> = [];
  for (const m of r.ceiling) {
    rows.push(['Express ceiling', m.result.concurrency, `${n(m.result.rps)} req/s`, `${f(m.result.latency.p50)} / ${f(m.result.latency.p99)}`, '–', '–', errorsOf(m.result), cpuCell(m)]);
  }
  const cyc = (label: string, list: Array<Measured<CyclesResult>>): void => {
    for (const m of list) {
      const x = m.result;
      rows.push([
        label,
        x.concurrency,
        `${n(x.cyclesPerSec)} cycles/s`,
        `${f(x.acquire.p50)} / ${f(x.acquire.p99)}`,
        `${f(x.release.p50)} / ${f(x.release.p99)}`,
        `${x.doubleIssues}`,
        errorsOf(x),
        cpuCell(m),
      ]);
    }
  };
  cyc('Redis', r.cycles.redis);
  cyc('embedded store', r.cycles.memory);
  cyc('2 replicas, Redis', r.replicas);
  md.push(table(['what', 'concurrency', 'throughput', 'GET p50 / p99 ms', 'release p50 / p99 ms', 'double issues', 'errors', 'CPU cores used'], rows));
  md.push('');
  md.push('![Latency at concurrency 64](bench-latency.svg)');
  md.push('');
  md.push('### GET /status at concurrency 64');
  md.push('');
  const st: Array<Array<string | number>> = [];
  for (const [label, m] of [['Redis', r.status.redis], ['embedded store', r.status.memory]] as const) {
    if (m) st.push([label, `${n(m.result.rps)} req/s`, `${f(m.result.latency.p50)} / ${f(m.result.latency.p99)}`, errorsOf(m.result), cpuCell(m)]);
  }
  md.push(table(['store', 'throughput', 'p50 / p99 ms', 'errors', 'CPU cores used'], st));
  md.push('');
  return md;
}

export const sweep: Step = {
  name: 'sweep',
  usesServiceA: true,
  // at 64: + next=true
  budgetMs: (plan: Plan) => 90_000 + plan.concurrency.reduce((t, c) => t + (c === 64 ? plan.headlineRounds * 4 : 3) * (stepMs(plan) + 2000), 0),
  async run(ctx) {
    const { plan, children, results, filesDir, distDir } = ctx;
    const r = ctx.redis;
    const self = process.pid;
    const w = windowOf(plan);
    const ceil = await startCeiling(children);
    const mem = await startService(children, { name: 'telegate-mem', distDir: distDir, env: serviceEnv({ prefix: 'mem', sessionsDir: filesDir }) });
    try {
      const svc = await ctx.serviceA();
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
  },
  section: sweepSection,
};
