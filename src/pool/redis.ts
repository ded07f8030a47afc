/**
 * RedisStore: every state change is one Lua script (lua/), so any number of
 * replicas can share the pool without ever issuing one session twice.
 */
import { randomBytes } from 'node:crypto';
import Redis, { type RedisOptions } from 'ioredis';
import {
  CODE_STALE_FENCE,
  PoolError,
  ReplicationTimeoutError,
  StoreMisconfiguredError,
  StoreRefusedError,
  StoreReplyError,
  StoreUnavailableError,
  codeToError,
  storeErrorSummary,
} from '../errors';
import type { Logger } from '../log';
import { redisOptions } from './connect';
import { SESSION_BUCKET, makeKeys, type Keys } from './keys';
import { parseMeta } from './meta';
import { NO_WAIT, writeAndWait, type ReplicaWait, type Send, type WriteResult } from './replication';
import { defineScripts, type RedisClient } from './scripts';
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
import { SESSION_STATES } from './types';

/** Due flood waits / expired leases moved back to `free` per set per acquire. */
export const PROMOTE_BATCH = 100;

/**
 * Life of an acquire's token key (`{p}:tok:<token>`). The compensation for a
 * lost answer is sent right behind the acquire on a live connection; after a
 * dropped connection it goes out at the next 'ready', so the key must outlive
 * a typical reconnect. One small key per acquire for this long.
 */
export const ACQUIRE_TOKEN_TTL_MS = 15_000;

/** Compensations kept while the connection is down; beyond this the oldest are dropped (their leases expire by TTL). */
export const MAX_PENDING_CANCELS = 10_000;

/** While the store is misconfigured, re-read its eviction policy at most this often (on requests and readiness probes). */
export const POLICY_RECHECK_MS = 1000;
/** While it is fine, readiness probes re-read it this often, so a policy changed at run time is noticed without a reconnect. */
export const POLICY_HEALTHY_RECHECK_MS = 60_000;

/** What a replica must set when Redis may evict pool keys; null when the policy is safe. */
export function evictionProblem(policy: string): string | null {
  if (!policy.startsWith('allkeys-')) return null;
  return `Redis maxmemory-policy is ${policy}: it can evict pool keys and hand a held session to a second worker; set maxmemory-policy to noeviction (or a volatile-* policy)`;
}

export function createRedis(url: string, extra: RedisOptions = {}): Redis {
  const client = new Redis(url, redisOptions(extra));
  defineScripts(client);
  return client;
}

/** Redis replies that mean "not now" rather than "bug". */
const TRANSIENT_REPLY = /^(LOADING|BUSY|MASTERDOWN|READONLY|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|MISCONF)\b/;

/**
 * A client error as a pool error, without the command's arguments (ioredis
 * attaches them; see storeErrorSummary): transient → StoreUnavailableError,
 * OOM → StoreRefusedError, any other reply error → StoreReplyError (a bug).
 */
export function mapError(err: unknown): Error {
  if (err instanceof PoolError) return err;
  if (err instanceof Error && err.name === 'ReplyError' && !TRANSIENT_REPLY.test(err.message)) {
    const { message } = storeErrorSummary(err);
    return /^OOM\b/.test(message) ? new StoreRefusedError(message) : new StoreReplyError(message);
  }
  return new StoreUnavailableError(err);
}

/** QUIT waits at most this long for the server before the connection is dropped. */
export const QUIT_TIMEOUT_MS = 1000;

/**
 * Close a connection without waiting on a dead server: a connection that is
 * not ready is dropped at once (QUIT would sit in the offline queue until a
 * reconnect that may never come), a ready one gets QUIT_TIMEOUT_MS to say
 * goodbye.
 */
export async function closeRedis(client: RedisClient): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, QUIT_TIMEOUT_MS);
  });
  try {
    await Promise.race([client.quit().then(() => undefined), late]);
  } catch {
    // dropped below
  } finally {
    clearTimeout(timer);
  }
  client.disconnect();
}

