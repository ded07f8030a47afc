/**
 * Prometheus metrics, one Registry per app (never prom-client's global one,
 * so tests can build many apps and two apps never share counters).
 *
 * Pool gauges (telegate_pool_sessions) are read from the store at scrape
 * time. The store is shared, so every replica exports the same numbers:
 * aggregate them with max() (or avg()), never sum(). They are exported by
 * every replica rather than by the leader only, so a leader change or a
 * replica that is not scraped never leaves a gap. When the store does not
 * answer during a scrape, the pool gauges are left out (never stale values),
 * telegate_store_up is 0, and the rest of the scrape is answered as usual.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { StaleFenceError, SyncError } from './errors';
import type { PoolStore } from './pool/types';

export type AcquireOutcome = 'issued' | 'waited' | 'none_free' | 'abandoned';
export type SyncResult = 'ok' | 'failed' | 'refused' | 'stale';
export type SyncTrigger = 'scheduled' | 'manual';

/** Label of requests that matched no route (a 404): never the raw URL. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Longest a scrape waits for the store before leaving the pool gauges out (default). */
export const STORE_SCRAPE_TIMEOUT_MS = 2000;

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

export interface MetricsOptions {
  store: PoolStore;
  /** Leadership of this replica; absent → no telegate_leader gauge. */
  isLeader?: () => boolean;
  /** Requests parked in a long-poll right now (PoolService.waiting). */
  waiting?: () => number;
  /** collectDefaultMetrics (process, heap, event loop); on unless false. */
  defaultMetrics?: boolean;
  /** Longest a scrape waits for store.status(). */
  storeTimeoutMs?: number;
}

export class Metrics {
  readonly registry = new Registry();

  private readonly httpRequests = new Counter({
    name: 'telegate_http_requests_total',
    help: 'HTTP requests by method, matched route and status (499: the client left first)',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  private readonly httpDuration = new Histogram({
    name: 'telegate_http_request_duration_seconds',
    help: 'HTTP request duration by method, matched route and status (long-polls included)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  private readonly acquisitions = new Counter({
    name: 'telegate_acquisitions_total',
    help: 'GET /session outcomes: issued at once, waited (issued after parking in a long-poll), none_free (503), abandoned (the client left before the answer; a session it got is given back)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  private readonly floodWaits = new Counter({
    name: 'telegate_floodwaits_reported_total',
    help: 'Flood waits reported by workers (POST /floodwait answered 200)',
    registers: [this.registry],
  });

  private readonly invalidations = new Counter({
    name: 'telegate_invalidations_total',
    help: 'Invalidations reported (POST /invalidate answered 200)',
    registers: [this.registry],
  });

  private readonly reclaimed = new Counter({
    name: 'telegate_leases_reclaimed_total',
    help: 'Expired leases returned to the pool by the reaper (leader only)',
    registers: [this.registry],
  });

  private readonly syncRuns = new Counter({
    name: 'telegate_sync_runs_total',
    help: 'Syncs of the sessions directory by trigger (scheduled: leader cron; manual: POST /sync) and result',
    labelNames: ['trigger', 'result'] as const,
    registers: [this.registry],
  });

  private readonly syncDuration = new Histogram({
    name: 'telegate_sync_duration_seconds',
    help: 'Duration of syncs by trigger and result',
    labelNames: ['trigger', 'result'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [this.registry],
  });

  private readonly storeUp = new Gauge({
    name: 'telegate_store_up',
    help: 'Whether the store answered the status read of this scrape (1) or not (0: pool gauges left out)',
    registers: [this.registry],
  });

  private readonly poolSessions = new Gauge({
    name: 'telegate_pool_sessions',
    help: 'Sessions per state, read from the shared store at scrape time: the same on every replica, aggregate with max(), never sum()',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });

  private readonly store: PoolStore;
  private scraping: Promise<string> | undefined;
  private readonly storeTimeoutMs: number;

  constructor(opts: MetricsOptions) {
    const { isLeader, waiting } = opts;
    this.store = opts.store;
    this.storeTimeoutMs = opts.storeTimeoutMs ?? STORE_SCRAPE_TIMEOUT_MS;
    if (isLeader) {
      new Gauge({
        name: 'telegate_leader',
        help: '1 when this replica is the leader (runs the scheduled sync and the reaper), else 0',
        registers: [this.registry],
        collect() {
          this.set(isLeader() ? 1 : 0);
        },
      });
    }
    if (waiting) {
      new Gauge({
        name: 'telegate_longpoll_waiting',
        help: 'GET /session requests parked in a long-poll on this replica (sum across replicas)',
        registers: [this.registry],
        collect() {
          this.set(waiting());
        },
      });
    }
    // Unprefixed (process_*, nodejs_*) so stock Node.js dashboards work.
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /**
   * The whole scrape, Prometheus text format: one store read, then every
   * metric. Scrapes that arrive while one runs share its answer.
   */
  render(): Promise<string> {
    this.scraping ??= (async () => {
      await this.readStore();
      return this.registry.metrics();
    })().finally(() => {
      this.scraping = undefined;
    });
    return this.scraping;
  }

  /** Pool gauges from store.status(); left out (not stale) when the store does not answer. */
  private async readStore(): Promise<void> {
    this.poolSessions.reset();
    try {
      const s = await withTimeout(this.store.status(), this.storeTimeoutMs);
      this.poolSessions.set({ state: 'free' }, s.free);
      this.poolSessions.set({ state: 'in_use' }, s.inUse);
      this.poolSessions.set({ state: 'floodwait' }, s.inFloodwait - s.invalidated);
      this.poolSessions.set({ state: 'invalidated' }, s.invalidated);
      this.poolSessions.set({ state: 'total' }, s.total);
      this.storeUp.set(1);
    } catch {
      this.storeUp.set(0);
    }
  }

  /**
   * One HTTP request's end, for the request counter and histogram (app.ts's one 'close' listener calls it). `route`
   * is what the route table named it (a path of http/routes.ts), never the URL; `finished` false means the client
   * left first (status 499).
   */
  request(method: string, route: string | undefined, status: number, finished: boolean, seconds: number): void {
    const labels = { method: METHODS.has(method) ? method : 'other', route: route ?? UNMATCHED_ROUTE, status: finished ? String(status) : '499' };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  acquisition(outcome: AcquireOutcome): void {
    this.acquisitions.inc({ result: outcome });
  }

  floodWait(): void {
    this.floodWaits.inc();
  }

  invalidation(): void {
    this.invalidations.inc();
  }

  reaped(count: number): void {
    if (count > 0) this.reclaimed.inc(count);
  }

  sync(trigger: SyncTrigger, result: SyncResult, seconds: number): void {
    this.syncRuns.inc({ trigger, result });
    this.syncDuration.observe({ trigger, result }, seconds);
  }

  /** Time a sync run and record its result (the error, if any, is rethrown). */
  async timeSync<T>(trigger: SyncTrigger, run: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const r = await run();
      this.sync(trigger, 'ok', seconds());
      return r;
    } catch (err) {
      this.sync(trigger, syncResultOf(err), seconds());
      throw err;
    }
  }
}

/** The result label of a failed sync, as LeaderJobs classifies it. */
export function syncResultOf(err: unknown): SyncResult {
  if (err instanceof StaleFenceError) return 'stale';
  if (err instanceof SyncError && err.code === 'sync_refused') return 'refused';
  return 'failed';
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

export function createMetrics(opts: MetricsOptions): Metrics {
  return new Metrics(opts);
}
