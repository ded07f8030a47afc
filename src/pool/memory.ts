/**
 * MemoryStore: the embedded default when REDIS_URL is unset. The same state
 * rules as lua/, in one module, for a single process (state is lost on exit).
 * The shared contract suite (test/pool/store.contract.ts) keeps the two equal.
 *
 * Due flood waits and expired leases are moved back to `free` at the start of
 * every operation (each one once, so the cost is amortised), scored with the
 * instant they became free, exactly as the scripts do.
 */
import { EventEmitter } from 'node:events';
import BTree from 'sorted-btree';
import { LeaseMismatchError, SessionNotFoundError, StaleFenceError } from '../errors';
import { GONE_SIG } from './keys';
import { newLeaseToken } from './redis';
import type {
  AcquireResult,
  FloodWaitResult,
  GiveBack,
  GiveBackAndAcquireResult,
  ListPage,
  ListQuery,
  ListedSession,
  PoolStatus,
  PoolStore,
  RestoreResult,
  SessionMeta,
  SessionState,
  SyncApplyResult,
  SyncBatch,
} from './types';

type Entry = [score: number, id: number];
const byScoreThenId = (a: Entry, b: Entry): number => a[0] - b[0] || a[1] - b[1];

/** A sorted set of ids by score (the subset of ZSET the pool needs). */
class ZSet {
  private readonly scores = new Map<number, number>();
  private readonly tree = new BTree<Entry, undefined>(undefined, byScoreThenId);

  get size(): number {
    return this.scores.size;
  }
  score(id: number): number | undefined {
    return this.scores.get(id);
  }
  add(id: number, score: number): void {
    this.remove(id);
    this.scores.set(id, score);
    this.tree.set([score, id], undefined);
  }
  remove(id: number): boolean {
    const s = this.scores.get(id);
    if (s === undefined) return false;
    this.scores.delete(id);
    this.tree.delete([s, id]);
    return true;
  }
  min(): Entry | undefined {
    return this.tree.minKey();
  }
  /** Entries with score > after, lowest first. */
  firstAbove(after: number): Entry | undefined {
    return this.tree.nextHigherKey([after, Number.MAX_SAFE_INTEGER]);
  }
}

interface Session {
  name: string;
  meta: SessionMeta;
  token: string | null;
  reason: string | null;
  sig: string | null;
  /** Its file was missing at a sync while it was leased or resting (see lua/applySync-7.lua). */
  gone: boolean;
}

/** The reason a gone session carries once its lease or rest has ended (the file_error path). */
export const FILE_MISSING_REASON = 'file_error: file_missing';

export class MemoryStore implements PoolStore {
  readonly kind = 'memory' as const;
  /** Emits 'freed' when a session becomes free (long-poll waiters listen). */
  readonly events = new EventEmitter();
  private seq = 0;
  private readonly sessions = new BTree<number, Session>();
  private readonly ids = new Map<string, number>();
  private readonly free = new ZSet();
  private readonly leased = new ZSet();
  private readonly flood = new ZSet();
  private readonly invalid = new ZSet();
  private fence: number | null = null;

  constructor(private readonly clock: () => number = Date.now) {
    this.events.setMaxListeners(0);
  }

  /** Leadership is trivially this process's; kept for the cluster code path. */
  setFence(fence: number | null): void {
    this.fence = fence;
  }

  private promoteDue(now: number): number {
    let reclaimed = 0;
    for (const [set, isLease] of [[this.leased, true], [this.flood, false]] as const) {
      for (let e = set.min(); e !== undefined && e[0] <= now; e = set.min()) {
        set.remove(e[1]);
        if (!this.outIfGone(e[1], now)) this.free.add(e[1], e[0]);
        if (isLease) reclaimed++;
      }
    }
    return reclaimed;
  }

  /**
   * A session whose file is gone is never freed: when its lease or rest ends
   * it goes out as invalidated file_missing (the next sync removes or repairs it).
   * The caller has taken it out of its set; true when it was gone.
   */
  private outIfGone(id: number, now: number): boolean {
    const s = this.sessions.get(id);
    if (!s?.gone) return false;
    this.removeEverywhere(id);
    this.invalid.add(id, now);
    s.reason = FILE_MISSING_REASON;
    return true;
  }

  private freed(id: number | string): void {
    this.events.emit('freed', id);
  }

  private stateOf(id: number): SessionState {
    if (this.invalid.score(id) !== undefined) return 'invalidated';
    if (this.leased.score(id) !== undefined) return 'in_use';
    if (this.flood.score(id) !== undefined) return 'floodwait';
    return 'free';
  }

  private mustGet(id: number): Session {
    const s = this.sessions.get(id);
    if (!s) throw new SessionNotFoundError(id);
    return s;
  }

  private removeEverywhere(id: number): void {
    this.free.remove(id);
    this.leased.remove(id);
    this.flood.remove(id);
    this.invalid.remove(id);
  }

