/**
 * What both stores share and neither owns: the bounds the Lua scripts are
 * called with, the lease token, and the small pure helpers around a rest.
 * No ioredis here (nor anything that loads it): the embedded store
 * (memory.ts) imports this, and must run without a Redis client loaded.
 */
import type { Decision } from '../telegram/errors';
import { randomString } from './random';
import type { FloodWaitResult, ReportOutcome } from './types';

/** Due flood waits / expired leases moved back to `free` per set per acquire. */
export const PROMOTE_BATCH = 100;
/**
 * A scoped acquire looks at this many sessions resting on some scope that were
 * used less recently than the first fully free one, then takes that one: work
 * per acquire stays bounded while a free session exists (exactness never
 * depends on it; only how strictly LRU a scoped acquire is).
 */
export const SCOPED_WALK = 32;
/** /status counts at most this many scopes with running rests. */
export const MAX_STATUS_SCOPES = 1000;

/** Ids (list) or events (history) one page looks at, at most, whatever its filters find. */
export function scanBudget(limit: number): number {
  return Math.min(Math.max(limit * 10, 1000), 20_000);
}

/** Events kept by default (TELEGATE_EVENTS_MAX_LEN). */
export const DEFAULT_EVENTS_MAX_LEN = 10_000;

/** A fresh lease (or acquire) token: 18 random bytes, base64url. */
export function newLeaseToken(): string {
  return randomString(18, 'base64url');
}

/** The counter bump for a rest of `waitMs` on `scope` ("*": account-wide). */
export function restCount(id: number, scope: string | undefined, waitMs: number): { id: number; kind: 'rest'; scope: string; seconds: number } {
  return { id, kind: 'rest', scope: scope ?? '*', seconds: Math.round(waitMs / 1000) };
}

/** The answer to a reported rest: an invalidated session rests on nothing (it stays invalidated). */
export function reportedRest(r: FloodWaitResult, d: Extract<Decision, { action: 'rest' }>): ReportOutcome {
  if (r.state === 'invalidated') return { id: r.id, action: 'none', scope: null, until: null, health: null };
  return { id: r.id, action: 'rest', scope: d.scope, until: r.until, health: d.health ?? null };
}
