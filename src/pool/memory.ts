/**
 * MemoryStore: the embedded default when REDIS_URL is unset. The same state
 * rules as lua/, in one module, for a single process (state is lost on exit).
 * The shared contract suite (test/pool/store.contract.ts) keeps the two equal.
 *
 * Due flood waits and expired leases are moved back to `free` where the
 * scripts move them and no more at a time: by an acquire (PROMOTE_BATCH per
 * set) and by the reaper (its limit per set), scored with the instant they
 * became free. Every other operation sees them as lua/ does, as of now
 * (status and list count an ended lease as free; a release re-scores it).
 * Equal scores go in Redis's order (the id as a string). Scoped rests use the
 * same layout as Redis (src/pool/keys.ts): `free` holds only sessions with no
 * running rest, `rfree`/`rend` those resting on some scope, one set per scope.
 * Nothing here may load ioredis: what both stores share is in rules.ts.
 */
import { EventEmitter } from 'node:events';
import BTree from 'sorted-btree';
import { LeaseMismatchError, SessionNotFoundError, StaleFenceError } from '../errors';
import type { Health } from '../telegram/errors';
import { DUP_SIG, GONE_SIG } from './keys';
import { DEFAULT_EVENTS_MAX_LEN, MAX_STATUS_SCOPES, PROMOTE_BATCH, SCOPED_WALK, newLeaseToken, reportedRest, restCount, scanBudget } from './rules';
import type {
  AcquireOptions,
  AcquireResult,
  FloodWaitResult,
  GiveBack,
  GiveBackAndAcquireResult,
  ListPage,
  ListQuery,
  ListedSession,
  PoolStatus,
  PoolStore,
  EventInput,
  EventPage,
  EventQuery,
  PoolEvent,
  ReportInput,
  ReportOutcome,
  SessionCounters,
  RestoreResult,
  SessionMeta,
  SessionState,
  SyncApplyResult,
  SyncBatch,
} from './types';

type Entry = [score: number, id: number];
/** After every id of its score (firstAbove's bound). */
const LAST_ID = Infinity;
/**
 * Score, then the id as a string: Redis orders equal scores by the member's
 * bytes, and a member is the id's decimal string ("10" before "9").
 */
function byScoreThenId(a: Entry, b: Entry): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[1] === b[1]) return 0;
  if (a[1] === LAST_ID || b[1] === LAST_ID) return a[1] === LAST_ID ? 1 : -1;
  return String(a[1]) < String(b[1]) ? -1 : 1;
}

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
  max(): Entry | undefined {
    return this.tree.maxKey();
  }
  /** The first `limit` entries scored <= now, lowest first (ZRANGEBYSCORE -inf now LIMIT 0 limit). */
  due(now: number, limit: number): Entry[] {
    const out: Entry[] = [];
    for (const e of this.tree.keys()) {
      if (out.length >= limit || e[0] > now) break;
      out.push(e);
    }
    return out;
  }
  /** Members scored after `now` (ZCOUNT (now +inf). */
  countAbove(now: number): number {
    let due = 0;
    for (const [score] of this.tree.keys()) {
      if (score > now) break;
      due++;
    }
    return this.size - due;
  }
  /** Entries lowest first. */
  entries(): IterableIterator<Entry> {
    return this.tree.keys();
  }
  /** Entries with score > after, lowest first. */
  firstAbove(after: number): Entry | undefined {
    return this.tree.nextHigherKey([after, LAST_ID]);
  }
}

interface Session {
  name: string;
  meta: SessionMeta;
  token: string | null;
  reason: string | null;
  sig: string | null;
  /** Scoped rests: scope → deadline (ms); ended ones are pruned lazily. */
  rests: Map<string, number>;
  /** Latest scoped deadline (ms), 0 for none. */
  restEnd: number;
  /** Health other than ok and restricted (restricted: the `restricted` set). */
  mark: 'logged_out' | 'banned' | 'file_error' | null;
  lastError: { name: string; at: number } | null;
  counters: SessionCounters;
  /** Its file was missing at a sync while it was leased or resting (see lua/applySync-12.lua). */
  gone: boolean;
  /** Its file's auth-key fingerprint, when a reader sync sent one. */
  fp: string | null;
  /** Another session holds its auth key: never issued nor restored. */
  dup: boolean;
}

