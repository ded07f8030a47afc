/**
 * The answers' shapes (spec §3–§4): each a TypeBox schema, which is at once the
 * JSON Schema /openapi.json documents (components.schemas) and, through
 * Static<>, the TypeScript type present.ts's presenters return. A field a
 * presenter sends that its schema does not name (or the reverse, a required
 * one it leaves out) fails typecheck: the document cannot drift from the code.
 *
 * Also the reusable response objects (components.responses) and the helpers
 * the route table (routes.ts) describes its answers with.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { EVENT_TYPES, SESSION_STATES, type EventType, type SessionState } from '../pool/types';
import { HEALTH_STATES, type Health as HealthState } from '../telegram/errors';

type Json = Record<string, unknown>;

/** One of a fixed set of strings: {type: string, enum} (TypeBox's own union would be an anyOf of consts). */
const oneOfStrings = <T extends string>(values: readonly T[], opts: Json = {}) => Type.Unsafe<T>({ type: 'string', enum: values, ...opts });
/** The schema or null, as oneOf (the document's established form). */
const nullable = <T extends TSchema>(s: T, opts: Json = {}) => Type.Unsafe<Static<T> | null>({ oneOf: [s, { type: 'null' }], ...opts });
/** A string or null, as a type list (the document's established form for scalars). */
const strOrNull = (opts: Json = {}) => Type.Unsafe<string | null>({ type: ['string', 'null'], ...opts });
/** An object whose keys are free (a map): additionalProperties. */
const mapOf = <T extends TSchema>(value: T, opts: Json = {}) => Type.Unsafe<Record<string, Static<T>>>({ type: 'object', additionalProperties: value, ...opts });
/** A $ref to a component schema, typed as that schema (the tests resolve every $ref of the document). */
const refTo = <T extends TSchema>(name: string, _schema: T) => Type.Unsafe<Static<T>>({ $ref: `#/components/schemas/${name}` });
const str = (opts: Json = {}) => Type.String(opts);
const int = (opts: Json = {}) => Type.Integer(opts);
const detail = <T extends TSchema>(d: T) => Type.Object({ detail: d });

const TIME_OPTS = { pattern: '^\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2}$', description: 'UTC, "YYYY-MM-DD HH:MM:SS"', examples: ['2025-03-01 18:30:00'] };
const TIME = str(TIME_OPTS);

/** Present only while issuing is held after Redis lost its data (TELEGATE_RECOVERY_GRACE_SECONDS). */
const RECOVERY = {
  recovering: Type.Optional(Type.Literal(true, { description: 'Only during a recovery grace after Redis lost its data' })),
  recovery_ends_in: Type.Optional(int({ minimum: 0, description: 'Whole seconds until the grace ends (only with recovering)' })),
};

const Proxy = Type.Object({
  type: str({ description: 'socks5, socks4, http, mtproto …' }),
  host: str(),
  port: int({ minimum: 1, maximum: 65535 }),
  username: Type.Optional(strOrNull()),
  password: Type.Optional(strOrNull({ description: 'Given in full by GET /session only; "***" in listings' })),
  rdns: Type.Optional(Type.Boolean()),
});

const SESSION_META = {
  proxy: nullable(refTo('Proxy', Proxy)),
  format: Type.Optional(oneOfStrings(['telethon', 'pyrogram'] as const, { description: 'Session file format (when the file could be read)' })),
  dc_id: Type.Optional(int({ description: 'Telegram data centre of the session' })),
  user_id: Type.Optional(int({ description: 'Telegram user id of the account' })),
};

/** The fields of a session's metadata both a lease and a listing carry. */
export const SessionMetaFields = Type.Object({
  ...SESSION_META,
  account: Type.Optional(Type.Unsafe<Record<string, unknown>>({ type: 'object', description: 'Sidecar JSON fields, secrets removed' })),
  session_string: Type.Optional(
    str({ description: "Only when TELEGATE_EXPOSE_SESSION_STRING is on; in the `format` asked for, else the file's own format" }),
  ),
});

const COUNTS_BY_SCOPE = { description: 'scope (lowercased Telegram method) → count', examples: [{ 'messages.sendmessage': 12 }] };
const HEALTH = oneOfStrings<HealthState>(HEALTH_STATES);
const STATE = oneOfStrings<SessionState>(SESSION_STATES);

