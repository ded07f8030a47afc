/**
 * THE route table: every endpoint of the API once, with everything known about
 * it — path and method, whether it needs a key (public) or an admin key, whether
 * a GET changes state (no HEAD), whether its request line is routine (quiet
 * log), whether it is an HTML page, its parameter schema (schemas.ts: what ajv
 * validates with), when a lease token is required, its answers per status
 * (responses.ts: the shapes present.ts builds) with summary and description,
 * and its handler. Derived from it: the handlers the front layer calls, 404/405
 * with Allow and the per-request facts (app.ts), and the paths of /openapi.json
 * (openapi.ts).
 *
 * Handlers are thin: their parameters arrive validated, they call one
 * PoolService method and answer JSON shaped by present.ts on the request's
 * Exchange (exchange.ts: Node's request and response, no Express).
 */
import type { Config } from '../config';
import type { Metrics } from '../metrics';
import type { LeaseRequest, LeaseResult, PoolService } from '../pool/poolService';
import { HttpError } from './errors';
import type { Exchange } from './exchange';
import type { ParamSchema } from './params';
import {
  HEALTHY,
  NOT_READY,
  ceilSeconds,
  presentEventsPage,
  presentExtended,
  presentFloodWait,
  presentInvalidated,
  presentNoFreeSession,
  presentReady,
  presentRecovering,
  presentReleased,
  presentReported,
  presentRestored,
  presentSession,
  presentSessionsPage,
  presentStatus,
  presentSync,
} from './present';
import { NO_SESSION, json, orNext, ref, resp, text } from './responses';
import * as S from './schemas';

type Json = Record<string, unknown>;

/** What the handlers use. */
export interface RouteDeps {
  config: Config;
  /** The pool's operations: the only thing the routes call. */
  poolService: PoolService;
  /** Readiness: the store answers, scripts are loaded, not shutting down. */
  ready: () => Promise<boolean>;
  /** ms left of a recovery grace after a store data loss, null when none (Redis store only). */
  recoveryEndsInMs?: () => Promise<number | null>;
  /** Prometheus metrics (GET /metrics); undefined → /metrics is 404. */
  metrics?: Metrics;
  /** The OpenAPI document (built once from this table). */
  openapi: Json;
}

export interface Route<P = unknown> {
  path: string;
  method: 'GET' | 'POST';
  operationId: string;
  tag: 'workers' | 'operators' | 'service';
  summary: string;
  description?: string;
  /** No API key needed; 'metricsPublic': when TELEGATE_METRICS_PUBLIC is on. */
  public?: boolean | 'metricsPublic';
  /** An admin key is needed (when TELEGATE_ADMIN_KEYS is set; otherwise every key is an admin). */
  admin?: boolean;
  /** A GET that changes state: HEAD on it is 405, never a lease thrown away. */
  stateful?: boolean;
  /** Its request log line is debug (probes, scrapes, pages). */
  quiet?: boolean;
  /** An HTML page: helmet's full header set (its router sets its own CSP), not the API's fixed headers. */
  page?: boolean;
  /** Its parameters (query string, form or JSON body), validated before the handler runs. */
  params?: ParamSchema;
  /**
   * When lease_token becomes required: 'config' — from a worker key under TELEGATE_ADMIN_KEYS and from every key
   * under TELEGATE_REQUIRE_LEASE_TOKEN; 'roles' — from a worker key under TELEGATE_ADMIN_KEYS only.
   */
  leaseToken?: 'config' | 'roles';
  /** Touches the store: may answer 503 store_unavailable. */
  store?: boolean;
  /** The 200 answer. */
  ok: Json;
  /** Other answers by status (the common ones, 401/403/413/422/429/500/503, are added from the facts above). */
  responses?: Record<string, Json>;
  /** Undefined: served by the static routers (ui/index.ts). What it throws or rejects with is answered as an error. */
  handle?(d: RouteDeps, p: P, x: Exchange): Promise<void> | void;
}

