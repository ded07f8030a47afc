/**
 * JSON shapes of the answers (spec §3–§4), built from pool results. Each
 * presenter returns its shape's Static type (responses.ts): the schema
 * /openapi.json documents is the type checked here.
 */
import type { Static } from '@sinclair/typebox';
import type { EventPage, FloodWaitResult, LeasedSession, ListPage, ListedSession, PoolEvent, PoolStatus, ReportOutcome, RestoreResult, SessionMeta } from '../pool/types';
import type { SyncSummary } from '../sync';
import { maskProxy } from '../sessionfiles';
import { convertSessionString, type ConvertResult, type SessionStringFormat } from '../sessionfiles/convert';
import { formatUtc } from '../time';
import type { Body, SessionMetaFields } from './responses';

function metaFields(meta: SessionMeta, opts: { exposeSessionString: boolean; maskPassword: boolean }): Static<typeof SessionMetaFields> {
  const out: Static<typeof SessionMetaFields> = { proxy: opts.maskPassword ? maskProxy(meta.proxy ?? null) : (meta.proxy ?? null) };
  if (meta.format !== undefined) out.format = meta.format;
  if (meta.dcId !== undefined) out.dc_id = meta.dcId;
  if (meta.userId !== undefined) out.user_id = meta.userId;
  if (!opts.maskPassword && meta.account !== undefined) out.account = meta.account;
  if (opts.exposeSessionString && meta.sessionString !== undefined) out.session_string = meta.sessionString;
  return out;
}

/**
 * A leased session. With `format`, session_string is in that library's format
 * (./sessionfiles/convert.ts) or, when it cannot be made (or strings are not
 * exposed), absent with session_string_error saying why.
 */
export function presentSession(s: LeasedSession, exposeSessionString: boolean, format?: SessionStringFormat): Body<'LeasedSession'> {
  const out: Body<'LeasedSession'> = {
    session_id: s.id,
    session_name: s.name,
    lease_token: s.leaseToken,
    lease_expires_at: formatUtc(s.leaseExpiresAt),
    ...metaFields(s.meta, { exposeSessionString: exposeSessionString && format === undefined, maskPassword: false }),
  };
  if (format !== undefined) {
    const r = sessionStringIn(s.meta, exposeSessionString, format);
    if (r.ok) out.session_string = r.sessionString;
    else out.session_string_error = r.error;
  }
  return out;
}

function sessionStringIn(meta: SessionMeta, exposed: boolean, format: SessionStringFormat): ConvertResult {
  if (!exposed) return { ok: false, error: 'session strings are not exposed (TELEGATE_EXPOSE_SESSION_STRING is off)' };
  if (meta.sessionKey === undefined) {
    return { ok: false, error: 'no session key read for this session yet (it is read from the file at the next sync)' };
  }
  return convertSessionString(meta.sessionKey, format);
}

export function presentStatus(s: PoolStatus): Body<'Status'> {
  return {
    total: s.total,
    free: s.free,
    in_use: s.inUse,
    in_floodwait: s.inFloodwait,
    next_available: s.nextAvailable === null ? null : formatUtc(s.nextAvailable),
    invalidated: s.invalidated,
    rests: s.rests,
    health: s.health,
    ...(s.recoveryEndsInMs === undefined ? {} : { recovering: true, recovery_ends_in: ceilSeconds(s.recoveryEndsInMs) }),
  };
}

export function presentListed(s: ListedSession): Body<'ListedSession'> {
  return {
    session_id: s.id,
    session_name: s.name,
    state: s.state,
    floodwait_until: s.floodwaitUntil === null ? null : formatUtc(s.floodwaitUntil),
    lease_expires_at: s.leaseExpiresAt === null ? null : formatUtc(s.leaseExpiresAt),
    reason: s.reason,
    rests: Object.fromEntries(Object.entries(s.rests).map(([scope, dl]) => [scope, formatUtc(dl)])),
    health: s.health,
    tags: s.meta.tags ?? [],
    counters: {
      issued: s.counters.issued,
      rests: s.counters.rests,
      rested_seconds: s.counters.restedSeconds,
      rests_by_scope: s.counters.restsByScope,
    },
    last_error: s.lastError === null ? null : { error: s.lastError.name, at: formatUtc(s.lastError.at) },
    file_missing: s.fileMissing,
    ...metaFields(s.meta, { exposeSessionString: false, maskPassword: true }),
  };
}

