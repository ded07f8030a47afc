/** JSON shapes of the answers (spec §3–§4), built from pool results. */
import type { LeasedSession, ListedSession, PoolEvent, PoolStatus, SessionMeta } from '../pool/types';
import { maskProxy } from '../sessionfiles';
import { convertSessionString, type ConvertResult, type SessionStringFormat } from '../sessionfiles/convert';
import { formatUtc } from '../time';

function metaFields(meta: SessionMeta, opts: { exposeSessionString: boolean; maskPassword: boolean }): Record<string, unknown> {
  const out: Record<string, unknown> = { proxy: opts.maskPassword ? maskProxy(meta.proxy ?? null) : (meta.proxy ?? null) };
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
export function presentSession(s: LeasedSession, exposeSessionString: boolean, format?: SessionStringFormat): Record<string, unknown> {
  const out: Record<string, unknown> = {
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

export function presentStatus(s: PoolStatus): Record<string, unknown> {
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

export function presentListed(s: ListedSession): Record<string, unknown> {
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

export function presentEvent(e: PoolEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { id: e.id, at: formatUtc(e.at), type: e.type, session_id: e.sessionId };
  if (e.name !== undefined) out.session_name = e.name;
  if (e.scope !== undefined) out.scope = e.scope;
  if (e.until !== undefined) out.until = formatUtc(e.until);
  if (e.error !== undefined) out.error = e.error;
  if (e.action !== undefined) out.action = e.action;
  if (e.reason !== undefined) out.reason = e.reason;
  return out;
}

/** Whole seconds, rounded up. */
export function ceilSeconds(ms: number): number {
  return Math.ceil(ms / 1000);
}