const Status = Type.Object({
  total: int(),
  free: int(),
  in_use: int(),
  in_floodwait: int({ description: 'floodwait + invalidated, as the original counted them' }),
  next_available: nullable(TIME, { description: 'Earliest deadline of a timed flood wait; null when none' }),
  invalidated: int({ description: 'How many of in_floodwait are invalidated (added)' }),
  rests: mapOf(int(), { ...COUNTS_BY_SCOPE, description: 'Sessions with a running rest per scope (added). A session with only scoped rests counts in in_floodwait' }),
  health: Type.Unsafe<Record<HealthState, number>>({
    type: 'object',
    properties: Object.fromEntries(HEALTH_STATES.map((h) => [h, { type: 'integer' }])),
    required: HEALTH_STATES,
    description: 'Sessions per health (added)',
  }),
  ...RECOVERY,
});

const LeasedSession = Type.Object({
  session_id: int(),
  session_name: str({ description: 'File name without .session' }),
  lease_token: str({ description: 'Opaque; pass it to /release, /floodwait and /heartbeat' }),
  lease_expires_at: TIME,
  ...SessionMetaFields.properties,
  session_string_error: Type.Optional(
    str({ description: 'Only with `format`, instead of session_string: strings are not exposed, or a field that format needs is unknown (named here)' }),
  ),
});

const ListedSession = Type.Object({
  session_id: int(),
  session_name: str(),
  state: STATE,
  floodwait_until: nullable(TIME, { description: 'Deadline when in floodwait' }),
  lease_expires_at: nullable(TIME, { description: 'Lease expiry when in use' }),
  reason: strOrNull({ description: 'Why it was invalidated' }),
  rests: mapOf(TIME, { description: 'Running scoped rests: scope → deadline (added)' }),
  health: HEALTH,
  tags: Type.Array(str(), { description: 'Sidecar "tags", lowercased (added)' }),
  counters: Type.Object({
      issued: int({ description: 'Times issued' }),
      rests: int({ description: 'Rests (POST /floodwait and reported *_WAIT_X)' }),
      rested_seconds: int({ description: 'Seconds of rest asked, in total' }),
      rests_by_scope: mapOf(int(), { ...COUNTS_BY_SCOPE, description: 'Rests per scope ("*": account-wide)' }),
  }),
  last_error: nullable(Type.Object({ error: str(), at: TIME }), { description: 'The last error reported for it (POST /report)' }),
  file_missing: Type.Boolean({
    description:
      'Its file was missing at the last sync while it was leased or resting: it is not issued again, keeps its lease or rest, and leaves at the next sync after they end unless the file returns first (added)',
  }),
  ...SESSION_META,
});

const SessionsPage = Type.Object({
  sessions: Type.Array(refTo('ListedSession', ListedSession)),
  next_cursor: strOrNull({ description: 'Pass as `cursor` for the next page; null on the last page' }),
});

const Released = Type.Object({ status: Type.Literal('released'), session_id: int() });
const Invalidated = Type.Object({ status: Type.Literal('invalidated'), session_id: int() });
const Restored = Type.Object({ status: Type.Literal('restored'), session_id: int(), state: STATE });

const FloodwaitSet = Type.Object({
  status: Type.Literal('floodwait_set'),
  session_id: int(),
  session_name: str(),
  floodwait_until: TIME,
  in_floodwait: Type.Boolean(),
  state: STATE,
  scope: Type.Optional(str({ description: 'The scope rested, when one was given (added)' })),
});

const Reported = Type.Object({
  status: Type.Literal('reported'),
  session_id: int(),
  error: str({ description: 'The error name, upper-cased' }),
  action: oneOfStrings(['rest', 'invalidate', 'none'] as const, { description: 'What the server-side table did' }),
  scope: Type.Optional(strOrNull({ description: 'With action rest: the scope rested, null for account-wide' })),
  until: Type.Optional(nullable(TIME, { description: 'With action rest: the deadline that now applies' })),
  health: Type.Optional(oneOfStrings<HealthState>(HEALTH_STATES, { description: 'When the report set a health (restricted, logged_out, banned)' })),
});

const Event = Type.Object({
  id: str({ description: 'Stream id "<ms>-<seq>": pass as cursor for older events' }),
  at: TIME,
  type: oneOfStrings<EventType>(EVENT_TYPES),
  session_id: int(),
  session_name: Type.Optional(str({ description: 'file_changed, removed' })),
  scope: Type.Optional(str()),
  until: Type.Optional(TIME),
  error: Type.Optional(str({ description: 'report: the Telegram error name' })),
  action: Type.Optional(str({ description: 'report: what was done' })),
  reason: Type.Optional(str({ description: 'invalidated: why' })),
});

const EventsPage = Type.Object({
  events: Type.Array(refTo('Event', Event), { description: 'Newest first' }),
  next_cursor: strOrNull({ description: 'Pass as `cursor` for older events; null at the oldest kept' }),
});

const Extended = Type.Object({ status: Type.Literal('extended'), session_id: int(), lease_expires_at: TIME });

