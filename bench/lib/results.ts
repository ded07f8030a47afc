/**
 * The shapes of the bench's result files (bench/results/*.json): written by
 * bench/run.ts and bench/compare.ts, read by bench/lib/report.ts. Types only,
 * so that the report depends on no runner (and no runner on the report's
 * reader side): no import cycle.
 */
import type { CyclesResult, RequestsResult } from './load';
import type { MemoryResult } from './memory';
import type { CpuReport } from './procs';
import type { ProfileSummary } from './profile';
import type { SeedResult } from './seed';

export interface Measured<T> {
  result: T;
  cpu: CpuReport;
}

export interface StepRecord {
  name: string;
  seconds: number;
  ok: boolean;
  error?: string;
}

export interface PoolSizePoint {
  sessions: number;
  seed: SeedResult | null;
  usedMemoryMb: number;
  runs: Array<Measured<CyclesResult>>;
}

export interface AttributionRow {
  variant: string;
  env: Record<string, string>;
  run: Measured<CyclesResult>;
}

export interface HeadlineRound {
  ceiling: Measured<RequestsResult>;
  redis: Measured<CyclesResult>;
  memory: Measured<CyclesResult>;
  chosen?: boolean;
}

export interface PoolCheck {
  total: number;
  free: number;
  in_use: number;
  ok: boolean;
}

export interface Results {
  version: 1;
  date: string;
  mode: 'full' | 'quick';
  seconds: number;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGb: number;
    os: string;
    node: string;
    redis: string;
    loadavgStart: number[];
    loadavgEnd: number[];
    gitCommit: string;
    /** Uncommitted changes under src/ or lua/ when the run started (other people's work in progress). */
    gitDirty: string[];
  };
  config: {
    warmupMs: number;
    durationMs: number;
    cyclePool: number;
    rateLimitPerMinute: number;
    logLevel: string;
    redis: string;
    client: string;
    /** The build the service ran from. */
    build: string;
  };
  ceiling: Array<Measured<RequestsResult>>;
  /** Every round at concurrency 64 (the chosen one is also in ceiling/cycles). */
  headlineRounds?: HeadlineRound[];
  cycles: { redis: Array<Measured<CyclesResult>>; memory: Array<Measured<CyclesResult>> };
  poolChecks: Record<string, PoolCheck>;
  status: { redis?: Measured<RequestsResult>; memory?: Measured<RequestsResult> };
  replicas: Array<Measured<CyclesResult>>;
  poolSize: PoolSizePoint[];
  memory?: MemoryResult;
  attribution: AttributionRow[];
  profile?: ProfileSummary & { cycles: Measured<CyclesResult> };
  /** Mean bytes of one request log line at info (proof that logging was on). */
  logBytesPerRequest?: number;
  steps: StepRecord[];
}

export interface CompareRun {
  cyclesPerSec: number;
  acquireP99: number;
  serviceUs: number;
  redisUs: number;
  otherCores: number;
  doubleIssues: number;
}

export interface CompareResults {
  date: string;
  rounds: number;
  seconds: number;
  concurrency: number;
  ceiling: Array<{ rps: number; p99: number; otherCores: number }>;
  builds: Array<{ name: string; dist: string; runs: CompareRun[] }>;
}
