/**
 * Find the Telegram RPC error in an exception, by duck typing (no GramJS
 * import): its NAME as Telegram sent it and the METHOD that raised it. What
 * that means for the session is not decided here: POST /report sends both to
 * the server, whose one table (src/telegram/errors.ts) decides.
 *
 *   GramJS   RPCError keeps Telegram's name in `.errorMessage`
 *            ('AUTH_KEY_UNREGISTERED', 'FLOOD_PREMIUM_WAIT_5') and formats its
 *            message "<code>: <NAME> (caused by <method>)"; FloodWaitError,
 *            SlowModeWaitError and FloodTestPhoneWaitError keep only
 *            `.seconds` (their errorMessage is the generic 'FLOOD'), so their
 *            name is rebuilt from the class; the method is `request.className`
 *            when present, else the "(caused by ...)" of the message
 *   anything an error whose message is "<code>: <NAME> ..." or names a
 *            FLOOD_WAIT_<n> / FLOOD_PREMIUM_WAIT_<n>
 *
 * The `cause` chain is searched too, so a wrapped error is still found.
 */

export const MAX_FLOODWAIT_SECONDS = 31_536_000;

/** A Telegram RPC error as POST /report takes it. */
export interface TelegramRpcError {
  /** Telegram's error name, e.g. FLOOD_WAIT_600, PEER_FLOOD, AUTH_KEY_UNREGISTERED. */
  error: string;
  /** The method that raised it (messages.SendMessage), null when unknown. */
  method: string | null;
}

type Bag = Record<string, unknown>;

/** GramJS classes that drop the name but keep `.seconds`. */
const WAIT_CLASSES: Record<string, string> = {
  FloodWaitError: 'FLOOD_WAIT',
  SlowModeWaitError: 'SLOWMODE_WAIT',
  FloodTestPhoneWaitError: 'FLOOD_TEST_PHONE_WAIT',
};
const NAME = /^[A-Z0-9_]{2,128}$/;
const CODED_MESSAGE = /^-?\d{3}: ([A-Z0-9_]{2,128})\b/;
const FLOOD_MESSAGE = /(?<![A-Z0-9_])(FLOOD(?:_PREMIUM)?_WAIT_\d+)(?![A-Z0-9_])/;
const CAUSED_BY = /\(caused by ([A-Za-z0-9_.]{1,64})\)/;
const SCOPE = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_CHAIN = 8;

function isObject(v: unknown): v is Bag {
  return (typeof v === 'object' || typeof v === 'function') && v !== null;
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

/** Constructor names along the prototype chain, and `name`. */
function classNames(e: Bag): string[] {
  const out: string[] = [];
  for (let p: unknown = Object.getPrototypeOf(e); isObject(p) && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
    const ctor = (p as { constructor?: { name?: unknown } }).constructor;
    if (typeof ctor?.name === 'string' && ctor.name !== '') out.push(ctor.name);
  }
  if (typeof e.name === 'string') out.push(e.name);
  return out;
}

function seconds(e: Bag): number | null {
  const v = e.seconds;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return Math.min(v, MAX_FLOODWAIT_SECONDS);
  return null;
}

function methodOf(e: Bag): string | null {
  const request = e.request;
  const className = isObject(request) ? request.className : undefined;
  if (typeof className === 'string' && SCOPE.test(className)) return className;
  const m = typeof e.message === 'string' ? CAUSED_BY.exec(e.message) : null;
  return m?.[1] ?? null;
}

function nameOf(e: Bag): string | null {
  const s = seconds(e);
  if (s !== null) {
    const base = classNames(e).map((n) => WAIT_CLASSES[n]).find((n) => n !== undefined);
    if (base !== undefined) return `${base}_${s}`;
  }
  if (typeof e.errorMessage === 'string' && NAME.test(e.errorMessage) && e.errorMessage !== 'FLOOD') return e.errorMessage;
  if (typeof e.message === 'string') {
    const m = CODED_MESSAGE.exec(e.message) ?? FLOOD_MESSAGE.exec(e.message);
    if (m?.[1] !== undefined) return m[1];
  }
  return null;
}

/** The Telegram RPC error in `err` (or its cause chain), or null when it is none. */
export function telegramErrorOf(err: unknown): TelegramRpcError | null {
  for (const e of chain(err)) {
    const error = nameOf(e);
    if (error !== null) return { error, method: methodOf(e) };
  }
  return null;
}

/** Seconds Telegram asked to wait when `err` (or its cause) is a FLOOD_WAIT / FLOOD_PREMIUM_WAIT; else null. */
export function floodWaitSeconds(err: unknown): number | null {
  const rpc = telegramErrorOf(err);
  const m = rpc ? /^FLOOD(?:_PREMIUM)?_WAIT_(\d+)$/.exec(rpc.error) : null;
  return m?.[1] === undefined ? null : Math.min(Number(m[1]), MAX_FLOODWAIT_SECONDS);
}