export function presentEvent(e: PoolEvent): Body<'Event'> {
  const out: Body<'Event'> = { id: e.id, at: formatUtc(e.at), type: e.type, session_id: e.sessionId };
  if (e.name !== undefined) out.session_name = e.name;
  if (e.scope !== undefined) out.scope = e.scope;
  if (e.until !== undefined) out.until = formatUtc(e.until);
  if (e.error !== undefined) out.error = e.error;
  if (e.action !== undefined) out.action = e.action;
  if (e.reason !== undefined) out.reason = e.reason;
  return out;
}

export const presentSessionsPage = (page: ListPage): Body<'SessionsPage'> => ({ sessions: page.sessions.map(presentListed), next_cursor: page.nextCursor });
export const presentEventsPage = (page: EventPage): Body<'EventsPage'> => ({ events: page.events.map(presentEvent), next_cursor: page.nextCursor });

export function presentFloodWait(r: FloodWaitResult): Body<'FloodwaitSet'> {
  return {
    status: 'floodwait_set',
    session_id: r.id,
    session_name: r.name,
    floodwait_until: formatUtc(r.until),
    in_floodwait: r.state !== 'free',
    state: r.state,
    ...(r.scope === null ? {} : { scope: r.scope }),
  };
}

export function presentReported(r: ReportOutcome & { error: string }): Body<'Reported'> {
  return {
    status: 'reported',
    session_id: r.id,
    error: r.error,
    action: r.action,
    ...(r.action === 'rest' ? { scope: r.scope, until: r.until === null ? null : formatUtc(r.until) } : {}),
    ...(r.health === null ? {} : { health: r.health }),
  };
}

export const presentReleased = (id: number): Body<'Released'> => ({ status: 'released', session_id: id });
export const presentInvalidated = (id: number): Body<'Invalidated'> => ({ status: 'invalidated', session_id: id });
export const presentRestored = (r: RestoreResult): Body<'Restored'> => ({ status: 'restored', session_id: r.id, state: r.state });
export const presentExtended = (id: number, expires: number): Body<'Extended'> => ({ status: 'extended', session_id: id, lease_expires_at: formatUtc(expires) });

export function presentSync(r: SyncSummary): Body<'SyncComplete'> {
  return {
    status: 'sync complete',
    details: { new_sessions: r.new_sessions, removed_sessions: r.removed_sessions, total_sessions: r.total_sessions, updated_sessions: r.updated_sessions },
  };
}

export const HEALTHY: Body<'Health'> = { status: 'ok' };
export const NOT_READY: Body<'NotReady'> = { detail: { error: 'not_ready' } };

/** GET /readyz while ready; `graceMs`: time left of a recovery grace (null: none). */
export function presentReady(graceMs: number | null): Body<'Ready'> {
  return graceMs === null ? { status: 'ready' } : { status: 'ready', recovering: true, recovery_ends_in: ceilSeconds(graceMs) };
}

/** GET /session's 503 while a recovery grace holds issuing. */
export const presentRecovering = (leftSeconds: number): Body<'StoreRecovering'> => ({
  detail: { error: 'store_recovering', in_floodwait: 0, next_release_in: leftSeconds },
});

/** GET /session's 503 when nothing this request can use is free. */
export const presentNoFreeSession = (inFloodwait: number, nextReleaseIn: number | null, inUse: number): Body<'NoFreeSession'> => ({
  detail: { error: 'no_free_session', in_floodwait: inFloodwait, next_release_in: nextReleaseIn, in_use: inUse },
});

/** Whole seconds, rounded up. */
export function ceilSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
