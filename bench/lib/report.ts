/**
 * docs/benchmarks.md and its SVG charts, regenerated from one results file.
 * The hand-written analysis lives in bench/findings.md; its {{placeholders}}
 * are filled from the same results, so numbers in the prose never go stale.
 *
 * Standalone: node --import tsx bench/lib/report.ts bench/results/<file>.json
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CyclesResult, RequestsResult } from './load';
import { ROOT } from './procs';
import { COLORS, barChart, lineChart } from './svg';
import type { CompareResults, HaResult, Measured, Results } from './results';
import { median } from '../../support/stats';

export interface Target {
  name: string;
  target: string;
  measured: string;
  pass: boolean | null;
}

const at = <T extends { result: { concurrency: number } }>(list: T[], c: number): T | undefined => list.find((m) => m.result.concurrency === c);

function ratio(a: number, b: number): number {
  return b === 0 ? NaN : a / b;
}

function f(v: number | undefined, digits = 2): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return v.toFixed(digits);
}

function n(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return Math.round(v).toLocaleString('en-US');
}

function sizeLabel(s: number): string {
  return s >= 1_000_000 ? `${s / 1_000_000}M` : s >= 1000 ? `${s / 1000}k` : String(s);
}

/** Every cycle run in the results (for the double-issue check). */
function allCycleRuns(r: Results): Array<[string, CyclesResult]> {
  const out: Array<[string, CyclesResult]> = [];
  const headline = new Set((r.headlineRounds ?? []).flatMap((h) => [h.redis.result, h.memory.result, ...(h.redisNext ? [h.redisNext.result] : [])]));
  for (const m of r.cycles.redis) if (!headline.has(m.result)) out.push([`Redis c=${m.result.concurrency}`, m.result]);
  for (const m of r.cycles.redisNext ?? []) if (!headline.has(m.result)) out.push([`Redis next=true c=${m.result.concurrency}`, m.result]);
  for (const m of r.cycles.memory) if (!headline.has(m.result)) out.push([`embedded c=${m.result.concurrency}`, m.result]);
  (r.headlineRounds ?? []).forEach((h, i) => {
    out.push([`Redis c=64 round ${i + 1}`, h.redis.result]);
    out.push([`embedded c=64 round ${i + 1}`, h.memory.result]);
    if (h.redisNext) out.push([`Redis next=true c=64 round ${i + 1}`, h.redisNext.result]);
  });
  for (const m of r.replicas) out.push([`2 replicas c=${m.result.concurrency}`, m.result]);
  for (const p of r.poolSize) for (const m of p.runs) out.push([`${sizeLabel(p.sessions)} sessions c=${m.result.concurrency}`, m.result]);
  for (const a of r.attribution) out.push([a.variant, a.run.result]);
  if (r.profile) out.push(['profiled', r.profile.cycles.result]);
  for (const w of r.ha?.waitRuns ?? []) out.push([`WAIT ${w.wait} c=${w.run.result.concurrency} round ${w.round}`, w.run.result]);
  if (r.ha?.failover) out.push(['Sentinel failover', r.ha.failover.run.result]);
  return out;
}

