/**
 * TeleGate client for TypeScript / JavaScript workers (GramJS and others):
 * `import { TeleGateClient } from 'telegate-client'`.
 *
 * Its own package (clients/typescript) with no runtime dependency: it imports
 * nothing outside its src/ except Node's built-ins, so installing or loading it
 * pulls in no server code. HTTP is Node's built-in fetch. The wire types
 * (./openapi) are generated from the server's OpenAPI document.
 *
 *   const client = new TeleGateClient({ baseUrl: 'http://telegate:8000', apiKey });
 *   await client.withSession(async (s) => { ... });   // acquire, heartbeat, report, release
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AuthError,
  HttpError,
  LeaseLostError,
  LeaseMismatchError,
  NoSessionAvailableError,
  SessionNotFoundError,
  TeleGateConnectionError,
  TeleGateError,
  httpError,
} from './errors';
import type { components, operations } from './openapi';
import { telegramErrorOf } from './telegramErrors';
import { WaitPlan } from './waiting';

export {
  AuthError,
  HttpError,
  LeaseLostError,
  LeaseMismatchError,
  NoSessionAvailableError,
  SessionNotFoundError,
  TeleGateConnectionError,
  TeleGateError,
};
export { floodWaitSeconds, telegramErrorOf, type TelegramRpcError } from './telegramErrors';
/** The HTTP API as openapi-typescript describes it (paths, schemas, operations), for raw calls and the `raw` answers. */
export type { components, operations, paths } from './openapi';

