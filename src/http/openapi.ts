/**
 * The OpenAPI 3.1 description of the HTTP API (GET /openapi.json, rendered by
 * Swagger UI at /docs). Parameters come from `schemas` in ./schemas: the very
 * objects ajv validates requests with, so the description cannot drift from
 * the validation. Response shapes follow shared/spec/API.md; the tests check
 * real answers against them and every route of ROUTES against `paths`.
 *
 * The document is public (no API key): it describes a contract that holds no
 * data, the same for every deployment, and /docs must be able to load it
 * before anyone has typed a key.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EVENT_TYPES, SESSION_STATES } from '../pool/types';
import { HEALTH_STATES } from '../telegram/errors';
import type { ParamSchema } from './params';
import { schemas } from './schemas';

type Json = Record<string, unknown>;

export interface OpenApiOptions {
  /** /metrics needs no key (TELEGATE_METRICS_PUBLIC). */
  metricsPublic: boolean;
}

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const resp = (name: string): Json => ({ $ref: `#/components/responses/${name}` });
const json = (schema: Json, description: string): Json => ({ description, content: { 'application/json': { schema } } });

const TIME: Json = { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}$', description: 'UTC, "YYYY-MM-DD HH:MM:SS"', examples: ['2025-03-01 18:30:00'] };
const int: Json = { type: 'integer' };
const nullable = (s: Json): Json => ({ oneOf: [s, { type: 'null' }] });
const object = (properties: Record<string, Json>, required: string[] = Object.keys(properties), extra: Json = {}): Json => ({
  type: 'object',
  properties,
  required,
  ...extra,
});
const detail = (d: Json): Json => object({ detail: d });

/** Present only while issuing is held after Redis lost its data (TELEGATE_RECOVERY_GRACE_SECONDS). */
const RECOVERY: Record<string, Json> = {
  recovering: { const: true, description: 'Only during a recovery grace after Redis lost its data' },
  recovery_ends_in: { type: 'integer', minimum: 0, description: 'Whole seconds until the grace ends (only with recovering)' },
};

const SESSION_META: Record<string, Json> = {
  proxy: nullable(ref('Proxy')),
  format: { type: 'string', enum: ['telethon', 'pyrogram'], description: 'Session file format (when the file could be read)' },
  dc_id: { ...int, description: 'Telegram data centre of the session' },
  user_id: { ...int, description: 'Telegram user id of the account' },
};

const COUNTS_BY_SCOPE: Json = { type: 'object', additionalProperties: int, description: 'scope (lowercased Telegram method) → count', examples: [{ 'messages.sendmessage': 12 }] };
const HEALTH: Json = { type: 'string', enum: HEALTH_STATES };

