/** Latency samples (ms) in a growable Float64Array; exact percentiles by sorting once. */

export interface LatencySummary {
  count: number;
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export class Samples {
  private data = new Float64Array(1 << 14);
  private n = 0;

  add(ms: number): void {
    if (this.n === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.n++] = ms;
  }

  get count(): number {
    return this.n;
  }

  summary(): LatencySummary {
    const a = this.data.slice(0, this.n).sort();
    const at = (q: number): number => (a.length === 0 ? 0 : (a[Math.min(a.length - 1, Math.ceil(q * a.length) - 1)] ?? 0));
    let sum = 0;
    for (const v of a) sum += v;
    return {
      count: a.length,
      mean: round(a.length === 0 ? 0 : sum / a.length),
      p50: round(at(0.5)),
      p90: round(at(0.9)),
      p99: round(at(0.99)),
      p999: round(at(0.999)),
      max: round(a.length === 0 ? 0 : (a[a.length - 1] ?? 0)),
    };
  }
}

/** Three significant decimals for milliseconds is plenty. */
export function round(v: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * The median element by `key`: a real sample (for an even count the lower of
 * the two middle ones, never an average), so that "the median round" is a
 * round that ran. undefined for no elements.
 */
export function medianBy<T>(xs: readonly T[], key: (x: T) => number): T | undefined {
  const sorted = [...xs].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

/** The median of numbers, as medianBy (NaN for none). */
export function median(xs: readonly number[]): number {
  return medianBy(xs, (x) => x) ?? NaN;
}