/** This package's version, from its package.json (one place to bump); sent in the User-Agent. */
export const VERSION: string = (JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;

/** The answers' shapes, as the server's OpenAPI document declares them (snake_case, as sent). */
type Schemas = components['schemas'];
/**
 * The answer of a call as the document declares it. Typed, not checked: the
 * code reading it still checks what it relies on, and keeps fields a newer
 * server added (unknown).
 */
type Answer<K extends keyof Schemas> = Schemas[K] & Record<string, unknown>;

/** A library's session-string format (GET /session?format=). */
export type SessionStringFormat = NonNullable<NonNullable<operations['acquireSession']['parameters']['query']>['format']>;

export interface TeleGateClientOptions {
  /** e.g. `http://telegate:8000` (a path prefix is kept). */
  baseUrl: string;
  /** Sent as `X-API-Key` on every request. */
  apiKey: string;
  /** Wait for a session when none is free (default true). */
  autoWait?: boolean;
  /** Bound on auto-wait in getSession()/withSession(); null (default): no bound. */
  maxWaitMs?: number | null;
  /** sessionString in this library's format, whatever wrote the file (default: the file's own format). */
  format?: SessionStringFormat;
  /** Per HTTP request (long-polls get their wait on top). Default 30 s. */
  timeoutMs?: number;
  /**
   * Extra attempts after a connection error, a 429 or a 5xx on idempotent calls
   * (GET /session only when the request provably changed nothing). Default 3.
   */
  retries?: number;
  /** Base of the exponential backoff for retries and auto-wait polling. Default 500 ms. */
  backoffMs?: number;
  /** Cap of that backoff. Default 30 s. */
  backoffCapMs?: number;
  /** Use the server's GET /session?wait= long-poll (default true). */
  longPoll?: boolean;
  /** Heartbeat period in withSession() (shortened to a third of a shorter lease). Default 60 s. */
  heartbeatIntervalMs?: number;
  /** Told each time getSession() starts (or keeps) waiting. */
  onWait?: (info: WaitInfo) => void;
  /** Told about background trouble (heartbeat failures, a lost lease, a failed report). */
  onWarning?: (message: string, error?: unknown) => void;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
}

export interface WaitInfo {
  waitingCount: number;
  nextReleaseIn: number | null;
  inUse: number | null;
  /** What is left of maxWaitMs; null when unbounded. */
  remainingMs: number | null;
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface AcquireOptions extends CallOptions {
  /** Overrides the client's autoWait for this call. */
  autoWait?: boolean;
  /** Overrides the client's maxWaitMs for this call. */
  maxWaitMs?: number | null;
  /** Overrides the client's format for this call. */
  format?: SessionStringFormat;
  /**
   * The Telegram methods the work will call (`messages.sendMessage`): only a
   * session resting on none of them is issued. Without it: only sessions with
   * no running rest at all.
   */
  scope?: string | readonly string[];
  /** Only a session carrying every one of these tags (sidecar "tags"). */
  tag?: string | readonly string[];
}

/** What POST /report did (the server's table decides). */
export interface ReportResult {
  sessionId: number;
  error: string;
  action: Schemas['Reported']['action'];
  /** With action rest: the scope rested, null for account-wide. */
  scope: string | null;
  until: string | null;
  health: string | null;
}

export interface WithSessionOptions extends AcquireOptions {
  heartbeatIntervalMs?: number;
}

export type Proxy = Schemas['Proxy'];

/** A leased session (GET /session). */
export interface Session {
  sessionId: number;
  sessionName: string;
  leaseToken: string | null;
  /** `YYYY-MM-DD HH:MM:SS`, UTC. */
  leaseExpiresAt: string | null;
  proxy: Proxy | null;
  /** The string session (in `format` when asked), when the server is configured to expose it. */
  sessionString: string | null;
  /** With `format`, instead of sessionString: why it was not given (not exposed, or a field that format needs is unknown). */
  sessionStringError: string | null;
  /** The answer as sent (snake_case; fields added later are there too, as unknown). */
  raw: Answer<'LeasedSession'>;
}

/** GET /status. */
export interface PoolStatus {
  total: number;
  free: number;
  inUse: number;
  inFloodwait: number;
  /** Earliest flood-wait deadline, `YYYY-MM-DD HH:MM:SS` UTC, or null. */
  nextAvailable: string | null;
  invalidated: number | null;
  /** The answer as sent (snake_case). */
  raw: Answer<'Status'>;
}

export interface FloodwaitResult {
  sessionId: number;
  sessionName: string;
  floodwaitUntil: string;
  inFloodwait: boolean;
  /** The session's state afterwards (`floodwait`, `free` for 0 s, or `invalidated`). */
  state: string | null;
}

export interface HeartbeatResult {
  sessionId: number;
  leaseExpiresAt: string;
}

export type Reported =
  | { kind: 'floodwait'; seconds: number }
  | { kind: 'invalidate'; reason: string | null }
  /** A Telegram RPC error sent to POST /report by name, with what the server did. */
  | { kind: 'report'; error: string; method: string | null; action: ReportResult['action'] };

/** What withSession() hands to its callback. */
export interface ActiveLease extends Session {
  /** True once the server said the lease is no longer ours (a heartbeat answered 409/404, or the release 409). */
  readonly leaseLost: boolean;
  /** True once released, reported as a flood wait, or invalidated. */
  readonly ended: boolean;
  /** What was reported for this lease, if anything. */
  readonly reported: Reported | null;
  /** Aborted with a LeaseLostError when the lease is lost: pass it to long operations to stop them. */
  readonly signal: AbortSignal;
  heartbeat(): Promise<HeartbeatResult>;
  release(): Promise<void>;
  reportFloodwait(seconds: number): Promise<FloodwaitResult>;
  invalidate(reason?: string): Promise<void>;
  /** Send `err` to POST /report when it is a Telegram RPC error (its name and method); true when reported. Never throws. */
  reportError(err: unknown): Promise<boolean>;
  /** Report a Telegram RPC error by name: `lease.report('AUTH_KEY_UNREGISTERED')`; the server's table decides. */
  report(error: string, method?: string | null): Promise<ReportResult>;
}

const RETRY_STATUSES = new Set([500, 502, 503, 504]);
const MAX_RETRY_AFTER_MS = 60_000;
/** Network errors raised before the request reached the server: safe to retry any call. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

type Params = Record<string, string | number | undefined>;

interface RequestOptions extends CallOptions {
  idempotent?: boolean;
  timeoutMs?: number;
}

function errorCode(err: unknown): string | undefined {
  for (let e: unknown = err, i = 0; e !== null && typeof e === 'object' && i < 4; e = (e as { cause?: unknown }).cause, i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/** Sleep `ms`; an abort rejects with the signal's reason. */
async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, { signal });
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    throw err;
  }
}

function parseUtc(text: string | null): number | null {
  if (!text) return null;
  const ms = Date.parse(`${text.replace(' ', 'T')}Z`);
  return Number.isNaN(ms) ? null : ms;
}

function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' ? v : null;
}

function toSession(raw: Answer<'LeasedSession'>): Session {
  return {
    sessionId: raw.session_id,
    sessionName: raw.session_name,
    leaseToken: str(raw.lease_token),
    leaseExpiresAt: str(raw.lease_expires_at),
    proxy: raw.proxy ?? null,
    sessionString: str(raw.session_string),
    sessionStringError: str(raw.session_string_error),
    raw,
  };
}

