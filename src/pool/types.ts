/**
 * The pool's store interface: every state rule of spec §2 lives behind it, in
 * exactly one place per implementation (lua/ for Redis, memory.ts for the
 * embedded store). Routes call one method and shape the answer.
 */

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
      /** ms until the earliest timed flood wait ends; null when none. */
      nextReleaseInMs: number | null;
      /** sessions currently leased (lets clients tell "wait" from "never"). */
      inUse: number;
    };

export interface PoolStatus {
  total: number;
  free: number;
  inUse: number;
  /** floodwait + invalidated, as the original counted them. */
  inFloodwait: number;
  invalidated: number;
  /** Earliest timed flood deadline (ms), null when none. */
  nextAvailable: number | null;
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
  /**
   * The file was missing at the last sync while the session was leased or
   * resting: it is no longer issued, and leaves at the next sync after its
   * lease or rest ends (unless the file returns first).
   */
  fileMissing: boolean;
  meta: SessionMeta;
}

export interface ListPage {
  sessions: ListedSession[];
  nextCursor: string | null;
}

export interface PoolStore {
  readonly kind: 'redis' | 'memory';
  /** Issue the least recently used free session, leased for ttlMs. */
  acquire(leaseTtlMs: number): Promise<AcquireResult>;
  /** Idempotent. Throws LeaseMismatchError when a token is given and is not the session's lease. */
  release(id: number, leaseToken?: string): Promise<void>;
  /** Throws SessionNotFoundError, LeaseMismatchError. */
  floodWait(id: number, waitMs: number, leaseToken?: string): Promise<FloodWaitResult>;
  /**
   * Idempotent; unknown ids are ignored. Throws LeaseMismatchError when a
   * token is given and is not the session's lease (current or last).
   */
  invalidate(id: number, reason?: string, leaseToken?: string): Promise<void>;
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
  /** True when the store answers. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}