export function evaluateTargets(r: Results): Target[] {
  const t: Target[] = [];
  const ceilRun = at(r.ceiling, 64);
  const redRun = at(r.cycles.redis, 64);
  const ceil = ceilRun?.result;
  const red = redRun?.result;
  /** Cycles/s of a run as a share of the ceiling's requests/s, against `least`. */
  const share = (what: string, least: number, run: CyclesResult, ceiling: RequestsResult): Target => {
    const q = ratio(run.cyclesPerSec, ceiling.rps);
    return {
      name: `Redis ${what} at concurrency 64 vs the Express ceiling`,
      target: `≥ ${least * 100}% of the ceiling’s requests/s`,
      measured: `${n(run.cyclesPerSec)} cycles/s = ${f(q * 100, 1)}% of ${n(ceiling.rps)} req/s`,
      pass: q >= least,
    };
  };
  if (ceil && red) {
    t.push(share('two-request cycles/s (acquire, release)', 0.35, red, ceil));
    const lat = ratio(red.acquire.p99, ceil.latency.p99);
    t.push({
      name: 'acquire p99 at concurrency 64 vs the ceiling’s p99',
      target: '≤ 2×',
      measured: `${f(red.acquire.p99)} ms = ${f(lat)}× ${f(ceil.latency.p99)} ms`,
      pass: lat <= 2,
    });
  }
  const next = at(r.cycles.redisNext ?? [], 64)?.result;
  if (ceil && next) t.push(share('one-request cycles/s (release with next=true)', 0.7, next, ceil));
  if (ceilRun && redRun) {
    const us = serviceUs(redRun);
    const bare = serviceUs(ceilRun);
    t.push({
      name: 'service CPU per request (two-request cycles, every production feature on) vs the bare Express route',
      target: '≤ 2×',
      measured: `${n(us)} µs vs ${n(bare)} µs = ${f(ratio(us, bare))}×`,
      pass: ratio(us, bare) <= 2,
    });
  }
  const runs = allCycleRuns(r);
  const doubles = runs.reduce((a, [, x]) => a + x.doubleIssues + x.leaseMismatches, 0);
  const badChecks = Object.entries(r.poolChecks).filter(([, c]) => !c.ok);
  t.push({
    name: 'double issues, every cycle run',
    target: '0',
    measured: `${doubles} in ${runs.length} runs (${n(runs.reduce((a, [, x]) => a + x.cycles, 0))} measured cycles); pool consistent after each step: ${badChecks.length === 0 ? 'yes' : `no (${badChecks.map(([k]) => k).join(', ')})`}`,
    pass: runs.length > 0 && doubles === 0 && badChecks.length === 0,
  });
  const small = r.poolSize[0];
  const big = r.poolSize.at(-1);
  if (small && big && big !== small) {
    for (const run of small.runs) {
      const c = run.result.concurrency;
      const other = big.runs.find((x) => x.result.concurrency === c);
      if (!other) continue;
      const q = ratio(other.result.acquire.p99, run.result.acquire.p99);
      t.push({
        name: `acquire p99 at ${sizeLabel(big.sessions)} vs ${sizeLabel(small.sessions)} sessions (concurrency ${c})`,
        target: '≤ 1.5×',
        measured: `${f(other.result.acquire.p99)} ms vs ${f(run.result.acquire.p99)} ms = ${f(q)}×`,
        pass: q <= 1.5,
      });
    }
  }
  if (r.memory) {
    t.push({
      name: `Redis memory per registered session (${n(r.memory.sessions)} via applySync)`,
      target: '≤ 250 B',
      measured: `${f(r.memory.bytesPerSession, 1)} B (${f(r.memory.bytesPerSessionAfterUse, 1)} B once each was leased)`,
      pass: r.memory.bytesPerSession <= 250,
    });
  }
  t.push({
    name: r.mode === 'quick' ? '`npm run bench -- --quick` wall time' : '`npm run bench` wall time',
    target: r.mode === 'quick' ? '< 1 min' : '< 10 min',
    measured: `${r.seconds} s (plus the build)`,
    pass: r.seconds < (r.mode === 'quick' ? 60 : 600),
  });
  return t;
}

/** CPU microseconds per HTTP request, per process. */
function cpuPerRequest(m: Measured<CyclesResult | RequestsResult>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m.cpu.cores)) out[k] = m.result.rps > 0 ? (v * 1e6) / m.result.rps : NaN;
  return out;
}

function serviceUs(m: Measured<CyclesResult | RequestsResult>): number {
  const c = cpuPerRequest(m);
  return Object.entries(c)
    .filter(([k]) => k.startsWith('service') || k === 'ceiling')
    .reduce((a, [, v]) => a + v, 0);
}

// ------------------------------------------------------------------ charts

function throughputChart(r: Results): string {
  const cs = [...new Set([...r.ceiling, ...r.cycles.redis, ...r.cycles.memory, ...r.replicas].map((m) => m.result.concurrency))].sort((a, b) => a - b);
  const pick = <T extends { result: { concurrency: number } }>(list: T[], v: (x: T) => number): Array<number | null> =>
    cs.map((c) => {
      const m = at(list, c);
      return m ? v(m) : null;
    });
  return lineChart({
    title: 'Throughput vs concurrency',
    subtitle: `one acquire → release cycle = 2 HTTP requests; ${r.machine.cpus} cores, ${r.date.slice(0, 10)}`,
    xLabels: cs.map((c) => `concurrency ${c}`),
    xTitle: 'concurrent clients (closed loop)',
    yTitle: 'per second',
    series: [
      { name: 'Express ceiling, requests/s', values: pick(r.ceiling, (m) => m.result.rps), color: COLORS.ceiling, labels: true },
      { name: 'target: 35% of ceiling', values: pick(r.ceiling, (m) => 0.35 * m.result.rps), color: COLORS.target, dashed: true },
      { name: 'Redis, cycles/s', values: pick(r.cycles.redis, (m) => m.result.cyclesPerSec), color: COLORS.redis, labels: true },
      { name: 'embedded store, cycles/s', values: pick(r.cycles.memory, (m) => m.result.cyclesPerSec), color: COLORS.memory, labels: true },
      { name: '2 replicas on Redis, cycles/s', values: pick(r.replicas, (m) => m.result.cyclesPerSec), color: COLORS.replicas, labels: true },
    ],
  });
}

