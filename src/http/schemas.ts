/**
 * Parameter schemas of every endpoint: what ajv validates with, and what the
 * OpenAPI description documents (each route names its own in routes.ts).
 */
import type { ParamSchema, PropSchema, StringSchema } from './params';
import { SESSION_STATES } from '../pool/types';
import { ERROR_NAME_PATTERN, HEALTH_STATES, type Health } from '../telegram/errors';
import { SCOPE_PATTERN } from '../telegram/scope';
import { SESSION_STRING_FORMATS, type SessionStringFormat } from '../sessionfiles/convert';

const sessionId: PropSchema = { type: 'integer', description: 'Session id, as returned by GET /session' };
const leaseToken: PropSchema = { type: 'string', minLength: 1, maxLength: 128, description: 'The lease token GET /session returned' };

const scopeItem: StringSchema = { type: 'string', minLength: 1, maxLength: 64, pattern: SCOPE_PATTERN };
/** At most this many scopes per acquire (bounds the per-candidate checks). */
export const MAX_SCOPES = 16;

export const MAX_WAIT_SECONDS = 60;
export const MAX_FLOODWAIT_SECONDS = 31_536_000;

const acquireProps = {
  wait: { type: 'integer', minimum: 0, maximum: MAX_WAIT_SECONDS, default: 0, description: 'Seconds to wait for a free session (long-poll)' },
  scope: {
    type: 'array',
    items: scopeItem,
    maxItems: MAX_SCOPES,
    description:
      'Methods the worker will call (repeated or comma-separated, case-insensitive): only a session resting on none of them is issued. Without it: only sessions with no running rest at all',
  },
  tag: {
    type: 'array',
    items: scopeItem,
    maxItems: MAX_SCOPES,
    description: 'Only a session carrying every one of these tags (sidecar "tags"; repeated or comma-separated, case-insensitive)',
  },
  format: {
    type: 'string',
    enum: SESSION_STRING_FORMATS,
    description:
      "session_string in this library's format, whatever format the file is in (default: the file's own). " +
      'When it cannot be made (a field the format needs is unknown) or strings are not exposed: session_string_error instead',
  },
} satisfies Record<string, PropSchema>;

/** POST /release and /floodwait with next=true answer what GET /session answers, with its parameters. */
const nextProps = {
  next: {
    type: 'boolean',
    default: false,
    description: 'Then, in the same atomic step, lease the next free session: answered exactly as GET /session (its 200 body, or its 503 with Retry-After)',
  },
  wait: { ...acquireProps.wait, description: 'With next=true: seconds to wait for the next session (long-poll), as GET /session?wait=' },
  format: { ...acquireProps.format, description: `With next=true: as GET /session?format=. ${acquireProps.format.description}` },
  tag: { ...acquireProps.tag, description: `With next=true: as GET /session?tag=. ${acquireProps.tag.description}` },
} satisfies Record<string, PropSchema>;