  acquire(leaseTtlMs: number): Promise<AcquireResult> {
    return Promise.resolve(this.acquireNow(leaseTtlMs));
  }

  private acquireNow(leaseTtlMs: number): AcquireResult {
    const now = this.clock();
    this.promoteDue(now);
    const first = this.free.min();
    if (!first) {
      const next = this.flood.min();
      return {
        ok: false,
        inFloodwait: this.flood.size + this.invalid.size,
        nextReleaseInMs: next ? Math.max(0, next[0] - now) : null,
        inUse: this.leased.size,
      };
    }
    const id = first[1];
    const s = this.mustGet(id);
    this.free.remove(id);
    const leaseExpiresAt = now + leaseTtlMs;
    this.leased.add(id, leaseExpiresAt);
    s.token = newLeaseToken();
    return { ok: true, session: { id, name: s.name, leaseToken: s.token, leaseExpiresAt, meta: s.meta } };
  }

  release(id: number, leaseToken?: string): Promise<void> {
    return this.settle(() => this.releaseNow(id, leaseToken));
  }

  /** A synchronous step as a promise: what it returns, or its throw as a rejection. */
  private settle<T>(step: () => T): Promise<T> {
    try {
      return Promise.resolve(step());
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private releaseNow(id: number, leaseToken?: string): void {
    const now = this.clock();
    this.promoteDue(now);
    const s = this.sessions.get(id);
    if (!s) return;
    if (leaseToken !== undefined && s.token !== leaseToken) throw new LeaseMismatchError(id);
    if (this.leased.remove(id) && !this.outIfGone(id, now)) {
      this.free.add(id, now);
      this.freed(id);
    }
  }

  /** The give-back and the acquire run in one synchronous step: nothing can come between them. */
  giveBackAndAcquire(g: GiveBack, leaseTtlMs: number): Promise<GiveBackAndAcquireResult> {
    return this.settle(() => {
      if (g.kind === 'release') {
        this.releaseNow(g.id, g.leaseToken);
        return { next: this.acquireNow(leaseTtlMs) };
      }
      const floodWait = this.floodWaitNow(g.id, g.waitMs, g.leaseToken);
      return { floodWait, next: this.acquireNow(leaseTtlMs) };
    });
  }

  floodWait(id: number, waitMs: number, leaseToken?: string): Promise<FloodWaitResult> {
    return this.settle(() => this.floodWaitNow(id, waitMs, leaseToken));
  }

  private floodWaitNow(id: number, waitMs: number, leaseToken?: string): FloodWaitResult {
    const now = this.clock();
    this.promoteDue(now);
    const s = this.sessions.get(id);
    if (!s) throw new SessionNotFoundError(id);
    if (leaseToken !== undefined && s.token !== leaseToken) throw new LeaseMismatchError(id);
    let until = now + waitMs;
    if (this.invalid.score(id) !== undefined) return { id, name: s.name, until, state: 'invalidated' };
    until = Math.max(until, this.flood.score(id) ?? 0);
    if (until <= now) {
      this.flood.remove(id);
      if (this.outIfGone(id, now)) return { id, name: s.name, until: now, state: 'invalidated' };
      if (this.leased.remove(id) || this.free.score(id) === undefined) {
        this.free.add(id, now);
        this.freed(id);
      }
      return { id, name: s.name, until: now, state: 'free' };
    }
    this.free.remove(id);
    this.leased.remove(id);
    this.flood.add(id, until);
    return { id, name: s.name, until, state: 'floodwait' };
  }

  invalidate(id: number, reason?: string, leaseToken?: string): Promise<void> {
    const now = this.clock();
    this.promoteDue(now);
    const s = this.sessions.get(id);
    if (!s) return Promise.resolve();
    if (leaseToken !== undefined && s.token !== leaseToken) return Promise.reject(new LeaseMismatchError(id));
    if (this.invalid.score(id) !== undefined) {
      if (reason) s.reason = reason;
      return Promise.resolve();
    }
    this.removeEverywhere(id);
    this.invalid.add(id, now);
    s.reason = reason || null;
    return Promise.resolve();
  }

  restore(id: number): Promise<RestoreResult> {
    const now = this.clock();
    this.promoteDue(now);
    const s = this.sessions.get(id);
    if (!s) return Promise.reject(new SessionNotFoundError(id));
    if (s.gone) {
      if (this.flood.score(id) !== undefined || this.invalid.score(id) !== undefined) this.outIfGone(id, now);
      return Promise.resolve({ id, state: this.stateOf(id) });
    }
    if (this.invalid.remove(id) || this.flood.remove(id)) {
      this.free.add(id, now);
      s.reason = null;
      this.freed(id);
      return Promise.resolve({ id, state: 'free' });
    }
    return Promise.resolve({ id, state: this.leased.score(id) !== undefined ? 'in_use' : 'free' });
  }

  heartbeat(id: number, leaseToken: string, leaseTtlMs: number): Promise<number> {
    const now = this.clock();
    this.promoteDue(now);
    const s = this.sessions.get(id);
    if (!s) return Promise.reject(new SessionNotFoundError(id));
    if (this.leased.score(id) === undefined || s.token !== leaseToken) return Promise.reject(new LeaseMismatchError(id));
    const expires = now + leaseTtlMs;
    this.leased.add(id, expires);
    return Promise.resolve(expires);
  }

  status(): Promise<PoolStatus> {
    const now = this.clock();
    this.promoteDue(now);
    const next = this.flood.min();
    const inFloodwait = this.flood.size + this.invalid.size;
    return Promise.resolve({
      total: this.free.size + this.leased.size + inFloodwait,
      free: this.free.size,
      inUse: this.leased.size,
      inFloodwait,
      invalidated: this.invalid.size,
      nextAvailable: next ? next[0] : null,
      now,
    });
  }

  list(query: ListQuery): Promise<ListPage> {
    this.promoteDue(this.clock());
    const after = query.cursor === undefined ? 0 : Number(query.cursor);
    const sessions: ListedSession[] = [];
    let last = after;
    for (const [id, s] of this.sessions.entries(after + 1)) {
      if (sessions.length >= query.limit) break;
      last = id;
      const state = this.stateOf(id);
      if (query.state !== undefined && query.state !== state) continue;
      sessions.push({
        id,
        name: s.name,
        state,
        floodwaitUntil: state === 'floodwait' ? (this.flood.score(id) ?? null) : null,
        leaseExpiresAt: state === 'in_use' ? (this.leased.score(id) ?? null) : null,
        reason: s.reason,
        fileMissing: s.gone,
        meta: s.meta,
      });
    }
    const more = this.sessions.nextHigherKey(last) !== undefined;
    return Promise.resolve({ sessions, nextCursor: more ? String(last) : null });
  }

  async *scanNames(): AsyncIterable<Array<[string, string | null]>> {
    const all: Array<[string, string | null]> = [];
    for (const [name, id] of this.ids) all.push([name, this.sessions.get(id)?.sig ?? null]);
    for (let i = 0; i < all.length; i += 1000) yield await Promise.resolve(all.slice(i, i + 1000));
  }

  applySync(batch: SyncBatch, fence?: number): Promise<SyncApplyResult> {
    if (fence !== undefined && fence !== this.fence) return Promise.reject(new StaleFenceError());
    const now = this.clock();
    let added = 0;
    let removed = 0;
    let updated = 0;
    for (const u of batch.upserts) {
      const existing = this.ids.get(u.name);
      if (existing === undefined) {
        const id = ++this.seq;
        this.ids.set(u.name, id);
        this.sessions.set(id, { name: u.name, meta: u.meta, token: null, reason: null, sig: u.sig ?? null, gone: false });
        if (u.fileError) this.fileError(id, u.fileError, now);
        else this.free.add(id, id);
        added++;
        continue;
      }
      const s = this.mustGet(existing);
      s.meta = u.meta;
      s.sig = u.sig ?? null;
      s.gone = false; // the file is back (if it was gone): the session simply continues
      if (u.fileError) this.fileError(existing, u.fileError, now);
      else if (s.reason?.startsWith('file_error:')) {
        // Repaired: back into circulation (a leased or resting one simply continues).
        s.reason = null;
        if (this.invalid.remove(existing)) this.free.add(existing, now);
      }
      updated++;
    }
    for (const name of batch.removes) {
      const id = this.ids.get(name);
      if (id === undefined) continue;
      if (this.leased.score(id) !== undefined || (this.flood.score(id) ?? 0) > now) {
        // Leased or resting: keep id, token and deadline; not issued again while gone.
        const s = this.mustGet(id);
        s.gone = true;
        s.sig = GONE_SIG; // re-sent by sync when the file returns
        continue;
      }
      this.removeEverywhere(id);
      this.sessions.delete(id);
      this.ids.delete(name);
      removed++;
    }
    if (added > 0) this.freed('sync');
    return Promise.resolve({ added, removed, updated });
  }

  /**
   * A broken file takes its session out of circulation, but never ends a lease
   * or a running rest: such a session is marked gone (re-read at the next sync)
   * and goes out as invalidated when its lease or rest ends.
   */
  private fileError(id: number, error: string, now: number): void {
    const s = this.mustGet(id);
    s.reason = `file_error: ${error}`;
    if (this.leased.score(id) !== undefined || (this.flood.score(id) ?? 0) > now) {
      s.gone = true;
      s.sig = GONE_SIG;
    } else if (this.invalid.score(id) === undefined) {
      this.removeEverywhere(id);
      this.invalid.add(id, now);
    }
  }

  reap(_limit: number): Promise<number> {
    const n = this.promoteDue(this.clock());
    if (n > 0) this.freed('reap');
    return Promise.resolve(n);
  }

  ping(): Promise<boolean> {
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    this.events.removeAllListeners();
    return Promise.resolve();
  }
}
