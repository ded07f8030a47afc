/**
 * RedisStore: every state change is one Lua script (lua/), so any number of
 * replicas can share the pool without ever issuing one session twice.
 */
import Redis, { type RedisOptions } from 'ioredis';
import {
  CODE_STALE_FENCE,
  PoolError,
  ReplicationTimeoutError,
  SessionNotFoundError,
  StoreMisconfiguredError,
  StoreRefusedError,
  StoreReplyError,
  StoreUnavailableError,
  codeToError,
  storeErrorSummary,
} from '../errors';
import type { Logger } from '../log';
import type { Health } from '../telegram/errors';
import { redisOptions } from './connect';
import { HEALTH_BANNED, HEALTH_FILE_ERROR, HEALTH_LOGGED_OUT, SESSION_BUCKET, makeKeys, type Keys } from './keys';
import { parseMeta } from './meta';
import { randomString } from './random';
import { DEFAULT_EVENTS_MAX_LEN, MAX_STATUS_SCOPES, PROMOTE_BATCH, SCOPED_WALK, newLeaseToken, reportedRest, restCount, scanBudget } from './rules';
// Shared with the embedded store (rules.ts, no ioredis); re-exported for the callers that know them from here.
export { DEFAULT_EVENTS_MAX_LEN, MAX_STATUS_SCOPES, PROMOTE_BATCH, SCOPED_WALK, newLeaseToken, reportedRest, restCount };
import { NO_WAIT, writeAndWait, type ReplicaWait, type Send, type WriteResult } from './replication';
import { defineScripts, type RedisClient } from './scripts';
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
  EventPage,
  EventQuery,
  PoolEvent,
  ReportInput,
  ReportOutcome,
  SessionCounters,
  EventType,
  RestoreResult,
  SessionMeta,
  SessionState,
  SyncApplyResult,
  SyncBatch,
} from './types';
import { EVENT_TYPES, SESSION_STATES } from './types';


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

/** A session's "<id>:rs" field (JSON {scope: deadlineMs}) as its rests still running at `now`. */
function runningRests(json: string, now: number): Record<string, number> {
  const out: Record<string, number> = {};
  if (json === '') return out;
  const parsed: unknown = JSON.parse(json);
  if (typeof parsed !== 'object' || parsed === null) return out;
  for (const [scope, dl] of Object.entries(parsed)) if (typeof dl === 'number' && dl > now) out[scope] = dl;
  return out;
}

/** A `health` zset score (src/pool/keys.ts) as a health, at `now`. */
function healthOf(score: number, now: number): Health {
  if (score === HEALTH_LOGGED_OUT) return 'logged_out';
  if (score === HEALTH_BANNED) return 'banned';
  if (score === HEALTH_FILE_ERROR) return 'file_error';
  return score > now ? 'restricted' : 'ok';
}

const EVENT_FIELDS = ['scope', 'until', 'error', 'action', 'reason', 'name'] as const;


function parseEvent(id: string, flat: string[]): PoolEvent | null {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) f.set(flat[i] ?? '', flat[i + 1] ?? '');
  const type = f.get('t');
  if (!(EVENT_TYPES as readonly string[]).includes(type ?? '')) return null;
  const e: PoolEvent = { id, at: Number(id.split('-')[0]), type: type as EventType, sessionId: Number(f.get('sid')) };
  for (const name of EVENT_FIELDS) {
    const v = f.get(name);
    if (v === undefined) continue;
    if (name === 'until') e.until = Number(v);
    else e[name] = v;
  }
  return e;
}

/** A session's "<id>:c" field (lua/lib/history.lua). */
function countersOf(json: string): SessionCounters {
  const c = (json === '' ? {} : JSON.parse(json)) as { i?: number; n?: number; s?: number; r?: Record<string, number> | unknown[] };
  // cjson writes an empty table as [] — no rests by scope then
  const byScope = c.r !== undefined && !Array.isArray(c.r) ? c.r : {};
  return { issued: c.i ?? 0, rests: c.n ?? 0, restedSeconds: c.s ?? 0, restsByScope: byScope };
}

