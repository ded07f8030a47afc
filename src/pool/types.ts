/**
 * The pool's store interface: every state rule of spec §2 lives behind it, in
 * exactly one place per implementation (lua/ for Redis, memory.ts for the
 * embedded store). Routes call one method and shape the answer.
 */
import type { Decision, Health } from '../telegram/errors';

import type { SessionKey } from '../sessionfiles/convert';

export type SessionState = 'free' | 'in_use' | 'floodwait' | 'invalidated';
export const SESSION_STATES: readonly SessionState[] = ['free', 'in_use', 'floodwait', 'invalidated'];

/** A proxy as given to workers (normalised; `password` present only in /session answers). */
export interface Proxy {
  type: string; // socks5 | socks4 | http | mtproto ...
  host: string;
  port: number;
  username?: string | null;
  password?: string | null;
  rdns?: boolean;
}

/**
 * What the pool knows about a session beyond its name. Stored as one JSON value
 * per session; produced by sync (file name only in core; the session-files
 * reader fills the rest). Secrets (sessionString) are never listed.
 */
export interface SessionMeta {
  proxy?: Proxy | null;
  format?: 'telethon' | 'pyrogram';
  dcId?: number;
  userId?: number;
  /** Sidecar JSON fields with secrets removed. */
  account?: Record<string, unknown>;
  /** StringSession / Pyrogram string; returned only when exposure is enabled. */
  sessionString?: string;
  /**
   * Telegram's auth_key_id of the file's auth key (hex of the low 64 bits of
   * its SHA-1; sent in clear in every MTProto message, not a secret): a
   * different one at sync means a new login, which ends `logged_out`.
   */
  authKeyId?: string;
  /** Sidecar `"tags"`, lowercased and sorted: GET /session?tag= issues only sessions carrying every asked tag. */
  tags?: string[];
  /** What the strings of other formats are made from (GET /session?format=); stored with sessionString. */
  sessionKey?: SessionKey;
}

export interface LeasedSession {
  id: number;
  name: string;
  leaseToken: string;
  /** Lease expiry, ms since epoch (store clock). */
  leaseExpiresAt: number;
  meta: SessionMeta;
}

/** What one acquire asks for (all optional: the original unscoped acquire). */
export interface AcquireOptions {
  /**
   * Lowercased scopes (Telegram methods) the worker will call: only sessions
   * resting on none of them (and on no account-wide rest) are issued. Absent
   * or empty: only sessions with no running rest at all.
   */
  scopes?: readonly string[];
  /** Lowercased tags: only sessions carrying every one of them are issued. */
  tags?: readonly string[];
}

export type AcquireResult =
  | { ok: true; session: LeasedSession }
  | {
      ok: false;
      /**
       * Set when nothing is issued because the store lost data (Redis
       * restarted empty, FLUSHALL, failover to a stale replica) and holds
       * issuing for the recovery grace: ms until it ends. Then inFloodwait and
       * inUse are 0 and nextReleaseInMs equals it, so waiting code needs no
       * special case. Redis only: the memory store's data dies with its process.
       */
      recoveryEndsInMs?: number;
      inFloodwait: number;
      /** ms until the earliest rest that keeps a session from this request ends; null when none. */
      nextReleaseInMs: number | null;
      /** sessions currently leased (lets clients tell "wait" from "never"). */
      inUse: number;
    };

export interface PoolStatus {
  total: number;
  free: number;
  inUse: number;
  /** floodwait (account-wide or scoped only) + invalidated, as the original counted them. */
  inFloodwait: number;
  invalidated: number;
  /** Earliest moment a resting session becomes free for an unscoped client (ms), null when none. */
  nextAvailable: number | null;
  /** Sessions with a running rest, per scope. */
  rests: Record<string, number>;
  /** Sessions per health (ok = the rest). */
  health: Record<Health, number>;
  /** Store clock at the time of the reading (ms). */
  now: number;
  /** Set while issuing is held after a detected data loss: ms until it ends. */
  recoveryEndsInMs?: number;
}

export interface FloodWaitResult {
  id: number;
  name: string;
  /** The deadline that now applies (ms). */
  until: number;
  state: SessionState;
  /** The scope rested, null for an account-wide rest. */
  scope: string | null;
}

/** How a worker gives its session back before taking the next one (POST /release or /floodwait with next=true). */
export type GiveBack =
  | { kind: 'release'; id: number; leaseToken?: string }
  | { kind: 'floodwait'; id: number; waitMs: number; leaseToken?: string; scope?: string };

export interface GiveBackAndAcquireResult {
  /** The flood wait's own result when the give-back was one. */
  floodWait?: FloodWaitResult;
  /** The next session, or why none: exactly acquire()'s answer. */
  next: AcquireResult;
}

export interface RestoreResult {
  id: number;
  state: SessionState;
}

/** One entry of a sync batch: a session file that exists. */
export interface SyncUpsert {
  name: string;
  meta: SessionMeta;
  /** Change signature of the file (size:mtime) so an unchanged file is not re-read. */
  sig?: string;
  /** Set when the file is unusable: the session is kept out of circulation. */
  fileError?: string;
  /**
   * Fingerprint of the file's auth key (authKeyFingerprint). A session whose
   * key another session holds is a duplicate: never issued (see lua/applySync).
   * Absent (name-only sync, unreadable file): the stored claim is left as it is.
   */
  keyFingerprint?: string;
}