const SyncComplete = Type.Object({
  status: Type.Literal('sync complete'),
  details: Type.Object({ new_sessions: int(), removed_sessions: int(), total_sessions: int(), updated_sessions: int() }),
});

const Health = Type.Object({ status: Type.Literal('ok') });
const Ready = Type.Object({ status: Type.Literal('ready'), ...RECOVERY });
const NotReady = detail(Type.Object({ error: Type.Literal('not_ready') }));
const Detail = detail(str());

const ValidationError = detail(
  Type.Array(
    Type.Object({
      type: str({ examples: ['missing', 'int_parsing', 'less_than_equal'] }),
      loc: Type.Array(Type.Unsafe<string | number>({ type: ['string', 'integer'] }), { examples: [['query', 'session_id']] }),
      msg: str(),
      input: Type.Unknown(),
      ctx: Type.Optional(Type.Unsafe<Record<string, unknown>>({ type: 'object' })),
    }),
    { description: 'FastAPI/pydantic-v2 shape: one entry per problem' },
  ),
);

const LeaseMismatch = detail(Type.Object({ error: Type.Literal('lease_mismatch'), session_id: int() }));
const StoreUnavailable = detail(Type.Object({ error: Type.Literal('store_unavailable') }));
const StoreMisconfigured = detail(
  Type.Object({ error: Type.Literal('store_misconfigured'), reason: str({ description: 'What is wrong and what to set, e.g. the Redis maxmemory-policy' }) }),
);
const StoreRecovering = detail(
  Type.Object({
    error: Type.Literal('store_recovering'),
    in_floodwait: Type.Literal(0),
    next_release_in: int({ minimum: 0, description: 'Whole seconds until the recovery grace ends (also in Retry-After)' }),
  }),
);
const NoFreeSession = detail(
  Type.Object({
    error: Type.Literal('no_free_session'),
    in_floodwait: int(),
    next_release_in: Type.Unsafe<number | null>({
      type: ['integer', 'null'],
      description: 'Whole seconds until the earliest rest keeping a session from this request (its scopes and tags) ends; null when none',
    }),
    in_use: Type.Optional(int({ description: 'Sessions leased now (added): tells "wait" from "never"' })),
  }),
);
const SyncFailed = detail(Type.Object({ error: oneOfStrings(['sync_failed', 'sync_refused'] as const), reason: str() }));

/** components.schemas: every shape by name. */
export const componentSchemas = {
  Proxy,
  Status,
  LeasedSession,
  ListedSession,
  SessionsPage,
  Released,
  Invalidated,
  Restored,
  FloodwaitSet,
  Reported,
  Event,
  EventsPage,
  Extended,
  SyncComplete,
  Health,
  Ready,
  NotReady,
  Detail,
  ValidationError,
  LeaseMismatch,
  StoreUnavailable,
  StoreMisconfigured,
  StoreRecovering,
  NoFreeSession,
  SyncFailed,
};
export type ComponentName = keyof typeof componentSchemas;

/** The answer body of each shape, as present.ts builds it. */
export type Body<N extends ComponentName> = Static<(typeof componentSchemas)[N]>;

export const ref = (name: ComponentName): Json => ({ $ref: `#/components/schemas/${name}` });
export const resp = (name: ResponseName): Json => ({ $ref: `#/components/responses/${name}` });
export const json = (schema: Json, description: string): Json => ({ description, content: { 'application/json': { schema } } });

const RETRY_AFTER: Json = { description: 'Seconds to wait before retrying', schema: { type: 'integer' } };

/** components.responses: the answers many routes share. */
export const componentResponses = {
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
} satisfies Record<string, Json>;
export type ResponseName = keyof typeof componentResponses;

/** GET /session's 503, also the answer of /release and /floodwait with next=true when nothing is free. */
export const NO_SESSION: Json = {
  description:
    'Nothing free (no_free_session, with Retry-After when a flood wait ends at a known time), issuing held after Redis lost its data (store_recovering, with Retry-After), or the store is unavailable or misconfigured',
  headers: { 'Retry-After': RETRY_AFTER },
  content: {
    'application/json': { schema: { oneOf: [ref('NoFreeSession'), ref('StoreRecovering'), ref('StoreUnavailable'), ref('StoreMisconfigured')] } },
  },
};

/** The 200 of a give-back that may take the next session (next=true): its own answer, or GET /session's. */
export const orNext = (own: ComponentName, what: string): Json => ({
  description: `${what}; with next=true, the next leased session exactly as GET /session answers it`,
  content: { 'application/json': { schema: { oneOf: [ref(own), ref('LeasedSession')] } } },
});

/** A non-JSON answer (metrics text, HTML pages). */
export const text = (mediaType: string, description: string): Json => ({ description, content: { [mediaType]: { schema: { type: 'string' } } } });