/** Run `fn` as a promise: its throw becomes the rejection. */
function attempt<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors -- rethrown as thrown
  }
}

type Mark = NonNullable<Session['mark']>;

/** "<ms>-<seq>" → [ms, seq]. */
function streamId(id: string): [number, number] {
  const [ms = '0', seq = '0'] = id.split('-');
  return [Number(ms), Number(seq)];
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
  private readonly rfree = new ZSet();
  private readonly rend = new ZSet();
  /** scope → id → deadline; entries are dropped when their deadline passes. */
  private readonly restsByScope = new Map<string, ZSet>();
  /** id → end of its restriction rest; entries are dropped when it passes. */
  private readonly restricted = new ZSet();
  private readonly marks: Record<Mark, Set<number>> = { logged_out: new Set(), banned: new Set(), file_error: new Set() };
  private fence: number | null = null;

  /** The capped event history: a ring buffer of `eventsMaxLen` entries. */
  private readonly ring: PoolEvent[] = [];
  private ringStart = 0;
  private lastEventAt = 0;
  private lastEventSeq = 0;

  constructor(
    private readonly clock: () => number = Date.now,
    private readonly eventsMaxLen = DEFAULT_EVENTS_MAX_LEN,
  ) {
    this.events.setMaxListeners(0);
  }

  /** An event into the ring (ids "<ms>-<seq>" as Redis streams make them), and the counter bump. */
  private record(e: EventInput, count?: { id: number; kind: 'issued' } | ReturnType<typeof restCount>): void {
    const now = this.clock();
    if (now > this.lastEventAt) {
      this.lastEventAt = now;
      this.lastEventSeq = 0;
    } else this.lastEventSeq++;
    const event: PoolEvent = { id: `${this.lastEventAt}-${this.lastEventSeq}`, at: this.lastEventAt, ...e };
    for (const k of Object.keys(event) as Array<keyof PoolEvent>) if (event[k] === undefined) delete event[k];
    if (this.ring.length < this.eventsMaxLen) this.ring.push(event);
    else {
      this.ring[this.ringStart] = event;
      this.ringStart = (this.ringStart + 1) % this.eventsMaxLen;
    }
    const c = count && this.sessions.get(count.id)?.counters;
    if (!c || !count) return;
    if (count.kind === 'issued') c.issued++;
    else {
      c.rests++;
      c.restedSeconds += count.seconds;
      c.restsByScope[count.scope] = (c.restsByScope[count.scope] ?? 0) + 1;
    }
  }

  history(query: EventQuery): Promise<EventPage> {
    const events: PoolEvent[] = [];
    const n = this.ring.length;
    const before = query.cursor === undefined ? null : streamId(query.cursor);
    let budget = scanBudget(query.limit);
    let last: string | null = null;
    for (let i = n - 1; i >= 0 && events.length < query.limit && budget > 0; i--) {
      const e = this.ring[(this.ringStart + i) % n];
      if (!e) continue;
      const [ms, seq] = streamId(e.id);
      if (before && (ms > before[0] || (ms === before[0] && seq >= before[1]))) continue;
      budget--;
      last = e.id;
      if (query.sessionId === undefined || e.sessionId === query.sessionId) events.push({ ...e });
      if (i === 0) last = null;
    }
    return Promise.resolve({ events, nextCursor: last });
  }

  /** The next fencing token, now the current one (takeLeadership-2.lua's INCR; LocalLeadership takes it). */
  takeFence(): number {
    this.fence = (this.fence ?? 0) + 1;
    return this.fence;
  }

  /** Make `fence` the current fencing token (tests: as writing the Redis fence key). */
  setFence(fence: number | null): void {
    this.fence = fence;
  }

  /**
   * acquireSession's promotion, with its bound: at most `limit` ended leases,
   * then at most `limit` ended account-wide rests back to where they belong
   * (place: scored with the instant they became free), then at most `limit`
   * `rfree` sessions whose last scoped rest ended to `free` (keeping their LRU
   * score); scopes whose rests all ended are dropped (as many). Announces nothing.
   */
  private promote(now: number, limit: number): { reclaimed: number; unflooded: number } {
    const move = (set: ZSet): number => {
      const due = set.due(now, limit);
      for (const [score, id] of due) {
        set.remove(id);
        this.place(id, score, now);
      }
      return due.length;
    };
    const reclaimed = move(this.leased);
    let unflooded = move(this.flood);
    const rested = this.rend.due(now, limit);
    for (const [, id] of rested) {
      const s = this.sessions.get(id);
      if (s) this.clearRests(id, s);
      this.rend.remove(id);
      const lru = this.rfree.score(id) ?? now;
      this.rfree.remove(id);
      this.free.add(id, lru);
    }
    unflooded += rested.length;
    let dropped = 0;
    for (const [scope, set] of this.restsByScope) {
      if (dropped >= limit) break;
      if ((set.max()?.[0] ?? 0) > now) continue;
      this.restsByScope.delete(scope);
      dropped++;
    }
    return { reclaimed, unflooded };
  }

  /**
   * A session that just became available: `free`, or `rfree` while a scoped
   * rest runs. A session whose file is gone is never freed: it waits out its
   * scoped rests in `flood`, then goes out (outIfGone). Says where it went.
   */
  private place(id: number, score: number, now: number): 'free' | 'rfree' | 'flood' | 'invalidated' {
    const s = this.sessions.get(id);
    if (s?.gone) {
      if (s.restEnd > now) {
        this.flood.add(id, s.restEnd);
        return 'flood';
      }
      this.outIfGone(id, now);
      return 'invalidated';
    }
    if (s && s.restEnd > now) {
      this.rfree.add(id, score);
      this.rend.add(id, s.restEnd);
      return 'rfree';
    }
    this.free.add(id, score);
    return 'free';
  }

  /** Announce a placed session to long-poll waiters (scoped ones only for `rfree`). */
  private announce(id: number, where: ReturnType<MemoryStore['place']>): void {
    if (where === 'free') this.freed(id);
    else if (where === 'rfree') this.freed(`scoped:${id}`);
  }
  private setMark(id: number, s: Session, mark: Mark | null): void {
    if (s.mark !== null) this.marks[s.mark].delete(id);
    s.mark = mark;
    if (mark !== null) {
      this.marks[mark].add(id);
      this.restricted.remove(id);
    }
  }

  private healthOf(id: number, s: Session, now: number): Health {
    return s.mark ?? ((this.restricted.score(id) ?? 0) > now ? 'restricted' : 'ok');
  }

  private clearRests(id: number, s: Session): void {
    for (const scope of s.rests.keys()) this.restsByScope.get(scope)?.remove(id);
    s.rests.clear();
    s.restEnd = 0;
  }

  /** The deadline of the latest running rest of `id` on any of `scopes`, 0 for none. */
  private blockedUntil(id: number, scopes: readonly string[], now: number): number {
    let blocked = 0;
    for (const scope of scopes) {
      const dl = this.restsByScope.get(scope)?.score(id) ?? 0;
      if (dl > now && dl > blocked) blocked = dl;
    }
    return blocked;
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

  /**
   * A session's state as of now, with its deadline (listSessions): an ended
   * lease or rest not moved yet counts as what it will be once moved (free, or
   * invalidated file_missing when its file is gone).
   */
  private stateAt(id: number, s: Session, now: number): { state: SessionState; deadline: number | null; reason: string | null } {
    if (this.invalid.score(id) !== undefined) return { state: 'invalidated', deadline: null, reason: s.reason };
    const leaseEnd = this.leased.score(id) ?? 0;
    if (leaseEnd > now) return { state: 'in_use', deadline: leaseEnd, reason: s.reason };
    const floodEnd = this.flood.score(id) ?? 0;
    if (floodEnd > now) return { state: 'floodwait', deadline: floodEnd, reason: s.reason };
    const restEnd = this.rend.score(id) ?? 0;
    if (restEnd > now) return { state: 'floodwait', deadline: restEnd, reason: s.reason };
    if (s.gone) return { state: 'invalidated', deadline: null, reason: FILE_MISSING_REASON };
    return { state: 'free', deadline: null, reason: s.reason };
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
    this.rfree.remove(id);
    this.rend.remove(id);
  }

  acquire(leaseTtlMs: number, opts: AcquireOptions = {}): Promise<AcquireResult> {
    return Promise.resolve(this.acquireNow(leaseTtlMs, opts));
  }

  private acquireNow(leaseTtlMs: number, opts: AcquireOptions): AcquireResult {
    const now = this.clock();
    this.promote(now, PROMOTE_BATCH);
    const scopes = opts.scopes ?? [];
    const tags = opts.tags ?? [];
    const tagged = (candidate: number): boolean => {
      const own = this.sessions.get(candidate)?.meta.tags ?? [];
      return tags.every((t) => own.includes(t));
    };
    // Free's first member carrying the tags (a linear walk: the embedded store serves small pools).
    let first: Entry | undefined;
    for (const e of this.free.entries()) {
      if (tagged(e[1])) {
        first = e;
        break;
      }
    }
    let next = this.flood.firstAbove(now)?.[0];
    let id = first?.[1];
    if (scopes.length === 0) {
      const rested = this.rend.firstAbove(now)?.[0];
      if (rested !== undefined && (next === undefined || rested < next)) next = rested;
    } else {
      // The LRU rfree member resting on none of the scopes, if used less recently than free's first
      // (looking at SCOPED_WALK of them at most while free has one, as the script does).
      let budget = first ? SCOPED_WALK : Infinity;
      for (const [score, candidate] of this.rfree.entries()) {
        if (first && score >= first[0]) break;
        if (budget-- <= 0) break;
        if (!tagged(candidate)) continue;
        const blocked = this.blockedUntil(candidate, scopes, now);
        if (blocked === 0) {
          id = candidate;
          break;
        }
        if (next === undefined || blocked < next) next = blocked;
      }
    }
    if (id === undefined) {
      return {
        ok: false,
        inFloodwait: this.flood.countAbove(now) + this.invalid.size + this.rend.countAbove(now),
        nextReleaseInMs: next === undefined ? null : Math.max(0, next - now),
        inUse: this.leased.countAbove(now),
      };
    }
    const s = this.mustGet(id);
    this.free.remove(id);
    this.rfree.remove(id);
    this.rend.remove(id);
    const leaseExpiresAt = now + leaseTtlMs;
    this.leased.add(id, leaseExpiresAt);
    s.token = newLeaseToken();
    this.record({ type: 'issued', sessionId: id }, { id, kind: 'issued' });
    return { ok: true, session: { id, name: s.name, leaseToken: s.token, leaseExpiresAt, meta: s.meta } };
  }

  release(id: number, leaseToken?: string): Promise<void> {
    return attempt(() => this.releaseNow(id, leaseToken));
  }

  /** releaseSession: a lease that ended and was not reclaimed yet is still this worker's to give back (scored now). */
  private releaseNow(id: number, leaseToken?: string): void {
    const now = this.clock();
    const s = this.sessions.get(id);
    if (!s) return;
    if (leaseToken !== undefined && s.token !== leaseToken) throw new LeaseMismatchError(id);
    if (this.leased.remove(id)) {
      this.announce(id, this.place(id, now, now));
      this.record({ type: 'released', sessionId: id });
    }
  }

  /** The give-back and the acquire run in one synchronous step: nothing can come between them. */
  giveBackAndAcquire(g: GiveBack, leaseTtlMs: number, opts: AcquireOptions = {}): Promise<GiveBackAndAcquireResult> {
    return attempt(() => {
      if (g.kind === 'release') {
        this.releaseNow(g.id, g.leaseToken);
        return { next: this.acquireNow(leaseTtlMs, opts) };
      }
      const floodWait = this.restRecorded(g.id, g.waitMs, g.leaseToken, g.scope);
      return { floodWait, next: this.acquireNow(leaseTtlMs, opts) };
    });
  }

  report(id: number, input: ReportInput): Promise<ReportOutcome> {
    return attempt(() => {
      const r = this.reportNow(id, input);
      const d = input.decision;
      const event: EventInput = { type: 'report', sessionId: id, error: input.error, action: r.action };
      if (r.scope !== null) event.scope = r.scope;
      if (r.until !== null) event.until = r.until;
      this.record(event, r.action === 'rest' && d.action === 'rest' ? restCount(id, d.scope ?? undefined, d.seconds * 1000) : undefined);
      return r;
    });
  }

  private reportNow(id: number, input: ReportInput): ReportOutcome {
    const d = input.decision;
    const s = this.sessions.get(id);
    if (!s) throw new SessionNotFoundError(id);
    if (input.leaseToken !== undefined && s.token !== input.leaseToken) throw new LeaseMismatchError(id);
    if (d.action === 'rest') {
      const r = this.restNow(id, d.seconds * 1000, undefined, d.scope ?? undefined);
      if (d.health === 'restricted' && r.state === 'floodwait' && s.mark === null) {
        this.restricted.add(id, Math.max(r.until, this.restricted.score(id) ?? 0));
      }
      s.lastError = { name: input.error, at: this.clock() };
      return reportedRest(r, d);
    }
    s.lastError = { name: input.error, at: this.clock() };
    if (d.action === 'invalidate') {
      this.invalidateNow(id, input.error);
      this.setMark(id, s, d.health);
      return { id, action: 'invalidate', scope: null, until: null, health: d.health };
    }
    return { id, action: 'none', scope: null, until: null, health: null };
  }

  floodWait(id: number, waitMs: number, leaseToken?: string, scope?: string): Promise<FloodWaitResult> {
    return attempt(() => this.restRecorded(id, waitMs, leaseToken, scope));
  }

  /** restNow with floodWaitSession's history: "rest" when it rests, "released" when a wait of 0 only ended its lease. */
  private restRecorded(id: number, waitMs: number, leaseToken: string | undefined, scope: string | undefined): FloodWaitResult {
    const wasLeased = this.leased.score(id) !== undefined;
    const r = this.restNow(id, waitMs, leaseToken, scope);
    if (r.state === 'floodwait') this.record({ type: 'rest', sessionId: id, scope, until: r.until }, restCount(id, scope, waitMs));
    else if (wasLeased && this.leased.score(id) === undefined) this.record({ type: 'released', sessionId: id });
    return r;
  }

  /** The rest itself (floodWaitSession). Throws SessionNotFoundError, LeaseMismatchError. */
  private restNow(id: number, waitMs: number, leaseToken: string | undefined, scope: string | undefined): FloodWaitResult {
    const now = this.clock();
    const s = this.sessions.get(id);
    if (!s) throw new SessionNotFoundError(id);
    if (leaseToken !== undefined && s.token !== leaseToken) throw new LeaseMismatchError(id);
    const base = { id, name: s.name, scope: scope ?? null };
    let until = now + waitMs;
    if (this.invalid.score(id) !== undefined) return { ...base, until, state: 'invalidated' };
    if (scope !== undefined) return this.scopedRest(id, s, scope, until, now);
    until = Math.max(until, this.flood.score(id) ?? 0);
    if (until <= now) {
      this.flood.remove(id);
      if (this.leased.remove(id) || (this.free.score(id) === undefined && this.rfree.score(id) === undefined)) {
        const where = this.place(id, now, now);
        this.announce(id, where);
        if (where !== 'free') return { ...base, until: now, state: where === 'invalidated' ? 'invalidated' : 'floodwait' };
      }
      return { ...base, until: now, state: 'free' };
    }
    this.free.remove(id);
    this.leased.remove(id);
    this.rfree.remove(id);
    this.rend.remove(id);
    this.flood.add(id, until);
    return { ...base, until, state: 'floodwait' };
  }

  /** A rest on one scope: recorded, then the session leaves `in_use` (as floodWaitSession's scoped branch). */
  private scopedRest(id: number, s: Session, scope: string, wanted: number, now: number): FloodWaitResult {
    for (const [sc, dl] of s.rests) {
      if (dl <= now) {
        s.rests.delete(sc);
        this.restsByScope.get(sc)?.remove(id);
      }
    }
    const until = Math.max(wanted, s.rests.get(scope) ?? 0);
    if (until > now) {
      s.rests.set(scope, until);
      let set = this.restsByScope.get(scope);
      if (!set) this.restsByScope.set(scope, (set = new ZSet()));
      set.add(id, until);
    }
    s.restEnd = Math.max(0, ...s.rests.values());
    const base = { id, name: s.name, scope, until };
    const flood = this.flood.score(id) ?? 0;
    const wasLeased = this.leased.remove(id);
    if (flood > now) return { ...base, state: 'floodwait' };
    let lru = wasLeased ? now : (this.free.score(id) ?? this.rfree.score(id) ?? now);
    if (flood > 0) lru = flood;
    this.flood.remove(id);
    this.free.remove(id);
    this.rfree.remove(id);
    this.rend.remove(id);
    const where = this.place(id, lru, now);
    if (wasLeased) this.announce(id, where);
    return { ...base, state: where === 'free' ? 'free' : where === 'invalidated' ? 'invalidated' : 'floodwait' };
  }

  invalidate(id: number, reason?: string, leaseToken?: string): Promise<void> {
    const s = this.sessions.get(id);
    if (s && leaseToken !== undefined && s.token !== leaseToken) return Promise.reject(new LeaseMismatchError(id));
    if (this.invalidateNow(id, reason)) this.record({ type: 'invalidated', sessionId: id, reason });
    return Promise.resolve();
  }

  /** True when invalidated now (false: unknown, or already invalidated). */
  private invalidateNow(id: number, reason?: string): boolean {
    const now = this.clock();
    const s = this.sessions.get(id);
    if (!s) return false;
    if (this.invalid.score(id) !== undefined) {
      if (reason) s.reason = reason;
      return false;
    }
    this.removeEverywhere(id);
    this.invalid.add(id, now);
    s.reason = reason || null;
    return true;
  }

  /** restoreSession: an ended lease not reclaimed yet stays where it is (and counts as free). */
  restore(id: number): Promise<RestoreResult> {
    const now = this.clock();
    const s = this.sessions.get(id);
    if (!s) return Promise.reject(new SessionNotFoundError(id));
    const done = (state: RestoreResult['state']): Promise<RestoreResult> => {
      this.record({ type: 'restored', sessionId: id });
      return Promise.resolve({ id, state });
    };
    // out of circulation (invalidated), its rests and health as they are; a gone one: below
    if (s.dup && !s.gone) return done('invalidated');
    this.clearRests(id, s);
    this.setMark(id, s, null);
    this.restricted.remove(id);
    this.rend.remove(id);
    const leased = (this.leased.score(id) ?? 0) > now;
    if (s.gone) {
      const wasResting = this.flood.remove(id) || this.rfree.remove(id);
      if (wasResting || this.invalid.score(id) !== undefined) {
        this.outIfGone(id, now);
        return done('invalidated');
      }
      return done(leased ? 'in_use' : 'invalidated');
    }
    if (this.invalid.remove(id) || this.flood.remove(id) || this.rfree.remove(id)) {
      this.free.add(id, now);
      s.reason = null;
      this.freed(id);
      return done('free');
    }
    return done(leased ? 'in_use' : 'free');
  }

  heartbeat(id: number, leaseToken: string, leaseTtlMs: number): Promise<number> {
    const now = this.clock();
    const s = this.sessions.get(id);
    if (!s) return Promise.reject(new SessionNotFoundError(id));
    if ((this.leased.score(id) ?? 0) <= now || s.token !== leaseToken) return Promise.reject(new LeaseMismatchError(id));
    const expires = now + leaseTtlMs;
    this.leased.add(id, expires);
    return Promise.resolve(expires);
  }

  /**
   * poolStatus: counts as of now, moving nothing. An ended lease or rest not
   * moved yet counts as free, or as invalidated when its file is gone (among
   * the first PROMOTE_BATCH ended ones per set, as the script looks).
   */
  status(): Promise<PoolStatus> {
    const now = this.clock();
    const inUse = this.leased.countAbove(now);
    const flooded = this.flood.countAbove(now);
    const rested = this.rend.countAbove(now);
    const goneEnded = (set: ZSet): number => set.due(now, PROMOTE_BATCH).filter(([, id]) => this.sessions.get(id)?.gone).length;
    const ended = goneEnded(this.leased) + goneEnded(this.flood);
    const invalidated = this.invalid.size + ended;
    const free = this.free.size + (this.leased.size - inUse) + (this.flood.size - flooded) + (this.rend.size - rested) - ended;
    const inFloodwait = flooded + rested + invalidated;
    const deadlines = [this.flood.firstAbove(now)?.[0], this.rend.firstAbove(now)?.[0]].filter((d): d is number => d !== undefined);
    // the scopes with a running rest, the MAX_STATUS_SCOPES whose latest rest ends first
    const running: Array<[scope: string, latest: number, n: number]> = [];
    for (const [scope, set] of this.restsByScope) {
      const latest = set.max()?.[0] ?? 0;
      if (latest > now) running.push([scope, latest, set.countAbove(now)]);
    }
    running.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const rests: Record<string, number> = {};
    for (const [scope, , n] of running.slice(0, MAX_STATUS_SCOPES)) rests[scope] = n;
    const total = free + inUse + inFloodwait;
    const m = this.marks;
    const restricted = this.restricted.countAbove(now);
    const marked = restricted + m.logged_out.size + m.banned.size + m.file_error.size;
    const health = {
      ok: Math.max(0, total - marked),
      restricted,
      logged_out: m.logged_out.size,
      banned: m.banned.size,
      file_error: m.file_error.size,
    };
    return Promise.resolve({
      health,
      total,
      free,
      inUse,
      inFloodwait,
      invalidated,
      nextAvailable: deadlines.length > 0 ? Math.min(...deadlines) : null,
      rests,
      now,
    });
  }

  /** listSessions: ids after the cursor in order, scanBudget(limit) of them at most; a cursor while ids were issued above. */
  list(query: ListQuery): Promise<ListPage> {
    const now = this.clock();
    const sessions: ListedSession[] = [];
    let id = query.cursor === undefined ? 0 : Number(query.cursor);
    for (let budget = scanBudget(query.limit); id < this.seq && sessions.length < query.limit && budget > 0; budget--) {
      const s = this.sessions.get(++id);
      if (!s) continue;
      const { state, deadline, reason } = this.stateAt(id, s, now);
      if (query.state !== undefined && query.state !== state) continue;
      const health = this.healthOf(id, s, now);
      if (query.health !== undefined && query.health !== health) continue;
      if (query.tag !== undefined && !(s.meta.tags ?? []).includes(query.tag)) continue;
      if (query.scope !== undefined && (s.rests.get(query.scope) ?? 0) <= now) continue;
      sessions.push({
        id,
        name: s.name,
        state,
        floodwaitUntil: state === 'floodwait' ? deadline : null,
        leaseExpiresAt: state === 'in_use' ? deadline : null,
        reason,
        rests: Object.fromEntries([...s.rests].filter(([, dl]) => dl > now)),
        health,
        lastError: s.lastError,
        counters: { ...s.counters, restsByScope: { ...s.counters.restsByScope } },
        fileMissing: s.gone,
        meta: s.meta,
      });
    }
    return Promise.resolve({ sessions, nextCursor: id < this.seq ? String(id) : null });
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
        this.sessions.set(existing, {
          name: u.name,
          meta: u.meta,
          token: null,
          reason: null,
          sig: null,
          rests: new Map(),
          restEnd: 0,
          mark: null,
          lastError: null,
          counters: { issued: 0, rests: 0, restedSeconds: 0, restsByScope: {} },
          gone: false,
          fp: null,
          dup: false,
        });
      }
      const s = this.mustGet(existing);
      // (a duplicate's stored DUP_SIG is no file signature: re-reading it is no change)
      if (u.sig !== undefined && s.sig !== null && s.sig !== DUP_SIG && u.sig !== s.sig) this.record({ type: 'file_changed', sessionId: existing, name: u.name });
      let error = u.fileError ?? '';
      const holder = u.keyFingerprint ? this.claimKey(existing, s, u.keyFingerprint, now) : null;
      if (holder !== null) error = `${error ? `${error}; ` : ''}same auth key as ${holder}`;
      // a new login replaced the file (another auth key): logged_out ends by itself, unless broken or a duplicate
      const relogged = !isNew && !error && s.mark === 'logged_out' && u.meta.authKeyId !== undefined && u.meta.authKeyId !== s.meta.authKeyId;
      s.meta = u.meta;
      s.sig = holder !== null ? DUP_SIG : (u.sig ?? null); // DUP_SIG: re-read at every sync, to take over once the holder is removed
      s.gone = false; // the file is back (if it was gone): the session simply continues
      if (isNew) {
        if (error) this.fileError(existing, error, now);
        else this.free.add(existing, existing);
        added++;
        continue;
      }
      if (relogged) {
        this.setMark(existing, s, null);
        if (this.invalid.remove(existing)) {
          s.reason = null;
          this.place(existing, now, now);
        }
      } else if (error) this.fileError(existing, error, now);
      else if (s.reason?.startsWith('file_error:')) {
        // Repaired: back into circulation (a leased or resting one simply continues).
        s.reason = null;
        if (s.mark === 'file_error') this.setMark(existing, s, null);
        if (this.invalid.remove(existing)) this.place(existing, now, now);
      }
      updated++;
    }
    for (const name of batch.removes) {
      const id = this.ids.get(name);
      if (id === undefined) continue;
      if (this.keepGone(id, this.mustGet(id), now)) continue;
      const fp = this.mustGet(id).fp;
      // Its auth key is free again: a duplicate of it takes over at its next upsert.
      if (fp && this.fingerprints.get(fp) === id) this.fingerprints.delete(fp);
      this.removeEverywhere(id);
      this.clearRests(id, this.mustGet(id));
      this.setMark(id, this.mustGet(id), null);
      this.restricted.remove(id);
      this.sessions.delete(id);
      this.record({ type: 'removed', sessionId: id, name });
      this.ids.delete(name);
      removed++;
    }
    if (added > 0) this.freed('sync');
    return Promise.resolve({ added, removed, updated });
  }

  /** Leased (expired or not) or in a running rest, account-wide or on a scope. */
  private heldOrResting(id: number, now: number): boolean {
    return this.leased.score(id) !== undefined || (this.flood.score(id) ?? 0) > now || (this.rend.score(id) ?? 0) > now;
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
  /**
   * A file missing or broken never ends a lease or a rest: a leased or resting
   * session (account-wide or on a scope) keeps id, token and deadlines and is
   * marked gone, never issued again while gone; one free for other scopes waits
   * out its last scoped rest in `flood`. False when it is neither (the caller
   * removes or invalidates it).
   */
  private keepGone(id: number, s: Session, now: number): boolean {
    if (!this.heldOrResting(id, now)) return false;
    const restEnd = this.rend.score(id) ?? 0;
    s.gone = true;
    s.sig = GONE_SIG; // re-sent by sync when the file returns
    if (restEnd > now) {
      this.rfree.remove(id);
      this.rend.remove(id);
      this.flood.add(id, restEnd);
    }
    return true;
  }

  private fileError(id: number, error: string, now: number): void {
    const s = this.mustGet(id);
    s.reason = `file_error: ${error}`;
    if (s.mark !== 'logged_out' && s.mark !== 'banned') this.setMark(id, s, 'file_error');
    if (this.keepGone(id, s, now)) return;
    if (this.invalid.score(id) === undefined) {
      this.removeEverywhere(id);
      this.invalid.add(id, now);
    }
  }

  /** acquireSession in reap mode: `limit` per set; one "reap" announcement when anything moved (a rest too). */
  reap(limit: number): Promise<number> {
    const { reclaimed, unflooded } = this.promote(this.clock(), limit);
    if (reclaimed + unflooded > 0) this.freed('reap');
    return Promise.resolve(reclaimed);
  }

  ping(): Promise<boolean> {
    return Promise.resolve(true);
  }

  close(): Promise<void> {
    this.events.removeAllListeners();
    return Promise.resolve();
  }
}