/** Typed entry: the handler's parameters are its schema's. */
const route = <P = undefined>(r: Route<P>): Route => r;

const ADMIN_NOTE = 'Needs an admin key when TELEGATE_ADMIN_KEYS is set.';
const TOKEN_NOTE =
  'lease_token is required (422 without it) from a worker key when TELEGATE_ADMIN_KEYS is set, and from every key when TELEGATE_REQUIRE_LEASE_TOKEN is true.';
const NEXT_NOTE =
  'With next=true the session is given back and the next one leased in one atomic step (one request per worker cycle): the answer is then that of GET /session (its 200 body, or its 503), and wait/format apply as there.';
const HTML_PAGE = text('text/html', 'HTML page');

/**
 * The client is gone: aborted when the response closes before it was written (a long-poll stops waiting, a session
 * leased meanwhile is given back). The abort comes from app.ts's one end listener (clientLeft), not a listener of its own.
 */
function clientGone(x: Exchange): AbortSignal {
  const gone = new AbortController();
  x.abandon = gone;
  if (x.res.destroyed) gone.abort();
  return gone.signal;
}

/** The response closed unwritten: a lease in progress for it (clientGone) gives up, a lease it never carried goes back. */
export function clientLeft(x: Exchange): void {
  x.abandon?.abort();
  x.unsent?.();
}

/**
 * A lease request from GET /session's parameters (also taken along by next=true). Only a long-poll needs a signal
 * (to stop waiting); without a wait, whether the client left is read from the response once the lease is taken.
 */
function leaseRequest(x: Exchange, p: S.NextParams, scopes?: readonly string[]): LeaseRequest {
  const waitMs = (p.wait ?? 0) * 1000;
  if (waitMs > 0) return { waitMs, signal: clientGone(x), scopes, tags: p.tag };
  return { waitMs, left: () => x.res.destroyed, scopes, tags: p.tag };
}

/** Answer a lease as GET /session does: the session, or 503 with why none (nothing when the client left). */
function answerLease(d: RouteDeps, x: Exchange, p: S.NextParams, r: LeaseResult): void {
  if (r.ok) {
    // A pipelined request's answer waits, with no socket, behind the one before it: if the connection dies first the
    // lease never reaches the client, and goes back (app.ts's end listener calls clientLeft). Only while it still has
    // no socket: an answer that was being written may have reached the client, and must not be issued twice.
    const res = x.res;
    if (res.socket === null) {
      const leased = r.session;
      x.unsent = () => {
        if (res.socket === null) void d.poolService.giveBack(leased);
      };
    }
    x.json(presentSession(r.session, d.config.exposeSessionString, p.format));
    return;
  }
  if ('abandoned' in r) return;
  if (r.recoveryEndsInMs !== undefined) {
    const left = ceilSeconds(r.recoveryEndsInMs);
    x.header('Retry-After', String(left));
    x.json(presentRecovering(left), 503);
    return;
  }
  const nextIn = r.nextReleaseInMs === null ? null : ceilSeconds(r.nextReleaseInMs);
  if (nextIn !== null) x.header('Retry-After', String(nextIn));
  x.logLevel = 'info';
  x.json(presentNoFreeSession(r.inFloodwait, nextIn, r.inUse), 503);
}

