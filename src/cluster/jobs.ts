/**
 * The leader's scheduled jobs: the sync on TELEGATE_SYNC_CRON (plus one run
 * each time leadership is gained, which covers start-up) and the reaper of
 * expired leases. They start on `gained` and stop at once on `lost`. Both are
 * idempotent in the store, so two replicas running them at once stays correct;
 * the leader only saves work.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { StaleFenceError, StoreMisconfiguredError, StoreRefusedError, StoreUnavailableError, SyncError } from '../errors';
import type { Logger } from '../log';
import type { SyncSummary } from '../sync';
import type { Leadership } from './leader';

/** Leases reclaimed per reaper script call (bounded work per call). */
export const REAP_BATCH = 500;

export interface JobDeps {
  leadership: Leadership;
  syncCron: string;
  reaperIntervalMs: number;
  runSync: (fence: number) => Promise<SyncSummary>;
  reap: (limit: number) => Promise<number>;
  logger: Logger;
  /** Observability hooks (metrics). */
  onSync?: (result: 'ok' | 'failed' | 'refused' | 'stale', seconds: number) => void;
  onReap?: (count: number) => void;
}

export class LeaderJobs {
  private task: ScheduledTask | undefined;
  private reaper: NodeJS.Timeout | undefined;
  private reaping = false;
  private syncing: Promise<void> | undefined;

  constructor(private readonly deps: JobDeps) {
    deps.leadership.on('gained', (fence) => this.startJobs(fence));
    deps.leadership.on('lost', () => this.stopJobs());
  }

  private startJobs(fence: number): void {
    this.stopJobs();
    const { logger } = this.deps;
    const cronLogger = {
      info: (m: string) => logger.debug({ job: 'sync' }, m),
      warn: (m: string) => logger.warn({ job: 'sync' }, m),
      error: (m: string | Error, err?: Error) => logger.error({ job: 'sync', err: err ?? m }, 'cron error'),
      debug: (m: string | Error) => logger.debug({ job: 'sync' }, String(m)),
    };
    this.task = cron.schedule(this.deps.syncCron, () => this.sync(fence), { name: 'telegate-sync', noOverlap: true, logger: cronLogger });
    this.reaper = setInterval(() => void this.reap(), this.deps.reaperIntervalMs);
    this.reaper.unref();
    void this.sync(fence);
  }

  private stopJobs(): void {
    if (this.task) {
      void this.task.destroy();
      this.task = undefined;
    }
    clearInterval(this.reaper);
    this.reaper = undefined;
  }

  /** One sync; a second call while one runs joins it instead of overlapping. */
  sync(fence: number): Promise<void> {
    this.syncing ??= this.runSyncOnce(fence).finally(() => {
      this.syncing = undefined;
    });
    return this.syncing;
  }

  private async runSyncOnce(fence: number): Promise<void> {
    const { logger } = this.deps;
    const started = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
    try {
      const r = await this.deps.runSync(fence);
      logger.info({ job: 'sync', ...r, seconds: seconds() }, 'scheduled sync complete');
      this.deps.onSync?.('ok', seconds());
    } catch (err) {
      if (err instanceof StaleFenceError) {
        logger.warn({ job: 'sync' }, err.message);
        this.deps.onSync?.('stale', seconds());
      } else if (err instanceof StoreMisconfiguredError) {
        // The store said what to set, once, at error level; not again at every run.
        logger.debug({ job: 'sync', reason: err.reason }, 'scheduled sync skipped: store misconfigured');
        this.deps.onSync?.('failed', seconds());
      } else if (err instanceof SyncError) {
        // A refused sync is the guard working (warn); a failed one needs an operator (error).
        const level = err.code === 'sync_refused' ? 'warn' : 'error';
        logger[level]({ job: 'sync', error: err.code, reason: err.reason }, 'scheduled sync failed');
        this.deps.onSync?.(err.code === 'sync_refused' ? 'refused' : 'failed', seconds());
      } else if (err instanceof StoreUnavailableError && !(err instanceof StoreRefusedError)) {
        // Redis down or reconnecting: the outage is logged where it is seen (connection, limiter) and readiness says
        // so; the next run retries. A warning without a stack, as the reaper's, not an error at every run.
        logger.warn({ job: 'sync', reason: err.message }, 'scheduled sync failed: store unavailable');
        this.deps.onSync?.('failed', seconds());
      } else {
        logger.error({ job: 'sync', err }, 'scheduled sync failed');
        this.deps.onSync?.('failed', seconds());
      }
    }
  }

  private async reap(): Promise<void> {
    if (this.reaping) return;
    this.reaping = true;
    try {
      const n = await this.deps.reap(REAP_BATCH);
      if (n > 0) this.deps.logger.info({ job: 'reaper', reclaimed: n }, 'expired leases reclaimed');
      this.deps.onReap?.(n);
    } catch (err) {
      // A misconfigured store was reported once, by the store; not at every tick.
      const level = err instanceof StoreMisconfiguredError ? 'debug' : 'warn';
      this.deps.logger[level]({ job: 'reaper', err: (err as Error).message }, 'reaper run failed');
    } finally {
      this.reaping = false;
    }
  }

  stop(): void {
    this.stopJobs();
  }
}
