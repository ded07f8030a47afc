/**
 * Minimal SVG charts (no library): line charts over categorical x values and
 * horizontal (stacked) bar charts, with optional dashed target lines.
 */

export const COLORS = {
  ceiling: '#6b7280',
  redis: '#dc2626',
  memory: '#2563eb',
  replicas: '#d97706',
  target: '#16a34a',
  p50: '#2563eb',
  p99: '#dc2626',
  client: '#9ca3af',
  service: '#2563eb',
  redisCpu: '#dc2626',
  other: '#d1d5db',
};

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" axis maximum and step for values up to max. */
export function niceScale(max: number, ticks = 5): { max: number; step: number } {
  if (!(max > 0)) return { max: 1, step: 0.2 };
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  return { max: Math.ceil(max / step) * step, step };
}

function fmtNum(v: number): string {
  if (v >= 10_000) return `${Math.round(v / 1000)}k`;
  if (v >= 1000) return `${(v / 1000).toFixed(1).replace(/\.0$/, '')}k`;
  if (v >= 10 || Number.isInteger(v)) return String(Math.round(v));
  return v.toFixed(v < 1 ? 2 : 1);
}

/** Approximate text width at font-size 12. */
function textWidth(t: string): number {
  return t.length * 6.6;
}

/** Legend entries placed left to right, wrapping: [x, y] of each. */
function legendLayout(names: string[], x0: number, y0: number, width: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let x = x0;
  let y = y0;
  for (const name of names) {
    const w = 28 + textWidth(name) + 24;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      y += 20;
    }
    out.push([x, y]);
    x += w;
  }
  return out;
}

function legendRows(names: string[], width: number): number {
  const pos = legendLayout(names, 0, 0, width);
  return pos.length === 0 ? 0 : Math.round((pos[pos.length - 1]?.[1] ?? 0) / 20) + 1;
}

export interface Series {
  name: string;
  values: Array<number | null>;
  color: string;
  dashed?: boolean;
  /** Print each value next to its point. */
  labels?: boolean;
}

export interface LineChart {
  title: string;
  subtitle?: string;
  xLabels: string[];
  xTitle: string;
  yTitle: string;
  series: Series[];
  width?: number;
  height?: number;
}

