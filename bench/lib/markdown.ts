/**
 * Number and table formatting for docs/benchmarks.md, and the per-request CPU
 * figures its sections share (bench/lib/report.ts and each step's section).
 */
import type { CyclesResult, RequestsResult } from './load';
import type { Measured } from './results';

export const at = <T extends { result: { concurrency: number } }>(list: T[], c: number): T | undefined => list.find((m) => m.result.concurrency === c);

export function ratio(a: number, b: number): number {
  return b === 0 ? NaN : a / b;
}

export function f(v: number | undefined, digits = 2): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return v.toFixed(digits);
}

export function n(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return 'n/a';
  return Math.round(v).toLocaleString('en-US');
}

export function sizeLabel(s: number): string {
  return s >= 1_000_000 ? `${s / 1_000_000}M` : s >= 1000 ? `${s / 1000}k` : String(s);
}

/** CPU microseconds per HTTP request, per process. */
export function cpuPerRequest(m: Measured<CyclesResult | RequestsResult>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(m.cpu.cores)) out[k] = m.result.rps > 0 ? (v * 1e6) / m.result.rps : NaN;
  return out;
}

export function serviceUs(m: Measured<CyclesResult | RequestsResult>): number {
  const c = cpuPerRequest(m);
  return Object.entries(c)
    .filter(([k]) => k.startsWith('service') || k === 'ceiling')
    .reduce((a, [, v]) => a + v, 0);
}

export function table(head: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>): string => `| ${cells.map((c) => String(c).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n');
}

export function errorsOf(x: { errors: Record<string, number> }): string {
  const e = Object.entries(x.errors);
  return e.length === 0 ? '0' : e.map(([k, v]) => `${k}: ${v}`).join(', ');
}

export function cpuCell(m: Measured<unknown>): string {
  const c = m.cpu.cores;
  return Object.entries(c).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') + ` · other ${m.cpu.foreignCores.toFixed(2)}`;
}
