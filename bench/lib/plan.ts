/** What a bench run measures and how long: the full run and `--quick`. */
import type { HaPlan } from './ha';

export interface Plan {
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
  /** Scoped rests and tags (bench/steps/scoped.ts): pool size and acquires measured per kind. */
  scoped: { sessions: number; samples: number };
  /** Whole-run bound. */
  budgetMs: number;
}

export const FULL: Plan = {
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
  scoped: { sessions: 100_000, samples: 2000 },
  budgetMs: 9.5 * 60_000,
};

export const QUICK: Plan = {
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
  scoped: { sessions: 10_000, samples: 500 },
  budgetMs: 55_000,
};

/** One measured window of the plan: unrecorded warm-up, then the recorded part. */
export function windowOf(plan: Plan): { warmupMs: number; durationMs: number } {
  return { warmupMs: plan.warmupMs, durationMs: plan.durationMs };
}

/** A measured window's wall time. */
export function stepMs(plan: Plan): number {
  return plan.warmupMs + plan.durationMs;
}