/** ioredis's rejections for a command it never wrote (connection down, no offline queue) and for one it wrote but got no answer to. */
const NOT_SENT = "Stream isn't writeable and enableOfflineQueue options is false";
const TIMED_OUT = 'Command timed out';

/**
 * True when a failed command may still run in Redis: it timed out or its
 * connection dropped after it was written. A reply (even BUSY/LOADING) means
 * Redis dealt with it; a command never written cannot run.
 */
function mayHaveRun(err: unknown): boolean {
  if (!(err instanceof StoreUnavailableError)) return false;
  const cause = err.cause;
  return !(cause instanceof Error && (cause.name === 'ReplyError' || cause.message === NOT_SENT));
}

function fail(what: string, reply: unknown): never {
  throw new StoreReplyError(`${what}: unexpected reply ${JSON.stringify(reply)?.slice(0, 200)}`);
}

function int(v: unknown, what: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : NaN;
  if (!Number.isFinite(n)) fail(what, v);
  return n;
}

function str(v: unknown, what: string): string {
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return fail(what, v);
}

function arr(v: unknown, what: string, min = 0): unknown[] {
  if (!Array.isArray(v) || v.length < min) fail(what, v);
  return v as unknown[];
}

function isState(v: string): v is SessionState {
  return (SESSION_STATES as readonly string[]).includes(v);
}

/** A session's data field is "<name>\t<meta JSON>" (see keys.ts). */
function unpackSession(data: string): { name: string; meta: SessionMeta } {
  const tab = data.indexOf('\t');
  return tab < 0 ? { name: data, meta: {} } : { name: data.slice(0, tab), meta: parseMeta(data.slice(tab + 1)) };
}

/** `{prefix}:epoch` as acquireSession reads it; any other value counts as no epoch. */
const EPOCH_VALUE = /^([^:]+):(\d+)$/;

export function newLeaseToken(): string {
  return randomBytes(18).toString('base64url');
}

export interface RedisStoreOptions {
  /** Hold issuing this long after a detected data loss (ms); 0 = detect but do not hold. */
  recoveryGraceMs?: number;
  /** Where the eviction-policy verdict is logged (once per change). */
  logger?: Logger;
  /** TELEGATE_REDIS_WAIT_REPLICAS / _TIMEOUT_MS: replicas that must hold a change before it is answered. */
  wait?: ReplicaWait;
}

export class RedisStore implements PoolStore {
  readonly kind = 'redis' as const;
  readonly keys: Keys;
  private readonly recoveryGraceMs: number;
  private readonly logger: Logger | undefined;
  /** Replicas that must hold a change before it is answered (replication.ts). */
  readonly wait: ReplicaWait;
  /** The last WAIT came back short; `probing`: one write is finding out whether they are back. */
  private replicasMissing = false;
  private probing = false;
  /** The pool epoch this replica last saw, with the highest issue counter seen (see acquireSession-7.lua). */
  private epoch: { id: string; counter: number } | undefined;
  /** Tokens of acquires whose compensation could not be queued (connection down): sent on 'ready'. */
  private readonly pendingCancels: string[] = [];
  /** Set while Redis's eviction policy makes the store unsafe: what to set. */
  private misconfigured: string | null = null;
  private policyCheckedAt = 0;
  /** The check at connect: store calls wait for it, so none slips through before the policy is known. */
  private policyKnown: Promise<unknown> = Promise.resolve();
  private readonly onReady = (): void => {
    for (const token of this.pendingCancels.splice(0)) this.cancelAcquire(token);
    void this.learnEpochAtConnect().catch(() => undefined);
    this.policyKnown = this.checkEvictionPolicy().catch(() => undefined);
  };

