/**
 * Offline reader for Telegram `.session` files (Telethon v1/v2, Pyrogram and
 * its Kurigram fork) and their optional sidecar JSON. Never connects anywhere
 * and never writes the files: each one is loaded into memory and opened there
 * by a real SQLite (./sqlite.ts).
 *
 * Decisions worth knowing:
 * - `meta.proxy`: the sidecar's proxy when it gives one, else the default
 *   proxy, else null. A sidecar `"proxy": null` / `""` / `[]` counts as "not
 *   given" (the default applies). A sidecar that is unreadable, not JSON or
 *   has an unparseable proxy flags the file, and its proxy is then null.
 * - `meta.userId`: the session's own (Telethon entity 0, Pyrogram user_id,
 *   Telethon v2 user row), else the sidecar's `user_id` / `id`.
 * - Pyrogram session string: api_id from the sessions table, else the
 *   sidecar's `app_id` / `api_id`, else 0; user_id = `meta.userId`, else 0.
 * - Telethon session string: Telethon v1's StringSession format, also for
 *   Telethon v2 files; not produced when the stored address is not an IP.
 * - `meta.sessionKey`: what the strings of every format are made from
 *   (./convert.ts); is_bot from the file, else the sidecar's.
 * - `fileError` joins every problem found ('; '): session file first, sidecar next.
 */
import { createHash } from 'node:crypto';
import type { Proxy, SessionMeta } from '../pool/types';
import { parseSessionBytes, type ParseResult } from './sqlite';
import { MAX_SESSION_FILE_BYTES, readRegularFileSync, type FileBytes } from './safeRead';
import { readSidecarSync, sidecarPathFor, type SidecarResult } from './sidecar';
import { nativeSessionString } from './convert';

/** Result of reading one .session (+ optional sidecar .json). */
export interface SessionFileInfo {
  meta: SessionMeta;
  /** Set when the session is unusable: a short human reason. */
  fileError?: string;
}

export interface ReadSessionFileOptions {
  /** Applies when the sidecar gives no proxy. */
  defaultProxy: Proxy | null;
}

/** Telegram's auth_key_id: the low 64 bits of SHA-1(auth_key) (core.telegram.org/mtproto/description), hex. */
export function authKeyId(authKey: Uint8Array): string {
  return createHash('sha1').update(authKey).digest().subarray(12, 20).toString('hex');
}

/** A session file's bytes, or why it cannot be read (a missing one included). */
function sessionBytes(file: FileBytes): { bytes: Uint8Array } | { error: string } {
  return 'missing' in file ? { error: 'cannot read file (ENOENT)' } : file;
}

/**
 * The read buffer of this thread, reused from file to file: a sync of 100k
 * files would otherwise allocate (and leave to the GC) 2.4 GB. What is
 * parsed from it is copied out (strings, auth-key blobs); SQLite copies the
 * bytes it opens.
 */
let scratch = Buffer.allocUnsafe(0);
/** Larger files get a buffer of their own rather than keeping one this big. */
const SCRATCH_MAX = 4 * 1024 * 1024;

function scratchBuffer(size: number): Buffer {
  if (size > SCRATCH_MAX) return Buffer.allocUnsafe(size);
  if (scratch.length < size) scratch = Buffer.allocUnsafe(Math.max(size, 64 * 1024));
  return scratch;
}

function safeNumber(v: bigint | null): number | undefined {
  return v !== null && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : undefined;
}

/**
 * Read one session file and its sidecar, with blocking I/O (the reader
 * threads' job; O_NONBLOCK opens: a FIFO cannot block it, see ./safeRead.ts).
 * Never throws for a bad or missing file: every
 * problem becomes `fileError`. The one read path: the pool's threads run it,
 * and so does readSessionFile.
 */
export function readSessionFileSync(sessionPath: string, opts: ReadSessionFileOptions): SessionFileInfo {
  // Bytes of the scratch buffer: valid until the next read of this thread, and parsed before it.
  const file = sessionBytes(readRegularFileSync(sessionPath, MAX_SESSION_FILE_BYTES, scratchBuffer));
  const side = readSidecarSync(sidecarPathFor(sessionPath));
  const parsed: ParseResult = 'bytes' in file ? parseSessionBytes(file.bytes) : { ok: false, error: file.error };
  return toInfo(parsed, side, opts);
}

/**
 * readSessionFileSync on the calling thread, as a reader function (the
 * pool's `read` has the same shape): for tests, tools and a sync without the
 * pool. Never rejects for a bad file.
 */
export function readSessionFile(sessionPath: string, opts: ReadSessionFileOptions): Promise<SessionFileInfo> {
  return Promise.resolve(readSessionFileSync(sessionPath, opts));
}

function toInfo(parsed: ParseResult, side: SidecarResult, opts: ReadSessionFileOptions): SessionFileInfo {
  const errors: string[] = [];
  const meta: SessionMeta = {};

  if (parsed.ok) {
    meta.format = parsed.session.format;
    meta.dcId = parsed.session.dcId;
    meta.authKeyId = authKeyId(parsed.session.authKey);
  } else {
    errors.push(parsed.error);
    if (parsed.partial?.format !== undefined) meta.format = parsed.partial.format;
    if (parsed.partial?.dcId !== undefined) meta.dcId = parsed.partial.dcId;
  }

  const sidecar = side.ok ? side.sidecar : null;
  if (!side.ok) errors.push(side.error);

  const userId = (parsed.ok ? parsed.session.userId : null) ?? sidecar?.userId ?? null;
  const userIdNumber = safeNumber(userId);
  if (userIdNumber !== undefined) meta.userId = userIdNumber;

  if (!side.ok) meta.proxy = null;
  else if (sidecar?.proxy != null) meta.proxy = sidecar.proxy;
  else meta.proxy = opts.defaultProxy === null ? null : { ...opts.defaultProxy };

  if (sidecar !== null) meta.account = sidecar.account;
  if (sidecar?.tags !== undefined && sidecar.tags.length > 0) meta.tags = sidecar.tags;

  if (parsed.ok) {
    const s = parsed.session;
    meta.sessionKey = {
      dcId: s.dcId,
      address: s.serverAddress,
      port: s.port,
      authKey: Buffer.from(s.authKey).toString('base64'),
      testMode: s.testMode,
      apiId: s.apiId ?? sidecar?.apiId ?? null,
      userId: userId === null ? null : userId.toString(),
      isBot: s.isBot ?? sidecar?.isBot ?? null,
    };
    const str = nativeSessionString(meta.sessionKey, s.format);
    if (str !== null) meta.sessionString = str;
  }

  const info: SessionFileInfo = { meta };
  if (errors.length > 0) info.fileError = errors.join('; ');
  return info;
}