export const ROUTE_TABLE: readonly Route[] = [
  route({
    path: '/status',
    method: 'GET',
    operationId: 'getStatus',
    tag: 'workers',
    summary: 'Counts per state',
    description: 'total == free + in_use + in_floodwait; O(log n), no scans.',
    ok: json(ref('Status'), 'Counts'),
    store: true,
    handle: async (d, _p, x) => {
      x.json(presentStatus(await d.poolService.status()));
    },
  }),
  route<S.AcquireParams>({
    path: '/session',
    method: 'GET',
    stateful: true,
    operationId: 'acquireSession',
    tag: 'workers',
    summary: 'Lease the least recently used free session',
    description:
      'With `wait`, holds the request open (long-poll) until a session this request can use is free or the wait runs out. ' +
      'With `scope`: only a session resting on none of the scopes (and on no account-wide rest); without it, only sessions with no running rest at all. ' +
      'With `tag`: only a session carrying every tag.',
    params: S.schemas.acquire,
    ok: json(ref('LeasedSession'), 'A leased session'),
    responses: { '503': NO_SESSION },
    handle: async (d, p, x) => {
      answerLease(d, x, p, await d.poolService.acquire(leaseRequest(x, p, p.scope)));
    },
  }),
  route<S.ReleaseParams>({
    path: '/release',
    method: 'POST',
    operationId: 'releaseSession',
    tag: 'workers',
    summary: 'Give a leased session back',
    description: `Idempotent: an unknown id or a free session also answers 200 (also a retry with the last lease's token). Never frees a session in floodwait or invalidated. ${TOKEN_NOTE} ${NEXT_NOTE}`,
    params: S.schemas.release,
    leaseToken: 'config',
    ok: orNext('Released', 'Released'),
    responses: { '409': resp('Conflict'), '503': NO_SESSION },
    store: true,
    handle: async (d, p, x) => {
      if (p.next) {
        answerLease(d, x, p, await d.poolService.releaseAndNext({ id: p.session_id, leaseToken: p.lease_token }, leaseRequest(x, p, p.scope)));
        return;
      }
      await d.poolService.release(p.session_id, p.lease_token);
      x.json(presentReleased(p.session_id));
    },
  }),
  route<S.FloodwaitParams>({
    path: '/floodwait',
    method: 'POST',
    operationId: 'reportFloodWait',
    tag: 'workers',
    summary: 'Report FLOOD_WAIT: keep the session out until now + wait_seconds',
    description:
      `wait_seconds 0 simply releases. An invalidated session stays invalidated. A retry with the same token answers the deadline that applies (never shortened). ` +
      'With `scope`, the rest applies to that scope only: the session leaves in_use and is free for other scopes; a longer running rest on the same scope is never shortened ' +
      '(with next=true the next session is one not resting on that scope). ' +
      `${TOKEN_NOTE} ${NEXT_NOTE}`,
    params: S.schemas.floodwait,
    leaseToken: 'config',
    ok: orNext('FloodwaitSet', 'Flood wait set'),
    responses: { '404': resp('NotFound'), '409': resp('Conflict'), '503': NO_SESSION },
    store: true,
    handle: async (d, p, x) => {
      const rest = { id: p.session_id, waitMs: p.wait_seconds * 1000, leaseToken: p.lease_token, scope: p.scope };
      if (p.next) answerLease(d, x, p, await d.poolService.floodWaitAndNext(rest, leaseRequest(x, p)));
      else x.json(presentFloodWait(await d.poolService.floodWait(rest)));
    },
  }),
  route<S.ReportParams>({
    path: '/report',
    method: 'POST',
    operationId: 'reportTelegramError',
    tag: 'workers',
    summary: 'Report a Telegram RPC error by name: the server-side table decides',
    description:
      '*_WAIT_X and SESSION_TOO_FRESH_X: rest `method` for X s (account-wide without a method). PEER_FLOOD, USER_RESTRICTED, FROZEN_METHOD_INVALID: health restricted, ' +
      'account-wide rest for TELEGATE_RESTRICTED_REST_SECONDS. AUTH_KEY_UNREGISTERED, AUTH_KEY_INVALID, SESSION_REVOKED, SESSION_EXPIRED, AUTH_KEY_DUPLICATED: invalidated, ' +
      'health logged_out, back by itself when sync sees a new auth key in its file. USER_DEACTIVATED, USER_DEACTIVATED_BAN, PHONE_NUMBER_BANNED: invalidated, health banned, ' +
      'until /restore. Anything else: no change (action none), still recorded. Matched by name, never by numeric code.',
    params: S.schemas.report,
    leaseToken: 'config',
    ok: json(ref('Reported'), 'What the table did'),
    responses: { '404': resp('NotFound'), '409': resp('Conflict') },
    store: true,
    handle: async (d, p, x) => {
      x.json(presentReported(await d.poolService.report({ id: p.session_id, error: p.error, method: p.method, leaseToken: p.lease_token })));
    },
  }),
  route<S.HeartbeatParams>({
    path: '/heartbeat',
    method: 'POST',
    operationId: 'extendLease',
    tag: 'workers',
    summary: 'Extend a lease by the lease TTL',
    params: S.schemas.heartbeat,
    ok: json(ref('Extended'), 'Lease extended'),
    responses: { '404': resp('NotFound'), '409': resp('Conflict') },
    store: true,
    handle: async (d, p, x) => {
      x.json(presentExtended(p.session_id, await d.poolService.heartbeat(p.session_id, p.lease_token)));
    },
  }),
  route<S.InvalidateParams>({
    path: '/invalidate',
    method: 'POST',
    operationId: 'invalidateSession',
    tag: 'workers',
    summary: 'Take a session out of circulation (banned, revoked …)',
    description:
      'Idempotent; 200 also for an unknown id. When TELEGATE_ADMIN_KEYS is set, a worker key must give the lease_token of the session it holds (422 without it, 409 when it is not the lease); admin keys need none.',
    params: S.schemas.invalidate,
    // Admins invalidate any session without a token (even under TELEGATE_REQUIRE_LEASE_TOKEN);
    // a worker key only the session it holds, proven by its lease token.
    leaseToken: 'roles',
    ok: json(ref('Invalidated'), 'Invalidated'),
    responses: { '409': resp('Conflict') },
    store: true,
    handle: async (d, p, x) => {
      await d.poolService.invalidate(p.session_id, p.reason, p.lease_token);
      x.json(presentInvalidated(p.session_id));
    },
  }),
  route<S.RestoreParams>({
    path: '/restore',
    method: 'POST',
    admin: true,
    operationId: 'restoreSession',
    tag: 'operators',
    summary: 'End invalidated or floodwait now: the session becomes free',
    description: `A session whose file is missing (file_missing) does not become free: it stays out as invalidated (state in the answer) until a sync finds its file. ${ADMIN_NOTE}`,
    params: S.schemas.restore,
    ok: json(ref('Restored'), 'Restored'),
    responses: { '404': resp('NotFound') },
    store: true,
    handle: async (d, p, x) => {
      x.json(presentRestored(await d.poolService.restore(p.session_id)));
    },
  }),
  route<S.SyncParams>({
    path: '/sync',
    method: 'POST',
    admin: true,
    operationId: 'syncSessions',
    tag: 'operators',
    summary: 'Reconcile the pool with the sessions directory',
    description: `New files are added as free, sessions whose file is gone are removed, the rest keep their state. ${ADMIN_NOTE}`,
    params: S.schemas.sync,
    ok: json(ref('SyncComplete'), 'Sync complete'),
    responses: { '500': json(ref('SyncFailed'), 'Directory missing or unreadable (sync_failed), or too much of the pool would go (sync_refused); nothing removed') },
    store: true,
    handle: async (d, p, x) => {
      x.json(presentSync(await d.poolService.sync(p.force ?? false)));
    },
  }),
  route<S.ListParams>({
    path: '/sessions',
    method: 'GET',
    admin: true,
    operationId: 'listSessions',
    tag: 'operators',
    summary: 'Paged listing of sessions (proxy passwords masked), with health, rests, tags and counters',
    description: `Filters: state, health, tag, scope (a running rest on it). ${ADMIN_NOTE}`,
    params: S.schemas.list,
    ok: json(ref('SessionsPage'), 'One page'),
    store: true,
    handle: async (d, p, x) => {
      const cursor = p.cursor === undefined ? undefined : String(p.cursor);
      const page = await d.poolService.list({ state: p.state, health: p.health, tag: p.tag, scope: p.scope, cursor, limit: p.limit ?? 100 });
      x.json(presentSessionsPage(page));
    },
  }),
  route<S.EventsParams>({
    path: '/events',
    method: 'GET',
    admin: true,
    operationId: 'listEvents',
    tag: 'operators',
    summary: 'Recent events (issued, released, rest, report, invalidated, restored, file_changed, removed), newest first',
    description: `From one capped stream (TELEGATE_EVENTS_MAX_LEN events, approximately). With session_id, one session's history; a page may hold fewer than limit with a next_cursor (bounded work). ${ADMIN_NOTE}`,
    params: S.schemas.events,
    ok: json(ref('EventsPage'), 'One page'),
    store: true,
    handle: async (d, p, x) => {
      const page = await d.poolService.history({ sessionId: p.session_id, cursor: p.cursor, limit: p.limit ?? 100 });
      x.json(presentEventsPage(page));
    },
  }),
  route({
    path: '/healthz',
    method: 'GET',
    public: true,
    quiet: true,
    operationId: 'liveness',
    tag: 'service',
    summary: 'Liveness: 200 while the process serves',
    ok: json(ref('Health'), 'Alive'),
    handle: (_d, _p, x) => {
      x.json(HEALTHY);
    },
  }),
  route({
    path: '/readyz',
    method: 'GET',
    public: true,
    quiet: true,
    operationId: 'readiness',
    tag: 'service',
    summary: 'Readiness: the store answers, its eviction policy is safe and scripts are loaded',
    description: 'Stays 200 during a recovery grace (the body says recovering), so clients keep getting 503 store_recovering with Retry-After.',
    ok: json(ref('Ready'), 'Ready'),
    responses: { '503': json(ref('NotReady'), 'Not ready') },
    handle: async (d, _p, x) => {
      if (!(await d.ready())) {
        x.logLevel = 'warn';
        x.json(NOT_READY, 503);
        return;
      }
      // A recovery grace keeps the replica ready: failing readiness would take every replica out of
      // the Service and turn "503 with Retry-After" into "connection refused" (README, Reliability).
      x.json(presentReady(d.recoveryEndsInMs ? await d.recoveryEndsInMs().catch(() => null) : null));
    },
  }),
  route({
    path: '/metrics',
    method: 'GET',
    public: 'metricsPublic',
    quiet: true,
    operationId: 'metrics',
    tag: 'service',
    summary: 'Prometheus metrics (text format 0.0.4)',
    ok: text('text/plain; version=0.0.4; charset=utf-8', 'Metrics'),
    handle: async (d, _p, x) => {
      if (!d.metrics) throw new HttpError(404, 'Not Found');
      x.text(200, d.metrics.contentType, await d.metrics.render());
    },
  }),
  route({
    path: '/openapi.json',
    method: 'GET',
    public: true,
    quiet: true,
    operationId: 'openapi',
    tag: 'service',
    summary: 'This document',
    ok: json({ type: 'object' }, 'OpenAPI 3.1'),
    handle: (d, _p, x) => {
      x.json(d.openapi);
    },
  }),
  route({
    path: '/docs',
    method: 'GET',
    public: true,
    quiet: true,
    page: true,
    operationId: 'docs',
    tag: 'service',
    summary: 'Interactive documentation (Swagger UI)',
    ok: HTML_PAGE,
  }),
  route({
    path: '/ui',
    method: 'GET',
    public: true,
    quiet: true,
    page: true,
    operationId: 'dashboard',
    tag: 'service',
    summary: 'Operator dashboard; the page holds no data, its API calls carry the key',
    ok: HTML_PAGE,
  }),
];

/** Whether a route needs no API key in a deployment whose /metrics is public or not. */
export function isPublic(r: Route, metricsPublic: boolean): boolean {
  return r.public === 'metricsPublic' ? metricsPublic : r.public === true;
}
