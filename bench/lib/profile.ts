/**
 * Summarise a V8 .cpuprofile (node --cpu-prof): self time per function and
 * per package/component, so "where does a request's CPU go" is one table.
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileRow {
  name: string;
  /** Percent of all non-idle samples. */
  pct: number;
  ms: number;
}

export interface ProfileSummary {
  file: string;
  /** Non-idle CPU time in the profile, ms. */
  busyMs: number;
  /** Self time grouped by component (package, telegate file group, node internals, GC). */
  byComponent: ProfileRow[];
  /** Top functions by self time. */
  topFunctions: ProfileRow[];
}

/** Which component a frame belongs to. */
export function componentOf(f: CallFrame): string {
  const url = f.url;
  if (url === '') {
    if (f.functionName === '(garbage collector)') return 'V8 garbage collector';
    if (f.functionName === '(program)') return 'V8/native (program)';
    if (f.functionName === '(idle)') return '(idle)';
    return `native: ${f.functionName || '(anonymous)'}`;
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm?.[1]) return nm[1];
  const dist = /\/dist\/(.+)\.js$/.exec(url);
  if (dist?.[1]) return `telegate ${dist[1]}`;
  if (url.startsWith('node:')) {
    const m = /^node:(?:internal\/)?([^/]+)(?:\/([^/]+))?/.exec(url);
    const top = m?.[1] ?? url;
    // group node internals by subsystem: http, net, streams, crypto, timers, ...
    const sub = top === 'deps' || top === 'streams' ? `${top}/${m?.[2] ?? ''}` : top;
    return `node:${sub.replace(/\.js$/, '')}`;
  }
  return url;
}

export function summariseProfile(file: string, top = 20): ProfileSummary {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i] as number;
    // timeDeltas[i] is the time before sample i; attribute the next delta to it
    const dt = deltas[i + 1] ?? deltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, dt));
  }
  const comp = new Map<string, number>();
  const fn = new Map<string, number>();
  let busy = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const c = componentOf(n.callFrame);
    if (c === '(idle)') continue;
    busy += us;
    comp.set(c, (comp.get(c) ?? 0) + us);
    const where = n.callFrame.url === '' ? '' : ` (${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1})`;
    const key = `${n.callFrame.functionName || '(anonymous)'}${where}`;
    fn.set(key, (fn.get(key) ?? 0) + us);
  }
  const rows = (m: Map<string, number>, limit: number): ProfileRow[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, us]) => ({ name, ms: Math.round(us / 1000), pct: Math.round((us / Math.max(1, busy)) * 1000) / 10 }));
  return { file, busyMs: Math.round(busy / 1000), byComponent: rows(comp, 80), topFunctions: rows(fn, top) };
}

function shortUrl(url: string): string {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const d = url.lastIndexOf('/dist/');
  if (d >= 0) return url.slice(d + 1);
  return url.replace(/^file:\/\//, '');
}
