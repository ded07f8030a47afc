/**
 * Reconcile the pool with the directory of session files: new files are
 * registered, files that are gone are removed (a leased or resting session is
 * only marked gone and kept until its lease or rest ends: see the store),
 * changed files are re-read, the rest is untouched. The directory is listed
 * completely before anything is written, so a missing or unreadable directory
 * aborts the sync with nothing removed.
 *
 * One account, one session: each read file's auth-key fingerprint goes with
 * its upsert, and a file whose key another session holds is a duplicate, kept
 * out of circulation (see lua/applySync). Removes are applied before upserts,
 * so a renamed file that nobody holds is the same account under its new name
 * within one sync; known names are sent before new ones (each group in name
 * order), so a key already in the pool stays with its session, and between new
 * files the first name wins.
 */
import { createHash } from 'node:crypto';
import { opendir } from 'node:fs/promises';
import path from 'node:path';
import { StoreRefusedError, SyncError } from './errors';
import { sessionSignature as signature } from './sessionfiles/signature';
import { GONE_SIG } from './pool/keys';
import type { PoolStore, SessionMeta, SyncUpsert } from './pool/types';
import type { SessionFileInfo } from './sessionfiles/read';

export const SESSION_EXT = '.session';
/** Sessions sent to the store per script call: bounded work per call. */
export const SYNC_BATCH = 500;

/**
 * Reads one session file (and its sidecar); never throws for a bad file.
 * A reader may also take many files at once (readMany: same results, same
 * order) and stat them (signatures: sessionSignature of each, null when it
 * cannot stat): a worker pool (sessionfiles/pool.ts) does both off the main
 * thread. Without them, sync reads READ_CONCURRENCY files at a time and
 * stats on the main thread.
 */
export interface SessionFileReader {
  (sessionPath: string): Promise<SessionFileInfo>;
  readMany?: (sessionPaths: readonly string[]) => Promise<SessionFileInfo[]>;
  signatures?: (paths: readonly string[]) => Promise<Array<string | null>>;
}

export interface SyncOptions {
  dir: string;
  store: PoolStore;
  /** Without a reader, a session is its file name and gets the default proxy. */
  reader?: SessionFileReader;
  defaultProxy?: SessionMeta['proxy'];
  /** Refuse (sync_refused) to remove more than this fraction of a non-empty pool. */
  maxRemoveFraction: number;
  /** Remove even past maxRemoveFraction. */
  force?: boolean;
  /** The leader's fencing token; a stale one makes the store reject the sync. */
  fence?: number;
  /** Called for each file skipped for its name (logged by the caller). */
  onSkip?: (name: string, why: string) => void;
  /**
   * Store each session's string and session key (what the strings of other
   * formats are made from) in the pool. Off unless they are exposed: they
   * are the account, and most of a session's stored bytes.
   */
  keepSessionString?: boolean;
}

/** First 16 bytes of sha256(auth key), hex: names the account without storing its key. */
export function authKeyFingerprint(meta: SessionMeta): string | undefined {
  const key = meta.sessionKey?.authKey;
  return key === undefined ? undefined : createHash('sha256').update(Buffer.from(key, 'base64')).digest('hex').slice(0, 32);
}

/**
 * Appended to every signature a reader sync stores: a pool stored by a
 * version that sent no fingerprints re-reads every file once to build them.
 */
const FINGERPRINT_SIG = '+f';

function storedMeta(meta: SessionMeta, keepSessionString: boolean | undefined): SessionMeta {
  if (keepSessionString || (meta.sessionString === undefined && meta.sessionKey === undefined)) return meta;
  const { sessionString: _dropped, sessionKey: _key, ...rest } = meta;
  return rest;
}

export interface SyncSummary {
  new_sessions: number;
  removed_sessions: number;
  total_sessions: number;
  updated_sessions: number;
}

/** A listed session file: its name without SESSION_EXT (the path is built when needed: 100k paths are ~10 MB). */
interface Listed {
  name: string;
}

