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
import { DUP_SIG, GONE_SIG } from './keys';
import { newLeaseToken } from './redis';
import type {
  AcquireResult,
  FloodWaitResult,
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
  /** Its file was missing at a sync while it was leased or resting (see lua/applySync-8.lua). */
  gone: boolean;
  /** Its file's auth-key fingerprint, when a reader sync sent one. */
  fp: string | null;
  /** Another session holds its auth key: never issued nor restored. */
  dup: boolean;
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
  /** Auth-key fingerprint -> the id of the one session holding that key. */
  private readonly fingerprints = new Map<string, number>();
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
    const now = this.clock();
    this.promoteDue(now);
    const first = this.free.min();
    if (!first) {
      const next = this.flood.min();
      return Promise.resolve({
        ok: false,
        inFloodwait: this.flood.size + this.invalid.size,
        nextReleaseInMs: next ? Math.max(0, next[0] - now) : null,
        inUse: this.leased.size,
      });
    }
    const id = first[1];
    const s = this.mustGet(id);
    this.free.remove(id);
    const leaseExpiresAt = now + leaseTtlMs;
    this.leased.add(id, leaseExpiresAt);
    s.token = newLeaseToken();
    return Promise.resolve({ ok: true, session: { id, name: s.name, leaseToken: s.token, leaseExpiresAt, meta: s.meta } });
  }

  release(id: number, leaseToken?: string): Promise<void> {
    const now = this.clock();
    this.promoteDue(now);
    const s = this.sessions.get(id);
    if (!s) return Promise.resolve();
    if (leaseToken !== undefined && s.token !== leaseToken) return Promise.reject(new LeaseMismatchError(id));
    if (this.leased.remove(id) && !this.outIfGone(id, now)) {
      this.free.add(id, now);
      this.freed(id);
    }
    return Promise.resolve();
  }

  floodWait(id: number, waitMs: number, leaseToken?: string): Promise<FloodWaitResult> {
    const now = this.clock();
    this.promoteDue(now);
    const s = this.sessions.get(id);
    if (!s) return Promise.reject(new SessionNotFoundError(id));
    if (leaseToken !== undefined && s.token !== leaseToken) return Promise.reject(new LeaseMismatchError(id));
    let until = now + waitMs;
    if (this.invalid.score(id) !== undefined) return Promise.resolve({ id, name: s.name, until, state: 'invalidated' });
    until = Math.max(until, this.flood.score(id) ?? 0);
    if (until <= now) {
      this.flood.remove(id);
      if (this.outIfGone(id, now)) return Promise.resolve({ id, name: s.name, until: now, state: 'invalidated' });
      if (this.leased.remove(id) || this.free.score(id) === undefined) {
        this.free.add(id, now);
        this.freed(id);
      }
      return Promise.resolve({ id, name: s.name, until: now, state: 'free' });
    }
    this.free.remove(id);
    this.leased.remove(id);
    this.flood.add(id, until);
    return Promise.resolve({ id, name: s.name, until, state: 'floodwait' });
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
    if (s.dup) return Promise.resolve({ id, state: 'invalidated' }); // out of circulation unless gone (above)
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
      let existing = this.ids.get(u.name);
      const isNew = existing === undefined;
      if (existing === undefined) {
        existing = ++this.seq;
        this.ids.set(u.name, existing);
        this.sessions.set(existing, { name: u.name, meta: u.meta, token: null, reason: null, sig: null, gone: false, fp: null, dup: false });
      }
      const s = this.mustGet(existing);
      s.meta = u.meta;
      s.sig = u.sig ?? null;
      s.gone = false; // the file is back (if it was gone): the session simply continues
      let error = u.fileError ?? '';
      const holder = u.keyFingerprint ? this.claimKey(existing, s, u.keyFingerprint, now) : null;
      if (holder !== null) {
        error = `${error ? `${error}; ` : ''}same auth key as ${holder}`;
        s.sig = DUP_SIG; // re-read at every sync, to take over once the holder is removed
      }
      if (isNew) {
        if (error) this.fileError(existing, error, now);
        else this.free.add(existing, existing);
        added++;
        continue;
      }
      if (error) this.fileError(existing, error, now);
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
      const fp = this.sessions.get(id)?.fp;
      // Its auth key is free again: a duplicate of it takes over at its next upsert.
      if (fp && this.fingerprints.get(fp) === id) this.fingerprints.delete(fp);
      this.removeEverywhere(id);
      this.sessions.delete(id);
      this.ids.delete(name);
      removed++;
    }
    if (added > 0) this.freed('sync');
    return Promise.resolve({ added, removed, updated });
  }

  /** Leased (expired or not) or in a running rest. */
  private heldOrResting(id: number, now: number): boolean {
    return this.leased.score(id) !== undefined || (this.flood.score(id) ?? 0) > now;
  }

  /**
   * The session other than `id` holding fingerprint fp, or undefined: a map
   * entry is stale once its session is gone from the pool, or once that
   * session's file holds another key and no lease or rest taken with the old one runs.
   */
  private holderOf(fp: string, id: number, now: number): Session | undefined {
    const o = this.fingerprints.get(fp);
    const other = o === undefined || o === id ? undefined : this.sessions.get(o);
    return other && (other.fp === fp || this.heldOrResting(o!, now)) ? other : undefined;
  }

  /** Record fp as the file's key and claim it for `id`: null, or the name of the session holding it. */
  private claimKey(id: number, s: Session, fp: string, now: number): string | null {
    if (s.fp !== null && s.fp !== fp && this.fingerprints.get(s.fp) === id && !this.heldOrResting(id, now)) {
      this.fingerprints.delete(s.fp); // a new login in this file frees the old key (see holderOf for a running lease)
    }
    s.fp = fp;
    const other = this.holderOf(fp, id, now);
    s.dup = other !== undefined;
    if (other) return other.name;
    this.fingerprints.set(fp, id);
    return null;
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