const componentSchemas: Record<string, Json> = {
  Proxy: object(
    {
      type: { type: 'string', description: 'socks5, socks4, http, mtproto …' },
      host: { type: 'string' },
      port: { type: 'integer', minimum: 1, maximum: 65535 },
      username: { type: ['string', 'null'] },
      password: { type: ['string', 'null'], description: 'Given in full by GET /session only; "***" in listings' },
      rdns: { type: 'boolean' },
    },
    ['type', 'host', 'port'],
  ),
  Status: object(
    {
      total: int,
      free: int,
      in_use: int,
      in_floodwait: { ...int, description: 'floodwait + invalidated, as the original counted them' },
      next_available: { ...nullable(TIME), description: 'Earliest deadline of a timed flood wait; null when none' },
      invalidated: { ...int, description: 'How many of in_floodwait are invalidated (added)' },
      rests: { ...COUNTS_BY_SCOPE, description: 'Sessions with a running rest per scope (added). A session with only scoped rests counts in in_floodwait' },
      health: { ...object(Object.fromEntries(HEALTH_STATES.map((h) => [h, int]))), description: 'Sessions per health (added)' },
      ...RECOVERY,
    },
    ['total', 'free', 'in_use', 'in_floodwait', 'next_available', 'invalidated', 'rests', 'health'],
  ),
  LeasedSession: object(
    {
      session_id: int,
      session_name: { type: 'string', description: 'File name without .session' },
      lease_token: { type: 'string', description: 'Opaque; pass it to /release, /floodwait and /heartbeat' },
      lease_expires_at: TIME,
      ...SESSION_META,
      account: { type: 'object', description: 'Sidecar JSON fields, secrets removed' },
      session_string: {
        type: 'string',
        description: "Only when TELEGATE_EXPOSE_SESSION_STRING is on; in the `format` asked for, else the file's own format",
      },
      session_string_error: {
        type: 'string',
        description:
          'Only with `format`, instead of session_string: strings are not exposed, or a field that format needs is unknown (named here)',
      },
    },
    ['session_id', 'session_name', 'lease_token', 'lease_expires_at', 'proxy'],
  ),
  ListedSession: object(
    {
      session_id: int,
      session_name: { type: 'string' },
      state: { type: 'string', enum: SESSION_STATES },
      floodwait_until: { ...nullable(TIME), description: 'Deadline when in floodwait' },
      lease_expires_at: { ...nullable(TIME), description: 'Lease expiry when in use' },
      reason: { type: ['string', 'null'], description: 'Why it was invalidated' },
      rests: { type: 'object', additionalProperties: TIME, description: 'Running scoped rests: scope → deadline (added)' },
      health: HEALTH,
      tags: { type: 'array', items: { type: 'string' }, description: 'Sidecar "tags", lowercased (added)' },
      counters: object({
        issued: { ...int, description: 'Times issued' },
        rests: { ...int, description: 'Rests (POST /floodwait and reported *_WAIT_X)' },
        rested_seconds: { ...int, description: 'Seconds of rest asked, in total' },
        rests_by_scope: { ...COUNTS_BY_SCOPE, description: 'Rests per scope ("*": account-wide)' },
      }),
      last_error: { ...nullable(object({ error: { type: 'string' }, at: TIME })), description: 'The last error reported for it (POST /report)' },
      file_missing: {
        type: 'boolean',
        description:
          'Its file was missing at the last sync while it was leased or resting: it is not issued again, keeps its lease or rest, and leaves at the next sync after they end unless the file returns first (added)',
      },
      ...SESSION_META,
    },
    ['session_id', 'session_name', 'state', 'floodwait_until', 'lease_expires_at', 'reason', 'file_missing', 'proxy'],
  ),
  SessionsPage: object({
    sessions: { type: 'array', items: ref('ListedSession') },
    next_cursor: { type: ['string', 'null'], description: 'Pass as `cursor` for the next page; null on the last page' },
  }),
  Released: object({ status: { const: 'released' }, session_id: int }),
  Invalidated: object({ status: { const: 'invalidated' }, session_id: int }),
  Restored: object({ status: { const: 'restored' }, session_id: int, state: { type: 'string', enum: SESSION_STATES } }, ['status', 'session_id']),
  FloodwaitSet: object(
    {
      status: { const: 'floodwait_set' },
      session_id: int,
      session_name: { type: 'string' },
      floodwait_until: TIME,
      in_floodwait: { type: 'boolean' },
      state: { type: 'string', enum: SESSION_STATES },
      scope: { type: 'string', description: 'The scope rested, when one was given (added)' },
    },
    ['status', 'session_id', 'session_name', 'floodwait_until', 'in_floodwait'],
  ),
  Reported: object(
    {
      status: { const: 'reported' },
      session_id: int,
      error: { type: 'string', description: 'The error name, upper-cased' },
      action: { type: 'string', enum: ['rest', 'invalidate', 'none'], description: 'What the server-side table did' },
      scope: { type: ['string', 'null'], description: 'With action rest: the scope rested, null for account-wide' },
      until: { ...TIME, description: 'With action rest: the deadline that now applies' },
      health: { ...HEALTH, description: 'When the report set a health (restricted, logged_out, banned)' },
    },
    ['status', 'session_id', 'error', 'action'],
  ),
  Event: object(
    {
      id: { type: 'string', description: 'Stream id "<ms>-<seq>": pass as cursor for older events' },
      at: TIME,
      type: { type: 'string', enum: EVENT_TYPES },
      session_id: int,
      session_name: { type: 'string', description: 'file_changed, removed' },
      scope: { type: 'string' },
      until: TIME,
      error: { type: 'string', description: 'report: the Telegram error name' },
      action: { type: 'string', description: 'report: what was done' },
      reason: { type: 'string', description: 'invalidated: why' },
    },
    ['id', 'at', 'type', 'session_id'],
  ),
  EventsPage: object({
    events: { type: 'array', items: ref('Event'), description: 'Newest first' },
    next_cursor: { type: ['string', 'null'], description: 'Pass as `cursor` for older events; null at the oldest kept' },
  }),
  Extended: object({ status: { const: 'extended' }, session_id: int, lease_expires_at: TIME }),
  SyncComplete: object({
    status: { const: 'sync complete' },
    details: object({ new_sessions: int, removed_sessions: int, total_sessions: int, updated_sessions: int }, ['new_sessions', 'removed_sessions', 'total_sessions']),
  }),
  Health: object({ status: { const: 'ok' } }),
  Ready: object({ status: { const: 'ready' }, ...RECOVERY }, ['status']),
  NotReady: detail(object({ error: { const: 'not_ready' } })),
  Detail: detail({ type: 'string' }),
  ValidationError: detail({
    type: 'array',
    description: 'FastAPI/pydantic-v2 shape: one entry per problem',
    items: object(
      {
        type: { type: 'string', examples: ['missing', 'int_parsing', 'less_than_equal'] },
        loc: { type: 'array', items: { type: ['string', 'integer'] }, examples: [['query', 'session_id']] },
        msg: { type: 'string' },
        input: {},
        ctx: { type: 'object' },
      },
      ['type', 'loc', 'msg', 'input'],
    ),
  }),
  LeaseMismatch: detail(object({ error: { const: 'lease_mismatch' }, session_id: int })),
  StoreUnavailable: detail(object({ error: { const: 'store_unavailable' } })),
  StoreMisconfigured: detail(
    object({ error: { const: 'store_misconfigured' }, reason: { type: 'string', description: 'What is wrong and what to set, e.g. the Redis maxmemory-policy' } }),
  ),
  StoreRecovering: detail(
    object({
      error: { const: 'store_recovering' },
      in_floodwait: { const: 0 },
      next_release_in: { type: 'integer', minimum: 0, description: 'Whole seconds until the recovery grace ends (also in Retry-After)' },
    }),
  ),
  NoFreeSession: detail(
    object(
      {
        error: { const: 'no_free_session' },
        in_floodwait: int,
        next_release_in: {
          type: ['integer', 'null'],
          description: 'Whole seconds until the earliest rest keeping a session from this request (its scopes and tags) ends; null when none',
        },
        in_use: { ...int, description: 'Sessions leased now (added): tells "wait" from "never"' },
      },
      ['error', 'in_floodwait', 'next_release_in'],
    ),
  ),
  SyncFailed: detail(object({ error: { type: 'string', enum: ['sync_failed', 'sync_refused'] }, reason: { type: 'string' } })),
};

