/** A scope: a Telegram method name (or any label a worker rests on), compared case-insensitively. */
export const SCOPE_PATTERN = '^[A-Za-z0-9_.:-]{1,64}$';
export const SCOPE_RE = new RegExp(SCOPE_PATTERN);