export class TeleGateClient {
  readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly opts: Required<Omit<TeleGateClientOptions, 'baseUrl' | 'apiKey' | 'onWait' | 'onWarning' | 'maxWaitMs' | 'format'>> & {
    maxWaitMs: number | null;
    format?: SessionStringFormat;
    onWait?: (info: WaitInfo) => void;
    onWarning?: (message: string, error?: unknown) => void;
  };
  private readonly tokens = new Map<number, string>();

  constructor(options: TeleGateClientOptions) {
    if (!options.baseUrl) throw new TypeError('baseUrl is required');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.opts = {
      autoWait: options.autoWait ?? true,
      maxWaitMs: options.maxWaitMs ?? null,
      format: options.format,
      timeoutMs: options.timeoutMs ?? 30_000,
      retries: Math.max(0, Math.floor(options.retries ?? 3)),
      backoffMs: options.backoffMs ?? 500,
      backoffCapMs: options.backoffCapMs ?? 30_000,
      longPoll: options.longPoll ?? true,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 60_000,
      onWait: options.onWait,
      onWarning: options.onWarning,
      fetch: options.fetch ?? fetch,
    };
  }

  /** The lease token this client holds for `sessionId` (from getSession()), if any. */
  leaseToken(sessionId: number): string | undefined {
    return this.tokens.get(sessionId);
  }

  // --- HTTP ------------------------------------------------------------------------

  private retryDelayMs(attempt: number, retryAfter: string | null): number {
    if (retryAfter !== null && /^\s*\d+\s*$/.test(retryAfter)) return Math.min(Number(retryAfter) * 1000, MAX_RETRY_AFTER_MS);
    const step = Math.min(this.opts.backoffCapMs, this.opts.backoffMs * 2 ** attempt);
    return step * (0.5 + 0.5 * Math.random());
  }