const RETRY_AFTER: Json = { description: 'Seconds to wait before retrying', schema: { type: 'integer' } };

const componentResponses: Record<string, Json> = {
  Unauthorized: json(ref('Detail'), 'No X-API-Key header: {"detail": "API key required"}'),
  Forbidden: json(ref('Detail'), 'Unknown key {"detail": "Invalid API key"}, or a worker key on an admin endpoint {"detail": "Admin API key required"}'),
  NotFound: json(ref('Detail'), '{"detail": "Not Found"} for an unknown route, {"detail": "Session not found"} for an unknown session'),
  MethodNotAllowed: {
    ...json(ref('Detail'), 'Known route, wrong method: {"detail": "Method Not Allowed"}, with an Allow header'),
    headers: { Allow: { schema: { type: 'string' } } },
  },
  Conflict: json(ref('LeaseMismatch'), 'The lease_token is not the current lease of the session; nothing changed'),
  ValidationError: json(ref('ValidationError'), 'A parameter is missing or invalid'),
  PayloadTooLarge: json(ref('Detail'), 'Body over 16 kB: {"detail": "Request Entity Too Large"}'),
  TooManyRequests: {
    ...json(ref('Detail'), 'Rate limit per API key: {"detail": "Too Many Requests"}'),
    headers: {
      'Retry-After': RETRY_AFTER,
      'RateLimit-Limit': { schema: { type: 'integer' } },
      'RateLimit-Remaining': { schema: { type: 'integer' } },
      'RateLimit-Reset': { schema: { type: 'integer' } },
    },
  },
  StoreUnavailable: {
    description: 'The store (Redis) did not answer within 2 s (store_unavailable, with Retry-After), or its eviction policy may drop pool keys (store_misconfigured)',
    headers: { 'Retry-After': RETRY_AFTER },
    content: { 'application/json': { schema: { oneOf: [ref('StoreUnavailable'), ref('StoreMisconfigured')] } } },
  },
  InternalError: json(ref('Detail'), '{"detail": "Internal Server Error"}; the cause is logged, never returned'),
};