function poolSizeChart(r: Results): string {
  const cs = [...new Set(r.poolSize.flatMap((p) => p.runs.map((m) => m.result.concurrency)))].sort((a, b) => a - b);
  const charts = cs.map((c) => {
    const v = (q: 'p50' | 'p99'): Array<number | null> => r.poolSize.map((p) => p.runs.find((m) => m.result.concurrency === c)?.result.acquire[q] ?? null);
    const base = v('p99')[0] ?? null;
    return lineChart({
      title: `Acquire latency vs pool size, concurrency ${c}`,
      subtitle: 'GET /session in steady acquire → release cycles, same Redis, pool grown in place',
      xLabels: r.poolSize.map((p) => `${sizeLabel(p.sessions)} sessions`),
      xTitle: 'registered sessions',
      yTitle: 'milliseconds',
      width: 720,
      height: 340,
      series: [
        { name: 'p50', values: v('p50'), color: COLORS.p50, labels: true },
        { name: 'p99', values: v('p99'), color: COLORS.p99, labels: true },
        { name: 'target: 1.5 × p99 at the smallest pool', values: r.poolSize.map(() => (base === null ? null : 1.5 * base)), color: COLORS.target, dashed: true },
      ],
    });
  });
  // stack the panels vertically in one SVG
  let y = 0;
  const parts: string[] = [];
  for (const svg of charts) {
    const h = Number(/height="(\d+)"/.exec(svg)?.[1] ?? 340);
    parts.push(svg.replace('<svg ', `<svg y="${y}" `));
    y += h;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 720 ${y}" width="720" height="${y}">\n${parts.join('')}</svg>\n`;
}

function latencyChart(r: Results): string {
  const ceil = at(r.ceiling, 64)?.result;
  const red = at(r.cycles.redis, 64)?.result;
  const mem = at(r.cycles.memory, 64)?.result;
  const rep = at(r.replicas, 64)?.result;
  const bars: Array<{ label: string; segments: Array<{ value: number; color: string; name: string }> }> = [];
  const pair = (label: string, p50: number | undefined, p99: number | undefined): void => {
    if (p50 === undefined || p99 === undefined) return;
    bars.push({ label, segments: [{ value: p50, color: COLORS.p50, name: 'p50' }, { value: p99 - p50, color: COLORS.p99, name: 'p50 → p99' }] });
  };
  pair('Express ceiling, GET', ceil?.latency.p50, ceil?.latency.p99);
  pair('Redis: GET /session', red?.acquire.p50, red?.acquire.p99);
  pair('Redis: POST /release', red?.release.p50, red?.release.p99);
  pair('embedded: GET /session', mem?.acquire.p50, mem?.acquire.p99);
  pair('embedded: POST /release', mem?.release.p50, mem?.release.p99);
  pair('2 replicas: GET /session', rep?.acquire.p50, rep?.acquire.p99);
  const st = r.status.redis?.result;
  pair('Redis: GET /status', st?.latency.p50, st?.latency.p99);
  return barChart({
    title: 'Latency at concurrency 64',
    subtitle: 'bar = p99, blue part = p50',
    unit: 'milliseconds',
    bars,
    lines: ceil ? [{ value: 2 * ceil.latency.p99, label: 'target: 2 × ceiling p99', color: COLORS.target }] : [],
  });
}

function memoryChart(r: Results): string {
  const m = r.memory;
  if (!m) return '';
  const bars = m.alternatives
    .filter((a) => a.meta === '{"proxy":null}')
    .map((a) => ({
      label: a.layout,
      segments: [
        { value: a.bytesPerSession, color: COLORS.memory, name: 'registered' },
        { value: Math.max(0, a.bytesPerSessionWithToken - a.bytesPerSession), color: '#93c5fd', name: '+ lease token after first lease' },
      ],
    }));
  return barChart({
    title: 'Redis bytes per session, by data layout',
    subtitle: `used_memory delta over ${sizeLabel(m.sessions)} sessions, meta {"proxy":null}; "per-session keys" = one s:<id> hash per session`,
    unit: 'bytes per session',
    bars,
    labelWidth: 300,
    lines: [{ value: 250, label: 'target 250 B', color: COLORS.target }],
  });
}

function cpuChart(r: Results): string {
  const rows: Array<[string, Measured<CyclesResult | RequestsResult> | undefined]> = [
    ['Express ceiling (c=64)', at(r.ceiling, 64)],
    ['Redis, as deployed (c=64)', at(r.cycles.redis, 64)],
    ...r.attribution.slice(1).map((a): [string, Measured<CyclesResult>] => [`Redis, ${a.variant}`, a.run]),
    ['embedded store (c=64)', at(r.cycles.memory, 64)],
    ['2 replicas (c=64)', at(r.replicas, 64)],
  ];
  const bars = rows
    .filter((x): x is [string, Measured<CyclesResult | RequestsResult>] => x[1] !== undefined)
    .map(([label, m]) => {
      const c = cpuPerRequest(m);
      return {
        label,
        segments: [
          { value: serviceUs(m), color: COLORS.service, name: 'Node server (service or ceiling)' },
          { value: c.redis ?? 0, color: COLORS.redisCpu, name: 'redis-server' },
          { value: c.client ?? 0, color: COLORS.client, name: 'load client' },
        ],
      };
    });
  return barChart({
    title: 'CPU time per HTTP request',
    subtitle: 'process CPU (/proc) during the measured window ÷ requests answered',
    unit: 'CPU microseconds per request',
    bars,
    labelWidth: 330,
  });
}

// ------------------------------------------------------------------ markdown

function table(head: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>): string => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

function errorsOf(x: { errors: Record<string, number> }): string {
  const e = Object.entries(x.errors);
  return e.length === 0 ? '0' : e.map(([k, v]) => `${k}: ${v}`).join(', ');
}

function cpuCell(m: Measured<unknown>): string {
  const c = m.cpu.cores;
  return Object.entries(c).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') + ` · other ${m.cpu.foreignCores.toFixed(2)}`;
}

/** Values for {{placeholders}} in bench/findings.md. */
export function values(r: Results): Record<string, string> {
  const v: Record<string, string> = {};
  const ceil = at(r.ceiling, 64);
  const red = at(r.cycles.redis, 64);
  const mem = at(r.cycles.memory, 64);
  if (ceil) {
    v['target.us'] = n(serviceUs(ceil) / 0.7);
    v['ceiling.rps'] = n(ceil.result.rps);
    v['ceiling.p99'] = f(ceil.result.latency.p99);
    v['ceiling.us'] = n(serviceUs(ceil));
  }
  if (red) {
    v['redis.cps'] = n(red.result.cyclesPerSec);
    v['redis.rps'] = n(red.result.rps);
    v['redis.acq.p99'] = f(red.result.acquire.p99);
    v['redis.us'] = n(serviceUs(red));
    v['redis.redis.us'] = n(cpuPerRequest(red).redis);
    v['redis.cores'] = f(red.cpu.cores.service);
    v['redis.rss'] = f(red.cpu.rssMaxMb.service, 0);
  }
  if (ceil && red) {
    v['share'] = f((red.result.cyclesPerSec / ceil.result.rps) * 100, 1);
    v['p99ratio'] = f(red.result.acquire.p99 / ceil.result.latency.p99);
    v['usratio'] = f(serviceUs(red) / serviceUs(ceil), 1);
  }
  const next = at(r.cycles.redisNext ?? [], 64);
  if (ceil && next) {
    v['next.cps'] = n(next.result.cyclesPerSec);
    v['next.share'] = f((next.result.cyclesPerSec / ceil.result.rps) * 100, 1);
    v['next.us'] = n(serviceUs(next));
    v['next.p99'] = f(next.result.release.p99);
  }
  if (mem) {
    v['memory.cps'] = n(mem.result.cyclesPerSec);
    v['memory.us'] = n(serviceUs(mem));
    v['memory.rss'] = f(mem.cpu.rssMaxMb.service, 0);
  }
  for (const a of r.attribution) {
    const key = a.env.LOG_LEVEL && a.env.TELEGATE_RATE_LIMIT ? 'both' : a.env.LOG_LEVEL ? 'nolog' : a.env.TELEGATE_RATE_LIMIT ? 'norl' : 'all';
    v[`attr.${key}.cps`] = n(a.run.result.cyclesPerSec);
    v[`attr.${key}.us`] = n(serviceUs(a.run));
    v[`attr.${key}.redis.us`] = n(cpuPerRequest(a.run).redis);
  }
  if (r.memory) {
    v['mem.bps'] = f(r.memory.bytesPerSession, 1);
    v['mem.bpsUsed'] = f(r.memory.bytesPerSessionAfterUse, 1);
    for (const p of r.memory.breakdown) v[`mem.part.${p.key}`] = f(p.bytesPerSession, 1);
    for (const p of r.memory.breakdownAfterUse) v[`mem.used.part.${p.key}`] = f(p.bytesPerSession, 1);
    for (const a of r.memory.alternatives) {
      v[`alt:${a.layout}`] = f(a.bytesPerSession, 1);
      v[`alt:${a.layout}:tok`] = f(a.bytesPerSessionWithToken, 1);
    }
    const fm = r.memory.alternatives.find((a) => a.meta !== '{"proxy":null}');
    if (fm) v['fileMeta.bytes'] = String(fm.meta.length);
    const real = r.memory.alternatives.find((a) => a.layout === 'bucket hashes, file meta');
    if (real) v['fileMeta.capacity'] = `${n(Math.round((400 * 1048576) / real.bytesPerSessionWithToken / 10_000) * 10)}k`;
    v['mem.sessions'] = n(r.memory.sessions);
  }
  for (const c of [1, 16, 64]) {
    const ce = at(r.ceiling, c);
    const re = at(r.cycles.redis, c);
    const me = at(r.cycles.memory, c);
    if (ce) v[`ceiling.c${c}.p50`] = f(ce.result.latency.p50);
    if (re) {
      v[`redis.c${c}.acq.p50`] = f(re.result.acquire.p50);
      v[`redis.c${c}.us`] = n(serviceUs(re));
    }
    if (me) v[`memory.c${c}.acq.p50`] = f(me.result.acquire.p50);
  }
  if (r.status.redis) v['status.redis.rps'] = n(r.status.redis.result.rps);
  if (r.status.memory) v['status.memory.rps'] = n(r.status.memory.result.rps);
  const rep = at(r.replicas, 64);
  if (rep && red) {
    v['repl.cps'] = n(rep.result.cyclesPerSec);
    v['repl.share'] = f((rep.result.cyclesPerSec / red.result.cyclesPerSec) * 100, 0);
  }
  const small = r.poolSize[0];
  const big = r.poolSize.at(-1);
  if (small && big) {
    for (const run of small.runs) {
      const other = big.runs.find((x) => x.result.concurrency === run.result.concurrency);
      if (other) v[`size.ratio.c${run.result.concurrency}`] = f(other.result.acquire.p99 / run.result.acquire.p99);
    }
    v['size.big.bps'] = n((big.usedMemoryMb * 1048576) / big.sessions);
  }
  if (big) {
    v['size.big'] = sizeLabel(big.sessions);
    v['size.big.seed'] = f(big.seed?.seconds, 1);
    v['size.big.mb'] = n(big.usedMemoryMb);
  }
  if (r.profile) {
    for (const c of r.profile.byComponent) v[`prof.${c.name}`] = f(c.pct, 1);
    const pct = (name: string): number => r.profile?.byComponent.find((c) => c.name === name)?.pct ?? 0;
    v['prof.logging'] = f(pct('pino-http') + pct('@pinojs/redact') + pct('pino') + pct('pino-std-serializers') + pct('sonic-boom'), 0);
  }
  const allOn = r.attribution.find((a) => Object.keys(a.env).length === 0);
  if (allOn) {
    for (const a of r.attribution) {
      const key = a.env.LOG_LEVEL && a.env.TELEGATE_RATE_LIMIT ? 'both' : a.env.LOG_LEVEL ? 'nolog' : a.env.TELEGATE_RATE_LIMIT ? 'norl' : 'all';
      v[`attr.${key}.gain`] = f(((serviceUs(allOn.run) - serviceUs(a.run)) / serviceUs(allOn.run)) * 100, 0);
    }
  }
  if (red) v['redis.machine'] = f(red.cpu.machineCores);
  const rep64 = at(r.replicas, 64);
  if (rep64) v['repl.machine'] = f(rep64.cpu.machineCores);
  v.logBytes = n(r.logBytesPerRequest);
  return v;
}

const BUILD_LABELS: Record<string, string> = {
  base: 'unchanged',
  log: '+ lean request log',
  rl: '+ batched rate-limit counting',
  logmw: '+ lean request log + one middleware layer',
  h11: 'sliced rate limit, kept key verdicts, pooled tokens',
  'base+next': 'unchanged, next=true (one request per cycle)',
  'h11+next': 'sliced rate limit etc., next=true',
};

/** The newest bench/results/compare-*.json (bench/compare.ts), as {{compare.*}} values. */
function compareValues(): Record<string, string> {
  const dir = path.join(ROOT, 'bench', 'results');
  const files = existsSync(dir) ? readdirSync(dir).filter((x) => /^compare-.*\.json$/.test(x)).sort() : [];
  const file = files.at(-1);
  const v: Record<string, string> = {};
  if (!file) {
    v['compare.table'] = '_(no bench/results/compare-*.json yet: run bench/compare.ts)_';
    return v;
  }
  const c = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CompareResults;
  const ceil = median(c.ceiling.map((x) => x.rps));
  const ceilP99 = median(c.ceiling.map((x) => x.p99));
  const med = (b: CompareResults['builds'][number], k: keyof CompareResults['builds'][number]['runs'][number]): number => median(b.runs.map((x) => x[k]));
  const base = c.builds.find((b) => b.name === 'base') ?? c.builds[0];
  v['compare.date'] = `${c.date.slice(0, 16).replace('T', ' ')} UTC (\`${file}\`, ${c.rounds} rounds of ${c.seconds} s; ceiling ${n(ceil)} req/s, p99 ${f(ceilP99)} ms)`;
  const rows: Array<Array<string | number>> = [];
  for (const b of c.builds) {
    const us = med(b, 'serviceUs');
    const cps = med(b, 'cyclesPerSec');
    const p99 = med(b, 'acquireP99');
    const k = `compare.${b.name}`;
    v[`${k}.us`] = n(us);
    v[`${k}.redis`] = n(med(b, 'redisUs'));
    v[`${k}.cps`] = n(cps);
    v[`${k}.share`] = f((cps / ceil) * 100, 1);
    if (base) {
      v[`${k}.gain`] = f(((med(base, 'serviceUs') - us) / med(base, 'serviceUs')) * 100, 0);
      v[`${k}.cpsgain`] = f(((cps - med(base, 'cyclesPerSec')) / med(base, 'cyclesPerSec')) * 100, 0);
    }
    rows.push([
      `${b.name}: ${BUILD_LABELS[b.name] ?? b.dist}`,
      n(cps),
      `${f((cps / ceil) * 100, 1)}%`,
      p99 > 0 ? `${f(p99)} (${f(p99 / ceilP99)}×)` : 'n/a (next=true: no separate acquire)',
      n(us),
      n(med(b, 'redisUs')),
      b.runs.reduce((a, x) => a + x.doubleIssues, 0),
      f(Math.max(...b.runs.map((x) => x.otherCores))),
    ]);
  }
  v['compare.table'] = table(['build', 'cycles/s', 'of ceiling', 'acquire p99 ms (× ceiling p99)', 'service CPU µs/request', 'Redis CPU µs/request', 'double issues', 'other CPU, worst round'], rows);
  return v;
}

/** The HA step's numbers: from this run, else from the newest full results file that has them (an `--only ha` run). */
function haSource(r: Results, resultsFile: string): { r: Results; ha: HaResult; file: string } | undefined {
  if (r.ha) return { r, ha: r.ha, file: resultsFile };
  const dir = path.join(ROOT, 'bench', 'results');
  const files = existsSync(dir) ? readdirSync(dir).filter((x) => /^\d.*\.json$/.test(x) && !x.includes('-quick')).sort().reverse() : [];
  for (const file of files) {
    const other = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Results;
    if (other.ha) return { r: other, ha: other.ha, file: `bench/results/${file}` };
  }
  return undefined;
}

/** Redis HA (issue 13 item 5): the throughput cost of WAIT and the unavailability window of a Sentinel failover. */
function haSection(r: Results, resultsFile: string): string[] {
  const src = haSource(r, resultsFile);
  if (!src) return [];
  const { ha } = src;
  const md: string[] = ['## Redis high availability: the cost of WAIT and the failover window', ''];
  md.push(
    '`TELEGATE_REDIS_WAIT_REPLICAS=1` answers a state change only once a replica holds it, so that a failover cannot lose it (issue 13). ' +
      `Set-up: ${ha.setup}; \`TELEGATE_REDIS_WAIT_TIMEOUT_MS=${ha.waitTimeoutMs}\`; same build, load client and middleware as above.`,
  );
  md.push('');
  if (src.r !== r) {
    md.push(
      `Measured in a separate run (\`npm run bench -- --only ha\`, [\`${src.file}\`](../${src.file})) on ${src.r.date.slice(0, 16).replace('T', ' ')} UTC ` +
        `at commit \`${src.r.machine.gitCommit}\`, not in the run above. Load average (1 min) ${ha.loadavgStart[0]} at the start of the step and ${ha.loadavgEnd[0]} at its end: ` +
        'the machine was shared with other people’s tests (see the "other" CPU column), so compare WAIT 0 with WAIT 1 within a round rather than with the numbers above.',
    );
    md.push('');
  }
  const cs = [...new Set(ha.waitRuns.map((w) => w.run.result.concurrency))];
  const rounds = Math.max(...ha.waitRuns.map((w) => w.round));
  md.push(
    `### Throughput cost of WAIT 1`,
    '',
    `One TeleGate replica with WAIT 0 and one with WAIT 1 on the same master, measured interleaved (0, 1, 0, 1…: ${rounds} round(s) per concurrency); ` +
      'medians over the rounds, and the median of the per-round ratios:',
    '',
  );
  const sum: Array<Array<string | number>> = [];
  for (const c of cs) {
    const of = (wait: number): CyclesResult[] => ha.waitRuns.filter((w) => w.wait === wait && w.run.result.concurrency === c).map((w) => w.run.result);
    const w0 = of(0);
    const w1 = of(1);
    const ratios = w1.map((x, i) => ratio(x.cyclesPerSec, w0[i]?.cyclesPerSec ?? NaN));
    const lat = (l: CyclesResult[]): string => `${f(median(l.map((x) => x.acquire.p50)))} / ${f(median(l.map((x) => x.acquire.p99)))}`;
    sum.push([
      c,
      n(median(w0.map((x) => x.cyclesPerSec))),
      n(median(w1.map((x) => x.cyclesPerSec))),
      `${f(median(ratios) * 100, 0)}% (rounds: ${ratios.map((x) => `${f(x * 100, 0)}%`).join(', ')})`,
      lat(w0),
      lat(w1),
      [...w0, ...w1].reduce((a, x) => a + x.doubleIssues, 0),
    ]);
  }
  md.push(table(['concurrency', 'WAIT 0 cycles/s', 'WAIT 1 cycles/s', 'WAIT 1 / WAIT 0', 'acquire p50 / p99 ms, WAIT 0', 'acquire p50 / p99 ms, WAIT 1', 'double issues'], sum));
  md.push('');
  md.push(
    table(
      ['round', 'concurrency', 'WAIT', 'cycles/s', 'acquire p50 / p99 ms', 'release p50 / p99 ms', 'errors', 'CPU cores used'],
      ha.waitRuns.map((w) => [
        w.round,
        w.run.result.concurrency,
        w.wait,
        n(w.run.result.cyclesPerSec),
        `${f(w.run.result.acquire.p50)} / ${f(w.run.result.acquire.p99)}`,
        `${f(w.run.result.release.p50)} / ${f(w.run.result.release.p99)}`,
        errorsOf(w.run.result),
        cpuCell(w.run),
      ]),
    ),
  );
  md.push('');
  const fo = ha.failover;
  if (fo) {
    const ms = (v: number | null): string => (v === null ? 'n/a' : `+${n(v)} ms`);
    md.push(
      `### Failover window (WAIT ${fo.waitReplicas})`,
      '',
      `${fo.concurrency} clients cycling acquire → release against the WAIT 1 replica for ${f(fo.windowMs / 1000, 0)} s; after ${f(fo.beforeMs / 1000, 0)} s the master is killed with SIGKILL. ` +
        'The killed node is restarted on its port as a replica of the new master as soon as the Sentinels report the promotion (as Kubernetes restarts the pod). Times after the kill:',
      '',
    );
    md.push(
      table(
        ['event', 'when'],
        [
          ['master killed (kill -9)', '0'],
          ['first failed answer', ms(fo.firstFailureMs)],
          ['Sentinels report the replica promoted', ms(fo.promotedMs)],
          ['killed node restarted as a replica of the new master', ms(fo.returnedMs)],
          ['… and in sync (online on the new master)', ms(fo.returnedOnlineMs)],
          ['last failed answer', ms(fo.lastFailureMs)],
          ['first success of a request sent after the promotion', ms(fo.firstSuccessAfterPromotionMs)],
        ],
      ),
    );
    md.push('');
    const window = fo.firstFailureMs !== null && fo.lastFailureMs !== null ? fo.lastFailureMs - fo.firstFailureMs : NaN;
    const res = fo.run.result;
    const mark = (p: boolean): string => (p ? '✅' : '❌');
    md.push(
      table(
        ['', 'measured', 'wanted'],
        [
          ['unavailability window (first to last failed answer)', `${n(window)} ms, with ${n(fo.successesInWindow)} successes inside it`, '–'],
          ['failed answers', Object.entries(fo.failures).map(([k, v]) => `${k}: ${n(v)}`).join(', ') || '0', 'only 503 `store_unavailable`'],
          ['slowest answer', `${n(fo.slowestMs)} ms (request sent at ${ms(fo.slowestSentMs)})`, `≤ 2,000 ms ${mark(fo.slowestMs <= 2000)}`],
          ['double issues / lease mismatches', `${res.doubleIssues} / ${res.leaseMismatches}`, `0 ${mark(res.doubleIssues + res.leaseMismatches === 0)}`],
          ['cycles/s before the kill → from 1 s after the last failure', `${n(fo.cyclesPerSecBefore)} → ${n(fo.cyclesPerSecAfter)}`, '–'],
          ['leases left to nobody afterwards (releases lost to the crash; back at the lease TTL)', n(fo.leasedToNobody), '–'],
        ],
      ),
    );
    md.push('');
    md.push(
      'With WAIT 1 and a single replica, the promoted master cannot acknowledge a change until it has a replica in sync again: from the promotion until the ' +
        'returned node has finished its full sync every change answers 503 (each probe waits the WAIT timeout), so the window is the Sentinel failover ' +
        '(down-after-milliseconds plus the election) plus the restart and full sync of the old node — the master delays a full sync by ' +
        '`repl-diskless-sync-delay` (5 s by default) to batch replicas. With more replicas than WAIT asks for, a replica that follows the new master ' +
        'acknowledges without that wait (not measured here). With WAIT 0 changes are answered again as soon as TeleGate follows the promoted master ' +
        '(not measured here), at the price of the loss window described in the README’s reliability section.',
    );
    md.push('');
  }
  return md;
}

function fill(template: string, vals: Record<string, string>): string {
  return template.replace(/\{\{([^}]+)\}\}/g, (_, k: string) => vals[k.trim()] ?? 'n/a');
}