export const schemas = {
  acquire: { type: 'object', properties: acquireProps },
  release: {
    type: 'object',
    properties: {
      session_id: sessionId,
      lease_token: leaseToken,
      ...nextProps,
      scope: { ...acquireProps.scope, description: `With next=true: as GET /session?scope=. ${acquireProps.scope.description}` },
    },
    required: ['session_id'],
  },
  invalidate: {
    type: 'object',
    properties: {
      session_id: sessionId,
      reason: { type: 'string', maxLength: 500, description: 'Why (e.g. AUTH_KEY_UNREGISTERED)' },
      lease_token: leaseToken,
    },
    required: ['session_id'],
  },
  floodwait: {
    type: 'object',
    properties: {
      session_id: sessionId,
      wait_seconds: { type: 'integer', minimum: 0, maximum: MAX_FLOODWAIT_SECONDS, description: 'FLOOD_WAIT_X: seconds Telegram asked to wait' },
      lease_token: leaseToken,
      scope: { ...scopeItem, description: 'Rest this scope (Telegram method, case-insensitive) only; without it the rest is account-wide. With next=true the next session is one not resting on it' },
      ...nextProps,
    },
    required: ['session_id', 'wait_seconds'],
  },
  restore: { type: 'object', properties: { session_id: sessionId }, required: ['session_id'] },
  report: {
    type: 'object',
    properties: {
      session_id: sessionId,
      error: {
        type: 'string',
        minLength: 1,
        maxLength: 128,
        pattern: ERROR_NAME_PATTERN,
        description: 'The Telegram RPC error name as Telegram sent it (FLOOD_WAIT_600, PEER_FLOOD, AUTH_KEY_UNREGISTERED, ...)',
      },
      method: { ...scopeItem, description: 'The method that raised it (messages.sendMessage): the scope a *_WAIT_X rest applies to' },
      lease_token: leaseToken,
    },
    required: ['session_id', 'error'],
  },
  heartbeat: { type: 'object', properties: { session_id: sessionId, lease_token: leaseToken }, required: ['session_id', 'lease_token'] },
  sync: {
    type: 'object',
    properties: { force: { type: 'boolean', default: false, description: 'Remove even when more than the configured fraction of the pool would go' } },
  },
  list: {
    type: 'object',
    properties: {
      state: { type: 'string', enum: SESSION_STATES, description: 'Only sessions in this state' },
      health: { type: 'string', enum: HEALTH_STATES, description: 'Only sessions in this health' },
      tag: { ...scopeItem, description: 'Only sessions carrying this tag' },
      scope: { ...scopeItem, description: 'Only sessions with a running rest on this scope' },
      cursor: { type: 'integer', minimum: 0, description: 'next_cursor of the previous page' },
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'Page size (at most)' },
    },
  },
  events: {
    type: 'object',
    properties: {
      session_id: { type: 'integer', description: "Only this session's events" },
      cursor: { type: 'string', minLength: 3, maxLength: 41, pattern: '^\\d{1,20}-\\d{1,20}$', description: 'next_cursor of the previous page (older events)' },
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'Page size (at most)' },
    },
  },
} satisfies Record<string, ParamSchema>;

/** One object per schema: ajv compiles each schema object once (params.ts caches by identity), not once per app. */
const tokenSchemas = new WeakMap<ParamSchema, ParamSchema>();

/**
 * The same schema with `lease_token` required: a worker key under
 * TELEGATE_ADMIN_KEYS (or any key under TELEGATE_REQUIRE_LEASE_TOKEN) must
 * prove it holds the lease. A missing token is then one more pydantic
 * "missing" entry, next to any other problem of the request.
 */
export function withToken(schema: ParamSchema): ParamSchema {
  let out = tokenSchemas.get(schema);
  if (!out) {
    const required = schema.required ?? [];
    out = { ...schema, required: required.includes('lease_token') ? required : [...required, 'lease_token'] };
    tokenSchemas.set(schema, out);
  }
  return out;
}

export interface AcquireParams { wait?: number; scope?: string[]; tag?: string[]; format?: SessionStringFormat }
/** The GET /session parameters that next=true takes along. */
export interface NextParams { next?: boolean; wait?: number; format?: SessionStringFormat; tag?: string[] }
export interface ReleaseParams extends NextParams { session_id: number; lease_token?: string; scope?: string[] }
export interface InvalidateParams { session_id: number; reason?: string; lease_token?: string }
export interface FloodwaitParams extends NextParams { session_id: number; wait_seconds: number; lease_token?: string; scope?: string }
export interface RestoreParams { session_id: number }
export interface ReportParams { session_id: number; error: string; method?: string; lease_token?: string }
export interface HeartbeatParams { session_id: number; lease_token: string }
export interface SyncParams { force?: boolean }
export interface ListParams {
  state?: (typeof SESSION_STATES)[number];
  health?: Health;
  tag?: string;
  scope?: string;
  cursor?: number;
  limit?: number;
}
export interface EventsParams { session_id?: number; cursor?: string; limit?: number }
