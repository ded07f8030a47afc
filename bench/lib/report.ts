/**
 * docs/benchmarks.md and its SVG charts, regenerated from one results file.
 * The hand-written analysis lives in bench/findings.md; its {{placeholders}}
 * are filled from the same results, so numbers in the prose never go stale.
 *
 * Standalone: node --import tsx bench/lib/report.ts bench/results/<file>.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { median } from '../../support/stats';
import { attribution } from '../steps/attribution';
import { ha } from '../steps/ha';
import { memory } from '../steps/memory';
import { poolSize } from '../steps/pool-size';
import { profile } from '../steps/profile';
import { replicas } from '../steps/replicas';
import { scoped, scopedTargets } from '../steps/scoped';
import { sweep } from '../steps/sweep';
import type { Step } from './context';
import type { CyclesResult, RequestsResult } from './load';
import { at, cpuPerRequest, f, n, ratio, serviceUs, sizeLabel, table } from './markdown';
import { ROOT } from './procs';
import { RESULTS_DIR, resultFiles } from './recorded';
import { COLORS, barChart, lineChart } from './svg';
import type { CompareResults, Measured, Results } from './results';

/** The steps' sections in the order of docs/benchmarks.md (not the order they run in). */
const SECTIONS: Step[] = [sweep, poolSize, memory, replicas, attribution, profile, ha, scoped];

export interface Target {
  name: string;
  target: string;
  measured: string;
  pass: boolean | null;
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
  t.push(...scopedTargets(r));
  t.push({
    name: r.mode === 'quick' ? '`npm run bench -- --quick` wall time' : '`npm run bench` wall time',
    target: r.mode === 'quick' ? '< 1 min' : '< 10 min',
    measured: `${r.seconds} s (plus the build)`,
    pass: r.seconds < (r.mode === 'quick' ? 60 : 600),
  });
  return t;
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
    v['next.redis.us'] = n(cpuPerRequest(next).redis);
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
  const file = resultFiles(/^compare-.*\.json$/)[0];
  const v: Record<string, string> = {};
  if (!file) {
    v['compare.table'] = '_(no bench/results/compare-*.json yet: run bench/compare.ts)_';
    return v;
  }
  const c = JSON.parse(readFileSync(path.join(RESULTS_DIR, file), 'utf8')) as CompareResults;
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
  for (const step of SECTIONS) md.push(...(step.section?.(r, resultsFile) ?? []));
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
