/**
 * Recognise Telegram errors by duck typing (class names, fields, messages),
 * without importing GramJS or any Telegram library:
 *
 *   GramJS   FloodWaitError with `.seconds`; any other RPCError carries the
 *            Telegram error in `.errorMessage` ('AUTH_KEY_UNREGISTERED',
 *            'FLOOD_PREMIUM_WAIT_5') and in its message
 *   anything an error whose message contains FLOOD_WAIT_<n> /
 *            FLOOD_PREMIUM_WAIT_<n>, or one of the invalidating names below
 *
 * The `cause` chain is searched too, so a wrapped error is still recognised.
 */

/** Telegram errors after which a session can never work again: /invalidate with this reason. */
export const INVALIDATING = [
  'AUTH_KEY_UNREGISTERED',
  'AUTH_KEY_DUPLICATED',
  'SESSION_REVOKED',
  'USER_DEACTIVATED_BAN',
  'USER_DEACTIVATED',
] as const;
export type InvalidationReason = (typeof INVALIDATING)[number];

export const MAX_FLOODWAIT_SECONDS = 31_536_000;
const FLOOD_MESSAGE = /(?<![A-Z0-9_])FLOOD(?:_PREMIUM)?_WAIT_(\d+)(?![A-Z0-9_])/;
const INVALIDATING_MESSAGE = new RegExp(`(?<![A-Z0-9_])(${INVALIDATING.join('|')})(?![A-Z0-9_])`);
const FLOOD_NAMES = new Set(['FLOOD_WAIT', 'FLOOD_PREMIUM_WAIT']);
const SECONDS_FIELDS = ['seconds', 'value', 'x'] as const;
const STRING_FIELDS = ['errorMessage', 'ID', 'message', 'name'] as const;
const MAX_CHAIN = 8;

export type TelegramErrorKind = { kind: 'floodwait'; seconds: number } | { kind: 'invalidate'; reason: InvalidationReason };

type Bag = Record<string, unknown>;

function isObject(v: unknown): v is Bag {
  return (typeof v === 'object' || typeof v === 'function') && v !== null;
}

/** FloodPremiumWaitError -> FLOOD_PREMIUM_WAIT; AuthKeyUnregistered -> AUTH_KEY_UNREGISTERED. */
function snake(className: string): string {
  return className.replace(/Error$/, '').replace(/(?<=[a-z0-9])(?=[A-Z])/g, '_').toUpperCase();
}

function chain(err: unknown): Bag[] {
  const out: Bag[] = [];
  let cur: unknown = err;
  while (isObject(cur) && !out.includes(cur) && out.length < MAX_CHAIN) {
    out.push(cur);
    cur = cur.cause;
  }
  return out;
}

/** Names an error goes by: the constructors along its prototype chain and its name-like fields. */
function names(e: Bag): string[] {
  const out: string[] = [];
  for (let p: unknown = Object.getPrototypeOf(e); isObject(p) && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const ctor = (p as { constructor?: { name?: unknown } }).constructor;
    if (typeof ctor?.name === 'string' && ctor.name !== 'Error' && ctor.name !== '') out.push(snake(ctor.name));
  }
  for (const f of STRING_FIELDS) {
    const v = e[f];
    if (typeof v === 'string' && v !== '') out.push(v.trim().toUpperCase(), snake(v.trim()));
  }
  return out;
}

function texts(e: Bag): string[] {
  const out: string[] = [];
  for (const f of STRING_FIELDS) if (typeof e[f] === 'string') out.push(e[f]);
  try {
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- errors stringify usefully; others fall back harmlessly
    out.push(String(e));
  } catch {
    // a broken toString must not break the worker's error path
  }
  return out;
}

function secondsField(e: Bag): number | null {
  for (const f of SECONDS_FIELDS) {
    const v = e[f];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
    if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  }
  return null;
}

/** Seconds Telegram asked to wait when `err` (or its cause) is a FLOOD_WAIT; else null. */
export function floodWaitSeconds(err: unknown): number | null {
  for (const e of chain(err)) {
    if (names(e).some((n) => FLOOD_NAMES.has(n.replace(/_X$/, '')))) {
      const s = secondsField(e);
      if (s !== null) return Math.min(s, MAX_FLOODWAIT_SECONDS);
    }
    for (const t of texts(e)) {
      const m = FLOOD_MESSAGE.exec(t);
      if (m?.[1] !== undefined) return Math.min(Number(m[1]), MAX_FLOODWAIT_SECONDS);
    }
  }
  return null;
}

/** AUTH_KEY_UNREGISTERED / ... when `err` (or its cause) says the session is dead; else null. */
export function invalidationReason(err: unknown): InvalidationReason | null {
  for (const e of chain(err)) {
    for (const n of names(e)) if ((INVALIDATING as readonly string[]).includes(n)) return n as InvalidationReason;
    for (const t of texts(e)) {
      const m = INVALIDATING_MESSAGE.exec(t);
      if (m?.[1] !== undefined) return m[1] as InvalidationReason;
    }
  }
  return null;
}

export function classifyTelegramError(err: unknown): TelegramErrorKind | null {
  const seconds = floodWaitSeconds(err);
  if (seconds !== null) return { kind: 'floodwait', seconds };
  const reason = invalidationReason(err);
  if (reason !== null) return { kind: 'invalidate', reason };
  return null;
}