  constructor(
    readonly redis: RedisClient,
    prefix: string,
    opts: RedisStoreOptions = {},
  ) {
    this.keys = makeKeys(prefix);
    this.recoveryGraceMs = opts.recoveryGraceMs ?? 0;
    this.logger = opts.logger;
    this.wait = opts.wait ?? NO_WAIT;
    redis.on('ready', this.onReady);
    if (redis.status === 'ready') this.onReady();
  }

  /** Commands that need the store to be safe to use (everything the routes call). */
  private async run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      if (this.policyCheckedAt === 0) await this.policyKnown; // only until the first check answered
      if (this.misconfigured !== null) await this.ensureConfigured();
      return await fn();
    } catch (err) {
      throw mapError(err);
    }
  }

  /** One state-changing script, then WAIT for the configured replicas (replication.ts); `acked` short → caller decides. */
  private async write(send: Send): Promise<WriteResult & { durable: boolean }> {
    // WAIT blocks its connection: while replicas are missing, every queued write would wait its
    // full timeout behind the previous one (seconds, then command timeouts and lost answers).
    // So then only one write at a time probes; the others are refused before anything runs.
    if (this.replicasMissing && this.probing) throw new ReplicationTimeoutError(this.wait.replicas, 0);
    const probe = this.replicasMissing;
    if (probe) this.probing = true;
    try {
      const { reply, acked } = await this.run(() => writeAndWait(this.redis, this.wait, send));
      this.replicasMissing = acked < this.wait.replicas;
      return { reply, acked, durable: !this.replicasMissing };
    } finally {
      if (probe) this.probing = false;
    }
  }

  /** The reply of a state change that must be on enough replicas before it is answered. */
  private async durableWrite(send: Send): Promise<unknown> {
    const { reply, acked, durable } = await this.write(send);
    if (!durable) throw new ReplicationTimeoutError(this.wait.replicas, acked);
    return reply;
  }

  /** Throws StoreMisconfiguredError while the eviction policy is unsafe (re-read at most every POLICY_RECHECK_MS, or `healthyEveryMs` while fine). */
  private async ensureConfigured(healthyEveryMs = Infinity): Promise<void> {
    const every = this.misconfigured !== null ? POLICY_RECHECK_MS : healthyEveryMs;
    if (Date.now() - this.policyCheckedAt >= every) await this.checkEvictionPolicy().catch(() => undefined);
    if (this.misconfigured !== null) throw new StoreMisconfiguredError(this.misconfigured);
  }

  /**
   * Read maxmemory_policy from INFO memory (managed Redis often forbids
   * CONFIG). An allkeys-* policy may evict pool keys (they carry no TTL, so
   * noeviction and volatile-* never touch them): the store refuses to work.
   */
  async checkEvictionPolicy(): Promise<string | null> {
    const info = str(await this.redis.info('memory'), 'INFO memory');
    const policy = /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? 'unknown';
    const problem = evictionProblem(policy);
    this.policyCheckedAt = Date.now();
    if (problem !== null && this.misconfigured === null) this.logger?.error({ maxmemory_policy: policy }, problem);
    if (problem === null && this.misconfigured !== null) this.logger?.info({ maxmemory_policy: policy }, 'Redis eviction policy is safe now');
    this.misconfigured = problem;
    return problem;
  }

  /** A replica that has seen no epoch yet adopts the current one, so a loss right after its start is still noticed. */
  private async learnEpochAtConnect(): Promise<void> {
    if (this.epoch !== undefined) return; // a known epoch is only ever compared, inside the scripts
    const m = EPOCH_VALUE.exec((await this.redis.get(this.keys.epoch)) ?? '');
    if (m && this.epoch === undefined) this.noteEpoch(m[1], m[2]);
  }

  private noteEpoch(id: unknown, counter: unknown): void {
    const e = { id: str(id, 'epoch id'), counter: int(counter, 'epoch counter') };
    if (this.epoch?.id !== e.id || e.counter > this.epoch.counter) this.epoch = e;
  }

  /** The epoch arguments of acquireSession (ARGV[8..12]). */
  private epochArgs(): Array<string | number> {
    return [this.epoch?.id ?? '', this.epoch?.counter ?? 0, this.recoveryGraceMs, randomBytes(8).toString('hex'), ACQUIRE_TOKEN_TTL_MS];
  }

  /** Check an acquireSession reply's shape for its kind and learn the epoch from its last two items. */
  private acquireReply(raw: unknown, what: string): unknown[] {
    const r = arr(raw, what, 4);
    const length: Record<number, number> = { 0: 7, 1: 6, 2: 5, 3: 4 };
    if (typeof r[0] !== 'number' || r.length !== length[r[0]]) fail(what, raw);
    this.noteEpoch(r[r.length - 2], r[r.length - 1]);
    return r;
  }

  /**
   * Undo the acquire made with `token`, if it ran: sent on the same
   * connection, so Redis runs it after that acquire. A timeout means it was
   * written (it will run); a connection that cannot take it now keeps it
   * for the next 'ready'.
   */
  private cancelAcquire(token: string): void {
    const k = this.keys;
    this.redis.cancelAcquire(k.free, k.leased, k.acquireToken(token), token, k.freedChannel, k.sessionPrefix, SESSION_BUCKET).then(
      (id) => {
        if (typeof id === 'number' && id > 0) this.logger?.warn({ session_id: id }, 'lease of an unanswered acquire cancelled');
      },
      (err: unknown) => {
        if (err instanceof Error && err.message === TIMED_OUT) return; // written: Redis runs it after the acquire
        if (this.pendingCancels.length >= MAX_PENDING_CANCELS) this.pendingCancels.shift();
        this.pendingCancels.push(token);
      },
    );
  }

  /** Compensations waiting for the connection (tests, metrics). */
  get pendingCancelCount(): number {
    return this.pendingCancels.length;
  }

  async acquire(leaseTtlMs: number): Promise<AcquireResult> {
    const k = this.keys;
    const token = newLeaseToken();
    let written: WriteResult & { durable: boolean };
    try {
      written = await this.write((c) =>
        c.acquireSession(
          k.free, k.leased, k.flood, k.invalid, k.epoch, k.recovering, k.acquireToken(token),
          leaseTtlMs, token, k.sessionPrefix, PROMOTE_BATCH, 0, k.freedChannel, SESSION_BUCKET, ...this.epochArgs(),
        ),
      );
    } catch (err) {
      // The answer is lost but the script may still run (a stalled Redis, a dropped connection): never leave that lease to nobody.
      if (mayHaveRun(err)) this.cancelAcquire(token);
      throw err;
    }
    const reply = this.acquireReply(written.reply, 'acquireSession');
    if (reply[0] === 3) {
      const left = int(reply[1], 'acquire grace');
      return { ok: false, recoveryEndsInMs: left, inFloodwait: 0, nextReleaseInMs: left, inUse: 0 };
    }
    if (reply[0] === 1) {
      if (!written.durable) {
        // Not on enough replicas: a failover now could lose this lease and issue the session again. Nobody gets it.
        this.cancelAcquire(token);
        throw new ReplicationTimeoutError(this.wait.replicas, written.acked);
      }
      const { name, meta } = unpackSession(str(reply[2], 'acquire data'));
      return {
        ok: true,
        session: { id: int(reply[1], 'acquire id'), name, leaseToken: token, leaseExpiresAt: int(reply[3], 'acquire expiry'), meta },
      };
    }
    if (reply[0] === 0) {
      const next = int(reply[2], 'acquire next');
      const now = int(reply[4], 'acquire now');
      return {
        ok: false,
        inFloodwait: int(reply[1], 'acquire floods'),
        nextReleaseInMs: next < 0 ? null : Math.max(0, next - now),
        inUse: int(reply[3], 'acquire inUse'),
      };
    }
    return fail('acquireSession', reply);
  }

  async release(id: number, leaseToken?: string): Promise<void> {
    const k = this.keys;
    const code = int(
      await this.durableWrite((c) => c.releaseSession(k.free, k.leased, k.session(id), k.invalid, id, leaseToken ?? '', k.freedChannel)),
      'releaseSession',
    );
    if (code < 0) throw codeToError(code, id);
  }

  async floodWait(id: number, waitMs: number, leaseToken?: string): Promise<FloodWaitResult> {
    const k = this.keys;
    const reply = await this.durableWrite((c) =>
      c.floodWaitSession(k.free, k.leased, k.flood, k.invalid, k.session(id), id, waitMs, leaseToken ?? '', k.freedChannel),
    );
    if (typeof reply === 'number') throw codeToError(reply, id);
    const r = arr(reply, 'floodWaitSession', 4);
    const state = str(r[2], 'floodwait state');
    if (!isState(state)) fail('floodWaitSession', reply);
    return { id, until: int(r[1], 'floodwait until'), state, name: str(r[3], 'floodwait name') };
  }

  async invalidate(id: number, reason?: string, leaseToken?: string): Promise<void> {
    const k = this.keys;
    const code = int(
      await this.durableWrite((c) => c.invalidateSession(k.free, k.leased, k.flood, k.invalid, k.session(id), id, reason ?? '', leaseToken ?? '')),
      'invalidateSession',
    );
    if (code < 0) throw codeToError(code, id);
  }

  async restore(id: number): Promise<RestoreResult> {
    const k = this.keys;
    const reply = await this.durableWrite((c) => c.restoreSession(k.free, k.leased, k.flood, k.invalid, k.session(id), id, k.freedChannel));
    if (typeof reply === 'number') throw codeToError(reply, id);
    const state = str(reply, 'restoreSession');
    if (!isState(state)) fail('restoreSession', reply);
    return { id, state };
  }

  async heartbeat(id: number, leaseToken: string, leaseTtlMs: number): Promise<number> {
    const k = this.keys;
    const reply = int(await this.durableWrite((c) => c.heartbeatSession(k.leased, k.session(id), id, leaseToken, leaseTtlMs)), 'heartbeatSession');
    if (reply < 0) throw codeToError(reply, id);
    return reply;
  }

  async status(): Promise<PoolStatus> {
    const k = this.keys;
    const [raw, grace] = (await this.run(() => Promise.all([this.redis.poolStatus(k.free, k.leased, k.flood, k.invalid, k.sessionPrefix, SESSION_BUCKET, PROMOTE_BATCH), this.redis.pttl(k.recovering)]))) as [
      unknown,
      unknown,
    ];
    const r = arr(raw, 'poolStatus', 6);
    const [free, inUse, inFloodwait, invalidated, next, now] = r.map((v) => int(v, 'poolStatus')) as [number, number, number, number, number, number];
    const graceMs = int(grace, 'recovering pttl');
    return {
      total: free + inUse + inFloodwait,
      free,
      inUse,
      inFloodwait,
      invalidated,
      nextAvailable: next < 0 ? null : next,
      now,
      ...(graceMs > 0 ? { recoveryEndsInMs: graceMs } : {}),
    };
  }

  async list(query: ListQuery): Promise<ListPage> {
    const k = this.keys;
    const after = query.cursor === undefined ? 0 : Number(query.cursor);
    const budget = Math.min(Math.max(query.limit * 10, 1000), 20_000);
    const r = arr(
      await this.run(() =>
        this.redis.listSessions(k.free, k.leased, k.flood, k.invalid, k.seq, k.sessionPrefix, after, query.limit, query.state ?? '', budget, SESSION_BUCKET),
      ),
      'listSessions',
      2,
    );
    const next = int(r[0], 'list cursor');
    const sessions: ListedSession[] = [];
    for (let i = 2; i + 5 < r.length; i += 6) {
      const state = str(r[i + 2], 'list state');
      if (!isState(state)) fail('listSessions', state);
      const deadline = int(r[i + 3], 'list deadline');
      const reason = str(r[i + 4], 'list reason');
      sessions.push({
        id: int(r[i], 'list id'),
        ...unpackSession(str(r[i + 1], 'list data')),
        state,
        floodwaitUntil: state === 'floodwait' ? deadline : null,
        leaseExpiresAt: state === 'in_use' ? deadline : null,
        reason: reason === '' ? null : reason,
        fileMissing: int(r[i + 5], 'list gone') === 1,
      });
    }
    return { sessions, nextCursor: next < 0 ? null : String(next) };
  }

  async *scanNames(): AsyncIterable<Array<[string, string | null]>> {
    let cursor = '0';
    do {
      const reply = arr(await this.run(() => this.redis.hscan(this.keys.ids, cursor, 'COUNT', 1000)), 'hscan', 2);
      cursor = str(reply[0], 'hscan cursor');
      const flat = arr(reply[1], 'hscan page');
      const page: Array<[string, string | null]> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const value = str(flat[i + 1], 'ids value');
        const colon = value.indexOf(':');
        page.push([str(flat[i], 'ids name'), colon < 0 ? null : value.slice(colon + 1)]);
      }
      if (page.length > 0) yield page;
    } while (cursor !== '0');
  }

  async applySync(batch: SyncBatch, fence?: number): Promise<SyncApplyResult> {
    const k = this.keys;
    // A replica that knew the epoch checks it before writing: a re-sync after a data loss then starts
    // the grace before it registers anything, so a replica started since (which can compare with
    // nothing) finds the grace running instead of issuing sessions that workers still hold.
    if (this.epoch !== undefined) await this.reap(0);
    const payload = JSON.stringify({
      u: batch.upserts.map((u) => ({ n: u.name, m: JSON.stringify(u.meta), s: u.sig ?? '', e: u.fileError ?? '', f: u.keyFingerprint ?? '' })),
      r: batch.removes,
    });
    const reply = await this.durableWrite((c) =>
      c.applySync(
        k.seq, k.ids, k.free, k.leased, k.flood, k.invalid, k.fence, k.fingerprints,
        fence === undefined ? '' : String(fence), k.sessionPrefix, payload, k.freedChannel, SESSION_BUCKET,
      ),
    );
    if (reply === CODE_STALE_FENCE) throw codeToError(CODE_STALE_FENCE, 0);
    const r = arr(reply, 'applySync', 3);
    return { added: int(r[0], 'sync added'), removed: int(r[1], 'sync removed'), updated: int(r[2], 'sync updated') };
  }

  async reap(limit: number): Promise<number> {
    const k = this.keys;
    // Reap mode runs the store-loss check too, so the leader notices a loss even when nobody acquires.
    const r = this.acquireReply(
      await this.durableWrite((c) =>
        c.acquireSession(
          k.free, k.leased, k.flood, k.invalid, k.epoch, k.recovering, k.acquireToken(''),
          0, '', k.sessionPrefix, limit, 1, k.freedChannel, SESSION_BUCKET, ...this.epochArgs(),
        ),
      ),
      'reap',
    );
    if (r[0] === 3) return 0; // recovering: nothing moves during the grace
    if (r[0] !== 2) fail('reap', r);
    return int(r[1], 'reap count');
  }

  /** ms left of the recovery grace, or null when none runs (readiness body). */
  async recoveryEndsInMs(): Promise<number | null> {
    const ms = int(await this.run(() => this.redis.pttl(this.keys.recovering)), 'recovering pttl');
    return ms > 0 ? ms : null;
  }

  /** Readiness: Redis answers and its eviction policy is safe (re-checked here, so fixing it makes the replica ready again). */
  async ping(): Promise<boolean> {
    try {
      await this.ensureConfigured(POLICY_HEALTHY_RECHECK_MS);
      return (await this.redis.ping()) === 'PONG';
    } catch {
      return false;
    }
  }

  close(): Promise<void> {
    this.redis.off('ready', this.onReady);
    return closeRedis(this.redis);
  }
}