/** GET /session's 503, also the answer of /release and /floodwait with next=true when nothing is free. */
const NO_SESSION: Json = {
  description:
    'Nothing free (no_free_session, with Retry-After when a flood wait ends at a known time), issuing held after Redis lost its data (store_recovering, with Retry-After), or the store is unavailable or misconfigured',
  headers: { 'Retry-After': RETRY_AFTER },
  content: {
    'application/json': { schema: { oneOf: [ref('NoFreeSession'), ref('StoreRecovering'), ref('StoreUnavailable'), ref('StoreMisconfigured')] } },
  },
};

/** The 200 of a give-back that may take the next session (next=true): its own answer, or GET /session's. */
const orNext = (own: string, what: string): Json => ({
  description: `${what}; with next=true, the next leased session exactly as GET /session answers it`,
  content: { 'application/json': { schema: { oneOf: [ref(own), ref('LeasedSession')] } } },
});

const NEXT_NOTE =
  'With next=true the session is given back and the next one leased in one atomic step (one request per worker cycle): the answer is then that of GET /session (its 200 body, or its 503), and wait/format apply as there.';

interface Op {
  method: 'get' | 'post';
  operationId: string;
  summary: string;
  description?: string;
  tag: 'workers' | 'operators' | 'service';
  params?: ParamSchema;
  /** 200 answer. */
  ok: Json;
  /** Extra responses by status. */
  responses?: Record<string, Json>;
  /** No API key needed. */
  public?: boolean;
  /** Admin key needed when TELEGATE_ADMIN_KEYS is set. */
  admin?: boolean;
  /** Touches the store (can answer 503 store_unavailable). */
  store?: boolean;
}

const ADMIN_NOTE = 'Needs an admin key when TELEGATE_ADMIN_KEYS is set.';
const TOKEN_NOTE =
  'lease_token is required (422 without it) from a worker key when TELEGATE_ADMIN_KEYS is set, and from every key when TELEGATE_REQUIRE_LEASE_TOKEN is true.';