/** Why a directory entry name cannot be a session name, or null when it can. */
export function badSessionName(fileName: string): string | null {
  if (Buffer.byteLength(fileName, 'utf8') > 255) return 'name longer than 255 bytes';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
  if (/[\u0000-\u001f\u007f]/.test(fileName)) return 'name contains control characters';
  if (fileName.length === SESSION_EXT.length) return 'empty session name';
  return null;
}

/** Strict and BOM-preserving: a name that is not UTF-8 throws instead of being mangled. */
const UTF8_NAME = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** A file name that is not UTF-8, printable: ASCII kept, every other byte as \xNN. */
function escapeBytes(raw: Buffer): string {
  return Array.from(raw, (b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
}

/**
 * Regular `*.session` files directly in dir (no recursion, no symlinks, no
 * hidden files). Names are listed as bytes: one that is not UTF-8 is skipped
 * (reported), not registered under a mangled name that matches no file.
 */
async function listSessionFiles(dir: string, onSkip?: SyncOptions['onSkip']): Promise<Listed[]> {
  const out: Listed[] = [];
  try {
    // @types/node 20 types `encoding` as a BufferEncoding; Node takes 'buffer' and then gives Buffer names.
    const handle = await opendir(dir, { bufferSize: 256, encoding: 'buffer' as BufferEncoding });
    for await (const ent of handle) {
      if (!ent.isFile()) continue;
      const raw = ent.name as unknown as Buffer;
      let name: string;
      try {
        name = UTF8_NAME.decode(raw);
      } catch {
        if (raw[0] !== 0x2e && raw.toString('latin1').endsWith(SESSION_EXT)) onSkip?.(escapeBytes(raw), 'name is not valid UTF-8');
        continue;
      }
      if (name.startsWith('.') || !name.endsWith(SESSION_EXT)) continue;
      const bad = badSessionName(name);
      if (bad) {
        onSkip?.(JSON.stringify(name), bad);
        continue;
      }
      out.push({ name: name.slice(0, -SESSION_EXT.length) });
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'directory does not exist' : e.code === 'ENOTDIR' ? 'not a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new SyncError('sync_failed', `cannot read sessions directory ${dir}: ${why}`);
  }
  // Registration order (and so ids) follows the names, not the filesystem's order.
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}


/** Session files read (or stat'ed) at once by a reader without readMany (signatures). */
export const READ_CONCURRENCY = 8;
const STAT_CONCURRENCY = 32;

/** fn over items, at most `limit` at once; results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

/** A reader's batch answer must match its question one for one. */
function oneForOne<T>(out: T[], files: readonly string[], what: string): T[] {
  if (out.length !== files.length) throw new Error(`session-file reader: ${what} gave ${out.length} results for ${files.length} files`);
  return out;
}

async function signaturesOf(files: readonly string[], reader: SessionFileReader): Promise<Array<string | null>> {
  if (!reader.signatures) return mapLimit(files, STAT_CONCURRENCY, signature);
  return oneForOne(await reader.signatures(files), files, 'signatures');
}

async function readAll(files: readonly string[], reader: SessionFileReader): Promise<SessionFileInfo[]> {
  if (!reader.readMany) return mapLimit(files, READ_CONCURRENCY, reader);
  return oneForOne(await reader.readMany(files), files, 'readMany');
}

export async function runSync(opts: SyncOptions): Promise<SyncSummary> {
  const listed = await listSessionFiles(opts.dir, opts.onSkip);

  const known = new Map<string, string | null>();
  for await (const page of opts.store.scanNames()) for (const [name, sig] of page) known.set(name, sig);
  // Known names first: a key already in the pool stays with its session (see the header).
  const files = [...listed.filter((f) => known.has(f.name)), ...listed.filter((f) => !known.has(f.name))];
  listed.length = 0;

  const present = new Set(files.map((f) => f.name));
  const removes = [...known.keys()].filter((n) => !present.has(n));
  present.clear();
  if (!opts.force && known.size > 0 && removes.length > opts.maxRemoveFraction * known.size) {
    throw new SyncError(
      'sync_refused',
      `would remove ${removes.length} of ${known.size} sessions (more than ${Math.round(opts.maxRemoveFraction * 100)}%); ` +
        'is the volume mounted? Call /sync with force=true to remove them anyway',
    );
  }

  const summary: SyncSummary = { new_sessions: 0, removed_sessions: 0, updated_sessions: 0, total_sessions: 0 };
  const apply = async (upserts: SyncUpsert[], rm: string[]): Promise<void> => {
    if (upserts.length === 0 && rm.length === 0) return;
    const r = await opts.store.applySync({ upserts, removes: rm }, opts.fence).catch((err: unknown) => {
      // A store that answers but will not write (Redis OOM) fails this sync with a reason, not a bare 500.
      if (err instanceof StoreRefusedError) throw new SyncError('sync_failed', err.message);
      throw err;
    });
    summary.new_sessions += r.added;
    summary.removed_sessions += r.removed;
    summary.updated_sessions += r.updated;
  };

  // In batches of SYNC_BATCH files: stat, read the new and changed ones, apply.
  // Batch k is applied while batch k+1 is stat'ed and read (one apply in
  // flight, in order): memory holds at most two batches of results.
  let applying: Promise<void> = Promise.resolve();
  const enqueue = async (upserts: SyncUpsert[]): Promise<void> => {
    await applying;
    applying = apply(upserts, []);
    applying.catch(() => undefined); // handled: awaited before the next batch and at the end
  };
  const reader = opts.reader;
  const fileOf = (f: Listed): string => path.join(opts.dir, f.name + SESSION_EXT);
  // The next batch's stats are under way while this batch is compared and read.
  const statBatch = (i: number): Promise<Array<string | null>> | undefined => {
    if (!reader || i >= files.length) return undefined;
    const p = signaturesOf(
      files.slice(i, i + SYNC_BATCH).map((f) => fileOf(f)),
      reader,
    );
    p.catch(() => undefined); // handled: awaited in its turn
    return p;
  };
  // Removes first: a removed session frees its auth key for the files read below.
  for (let i = 0; i < removes.length; i += SYNC_BATCH) await apply([], removes.slice(i, i + SYNC_BATCH));
  let nextSigs = statBatch(0);
  for (let i = 0; i < files.length; i += SYNC_BATCH) {
    const batch = files.slice(i, i + SYNC_BATCH);
    if (!reader) {
      const upserts = batch.filter((f) => !known.has(f.name) || known.get(f.name) === GONE_SIG).map((f) => ({ name: f.name, meta: { proxy: opts.defaultProxy ?? null } }));
      if (upserts.length > 0) await enqueue(upserts);
      continue;
    }
    const sigs = (await nextSigs)!;
    nextSigs = statBatch(i + SYNC_BATCH);
    const todo: Array<{ f: Listed; sig: string | null }> = [];
    batch.forEach((f, j) => {
      // What is stored depends on keepSessionString too: flipping it re-reads every file once.
      // ('+k': the string and the session key; files stored with '+s' had no key, and are re-read once.
      // FINGERPRINT_SIG: files stored without it have no fingerprint, and are re-read once.)
      const stat = sigs[j] ?? null;
      const sig = stat === null ? null : `${stat}${opts.keepSessionString ? '+k' : ''}${FINGERPRINT_SIG}`;
      if (known.has(f.name) && sig !== null && known.get(f.name) === sig) return;
      todo.push({ f, sig });
    });
    if (todo.length === 0) continue;
    const infos = await readAll(
      todo.map((t) => fileOf(t.f)),
      reader,
    );
    await enqueue(
      todo.map(({ f, sig }, j) => ({
        name: f.name,
        meta: storedMeta(infos[j]!.meta, opts.keepSessionString),
        sig: sig ?? '',
        fileError: infos[j]!.fileError,
        keyFingerprint: authKeyFingerprint(infos[j]!.meta),
      })),
    );
  }
  await applying;

  summary.total_sessions = (await opts.store.status()).total;
  return summary;
}
