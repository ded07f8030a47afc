/**
 * PoolService: the pool's operations as the HTTP routes see them, and the ONLY
 * thing a route calls. Each method is one operation of the contract: it owns
 * what is not a store rule and not HTTP — long-poll waiting (LongPoll), giving a
 * session back when the client left while it was being leased, the Telegram
 * error table's decision (telegram/errors.ts), the lease TTL, lowercasing
 * scopes and tags, and the acquisition / flood-wait / invalidation metrics.
 * Routes validate parameters, call one method and shape JSON (http/present.ts).
 *
 * Not to be confused with PoolStore (./types.ts: the state rules, Lua or
 * memory) or the session-file reader pool (sessionfiles/pool.ts).
 */
import type { AcquireOutcome, SyncTrigger } from '../metrics';
import type { SyncSummary } from '../sync';
import { decide } from '../telegram/errors';
import { LongPoll, type FreedSource } from './longPoll';
import type {
  AcquireOptions,
  AcquireResult,
  EventPage,
  EventQuery,
  FloodWaitResult,
  GiveBack,
  ListPage,
  ListQuery,
  PoolStatus,
  PoolStore,
  ReportOutcome,
  RestoreResult,
} from './types';

/** The metrics PoolService records (src/metrics.ts's Metrics has them). */
export interface PoolMetrics {
  acquisition(outcome: AcquireOutcome): void;
  floodWait(): void;
  invalidation(): void;
  timeSync<T>(trigger: SyncTrigger, run: () => Promise<T>): Promise<T>;
}

export interface PoolServiceOptions {
  store: PoolStore;
  /** "A session became free" announcements, for long-polls. */
  freed: FreedSource;
  leaseTtlMs: number;
  /** TELEGATE_RESTRICTED_REST_SECONDS: the rest a PEER_FLOOD-like report gets. */
  restrictedRestSeconds: number;
  /** Run a manual sync (unfenced). */
  runSync: (force: boolean) => Promise<SyncSummary>;
  metrics?: PoolMetrics;
}

/** What one lease request asks for: scopes and tags as given (any case), a long-poll wait, the client's presence. */
export interface LeaseRequest {
  /** How long to wait (long-poll) for a session this request can use; 0: answer at once. */
  waitMs: number;
  /** Aborted when the client is gone: waiting stops and a session leased meanwhile is given back. */
  signal?: AbortSignal;
  /**
   * Whether the client is gone, asked once the lease is taken (a session leased for nobody is given back): what a
   * request that does not wait passes instead of a signal (no AbortController, nothing to stop).
   */
  left?: () => boolean;
  scopes?: readonly string[];
  tags?: readonly string[];
}

/** A lease's answer: acquire()'s, or `abandoned` when the client left (nothing is held for it). */
export type LeaseResult = AcquireResult | { ok: false; abandoned: true };

export interface FloodWaitRequest {
  id: number;
  waitMs: number;
  leaseToken?: string;
  /** Rest this scope only (any case); account-wide without it. */
  scope?: string;
}

export interface ReportRequest {
  id: number;
  /** The Telegram error name as sent (any case). */
  error: string;
  /** The method that raised it (any case): the scope a *_WAIT_X rest applies to. */
  method?: string;
  leaseToken?: string;
}

/** Scopes and tags compare case-insensitively: lowercased, each once. */
function lowerOnce(values: readonly string[] | undefined): string[] {
  return [...new Set((values ?? []).map((s) => s.toLowerCase()))];
}

export class PoolService {
  readonly leaseTtlMs: number;
  private readonly store: PoolStore;
  private readonly waiter: LongPoll;
  private readonly metrics?: PoolMetrics;
  private readonly restrictedRestSeconds: number;
  private readonly runSync: (force: boolean) => Promise<SyncSummary>;

  constructor(opts: PoolServiceOptions) {
    this.store = opts.store;
    this.leaseTtlMs = opts.leaseTtlMs;
    this.waiter = new LongPoll(opts.store, opts.leaseTtlMs, opts.freed);
    this.metrics = opts.metrics;
    this.restrictedRestSeconds = opts.restrictedRestSeconds;
    this.runSync = opts.runSync;
  }

  /** Requests parked in a long-poll right now. */
  get waiting(): number {
    return this.waiter.waiting;
  }

  /** GET /session: lease the least recently used session this request can use, waiting up to waitMs. */
  acquire(req: LeaseRequest): Promise<LeaseResult> {
    return this.lease(req, this.want(req));
  }

  /** POST /release?next=true: give the session back and lease the next one, in one store step. */
  releaseAndNext(giveBack: { id: number; leaseToken?: string }, req: LeaseRequest): Promise<LeaseResult> {
    const want = this.want(req);
    return this.lease(req, want, async () => (await this.store.giveBackAndAcquire({ kind: 'release', ...giveBack }, this.leaseTtlMs, want)).next);
  }