function operations(opts: OpenApiOptions): Record<string, Op> {
  return {
    '/status': {
      method: 'get',
      operationId: 'getStatus',
      tag: 'workers',
      summary: 'Counts per state',
      description: 'total == free + in_use + in_floodwait; O(log n), no scans.',
      ok: json(ref('Status'), 'Counts'),
      store: true,
    },
    '/session': {
      method: 'get',
      operationId: 'acquireSession',
      tag: 'workers',
      summary: 'Lease the least recently used free session',
      description:
        'With `wait`, holds the request open (long-poll) until a session this request can use is free or the wait runs out. ' +
        'With `scope`: only a session resting on none of the scopes (and on no account-wide rest); without it, only sessions with no running rest at all. ' +
        'With `tag`: only a session carrying every tag.',
      params: schemas.acquire,
      ok: json(ref('LeasedSession'), 'A leased session'),
      responses: {
        '503': NO_SESSION,
      },
    },
    '/release': {
      method: 'post',
      operationId: 'releaseSession',
      tag: 'workers',
      summary: 'Give a leased session back',
      description: `Idempotent: an unknown id or a free session also answers 200 (also a retry with the last lease's token). Never frees a session in floodwait or invalidated. ${TOKEN_NOTE} ${NEXT_NOTE}`,
      params: schemas.release,
      ok: orNext('Released', 'Released'),
      responses: { '409': resp('Conflict'), '503': NO_SESSION },
      store: true,
    },
    '/floodwait': {
      method: 'post',
      operationId: 'reportFloodWait',
      tag: 'workers',
      summary: 'Report FLOOD_WAIT: keep the session out until now + wait_seconds',
      description:
        `wait_seconds 0 simply releases. An invalidated session stays invalidated. A retry with the same token answers the deadline that applies (never shortened). ` +
        'With `scope`, the rest applies to that scope only: the session leaves in_use and is free for other scopes; a longer running rest on the same scope is never shortened ' +
        '(with next=true the next session is one not resting on that scope). ' +
        `${TOKEN_NOTE} ${NEXT_NOTE}`,
      params: schemas.floodwait,
      ok: orNext('FloodwaitSet', 'Flood wait set'),
      responses: { '404': resp('NotFound'), '409': resp('Conflict'), '503': NO_SESSION },
      store: true,
    },
    '/report': {
      method: 'post',
      operationId: 'reportTelegramError',
      tag: 'workers',
      summary: 'Report a Telegram RPC error by name: the server-side table decides',
      description:
        '*_WAIT_X and SESSION_TOO_FRESH_X: rest `method` for X s (account-wide without a method). PEER_FLOOD, USER_RESTRICTED, FROZEN_METHOD_INVALID: health restricted, ' +
        'account-wide rest for TELEGATE_RESTRICTED_REST_SECONDS. AUTH_KEY_UNREGISTERED, AUTH_KEY_INVALID, SESSION_REVOKED, SESSION_EXPIRED, AUTH_KEY_DUPLICATED: invalidated, ' +
        'health logged_out, back by itself when sync sees a new auth key in its file. USER_DEACTIVATED, USER_DEACTIVATED_BAN, PHONE_NUMBER_BANNED: invalidated, health banned, ' +
        'until /restore. Anything else: no change (action none), still recorded. Matched by name, never by numeric code.',
      params: schemas.report,
      ok: json(ref('Reported'), 'What the table did'),
      responses: { '404': resp('NotFound'), '409': resp('Conflict') },
      store: true,
    },
    '/heartbeat': {
      method: 'post',
      operationId: 'extendLease',
      tag: 'workers',
      summary: 'Extend a lease by the lease TTL',
      params: schemas.heartbeat,
      ok: json(ref('Extended'), 'Lease extended'),
      responses: { '404': resp('NotFound'), '409': resp('Conflict') },
      store: true,
    },
    '/invalidate': {
      method: 'post',
      operationId: 'invalidateSession',
      tag: 'workers',
      summary: 'Take a session out of circulation (banned, revoked …)',
      description:
        'Idempotent; 200 also for an unknown id. When TELEGATE_ADMIN_KEYS is set, a worker key must give the lease_token of the session it holds (422 without it, 409 when it is not the lease); admin keys need none.',
      params: schemas.invalidate,
      ok: json(ref('Invalidated'), 'Invalidated'),
      responses: { '409': resp('Conflict') },
      store: true,
    },
    '/restore': {
      method: 'post',
      operationId: 'restoreSession',
      tag: 'operators',
      summary: 'End invalidated or floodwait now: the session becomes free',
      description: `A session whose file is missing (file_missing) does not become free: it stays out as invalidated (state in the answer) until a sync finds its file. ${ADMIN_NOTE}`,
      params: schemas.restore,
      ok: json(ref('Restored'), 'Restored'),
      responses: { '404': resp('NotFound') },
      admin: true,
      store: true,
    },
    '/sync': {
      method: 'post',
      operationId: 'syncSessions',
      tag: 'operators',
      summary: 'Reconcile the pool with the sessions directory',
      description: `New files are added as free, sessions whose file is gone are removed, the rest keep their state. ${ADMIN_NOTE}`,
      params: schemas.sync,
      ok: json(ref('SyncComplete'), 'Sync complete'),
      responses: { '500': json(ref('SyncFailed'), 'Directory missing or unreadable (sync_failed), or too much of the pool would go (sync_refused); nothing removed') },
      admin: true,
      store: true,
    },
    '/sessions': {
      method: 'get',
      operationId: 'listSessions',
      tag: 'operators',
      summary: 'Paged listing of sessions (proxy passwords masked), with health, rests, tags and counters',
      description: `Filters: state, health, tag, scope (a running rest on it). ${ADMIN_NOTE}`,
      params: schemas.list,
      ok: json(ref('SessionsPage'), 'One page'),
      admin: true,
      store: true,
    },
    '/events': {
      method: 'get',
      operationId: 'listEvents',
      tag: 'operators',
      summary: 'Recent events (issued, released, rest, report, invalidated, restored, file_changed, removed), newest first',
      description: `From one capped stream (TELEGATE_EVENTS_MAX_LEN events, approximately). With session_id, one session's history; a page may hold fewer than limit with a next_cursor (bounded work). ${ADMIN_NOTE}`,
      params: schemas.events,
      ok: json(ref('EventsPage'), 'One page'),
      admin: true,
      store: true,
    },
    '/healthz': {
      method: 'get',
      operationId: 'liveness',
      tag: 'service',
      summary: 'Liveness: 200 while the process serves',
      ok: json(ref('Health'), 'Alive'),
      public: true,
    },
    '/readyz': {
      method: 'get',
      operationId: 'readiness',
      tag: 'service',
      summary: 'Readiness: the store answers, its eviction policy is safe and scripts are loaded',
      description: 'Stays 200 during a recovery grace (the body says recovering), so clients keep getting 503 store_recovering with Retry-After.',
      ok: json(ref('Ready'), 'Ready'),
      responses: { '503': json(ref('NotReady'), 'Not ready') },
      public: true,
    },
    '/metrics': {
      method: 'get',
      operationId: 'metrics',
      tag: 'service',
      summary: 'Prometheus metrics (text format 0.0.4)',
      description: opts.metricsPublic ? 'Public (TELEGATE_METRICS_PUBLIC is on).' : 'Needs an API key unless TELEGATE_METRICS_PUBLIC is on.',
      ok: { description: 'Metrics', content: { 'text/plain; version=0.0.4; charset=utf-8': { schema: { type: 'string' } } } },
      public: opts.metricsPublic,
    },
    '/openapi.json': {
      method: 'get',
      operationId: 'openapi',
      tag: 'service',
      summary: 'This document',
      ok: json({ type: 'object' }, 'OpenAPI 3.1'),
      public: true,
    },
    '/docs': {
      method: 'get',
      operationId: 'docs',
      tag: 'service',
      summary: 'Interactive documentation (Swagger UI)',
      ok: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } },
      public: true,
    },
    '/ui': {
      method: 'get',
      operationId: 'dashboard',
      tag: 'service',
      summary: 'Operator dashboard; the page holds no data, its API calls carry the key',
      ok: { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } },
      public: true,
    },
  };
}