export function lineChart(c: LineChart): string {
  const W = c.width ?? 720;
  const H = c.height ?? 400;
  const m = { l: 70, r: 56, t: c.subtitle ? 62 : 46, b: 58 + 20 * legendRows(c.series.map((s) => s.name), W - 70 - 20) };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = c.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const { max, step } = niceScale(Math.max(...all, 0) * 1.08);
  const x = (i: number): number => m.l + (c.xLabels.length === 1 ? pw / 2 : (i * pw) / (c.xLabels.length - 1));
  const y = (v: number): number => m.t + ph - (v / max) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ${FONT} font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="600">${esc(c.title)}</text>`);
  if (c.subtitle) out.push(`<text x="${W / 2}" y="42" text-anchor="middle" fill="#4b5563">${esc(c.subtitle)}</text>`);
  for (let v = 0; v <= max + step / 2; v += step) {
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${m.l - 8}" y="${y(v) + 4}" text-anchor="end" fill="#374151">${fmtNum(v)}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + ph}" stroke="#9ca3af"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${m.t + ph}" y2="${m.t + ph}" stroke="#9ca3af"/>`);
  c.xLabels.forEach((l, i) => out.push(`<text x="${x(i)}" y="${m.t + ph + 18}" text-anchor="middle" fill="#374151">${esc(l)}</text>`));
  out.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 38}" text-anchor="middle" fill="#111827">${esc(c.xTitle)}</text>`);
  out.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" fill="#111827">${esc(c.yTitle)}</text>`);
  // Value labels: per x position, nudged apart vertically so they never overlap.
  const labels: Array<{ i: number; x: number; y: number; text: string; color: string }> = [];
  for (const s of c.series) {
    if (!s.labels) continue;
    s.values.forEach((v, i) => {
      if (v !== null) labels.push({ i, x: x(i), y: y(v) - 7, text: fmtNum(v), color: s.color });
    });
  }
  for (let i = 0; i < c.xLabels.length; i++) {
    const at = labels.filter((l) => l.i === i).sort((a, b) => a.y - b.y);
    for (let k = 1; k < at.length; k++) {
      const prev = at[k - 1] as (typeof at)[number];
      const cur = at[k] as (typeof at)[number];
      if (cur.y - prev.y < 13) cur.y = prev.y + 13;
    }
  }
  for (const s of c.series) {
    const pts = s.values.map((v, i) => (v === null ? null : [x(i), y(v)] as const));
    let d = '';
    let pen = false;
    for (const p of pts) {
      if (p === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${p[0].toFixed(1)} ${p[1].toFixed(1)} `;
      pen = true;
    }
    out.push(`<path d="${d.trim()}" fill="none" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="7 5"' : ''}/>`);
    for (const p of pts) {
      if (p !== null && !s.dashed) out.push(`<circle cx="${p[0].toFixed(1)}" cy="${p[1].toFixed(1)}" r="4" fill="${s.color}"/>`);
    }
  }
  for (const l of labels) out.push(`<text x="${(l.x + 7).toFixed(1)}" y="${l.y.toFixed(1)}" fill="${l.color}" font-size="11">${esc(l.text)}</text>`);
  // legend
  legendLayout(c.series.map((s) => s.name), m.l, m.t + ph + 52, W - m.l - 20).forEach(([lx, ly], i) => {
    const s = c.series[i] as Series;
    out.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="7 5"' : ''}/>`);
    out.push(`<text x="${lx + 28}" y="${ly + 4}" fill="#111827">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface Bar {
  label: string;
  segments: Array<{ value: number; color: string; name: string }>;
}

export interface BarChart {
  title: string;
  subtitle?: string;
  unit: string;
  bars: Bar[];
  /** Vertical dashed lines (targets). */
  lines?: Array<{ value: number; label: string; color: string }>;
  width?: number;
  labelWidth?: number;
}

/** Horizontal bars; several segments stack left to right. */
export function barChart(c: BarChart): string {
  const W = c.width ?? 720;
  const barH = 22;
  const gap = 12;
  const legendNames = [...new Map(c.bars.flatMap((b) => b.segments).map((s) => [s.name, s.color])).entries()].filter(([n]) => n !== '');
  const m = { l: c.labelWidth ?? 250, r: 70, t: (c.subtitle ? 62 : 46) + (c.lines?.length ? 14 : 0), b: 44 + (legendNames.length > 1 ? 20 * legendRows(legendNames.map(([nm]) => nm), W - 40) : 0) };
  const ph = c.bars.length * (barH + gap);
  const H = m.t + ph + m.b;
  const pw = W - m.l - m.r;
  const totals = c.bars.map((b) => b.segments.reduce((a, s) => a + s.value, 0));
  const { max, step } = niceScale(Math.max(...totals, ...(c.lines ?? []).map((l) => l.value)) * 1.05);
  const x = (v: number): number => m.l + (v / max) * pw;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" ${FONT} font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="16" font-weight="600">${esc(c.title)}</text>`);
  if (c.subtitle) out.push(`<text x="${W / 2}" y="42" text-anchor="middle" fill="#4b5563">${esc(c.subtitle)}</text>`);
  for (let v = 0; v <= max + step / 2; v += step) {
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${m.t - 4}" y2="${m.t + ph}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${x(v)}" y="${m.t + ph + 16}" text-anchor="middle" fill="#374151">${fmtNum(v)}</text>`);
  }
  out.push(`<text x="${m.l + pw / 2}" y="${m.t + ph + 34}" text-anchor="middle" fill="#111827">${esc(c.unit)}</text>`);
  c.bars.forEach((b, i) => {
    const y0 = m.t + i * (barH + gap);
    out.push(`<text x="${m.l - 8}" y="${y0 + barH / 2 + 4}" text-anchor="end" fill="#111827">${esc(b.label)}</text>`);
    let acc = 0;
    for (const s of b.segments) {
      if (s.value <= 0) continue;
      out.push(`<rect x="${x(acc).toFixed(1)}" y="${y0}" width="${(x(acc + s.value) - x(acc)).toFixed(1)}" height="${barH}" fill="${s.color}"><title>${esc(`${s.name}: ${fmtNum(s.value)}`)}</title></rect>`);
      acc += s.value;
    }
    out.push(`<text x="${(x(acc) + 6).toFixed(1)}" y="${y0 + barH / 2 + 4}" fill="#111827">${fmtNum(acc)}</text>`);
  });
  for (const l of c.lines ?? []) {
    out.push(`<line x1="${x(l.value)}" x2="${x(l.value)}" y1="${m.t - 8}" y2="${m.t + ph}" stroke="${l.color}" stroke-width="2" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${x(l.value) + 4}" y="${m.t - 10}" fill="${l.color}">${esc(l.label)}</text>`);
  }
  if (legendNames.length > 1) {
    legendLayout(legendNames.map(([nm]) => nm), 20, m.t + ph + 52, W - 40).forEach(([lx, ly], i) => {
      const [name, color] = legendNames[i] as [string, string];
      out.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="12" fill="${color}"/>`);
      out.push(`<text x="${lx + 20}" y="${ly + 2}" fill="#111827">${esc(name)}</text>`);
    });
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
