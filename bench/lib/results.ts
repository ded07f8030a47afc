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
  /** One request per cycle (POST /release with next=true), Redis. */
  redisNext?: Measured<CyclesResult>;
  chosen?: boolean;
}

export interface PoolCheck {
  total: number;
  free: number;
  in_use: number;
  ok: boolean;
}

/** One measured window of the WAIT comparison (bench/lib/ha.ts). */
export interface WaitRun {
  /** TELEGATE_REDIS_WAIT_REPLICAS of the replica measured. */
  wait: number;
  round: number;
  run: Measured<CyclesResult>;
}

/** A Sentinel failover under cycling load; every time in ms after the master's kill -9. */
export interface FailoverResult {
  concurrency: number;
  waitReplicas: number;
  /** Load ran this long before the kill, and this long in all. */
  beforeMs: number;
  windowMs: number;
  promotedMs: number;
  /** The killed master back on its port as a replica of the new one (as Kubernetes would restart it), and in sync. */
  returnedMs: number;
  returnedOnlineMs: number;
  /** First and last answer that was not a success (503 store_unavailable, or no answer). */
  firstFailureMs: number | null;
  lastFailureMs: number | null;
  /** First success of a request sent after the promotion. */
  firstSuccessAfterPromotionMs: number | null;
  /** Successes between the first and the last failure (the window was not one block). */
  successesInWindow: number;
  /** Failures by kind ("acquire 503 store_unavailable", "release no answer", ...). */
  failures: Record<string, number>;
  slowestMs: number;
  /** When the slowest request was sent. */
  slowestSentMs: number;
  cyclesPerSecBefore: number;
  /** From 1 s after the last failure to the end of the window. */
  cyclesPerSecAfter: number;
  /** Leased after the load stopped: releases lost to the crash, until the lease TTL. */
  leasedToNobody: number;
  run: Measured<CyclesResult>;
}

/** Issue 13 item 5: the throughput cost of WAIT and the failover window (bench/lib/ha.ts). */
export interface HaResult {
  setup: string;
  waitTimeoutMs: number;
  loadavgStart: number[];
  loadavgEnd: number[];
  /** Interleaved 0, 1, 0, 1... per concurrency. */
  waitRuns: WaitRun[];
  failover?: FailoverResult;
}

/** Acquire + release latency of one kind of acquire, ms (bench/steps/scoped.ts). */
export interface ScopedLatency {
  p50: number;
  p99: number;
  max: number;
}

/**
 * Issue 12 item 8: scoped rests and tags (bench/steps/scoped.ts). The same
 * shape as the files the former `bench/scoped.ts` wrote (bench/results/scoped-*.json),
 * which the report still reads when no bench run has recorded this step.
 */
export interface ScopedResult {
  sessions: number;
  samples: number;
  /** Per kind of acquire ('unscoped' first): the store called directly, one client. */
  results: Record<string, ScopedLatency>;
  memory: {
    bytesPerSessionRegistered: number;
    bytesPerSessionWithRests: number;
    restedSessions: number;
  };
  /** Scopes with running rests during the measurement, and the load average around it (bench runs only). */
  scopesInUse?: number;
  loadavg?: number[];
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
  /** redisNext: one request per cycle (next=true) at concurrency 64, Redis. */
  cycles: { redis: Array<Measured<CyclesResult>>; memory: Array<Measured<CyclesResult>>; redisNext?: Array<Measured<CyclesResult>> };
  poolChecks: Record<string, PoolCheck>;
  status: { redis?: Measured<RequestsResult>; memory?: Measured<RequestsResult> };
  replicas: Array<Measured<CyclesResult>>;
  poolSize: PoolSizePoint[];
  memory?: MemoryResult;
  attribution: AttributionRow[];
  profile?: ProfileSummary & { cycles: Measured<CyclesResult> };
  /** Mean bytes of one request log line at info (proof that logging was on). */
  logBytesPerRequest?: number;
  ha?: HaResult;
  scoped?: ScopedResult;
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