function parameters(schema: ParamSchema): Json[] {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, prop]) => ({
    name,
    in: 'query',
    required: required.has(name),
    ...(prop.description === undefined ? {} : { description: prop.description }),
    schema: prop,
  }));
}

function operation(op: Op): Json {
  const responses: Record<string, Json> = { '200': op.ok, ...op.responses };
  if (op.params && Object.keys(op.params.properties).length > 0) responses['422'] = resp('ValidationError');
  if (!op.public) {
    responses['401'] = resp('Unauthorized');
    responses['403'] = resp('Forbidden');
    responses['429'] = resp('TooManyRequests');
  }
  if (op.method === 'post') responses['413'] = resp('PayloadTooLarge');
  if (op.store && !responses['503']) responses['503'] = resp('StoreUnavailable');
  if (!responses['500']) responses['500'] = resp('InternalError');
  const out: Json = {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description === undefined ? {} : { description: op.description }),
    ...(op.public ? { security: [] } : {}),
    ...(op.admin ? { 'x-admin-only': true } : {}),
  };
  if (op.params) {
    out.parameters = parameters(op.params);
    if (op.method === 'post') {
      out.requestBody = {
        required: false,
        description: 'The same parameters may be sent as a JSON or form body instead of the query string (the query string wins).',
        content: { 'application/json': { schema: op.params }, 'application/x-www-form-urlencoded': { schema: op.params } },
      };
    }
  }
  out.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => a.localeCompare(b)));
  return out;
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

/** The OpenAPI 3.1 document of this deployment's API. */
export function buildOpenApi(opts: OpenApiOptions): Json {
  const paths: Record<string, Json> = {};
  for (const [p, op] of Object.entries(operations(opts))) paths[p] = { [op.method]: operation(op) };
  return {
    openapi: '3.1.0',
    info: {
      title: 'TeleGate',
      version: packageVersion(),
      summary: 'Leases Telegram .session files to workers, one worker per session at a time',
      description:
        'Every endpoint needs the X-API-Key header unless marked otherwise. Parameters are accepted from the query string, a form body or a JSON body (the query string wins). ' +
        'An unknown route answers 404 {"detail": "Not Found"}, a known route with the wrong method 405 {"detail": "Method Not Allowed"}. Every answer is JSON except /metrics, /docs and /ui.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'workers', description: 'What a worker calls' },
      { name: 'operators', description: 'Operator endpoints (admin keys when configured)' },
      { name: 'service', description: 'Probes, metrics and documentation' },
    ],
    security: [{ ApiKeyAuth: [] }],
    paths,
    components: {
      securitySchemes: { ApiKeyAuth: { type: 'apiKey', in: 'header', name: 'X-API-Key' } },
      schemas: componentSchemas,
      responses: componentResponses,
    },
  };
}
