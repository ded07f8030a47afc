/**
 * The optional sidecar `name.json` next to `name.session` (account data as
 * session sellers and farm tools write it: app_id, device, lang_pack, twoFA,
 * proxy, phone, user_id, ...).
 */
import path from 'node:path';
import type { Proxy } from '../pool/types';
import { locateJsonError } from './jsonError';
import { normalizeProxy, ProxyFormatError } from './proxy';
import { MAX_SIDECAR_BYTES, readRegularFileSync, type FileBytes } from './safeRead';
import { SCOPE_RE } from '../telegram/scope';

/** At most this many tags per session. */
export const MAX_TAGS = 32;

/** Deeper sidecars are refused: the secret stripping walks them recursively. */
export const MAX_SIDECAR_DEPTH = 64;

export interface Sidecar {
  /** The fields with secrets and proxies removed, safe to list. */
  account: Record<string, unknown>;
  /** `undefined`: no proxy given (the default applies); null: given as empty. */
  proxy?: Proxy | null;
  apiId: number | null;
  userId: bigint | null;
  /** `is_bot` / `bot` when given; false when a phone number is (bots have none); else null. */
  isBot: boolean | null;
  /** `"tags": [...]`: lowercased, each once, sorted; undefined when not given. */
  tags?: string[];
}

/** A sidecar's `tags`: a list of 1-64 chars of [A-Za-z0-9_.:-] each (as scopes), compared case-insensitively. */
function readTags(v: unknown): string[] | string {
  if (!Array.isArray(v)) return 'must be a list of strings';
  if (v.length > MAX_TAGS) return `at most ${MAX_TAGS} tags`;
  for (const t of v) if (typeof t !== 'string' || !SCOPE_RE.test(t)) return `${JSON.stringify(t)?.slice(0, 80)} is not 1-64 characters of A-Z a-z 0-9 _ . : -`;
  return [...new Set((v as string[]).map((t) => t.toLowerCase()))].sort();
}

export type SidecarResult = { ok: true; sidecar: Sidecar | null } | { ok: false; error: string };

/** `dir/name.session` → `dir/name.json` (any other name: `name.json` appended). */
export function sidecarPathFor(sessionPath: string): string {
  return sessionPath.endsWith('.session') ? sessionPath.slice(0, -'.session'.length) + '.json' : sessionPath + '.json';
}

/**
 * Key fragments that mark a secret, matched against the key lower-cased with
 * everything but letters and digits removed (so twoFA, two_fa, 2FA, Password,
 * cloud-password, session_string, authKey, bot_token all match). Proxies are
 * removed too: their credentials reach workers through `meta.proxy` only.
 */
const SECRET_FRAGMENTS = [
  'password',
  'passwd',
  'passphrase',
  'passcode',
  'pwd',
  '2fa',
  'twofa',
  'secret',
  'session',
  'authkey',
  'token',
  'cookie',
  'privatekey',
  'apikey',
  'proxy',
  'proxies',
];
const SECRET_KEYS = new Set(['pass', 'pw', 'key', 'string', 'hash2fa']);

export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[^a-z0-9]/g, '');
  return SECRET_KEYS.has(k) || SECRET_FRAGMENTS.some((f) => k.includes(f));
}

/**
 * A long run of base64 / hex characters is a session string or key material
 * whatever its key is called (a Telethon string is 353 chars, a hex auth key 512).
 */
function looksLikeKeyMaterial(v: string): boolean {
  return v.length >= 200 && /^[A-Za-z0-9+/_=-]+$/.test(v);
}

class TooDeep extends Error {}

/**
 * A deep copy without secret keys (at any depth) or key-material values.
 * Throws TooDeep past MAX_SIDECAR_DEPTH levels (a hostile file would otherwise
 * overflow the stack and fail the reader's whole batch).
 */
export function stripSecrets(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_SIDECAR_DEPTH) throw new TooDeep();
  if (Array.isArray(value)) {
    return value.filter((v) => !(typeof v === 'string' && looksLikeKeyMaterial(v))).map((v) => stripSecrets(v, depth + 1));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (isSecretKey(k) || (typeof v === 'string' && looksLikeKeyMaterial(v))) continue;
    out[k] = stripSecrets(v, depth + 1);
  }
  return out;
}

/** A non-negative integer given as a number or a digit string, else null. */
function intField(v: unknown): bigint | null {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'string' && /^\s*\d{1,20}\s*$/.test(v)) return BigInt(v.trim());
  return null;
}

function first(obj: Record<string, unknown>, keys: readonly string[]): unknown {
  for (const k of keys) if (obj[k] !== undefined && obj[k] !== null) return obj[k];
  return undefined;
}

/** Interpret already-parsed sidecar JSON. */
export function interpretSidecar(data: unknown): SidecarResult {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return { ok: false, error: 'sidecar JSON: not an object' };
  }
  const obj = data as Record<string, unknown>;
  let account: Record<string, unknown>;
  try {
    account = stripSecrets(obj) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TooDeep) return { ok: false, error: `sidecar JSON: nested deeper than ${MAX_SIDECAR_DEPTH} levels` };
    throw err;
  }
  const sidecar: Sidecar = { account, apiId: null, userId: null, isBot: null };
  const apiId = intField(first(obj, ['app_id', 'api_id']));
  if (apiId !== null && apiId <= 0xffffffffn) sidecar.apiId = Number(apiId);
  const userId = intField(first(obj, ['user_id', 'id']));
  if (userId !== null && userId > 0n) sidecar.userId = userId;
  const isBot = first(obj, ['is_bot', 'bot']);
  const phone = first(obj, ['phone', 'phone_number']);
  if (typeof isBot === 'boolean') sidecar.isBot = isBot;
  else if ((typeof phone === 'string' && /\d/.test(phone)) || (typeof phone === 'number' && phone > 0)) sidecar.isBot = false;
  if (obj.tags !== undefined && obj.tags !== null) {
    const tags = readTags(obj.tags);
    if (typeof tags === 'string') return { ok: false, error: `sidecar tags: ${tags}` };
    sidecar.tags = tags;
  }
  if ('proxy' in obj) {
    try {
      sidecar.proxy = normalizeProxy(obj.proxy);
    } catch (err) {
      if (err instanceof ProxyFormatError) return { ok: false, error: `sidecar proxy: ${err.message}` };
      throw err;
    }
  }
  return { ok: true, sidecar };
}

/** Interpret what reading a sidecar gave: absent, refused (no content in the reason), or JSON. */
function sidecarFrom(file: string, read: FileBytes): SidecarResult {
  if ('missing' in read) return { ok: true, sidecar: null };
  if ('error' in read) return { ok: false, error: `sidecar ${path.basename(file)}: ${read.error}` };
  const text = Buffer.from(read.bytes.buffer, read.bytes.byteOffset, read.bytes.byteLength).toString('utf8').replace(/^\uFEFF/, '');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // V8's message may quote the text (a password, say): the reason is ours, with a position and no content.
    return { ok: false, error: `sidecar JSON: ${locateJsonError(text)}` };
  }
  return interpretSidecar(data);
}

/** Read `path` if it exists (blocking I/O: see ./read.ts); a missing sidecar is `{ ok: true, sidecar: null }`. */
export function readSidecarSync(file: string): SidecarResult {
  return sidecarFrom(file, readRegularFileSync(file, MAX_SIDECAR_BYTES));
}