  private async request<T>(method: 'GET' | 'POST', path: string, params: Params = {}, o: RequestOptions = {}): Promise<T> {
    const idempotent = o.idempotent ?? true;
    const defined = Object.entries(params).filter((e): e is [string, string | number] => e[1] !== undefined);
    let url = this.baseUrl + path;
    const headers: Record<string, string> = { 'X-API-Key': this.apiKey, Accept: 'application/json', 'User-Agent': `telegate-client/${VERSION} (node)` };
    let body: string | undefined;
    if (method === 'GET') {
      if (defined.length > 0) url += `?${new URLSearchParams(defined.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
    } else {
      body = JSON.stringify(Object.fromEntries(defined));
      headers['Content-Type'] = 'application/json';
    }
    for (let attempt = 0; ; attempt++) {
      o.signal?.throwIfAborted();
      const timeout = AbortSignal.timeout(o.timeoutMs ?? this.opts.timeoutMs);
      const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
      let retryAfter: string | null = null;
      let res: Response | undefined;
      let text: string | undefined;
      try {
        res = await this.opts.fetch(url, { method, headers, body, signal });
        text = await res.text();
      } catch (err) {
        if (o.signal?.aborted) throw o.signal.reason;
        const code = errorCode(err);
        const notSent = res === undefined && code !== undefined && NOT_SENT_CODES.has(code);
        const what = timeout.aborted ? `no answer within ${o.timeoutMs ?? this.opts.timeoutMs} ms` : `${code ?? (err as Error).message}`;
        if (!(notSent || idempotent) || attempt >= this.opts.retries) {
          throw new TeleGateConnectionError(`${method} ${path}: cannot reach ${this.baseUrl}: ${what}`, { cause: err });
        }
      }
      if (res !== undefined && text !== undefined) {
        let data: unknown = text;
        try {
          data = text === '' ? null : JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        if (res.ok) return data as T;
        const detail = data !== null && typeof data === 'object' && 'detail' in data ? data.detail : data;
        const d = detail as { error?: unknown; in_floodwait?: unknown; next_release_in?: unknown; in_use?: unknown } | null;
        if (res.status === 503 && d?.error === 'no_free_session') {
          throw new NoSessionAvailableError(num(d.in_floodwait) ?? 0, num(d.next_release_in), num(d.in_use));
        }
        // The recovery grace after a store data loss ends by itself: auto-wait waits it out like a flood wait.
        if (res.status === 503 && d?.error === 'store_recovering') {
          throw new NoSessionAvailableError(0, num(d.next_release_in), null, true);
        }
        const noStateChange = res.status === 429 || (res.status === 503 && d?.error === 'store_unavailable');
        const retryable = noStateChange || (idempotent && RETRY_STATUSES.has(res.status));
        const error = httpError(res.status, detail, method, path);
        if (!retryable || attempt >= this.opts.retries) throw error;
        retryAfter = res.headers.get('retry-after');
      }
      await pause(this.retryDelayMs(attempt, retryAfter), o.signal);
    }
  }

  // --- the original operations -------------------------------------------------------

  /** GET /session, or a give-back with next=true (`giveBack`): both answer a leased session. */
  private async acquireOnce(waitSeconds: number, o: AcquireOptions, giveBack?: { path: '/release' | '/floodwait'; params: Params }): Promise<Session> {
    const format = o.format ?? this.opts.format;
    const signal = o.signal;
    const list = (v: string | readonly string[] | undefined): string | undefined => (v === undefined ? undefined : typeof v === 'string' ? v : v.join(',') || undefined);
    // On /floodwait, `scope` is the rest's scope (and the next session is one not resting on it).
    const scope = giveBack?.path === '/floodwait' ? undefined : list(o.scope);
    const params = { ...giveBack?.params, wait: waitSeconds > 0 ? waitSeconds : undefined, format, scope, tag: list(o.tag) };
    const [method, path] = giveBack ? (['POST', giveBack.path] as const) : (['GET', '/session'] as const);
    const raw = await this.request<Answer<'LeasedSession'> | null>(method, path, params, {
      idempotent: false,
      timeoutMs: this.opts.timeoutMs + waitSeconds * 1000,
      signal,
    });
    if (raw === null || typeof raw !== 'object' || typeof raw.session_id !== 'number') {
      throw new TeleGateError(`${method} ${path}: unexpected answer ${JSON.stringify(raw)}`);
    }
    const s = toSession(raw);
    if (s.leaseToken) this.tokens.set(s.sessionId, s.leaseToken);
    return s;
  }

  /**
   * Give `sessionId` back and lease the next session in ONE request (POST
   * /release with next=true: one atomic step on the server), for workers that
   * loop. When nothing is free the release has happened and, with auto-wait,
   * this waits for the next one as getSession() does. LeaseMismatchError: the
   * session was not ours any more, nothing released and nothing leased.
   */
  async releaseAndNext(sessionId: number, o: AcquireOptions & { leaseToken?: string } = {}): Promise<Session> {
    const token = o.leaseToken ?? this.tokens.get(sessionId);
    return this.giveBackAndNext(sessionId, { path: '/release', params: { session_id: sessionId, lease_token: token, next: 'true' } }, o);
  }

  /** reportFloodwait() and the next session in one request (POST /floodwait with next=true); otherwise as releaseAndNext(). */
  async floodwaitAndNext(sessionId: number, seconds: number, o: AcquireOptions & { leaseToken?: string } = {}): Promise<Session> {
    const token = o.leaseToken ?? this.tokens.get(sessionId);
    const params = { session_id: sessionId, wait_seconds: Math.max(0, Math.ceil(seconds)), lease_token: token, next: 'true' };
    return this.giveBackAndNext(sessionId, { path: '/floodwait', params }, o);
  }

  private async giveBackAndNext(sessionId: number, giveBack: { path: '/release' | '/floodwait'; params: Params }, o: AcquireOptions): Promise<Session> {
    try {
      const s = await this.acquireOnce(0, o, giveBack);
      if (s.sessionId !== sessionId) this.tokens.delete(sessionId);
      return s;
    } catch (err) {
      if (err instanceof LeaseMismatchError) this.tokens.delete(sessionId); // not ours any more
      if (!(err instanceof NoSessionAvailableError)) throw err;
      this.tokens.delete(sessionId); // given back; nothing was free at that instant
      if (!(o.autoWait ?? this.opts.autoWait)) throw err;
      return this.getSession(o);
    }
  }

  /**
   * Lease a session. With auto-wait, waits for one (long-poll, flood-wait
   * deadlines, backoff), at most `maxWaitMs`; throws NoSessionAvailableError
   * when it will not or can no longer wait.
   */
  async getSession(o: AcquireOptions = {}): Promise<Session> {
    const auto = o.autoWait ?? this.opts.autoWait;
    const plan = new WaitPlan({
      maxWaitMs: o.maxWaitMs !== undefined ? o.maxWaitMs : this.opts.maxWaitMs,
      longPoll: this.opts.longPoll,
      backoffBaseMs: Math.max(this.opts.backoffMs, 50) * 2,
      backoffCapMs: this.opts.backoffCapMs,
    });
    let told = false;
    for (;;) {
      const wait = auto ? plan.pollSeconds() : 0;
      const started = Date.now();
      try {
        return await this.acquireOnce(wait, o);
      } catch (err) {
        if (!(err instanceof NoSessionAvailableError) || !auto) throw err;
        const delay = plan.after503(err, wait, Date.now() - started);
        if (!told || delay >= 1000) {
          told = true;
          try {
            this.opts.onWait?.({ waitingCount: err.waitingCount, nextReleaseIn: err.nextReleaseIn, inUse: err.inUse, remainingMs: plan.remainingMs() });
          } catch {
            // a broken callback must not break acquiring
          }
        }
        if (delay > 0) await pause(delay, o.signal);
      }
    }
  }

  /**
   * Give a session back. Resolves also for unknown or already free ids. Sends
   * the lease token this client got for it (or `leaseToken`): LeaseMismatchError
   * when the session was since leased to someone else.
   */
  async releaseSession(sessionId: number, o: CallOptions & { leaseToken?: string } = {}): Promise<true> {
    const token = o.leaseToken ?? this.tokens.get(sessionId);
    try {
      await this.request('POST', '/release', { session_id: sessionId, lease_token: token }, o);
    } catch (err) {
      if (err instanceof LeaseMismatchError) this.tokens.delete(sessionId); // not ours any more
      throw err;
    }
    this.tokens.delete(sessionId);
    return true;
  }

  async getStatus(o: CallOptions = {}): Promise<PoolStatus> {
    const raw = await this.request<Answer<'Status'>>('GET', '/status', {}, o);
    return {
      total: num(raw.total) ?? 0,
      free: num(raw.free) ?? 0,
      inUse: num(raw.in_use) ?? 0,
      inFloodwait: num(raw.in_floodwait) ?? 0,
      nextAvailable: str(raw.next_available),
      invalidated: num(raw.invalidated),
      raw,
    };
  }

  // --- additions ---------------------------------------------------------------------

  /** Telegram said FLOOD_WAIT_<seconds>: the session leaves use and rests that long. */
  async reportFloodwait(sessionId: number, seconds: number, o: CallOptions & { leaseToken?: string } = {}): Promise<FloodwaitResult> {
    const token = o.leaseToken ?? this.tokens.get(sessionId);
    let raw: Answer<'FloodwaitSet'>;
    try {
      raw = await this.request('POST', '/floodwait', { session_id: sessionId, wait_seconds: Math.max(0, Math.ceil(seconds)), lease_token: token }, o);
    } catch (err) {
      if (err instanceof LeaseMismatchError) this.tokens.delete(sessionId);
      throw err;
    }
    this.tokens.delete(sessionId);
    return {
      sessionId: raw.session_id,
      sessionName: raw.session_name,
      floodwaitUntil: raw.floodwait_until,
      inFloodwait: raw.in_floodwait === true,
      state: str(raw.state),
    };
  }

  /**
   * Take a session out of circulation (banned, key revoked). Sends the lease
   * token this client got for it (or `leaseToken`), which lets a worker key
   * invalidate the session it holds when TELEGATE_ADMIN_KEYS is set; without
   * one, an admin key is needed then.
   */
  async invalidateSession(sessionId: number, reason?: string, o: CallOptions & { leaseToken?: string } = {}): Promise<void> {
    const token = o.leaseToken ?? this.tokens.get(sessionId);
    await this.request('POST', '/invalidate', { session_id: sessionId, reason: reason?.slice(0, 500), lease_token: token }, o);
    this.tokens.delete(sessionId);
  }

  /**
   * Report a Telegram RPC error by name (`FLOOD_WAIT_600`, `PEER_FLOOD`,
   * `AUTH_KEY_UNREGISTERED`, ...) and the method that raised it; the server's
   * table decides what happens to the session (rest, invalidate, or nothing).
   */
  async report(sessionId: number, error: string, method?: string | null, o: CallOptions & { leaseToken?: string } = {}): Promise<ReportResult> {
    const token = o.leaseToken ?? this.tokens.get(sessionId);
    const raw = await this.request<Answer<'Reported'>>('POST', '/report', { session_id: sessionId, error, method: method ?? undefined, lease_token: token }, o);
    const action = raw.action;
    if (action !== 'none') this.tokens.delete(sessionId);
    return { sessionId, error: raw.error, action, scope: str(raw.scope), until: str(raw.until), health: str(raw.health) };
  }

  /** End an invalidation or flood wait now (operators). May need an admin key. */
  async restoreSession(sessionId: number, o: CallOptions = {}): Promise<{ sessionId: number; state: string | null }> {
    const raw = await this.request<Answer<'Restored'>>('POST', '/restore', { session_id: sessionId }, o);
    return { sessionId: raw.session_id, state: str(raw.state) };
  }

  /** Extend a lease by the server's lease TTL. LeaseMismatchError when it is no longer ours. */
  async heartbeat(sessionId: number, o: CallOptions & { leaseToken?: string } = {}): Promise<HeartbeatResult> {
    const token = o.leaseToken ?? this.tokens.get(sessionId);
    if (token === undefined) throw new TypeError(`no lease token for session ${sessionId}: lease it with getSession() first`);
    const raw = await this.request<Answer<'Extended'>>('POST', '/heartbeat', { session_id: sessionId, lease_token: token }, o);
    return { sessionId: raw.session_id, leaseExpiresAt: raw.lease_expires_at };
  }

  // --- withSession ---------------------------------------------------------------------

  /** @internal */
  warn(message: string, error?: unknown): void {
    try {
      this.opts.onWarning?.(message, error);
    } catch {
      // a broken callback must not break the worker
    }
  }

  /**
   * Lease a session (auto-wait), run `fn` with it while heartbeating, and
   * release it when `fn` settles. When `fn` throws a Telegram RPC error
   * (GramJS RPCError and its subclasses, or "<code>: <NAME>" in the message)
   * its name and method go to POST /report, where the server's table decides
   * (rest the method, invalidate, or nothing); the error is then rethrown.
   * With `scope`, only a session resting on none of those methods is issued.
   *
   * Heartbeats go every min(lease TTL / 3, heartbeatIntervalMs = 60 s). When
   * one answers 409 or 404 the lease is lost (it expired, an operator
   * released, invalidated or restored it, the store lost its data):
   * `leaseLost` is set and `lease.signal` is aborted with a LeaseLostError,
   * so work that passes the signal along stops at once; nothing is released
   * with the stale token; and withSession() rejects with that LeaseLostError
   * when the callback returns or stops on the signal (an AbortError); any
   * other error it throws is rethrown as it is. Code that never looks at the
   * signal keeps running until it returns: the server cannot stop it.
   */
  async withSession<T>(fn: (lease: ActiveLease) => Promise<T> | T, o: WithSessionOptions = {}): Promise<T> {
    const session = await this.getSession(o);
    const lease = new Lease(this, session);
    const interval = heartbeatIntervalFor(session, o.heartbeatIntervalMs ?? this.opts.heartbeatIntervalMs);
    let stopped = false;
    let beating = false;
    const timer = setInterval(() => {
      if (beating || stopped || lease.leaseToken === null) return;
      beating = true;
      lease
        .heartbeat()
        .catch((err: unknown) => {
          if (stopped) return;
          if (err instanceof LeaseMismatchError || err instanceof SessionNotFoundError) {
            lease.lose(err);
            clearInterval(timer);
            this.warn(`session ${lease.sessionId}: lease lost (${err.message}); lease.signal aborted`, err);
          } else {
            this.warn(`session ${lease.sessionId}: heartbeat failed: ${(err as Error).message}`, err);
          }
        })
        .finally(() => {
          beating = false;
        });
    }, interval);
    timer.unref();
    const stop = (): void => {
      stopped = true;
      clearInterval(timer);
    };
    let result: T;
    try {
      result = await fn(lease);
    } catch (err) {
      stop();
      // The work stopped because the lease was lost (the signal's reason, or the AbortError of an API given the signal).
      if (lease.leaseLost && (err === lease.signal.reason || (err instanceof Error && err.name === 'AbortError'))) throw lease.signal.reason as LeaseLostError;
      await lease.reportError(err);
      if (!lease.ended) {
        try {
          await lease.release();
        } catch (releaseErr) {
          if (!(releaseErr instanceof LeaseMismatchError)) this.warn(`session ${lease.sessionId}: release failed: ${(releaseErr as Error).message}`, releaseErr);
        }
      }
      throw err;
    }
    stop();
    if (lease.leaseLost) throw lease.signal.reason as LeaseLostError;
    if (!lease.ended) {
      try {
        await lease.release();
      } catch (err) {
        if (!(err instanceof LeaseMismatchError)) throw err;
        this.warn(`session ${lease.sessionId}: lease was lost before release`, err);
      }
    }
    return result;
  }

  /** @internal for Lease */
  forget(sessionId: number): void {
    this.tokens.delete(sessionId);
  }
}

/** `interval`, shortened to a third of the lease's remaining time when that is shorter (at least 1 s). */
function heartbeatIntervalFor(s: Session, intervalMs: number): number {
  const expires = parseUtc(s.leaseExpiresAt);
  if (expires !== null) {
    const ttl = expires - Date.now();
    if (ttl > 0 && ttl < 3 * intervalMs) return Math.max(1000, ttl / 3);
  }
  return intervalMs;
}

class Lease implements ActiveLease {
  readonly sessionId: number;
  readonly sessionName: string;
  readonly leaseToken: string | null;
  leaseExpiresAt: string | null;
  readonly proxy: Proxy | null;
  readonly sessionString: string | null;
  readonly sessionStringError: string | null;
  readonly raw: Session['raw'];
  leaseLost = false;
  ended = false;
  reported: Reported | null = null;
  private readonly lost = new AbortController();

  constructor(
    private readonly client: TeleGateClient,
    s: Session,
  ) {
    this.sessionId = s.sessionId;
    this.sessionName = s.sessionName;
    this.leaseToken = s.leaseToken;
    this.leaseExpiresAt = s.leaseExpiresAt;
    this.proxy = s.proxy;
    this.sessionString = s.sessionString;
    this.sessionStringError = s.sessionStringError;
    this.raw = s.raw;
  }

  get signal(): AbortSignal {
    return this.lost.signal;
  }

  /** The server said the lease is not ours: abort the work, and never use (or release with) the stale token. */
  lose(cause: unknown): void {
    if (this.leaseLost) return;
    this.leaseLost = true;
    this.ended = true;
    this.client.forget(this.sessionId);
    this.lost.abort(new LeaseLostError(this.sessionId, cause));
  }

  private token(): { leaseToken?: string } {
    return this.leaseToken === null ? {} : { leaseToken: this.leaseToken };
  }

  async heartbeat(): Promise<HeartbeatResult> {
    const r = await this.client.heartbeat(this.sessionId, this.token());
    this.leaseExpiresAt = r.leaseExpiresAt;
    return r;
  }

  async release(): Promise<void> {
    if (this.ended) return;
    try {
      await this.client.releaseSession(this.sessionId, this.token());
    } catch (err) {
      if (err instanceof LeaseMismatchError) this.lose(err);
      throw err;
    }
    this.ended = true;
  }

  async reportFloodwait(seconds: number): Promise<FloodwaitResult> {
    const r = await this.client.reportFloodwait(this.sessionId, seconds, this.token());
    this.ended = true;
    this.reported = { kind: 'floodwait', seconds };
    return r;
  }

  async invalidate(reason?: string): Promise<void> {
    await this.client.invalidateSession(this.sessionId, reason, this.token());
    this.ended = true;
    this.reported = { kind: 'invalidate', reason: reason ?? null };
  }

  async reportError(err: unknown): Promise<boolean> {
    const rpc = telegramErrorOf(err);
    if (rpc === null || this.ended) return false;
    try {
      await this.report(rpc.error, rpc.method);
      return true;
    } catch (reportErr) {
      this.client.warn(`session ${this.sessionId}: could not report ${rpc.error}: ${(reportErr as Error).message}`, reportErr);
      return false;
    }
  }

  async report(error: string, method: string | null = null): Promise<ReportResult> {
    let r: ReportResult;
    try {
      r = await this.client.report(this.sessionId, error, method, this.token());
    } catch (err) {
      if (err instanceof LeaseMismatchError) this.lose(err);
      throw err;
    }
    // rest or invalidate: the session left in_use; none: it is still ours, released as usual
    if (r.action !== 'none') this.ended = true;
    this.reported = { kind: 'report', error, method, action: r.action };
    return r;
  }
}