  /**
   * POST /floodwait?next=true: rest the session and lease the next one, in one store step. The next session is one
   * not resting on the scope this rest is for (req's scopes are ignored: the rest's scope is the one asked for).
   */
  floodWaitAndNext(rest: FloodWaitRequest, req: LeaseRequest): Promise<LeaseResult> {
    const scope = rest.scope?.toLowerCase();
    const want = { scopes: scope === undefined ? [] : [scope], tags: lowerOnce(req.tags) };
    const giveBack: GiveBack = { kind: 'floodwait', id: rest.id, waitMs: rest.waitMs, leaseToken: rest.leaseToken, scope };
    return this.lease(req, want, async () => {
      const r = await this.store.giveBackAndAcquire(giveBack, this.leaseTtlMs, want);
      this.metrics?.floodWait();
      return r.next;
    });
  }

  /**
   * A lease that never reached its client (its answer was never written: the connection died first) goes straight
   * back; its token makes sure it is still that lease. Errors are dropped: the lease then ends at its TTL.
   */
  async giveBack(s: { id: number; leaseToken: string }): Promise<void> {
    await this.store.release(s.id, s.leaseToken).catch(() => undefined);
  }

  /** POST /release. Idempotent; LeaseMismatchError when the token is not the lease. */
  release(id: number, leaseToken?: string): Promise<void> {
    return this.store.release(id, leaseToken);
  }

  /** POST /floodwait: an account-wide rest, or one on `scope`. */
  async floodWait(rest: FloodWaitRequest): Promise<FloodWaitResult> {
    const r = await this.store.floodWait(rest.id, rest.waitMs, rest.leaseToken, rest.scope?.toLowerCase());
    this.metrics?.floodWait();
    return r;
  }

  /** POST /report: the Telegram error table decides (telegram/errors.ts), the store applies it. */
  async report(req: ReportRequest): Promise<ReportOutcome & { error: string }> {
    const error = req.error.toUpperCase();
    const decision = decide(req.error, req.method?.toLowerCase(), this.restrictedRestSeconds);
    const r = await this.store.report(req.id, { error, decision, leaseToken: req.leaseToken });
    return { ...r, error };
  }

  /** POST /heartbeat: the lease's new expiry (ms). */
  heartbeat(id: number, leaseToken: string): Promise<number> {
    return this.store.heartbeat(id, leaseToken, this.leaseTtlMs);
  }

  /** POST /invalidate. */
  async invalidate(id: number, reason?: string, leaseToken?: string): Promise<void> {
    await this.store.invalidate(id, reason, leaseToken);
    this.metrics?.invalidation();
  }

  /** POST /restore. */
  restore(id: number): Promise<RestoreResult> {
    return this.store.restore(id);
  }

  /** GET /status. */
  status(): Promise<PoolStatus> {
    return this.store.status();
  }

  /** GET /sessions: tag and scope filters compare case-insensitively. */
  list(query: ListQuery): Promise<ListPage> {
    return this.store.list({ ...query, tag: query.tag?.toLowerCase(), scope: query.scope?.toLowerCase() });
  }

  /** GET /events. */
  history(query: EventQuery): Promise<EventPage> {
    return this.store.history(query);
  }

  /** POST /sync: a manual sync (unfenced), timed in the metrics. */
  sync(force: boolean): Promise<SyncSummary> {
    return this.metrics ? this.metrics.timeSync('manual', () => this.runSync(force)) : this.runSync(force);
  }

  /** Shutdown: every parked request is answered now; no new parking. */
  drain(): void {
    this.waiter.drain();
  }

  close(): void {
    this.waiter.close();
  }

  private want(req: LeaseRequest): AcquireOptions {
    return { scopes: lowerOnce(req.scopes), tags: lowerOnce(req.tags) };
  }

  /**
   * Lease with long-poll waiting; `first` replaces the first attempt (a give-back and acquire in one store step).
   * A session leased after the client left (its signal aborted, or `left()` says so) is given straight back, and the
   * answer is `abandoned`.
   */
  private async lease(req: LeaseRequest, want: AcquireOptions, first?: () => Promise<AcquireResult>): Promise<LeaseResult> {
    let parked = false;
    const r = await this.waiter.acquire(req.waitMs, req.signal, () => (parked = true), want, first);
    if (req.signal?.aborted || req.left?.()) {
      this.metrics?.acquisition('abandoned');
      // The client left while we were acquiring: give the session straight back.
      if (r.ok) await this.giveBack(r.session);
      return { ok: false, abandoned: true };
    }
    this.metrics?.acquisition(!r.ok ? 'none_free' : parked ? 'waited' : 'issued');
    return r;
  }
}
