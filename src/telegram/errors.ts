/**
 * THE table: what TeleGate does when a worker reports a Telegram RPC error
 * (POST /report). The only place this decision is made; clients send the
 * error's name and the method that raised it, never a verdict.
 *
 * Matched by error NAME, never by numeric code: 420 carries both FLOOD_WAIT_X
 * (harmless, wait) and FROZEN_METHOD_INVALID (account frozen); 406 mixes
 * AUTH_KEY_DUPLICATED (dead) with harmless ones; 401 holds SESSION_PASSWORD_NEEDED
 * (a 2FA prompt) next to AUTH_KEY_UNREGISTERED.
 *
 * Sources:
 * - https://core.telegram.org/api/errors — error classes, FLOOD_WAIT_X,
 *   FLOOD_PREMIUM_WAIT_X, SLOWMODE_WAIT_X, *_MIGRATE_X, 401 AUTH_KEY_* /
 *   SESSION_REVOKED / SESSION_EXPIRED / USER_DEACTIVATED(_BAN), 406
 *   AUTH_KEY_DUPLICATED, 500 RPC_CALL_FAIL and the "-503 Timeout" transport error.
 * - https://core.telegram.org/api/auth — SESSION_TOO_FRESH_X (new logins may
 *   not do sensitive actions for X seconds).
 * - https://core.telegram.org/api/frozen-accounts — FROZEN_METHOD_INVALID
 *   (a frozen account may call only a few methods).
 * - https://core.telegram.org/method/messages.sendMessage — PEER_FLOOD
 *   ("spam limit reached"), USER_RESTRICTED (reported as spam).
 * - Telethon telethon_generator/data/errors.csv and Pyrogram
 *   compiler/errors/source/*.tsv — the same names with their descriptions
 *   (PHONE_NUMBER_BANNED: "the phone number is banned from Telegram").
 */
export type Health = 'ok' | 'restricted' | 'logged_out' | 'banned' | 'file_error';
export const HEALTH_STATES: readonly Health[] = ['ok', 'restricted', 'logged_out', 'banned', 'file_error'];

export type Decision =
  /** Rest `scope` (null: the whole account) for `seconds`; `health` when the rest also says so. */
  | { action: 'rest'; scope: string | null; seconds: number; health?: 'restricted' }
  /** Out of circulation: `logged_out` comes back when its file's auth key changes, `banned` only by /restore. */
  | { action: 'invalidate'; health: 'logged_out' | 'banned' }
  /** Transient or unknown: nothing changes (the report is still recorded). */
  | { action: 'none' };

/** A rest Telegram asks for is capped here (as POST /floodwait's wait_seconds). */
export const MAX_REST_SECONDS = 31_536_000;

/** `*_WAIT_X` (FLOOD_WAIT, FLOOD_PREMIUM_WAIT, SLOWMODE_WAIT, FLOOD_TEST_PHONE_WAIT, ...) and SESSION_TOO_FRESH_X. */
const TIMED = /^(?:[A-Z0-9]+_)*WAIT_(\d+)$|^SESSION_TOO_FRESH_(\d+)$/;
const RESTRICTED = new Set(['PEER_FLOOD', 'USER_RESTRICTED', 'FROZEN_METHOD_INVALID']);
const LOGGED_OUT = new Set(['AUTH_KEY_UNREGISTERED', 'AUTH_KEY_INVALID', 'SESSION_REVOKED', 'SESSION_EXPIRED', 'AUTH_KEY_DUPLICATED']);
const BANNED = new Set(['USER_DEACTIVATED', 'USER_DEACTIVATED_BAN', 'PHONE_NUMBER_BANNED']);

/** Error names as they arrive: Telegram's RPC names (letters, digits, underscores). */
export const ERROR_NAME_PATTERN = '^[A-Za-z0-9_]{1,128}$';

/**
 * What to do for `error` raised by `method` (a scope, already lowercased, or
 * undefined). `restrictedRestSeconds`: TELEGATE_RESTRICTED_REST_SECONDS.
 */
export function decide(error: string, method: string | undefined, restrictedRestSeconds: number): Decision {
  const name = error.toUpperCase();
  const timed = TIMED.exec(name);
  if (timed) {
    const seconds = Math.min(Number(timed[1] ?? timed[2]), MAX_REST_SECONDS);
    return { action: 'rest', scope: method?.toLowerCase() ?? null, seconds };
  }
  if (RESTRICTED.has(name)) return { action: 'rest', scope: null, seconds: restrictedRestSeconds, health: 'restricted' };
  if (LOGGED_OUT.has(name)) return { action: 'invalidate', health: 'logged_out' };
  if (BANNED.has(name)) return { action: 'invalidate', health: 'banned' };
  // RPC_CALL_FAIL, *_MIGRATE_X, TIMEOUT, anything unknown: Telegram or the network, not the account.
  return { action: 'none' };
}