export function renderMarkdown(r: Results, resultsFile: string): string {
  const targets = evaluateTargets(r);
  const md: string[] = [];
  const mark = (p: boolean | null): string => (p === null ? '–' : p ? '✅ met' : '❌ missed');
  md.push('# Benchmarks');
  md.push('');
  md.push(
    '<!-- Generated by `npm run bench` (bench/run.ts → bench/lib/report.ts) from ' +
      `${resultsFile}; the analysis comes from bench/findings.md. Do not edit by hand: edit those and re-run. -->`,
  );
  md.push('');
  md.push(
    `What one TeleGate replica does on this machine, measured by \`npm run bench\` in one run (${r.seconds} s) on ` +
      `${r.date.slice(0, 16).replace('T', ' ')} UTC, commit \`${r.machine.gitCommit}\`${r.machine.gitDirty.length && (r.config.build ?? '').startsWith('dist/') ? ` (with uncommitted changes in ${r.machine.gitDirty.length} file(s) under src/ or lua/)` : ''}. ` +
      `Raw numbers: [\`${resultsFile}\`](../${resultsFile}).`,
  );
  md.push('');
  md.push(
    table(
      ['machine', 'value'],
      [
        ['CPU', `${r.machine.cpus} cores, ${r.machine.cpuModel}`],
        ['memory', `${r.machine.memoryGb} GB`],
        ['OS', r.machine.os],
        ['Node', r.machine.node],
        ['Redis', `${r.machine.redis} (${r.config.redis})`],
        ['service build', r.config.build ?? 'dist/'],
        ['load average (1 min) at start / end', `${r.machine.loadavgStart[0]} / ${r.machine.loadavgEnd[0]}`],
      ],
    ),
  );
  md.push('');
  md.push(
    'The service runs as users run it: `node dist/main.js`, `NODE_ENV=production`, every production middleware on ' +
      `(request log at \`info\` — ${r.logBytesPerRequest ?? 'n/a'} bytes per request line, written to a file —, helmet, API-key auth, ` +
      `parameter validation, rate limiting at ${n(r.config.rateLimitPerMinute)} requests per minute per key, far above the offered load so it runs on every request without refusing any). ` +
      'Everything shares the 2 cores: load client, service, Redis. The "other" CPU figures below are what processes that are not ours used ' +
      'during each measured window (other people’s tests on this machine); a step with other > 0.1 cores was disturbed.',
  );
  md.push('');
  md.push('## Targets');
  md.push('');
  md.push(table(['target', 'wanted', 'measured', ''], targets.map((t) => [t.name, t.target, t.measured, mark(t.pass)])));
  md.push('');
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
  if (r.memory) {
    const m = r.memory;
    md.push('## Memory');
    md.push('');
    md.push(
      `**Redis:** ${f(m.bytesPerSession, 1)} bytes per registered session (INFO \`used_memory\`, without client and AOF buffers, before and after registering ${n(m.sessions)} sessions through ` +
        `\`RedisStore.applySync\`, meta \`{"proxy":null}\`, in ${f(m.seed.seconds, 1)} s), ${f(m.bytesPerSessionAfterUse, 1)} bytes once every session has been leased once. ` +
        'Where the bytes go (keys grouped by pattern, `MEMORY USAGE … SAMPLES 0`, big groups sampled and scaled):',
    );
    md.push('');
    md.push(
      table(
        ['part', 'encoding', 'B/session registered', 'B/session after first lease'],
        m.breakdown.map((p) => [p.part, p.encoding, f(p.bytesPerSession, 1), f(m.breakdownAfterUse.find((q) => q.key === p.key)?.bytesPerSession, 1)]),
      ),
    );
    md.push('');
    md.push('![Redis bytes per session by layout](bench-memory.svg)');
    md.push('');
    md.push(
      table(
        ['layout', 'what changes', 'meta', 'encodings (data / ids / free)', 'B/session', 'with lease token'],
        m.alternatives.map((a) => [a.layout, a.change, `${a.meta.length} B`, a.encodings, f(a.bytesPerSession, 1), f(a.bytesPerSessionWithToken, 1)]),
      ),
    );
    md.push('');
    md.push(`Redis settings during the run: ${Object.entries(m.config).map(([k, v]) => `\`${k} ${v}\``).join(', ')}.`);
    md.push('');
  }
  const rss = [
    ['Redis', at(r.cycles.redis, 64)],
    ['embedded store', at(r.cycles.memory, 64)],
  ] as const;
  md.push(
    `**Service RSS under the cycle load (concurrency 64):** ${rss
      .filter(([, m]) => m)
      .map(([label, m]) => `${label}: max ${f(m?.cpu.rssMaxMb.service, 0)} MB, mean ${f(m?.cpu.rssMeanMb.service, 0)} MB`)
      .join('; ')} (${n(r.config.cyclePool)} sessions).`,
  );
  md.push('');
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
  md.push(...haSection(r, resultsFile));
  md.push(fill(readFileSync(path.join(ROOT, 'bench', 'findings.md'), 'utf8'), { ...compareValues(), ...values(r) }).trim());
  md.push('');
  const failed = r.steps.filter((s) => !s.ok);
  if (failed.length > 0) {
    md.push('## Steps that failed in this run');
    md.push('');
    for (const s of failed) md.push(`- ${s.name}: ${s.error ?? ''}`);
    md.push('');
  }
  md.push('## Steps and their duration');
  md.push('');
  md.push(table(['step', 'seconds', 'ok'], r.steps.map((s) => [s.name, s.seconds, s.ok ? 'yes' : `no: ${s.error ?? ''}`])));
  md.push('');
  return `${md.join('\n')}\n`;
}

export function writeReport(r: Results, resultsFile: string): string[] {
  const docs = path.join(ROOT, 'docs');
  const files: Array<[string, string]> = [
    ['bench-throughput.svg', throughputChart(r)],
    ['bench-poolsize.svg', poolSizeChart(r)],
    ['bench-latency.svg', latencyChart(r)],
    ['bench-memory.svg', memoryChart(r)],
    ['bench-cpu.svg', cpuChart(r)],
    ['benchmarks.md', renderMarkdown(r, resultsFile)],
  ];
  const written: string[] = [];
  for (const [name, text] of files) {
    if (text === '') continue;
    writeFileSync(path.join(docs, name), text);
    written.push(`docs/${name}`);
  }
  return written;
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node --import tsx bench/lib/report.ts bench/results/<file>.json');
  const r = JSON.parse(readFileSync(file, 'utf8')) as Results;
  process.stderr.write(`${writeReport(r, path.relative(ROOT, path.resolve(file))).join('\n')}\n`);
}