/** A session's "<id>:e" field: "<NAME><TAB><ms>". */
function lastError(field: string): { name: string; at: number } | null {
  const tab = field.indexOf('\t');
  return tab < 0 ? null : { name: field.slice(0, tab), at: Number(field.slice(tab + 1)) };
}

/** `{prefix}:epoch` as acquireSession reads it; any other value counts as no epoch. */
const EPOCH_VALUE = /^([^:]+):(\d+)$/;

export interface RedisStoreOptions {
  /** Hold issuing this long after a detected data loss (ms); 0 = detect but do not hold. */
  recoveryGraceMs?: number;
  /** Where the eviction-policy verdict is logged (once per change). */
  logger?: Logger;
  /** Events kept in the capped stream (approximately: XADD MAXLEN ~). */
  eventsMaxLen?: number;
  /** TELEGATE_REDIS_WAIT_REPLICAS / _TIMEOUT_MS: replicas that must hold a change before it is answered. */
  wait?: ReplicaWait;
}

export class RedisStore implements PoolStore {
  readonly kind = 'redis' as const;
  readonly keys: Keys;
  private readonly recoveryGraceMs: number;
  private readonly eventsMaxLen: number;
  private readonly logger: Logger | undefined;
  /** Replicas that must hold a change before it is answered (replication.ts). */
  readonly wait: ReplicaWait;
  /** The last WAIT came back short; `probing`: one write is finding out whether they are back. */
  private replicasMissing = false;
  private probing = false;
  /** The pool epoch this replica last saw, with the highest issue counter seen (see lua/acquireSession-11.lua). */
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
    this.eventsMaxLen = opts.eventsMaxLen ?? DEFAULT_EVENTS_MAX_LEN;
    this.wait = opts.wait ?? NO_WAIT;
    redis.on('ready', this.onReady);
    if (redis.status === 'ready') this.onReady();
  }


  async history(query: EventQuery): Promise<EventPage> {
    const k = this.keys;
    const events: PoolEvent[] = [];
    let budget = scanBudget(query.limit);
    let end = query.cursor === undefined ? '+' : `(${query.cursor}`;
    let last: string | null = null;
    while (events.length < query.limit && budget > 0) {
      const count = Math.min(budget, 500);
      const page = arr(await this.run(() => this.redis.xrevrange(k.events, end, '-', 'COUNT', count)), 'xrevrange');
      for (const [i, entry] of page.entries()) {
        const [id, fields] = arr(entry, 'stream entry', 2) as [unknown, unknown];
        last = str(id, 'stream id');
        budget--;
        const e = parseEvent(last, arr(fields, 'stream fields').map((f) => str(f, 'stream field')));
        if (e && (query.sessionId === undefined || e.sessionId === query.sessionId)) events.push(e);
        const endOfStream = page.length < count && i === page.length - 1;
        if (endOfStream) return { events, nextCursor: null };
        if (events.length >= query.limit) return { events, nextCursor: last };
      }
      if (page.length < count) return { events, nextCursor: null };
      end = `(${last ?? ''}`;
    }
    return { events, nextCursor: last };
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
    return [this.epoch?.id ?? '', this.epoch?.counter ?? 0, this.recoveryGraceMs, randomString(8, 'hex'), ACQUIRE_TOKEN_TTL_MS];
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
    this.redis.cancelAcquire(k.free, k.leased, k.acquireToken(token), k.rfree, k.rend, k.events, token, k.freedChannel, k.sessionPrefix, SESSION_BUCKET).then(
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

  /** acquireSession's KEYS for an acquire made with `token`. */
  private acquireKeys(token: string): string[] {
    const k = this.keys;
    return [k.free, k.leased, k.flood, k.invalid, k.rfree, k.rend, k.scopes, k.epoch, k.recovering, k.acquireToken(token), k.events];
  }

  /** acquireSession's ARGV (issue mode) for an acquire made with `token`. */
  private acquireArgv(token: string, leaseTtlMs: number, opts: AcquireOptions): Array<string | number> {
    const k = this.keys;
    const scopes = (opts.scopes ?? []).join(',');
    const tags = (opts.tags ?? []).join(',');
    return [
      leaseTtlMs, token, k.sessionPrefix, PROMOTE_BATCH, 0, k.freedChannel, SESSION_BUCKET, ...this.epochArgs(),
      k.restPrefix, scopes, tags, k.tagPrefix, SCOPED_WALK, this.eventsMaxLen,
    ];
  }

  /** A write that may issue the lease `token`: when its answer is lost but it may still run, that lease is cancelled. */
  private async issuingWrite(token: string, send: Send): Promise<WriteResult & { durable: boolean }> {
    try {
      return await this.write(send);
    } catch (err) {
      // The answer is lost but the script may still run (a stalled Redis, a dropped connection): never leave that lease to nobody.
      if (mayHaveRun(err)) this.cancelAcquire(token);
      throw err;
    }
  }

  async acquire(leaseTtlMs: number, opts: AcquireOptions = {}): Promise<AcquireResult> {
    const token = newLeaseToken();
    const keys = this.acquireKeys(token);
    const argv = this.acquireArgv(token, leaseTtlMs, opts);
    const written = await this.issuingWrite(token, (c) => c.acquireSession(...(keys as [string, string, string, string, string, string, string, string, string, string, string]), ...argv));
    return this.acquireResult(written, written.reply, token);
  }

  /** An acquireSession reply (issue mode) as an AcquireResult; a lease not on enough replicas is cancelled. */
  private acquireResult(written: WriteResult & { durable: boolean }, raw: unknown, token: string): AcquireResult {
    const reply = this.acquireReply(raw, 'acquireSession');
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
      const id = int(reply[1], 'acquire id');
      return {
        ok: true,
        session: { id, name, leaseToken: token, leaseExpiresAt: int(reply[3], 'acquire expiry'), meta },
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

  /** releaseSession / floodWaitSession, then acquireSession, in one composed script (scripts.ts COMPOSED). */
  async giveBackAndAcquire(g: GiveBack, leaseTtlMs: number, opts: AcquireOptions = {}): Promise<GiveBackAndAcquireResult> {
    const k = this.keys;
    const token = newLeaseToken();
    const [name, keys, argv] =
      g.kind === 'release'
        ? ([
            'releaseAndAcquire',
            [k.free, k.leased, k.session(g.id), k.invalid, k.rfree, k.rend, k.flood, k.events],
            [g.id, g.leaseToken ?? '', k.freedChannel, this.eventsMaxLen],
          ] as const)
        : ([
            'floodWaitAndAcquire',
            [k.free, k.leased, k.flood, k.invalid, k.session(g.id), k.rfree, k.rend, k.scopes, k.health, k.events],
            [g.id, g.waitMs, g.leaseToken ?? '', k.freedChannel, g.scope ?? '', k.restPrefix, '', '', this.eventsMaxLen, 'rest'],
          ] as const);
    const written = await this.issuingWrite(token, (c) =>
      c[name](...keys, ...this.acquireKeys(token), argv.length, ...argv, ...this.acquireArgv(token, leaseTtlMs, opts)),
    );
    const r = arr(written.reply, name, 1);
    if (typeof r[0] === 'number' && r[0] < 0) throw codeToError(r[0], g.id);
    if (r.length !== 2) fail(name, written.reply);
    // The give-back is a change like any other: answered only once it is on enough replicas.
    if (!written.durable) {
      this.acquireReply(r[1], 'acquireSession'); // learn the epoch; a lease it made is cancelled below
      this.cancelAcquire(token);
      throw new ReplicationTimeoutError(this.wait.replicas, written.acked);
    }
    if (g.kind === 'release') return { next: this.acquireResult(written, r[1], token) };
    return { floodWait: this.floodWaitResult(g.id, r[0], g.scope), next: this.acquireResult(written, r[1], token) };
  }

  async release(id: number, leaseToken?: string): Promise<void> {
    const k = this.keys;
    const code = int(
      await this.durableWrite((c) =>
        c.releaseSession(k.free, k.leased, k.session(id), k.invalid, k.rfree, k.rend, k.flood, k.events, id, leaseToken ?? '', k.freedChannel, this.eventsMaxLen),
      ),
      'releaseSession',
    );
    if (code < 0) throw codeToError(code, id);
  }

  floodWait(id: number, waitMs: number, leaseToken?: string, scope?: string): Promise<FloodWaitResult> {
    return this.rest(id, waitMs, leaseToken, scope, '', '', 'rest');
  }

  /** floodWaitSession; `event`: its history, a "rest" event or a "report" one (lua/floodWaitSession-10.lua ARGV[10]). */
  private async rest(
    id: number, waitMs: number, leaseToken: string | undefined, scope: string | undefined, health: 'restricted' | '', error: string, event: 'rest' | 'report',
  ): Promise<FloodWaitResult> {
    const k = this.keys;
    const reply = await this.durableWrite((c) =>
      c.floodWaitSession(
        k.free, k.leased, k.flood, k.invalid, k.session(id), k.rfree, k.rend, k.scopes, k.health, k.events,
        id, waitMs, leaseToken ?? '', k.freedChannel, scope ?? '', k.restPrefix, health, error, this.eventsMaxLen, event,
      ),
    );
    if (typeof reply === 'number') throw codeToError(reply, id);
    return this.floodWaitResult(id, reply, scope);
  }

  private floodWaitResult(id: number, reply: unknown, scope?: string): FloodWaitResult {
    const r = arr(reply, 'floodWaitSession', 4);
    const state = str(r[2], 'floodwait state');
    if (!isState(state)) fail('floodWaitSession', reply);
    return { id, until: int(r[1], 'floodwait until'), state, name: str(r[3], 'floodwait name'), scope: scope ?? null };
  }

  async invalidate(id: number, reason?: string, leaseToken?: string): Promise<void> {
    await this.invalidateAs(id, reason ?? '', leaseToken ?? '', '', '', reason === undefined ? 'invalidated' : 'invalidated with reason');
  }

  /** invalidateSession: 0 unknown id, 1 invalidated now, 2 already; `event`: its history (lua/invalidateSession-9.lua ARGV[7], ARGV[8]). */
  private async invalidateAs(
    id: number, reason: string, leaseToken: string, health: number | '', error: string, event: 'invalidated' | 'invalidated with reason' | 'report',
  ): Promise<number> {
    const k = this.keys;
    const code = int(
      await this.durableWrite((c) =>
        c.invalidateSession(
          k.free, k.leased, k.flood, k.invalid, k.session(id), k.rfree, k.rend, k.health, k.events,
          id, reason, leaseToken, health, error, this.eventsMaxLen, event === 'report' ? 'report' : 'invalidated', event === 'invalidated with reason' ? '1' : '',
        ),
      ),
      'invalidateSession',
    );
    if (code < 0) throw codeToError(code, id);
    return code;
  }

  /** Each outcome's "report" event (and a rest's counters) is written by its script, with the change. */
  async report(id: number, input: ReportInput): Promise<ReportOutcome> {
    const d = input.decision;
    const token = input.leaseToken ?? '';
    if (d.action === 'rest') {
      const r = await this.rest(id, d.seconds * 1000, input.leaseToken, d.scope ?? undefined, d.health ?? '', input.error, 'report');
      return reportedRest(r, d);
    }
    if (d.action === 'invalidate') {
      const code = d.health === 'banned' ? HEALTH_BANNED : HEALTH_LOGGED_OUT;
      if ((await this.invalidateAs(id, input.error, token, code, input.error, 'report')) === 0) throw new SessionNotFoundError(id);
      return { id, action: 'invalidate', scope: null, until: null, health: d.health };
    }
    const k = this.keys;
    const code = int(await this.run(() => this.redis.recordError(k.session(id), k.events, id, token, input.error, this.eventsMaxLen)), 'recordError');
    if (code < 0) throw codeToError(code, id);
    return { id, action: 'none', scope: null, until: null, health: null };
  }

  async restore(id: number): Promise<RestoreResult> {
    const k = this.keys;
    const reply = await this.durableWrite((c) =>
      c.restoreSession(k.free, k.leased, k.flood, k.invalid, k.session(id), k.rfree, k.rend, k.health, k.events, id, k.freedChannel, k.restPrefix, this.eventsMaxLen),
    );
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
    const [raw, grace] = (await this.run(() =>
      Promise.all([
        this.redis.poolStatus(
          k.free, k.leased, k.flood, k.invalid, k.rfree, k.rend, k.scopes, k.health,
          k.restPrefix, MAX_STATUS_SCOPES, k.sessionPrefix, SESSION_BUCKET, PROMOTE_BATCH,
        ),
        this.redis.pttl(k.recovering),
      ]),
    )) as [unknown, unknown];
    const r = arr(raw, 'poolStatus', 10);
    const [free, inUse, inFloodwait, invalidated, next, now, restricted, loggedOut, banned, fileError] = r
      .slice(0, 10)
      .map((v) => int(v, 'poolStatus')) as [number, number, number, number, number, number, number, number, number, number];
    const rests: Record<string, number> = {};
    for (let i = 10; i + 1 < r.length; i += 2) rests[str(r[i], 'status scope')] = int(r[i + 1], 'status rest count');
    const total = free + inUse + inFloodwait;
    const health = { ok: Math.max(0, total - restricted - loggedOut - banned - fileError), restricted, logged_out: loggedOut, banned, file_error: fileError };
    const graceMs = int(grace, 'recovering pttl');
    return {
      total,
      free,
      inUse,
      inFloodwait,
      invalidated,
      nextAvailable: next < 0 ? null : next,
      rests,
      health,
      now,
      ...(graceMs > 0 ? { recoveryEndsInMs: graceMs } : {}),
    };
  }

  async list(query: ListQuery): Promise<ListPage> {
    const k = this.keys;
    const after = query.cursor === undefined ? 0 : Number(query.cursor);
    const budget = scanBudget(query.limit);
    const r = arr(
      await this.run(() =>
        this.redis.listSessions(
          k.free, k.leased, k.flood, k.invalid, k.seq, k.rend, k.health,
          k.sessionPrefix, after, query.limit, query.state ?? '', budget, SESSION_BUCKET,
          query.health ?? '', query.tag === undefined ? '' : k.tagPrefix + query.tag, query.scope === undefined ? '' : k.restPrefix + query.scope,
        ),
      ),
      'listSessions',
      2,
    );
    const next = int(r[0], 'list cursor');
    const now = int(r[1], 'list now');
    const sessions: ListedSession[] = [];
    for (let i = 2; i + 9 < r.length; i += 10) {
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
        rests: runningRests(str(r[i + 5], 'list rests'), now),
        health: healthOf(int(r[i + 6], 'list health'), now),
        lastError: lastError(str(r[i + 7], 'list last error')),
        counters: countersOf(str(r[i + 8], 'list counters')),
        fileMissing: int(r[i + 9], 'list gone') === 1,
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
      u: batch.upserts.map((u) => ({
        n: u.name, m: JSON.stringify(u.meta), s: u.sig ?? '', e: u.fileError ?? '', g: (u.meta.tags ?? []).join(','), f: u.keyFingerprint ?? '',
      })),
      r: batch.removes,
    });
    const reply = await this.durableWrite((c) =>
      c.applySync(
        k.seq, k.ids, k.free, k.leased, k.flood, k.invalid, k.fence, k.rfree, k.rend, k.health, k.fingerprints, k.events,
        fence === undefined ? '' : String(fence), k.sessionPrefix, payload, k.freedChannel, SESSION_BUCKET, k.restPrefix, k.tagPrefix,
        this.eventsMaxLen,
      ),
    );
    if (reply === CODE_STALE_FENCE) throw codeToError(CODE_STALE_FENCE, 0);
    const r = arr(reply, 'applySync', 3);
    // Its "removed" and "file_changed" events are written by the script, with the change (lua/lib/history.lua).
    return { added: int(r[0], 'sync added'), removed: int(r[1], 'sync removed'), updated: int(r[2], 'sync updated') };
  }

  async reap(limit: number): Promise<number> {
    const k = this.keys;
    // Reap mode runs the store-loss check too, so the leader notices a loss even when nobody acquires.
    const r = this.acquireReply(
      await this.durableWrite((c) =>
        c.acquireSession(
          k.free, k.leased, k.flood, k.invalid, k.rfree, k.rend, k.scopes, k.epoch, k.recovering, k.acquireToken(''), k.events,
          0, '', k.sessionPrefix, limit, 1, k.freedChannel, SESSION_BUCKET, ...this.epochArgs(), k.restPrefix, '', '', k.tagPrefix, SCOPED_WALK,
          this.eventsMaxLen,
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