export interface SyncBatch {
  upserts: SyncUpsert[];
  removes: string[];
}

export interface SyncApplyResult {
  added: number;
  removed: number;
  updated: number;
}

export interface ListQuery {
  state?: SessionState;
  health?: Health;
  /** Only sessions carrying this tag. */
  tag?: string;
  /** Only sessions with a running rest on this scope. */
  scope?: string;
  cursor?: string;
  limit: number;
}

export interface ListedSession {
  id: number;
  name: string;
  state: SessionState;
  /** Flood deadline (ms) when in floodwait. */
  floodwaitUntil: number | null;
  /** Lease expiry (ms) when in use. */
  leaseExpiresAt: number | null;
  reason: string | null;
  /** Running scoped rests: scope → deadline (ms). */
  rests: Record<string, number>;
  health: Health;
  counters: SessionCounters;
  /** The last error reported for it (POST /report) and when (ms). */
  lastError: { name: string; at: number } | null;
  /**
   * The file was missing at the last sync while the session was leased or
   * resting: it is no longer issued, and leaves at the next sync after its
   * lease or rest ends (unless the file returns first).
   */
  fileMissing: boolean;
  meta: SessionMeta;
}

/** Cheap per-session counters. */
export interface SessionCounters {
  issued: number;
  rests: number;
  restedSeconds: number;
  /** Rests per scope ("*": account-wide). */
  restsByScope: Record<string, number>;
}

export const EVENT_TYPES = ['issued', 'released', 'rest', 'report', 'invalidated', 'restored', 'file_changed', 'removed'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** What happened, as written to the capped event stream (all values strings there). */
export interface EventInput {
  type: EventType;
  sessionId: number;
  scope?: string;
  until?: number;
  error?: string;
  action?: string;
  reason?: string;
  name?: string;
}

export interface PoolEvent extends EventInput {
  /** Stream id "<ms>-<seq>": a cursor, ordered in time. */
  id: string;
  /** When (ms, store clock). */
  at: number;
}

export interface EventQuery {
  sessionId?: number;
  /** Events older than this id (the previous page's nextCursor). */
  cursor?: string;
  limit: number;
}

export interface EventPage {
  /** Newest first. */
  events: PoolEvent[];
  nextCursor: string | null;
}

/** POST /report after the table (src/telegram/errors.ts) decided. */
export interface ReportInput {
  /** The Telegram error name, as reported. */
  error: string;
  decision: Decision;
  leaseToken?: string;
}

export interface ReportOutcome {
  id: number;
  action: Decision['action'];
  /** The scope rested (null: account-wide or no rest). */
  scope: string | null;
  /** The deadline that now applies to that rest (ms), null when no rest. */
  until: number | null;
  health: Health | null;
}

export interface ListPage {
  sessions: ListedSession[];
  nextCursor: string | null;
}

export interface PoolStore {
  readonly kind: 'redis' | 'memory';
  /** Issue the least recently used free session eligible for `opts`, leased for ttlMs. */
  acquire(leaseTtlMs: number, opts?: AcquireOptions): Promise<AcquireResult>;
  /** Idempotent. Throws LeaseMismatchError when a token is given and is not the session's lease. */
  release(id: number, leaseToken?: string): Promise<void>;
  /**
   * release() or floodWait() and then acquire(opts), atomically (one script on
   * Redis): a worker's loop in one round trip. When the give-back throws
   * (LeaseMismatchError, SessionNotFoundError) nothing is issued.
   */
  giveBackAndAcquire(giveBack: GiveBack, leaseTtlMs: number, opts?: AcquireOptions): Promise<GiveBackAndAcquireResult>;
  /** Account-wide rest, or on `scope` (lowercased) only. Throws SessionNotFoundError, LeaseMismatchError. */
  floodWait(id: number, waitMs: number, leaseToken?: string, scope?: string): Promise<FloodWaitResult>;
  /**
   * Idempotent; unknown ids are ignored. Throws LeaseMismatchError when a
   * token is given and is not the session's lease (current or last).
   */
  invalidate(id: number, reason?: string, leaseToken?: string): Promise<void>;
  /**
   * Apply what the table decided for a reported Telegram error (rest,
   * invalidate with a health, or nothing) and record it as the session's last
   * error, in one step. Throws SessionNotFoundError, LeaseMismatchError.
   */
  report(id: number, input: ReportInput): Promise<ReportOutcome>;
  /** Throws SessionNotFoundError. */
  restore(id: number): Promise<RestoreResult>;
  /** Throws SessionNotFoundError, LeaseMismatchError. Returns the new expiry (ms). */
  heartbeat(id: number, leaseToken: string, leaseTtlMs: number): Promise<number>;
  status(): Promise<PoolStatus>;
  list(query: ListQuery): Promise<ListPage>;
  /** All registered names with their file signatures, in bounded batches. */
  scanNames(): AsyncIterable<Array<[name: string, sig: string | null]>>;
  /** Apply one batch of a sync. With a fence, rejected (StaleFenceError) unless it is the current one. */
  applySync(batch: SyncBatch, fence?: number): Promise<SyncApplyResult>;
  /** Return expired leases and due flood waits to `free` (bounded per call); returns how many were reclaimed leases. */
  reap(limit: number): Promise<number>;
  /** Recent events from the capped stream, newest first; filtered by session (bounded work per call). */
  history(query: EventQuery): Promise<EventPage>;
  /** True when the store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
