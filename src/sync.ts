/**
 * Reconcile the pool with the directory of session files: new files are
 * registered, files that are gone are removed (whatever the session's state),
 * changed files are re-read, the rest is untouched. The directory is listed
 * completely before anything is written, so a missing or unreadable directory
 * aborts the sync with nothing removed.
 */
import { opendir, stat } from 'node:fs/promises';
import path from 'node:path';
import { SyncError } from './errors';
import type { PoolStore, SessionMeta, SyncUpsert } from './pool/types';

export const SESSION_EXT = '.session';
/** Sessions sent to the store per script call: bounded work per call. */
export const SYNC_BATCH = 500;

export interface FileInfo {
  meta: SessionMeta;
  fileError?: string;
}

/** Reads one session file (and its sidecar); never throws for a bad file. */
export type SessionFileReader = (sessionPath: string) => Promise<FileInfo>;

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
}

export interface SyncSummary {
  new_sessions: number;
  removed_sessions: number;
  total_sessions: number;
  updated_sessions: number;
}

interface Listed {
  name: string;
  file: string;
}

/** Why a directory entry name cannot be a session name, or null when it can. */
export function badSessionName(fileName: string): string | null {
  if (Buffer.byteLength(fileName, 'utf8') > 255) return 'name longer than 255 bytes';
  // eslint-disable-next-line no-control-regex -- control characters are exactly what we reject
  if (/[\u0000-\u001f\u007f]/.test(fileName)) return 'name contains control characters';
  if (fileName.length === SESSION_EXT.length) return 'empty session name';
  return null;
}

/** Regular `*.session` files directly in dir (no recursion, no symlinks, no hidden files). */
async function listSessionFiles(dir: string, onSkip?: SyncOptions['onSkip']): Promise<Listed[]> {
  const out: Listed[] = [];
  try {
    const handle = await opendir(dir, { bufferSize: 256 });
    for await (const ent of handle) {
      if (!ent.isFile() || ent.name.startsWith('.') || !ent.name.endsWith(SESSION_EXT)) continue;
      const bad = badSessionName(ent.name);
      if (bad) {
        onSkip?.(JSON.stringify(ent.name), bad);
        continue;
      }
      out.push({ name: ent.name.slice(0, -SESSION_EXT.length), file: path.join(dir, ent.name) });
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ENOENT' ? 'directory does not exist' : e.code === 'ENOTDIR' ? 'not a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new SyncError('sync_failed', `cannot read sessions directory ${dir}: ${why}`);
  }
  // Registration order (and so ids) follows the names, not the filesystem's order.
  return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function signature(file: string): Promise<string | null> {
  try {
    const s = await stat(file);
    return `${s.size}-${Math.trunc(s.mtimeMs)}`;
  } catch {
    return null; // vanished between listing and stat: treated as changed, the reader reports it
  }
}

/** Session files read at once during a sync (sql.js work interleaves with file I/O). */
export const READ_CONCURRENCY = 8;

async function readBatch(
  todo: Array<{ f: Listed; sig: string | null }>,
  reader: SessionFileReader,
  upserts: SyncUpsert[],
  flush: (rm: string[]) => Promise<void>,
): Promise<void> {
  const infos = new Array<FileInfo>(todo.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let i = next++; i < todo.length; i = next++) infos[i] = await reader(todo[i]!.f.file);
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, todo.length) }, lane));
  todo.forEach(({ f, sig }, i) => upserts.push({ name: f.name, meta: infos[i]!.meta, sig: sig ?? '', fileError: infos[i]!.fileError }));
  await flush([]);
}

export async function runSync(opts: SyncOptions): Promise<SyncSummary> {
  const files = await listSessionFiles(opts.dir, opts.onSkip);

  const known = new Map<string, string | null>();
  for await (const page of opts.store.scanNames()) for (const [name, sig] of page) known.set(name, sig);

  const present = new Set(files.map((f) => f.name));
  const removes = [...known.keys()].filter((n) => !present.has(n));
  if (!opts.force && known.size > 0 && removes.length > opts.maxRemoveFraction * known.size) {
    throw new SyncError(
      'sync_refused',
      `would remove ${removes.length} of ${known.size} sessions (more than ${Math.round(opts.maxRemoveFraction * 100)}%); ` +
        'is the volume mounted? Call /sync with force=true to remove them anyway',
    );
  }

  const summary: SyncSummary = { new_sessions: 0, removed_sessions: 0, updated_sessions: 0, total_sessions: 0 };
  const upserts: SyncUpsert[] = [];
  const flush = async (rm: string[]): Promise<void> => {
    if (upserts.length === 0 && rm.length === 0) return;
    const r = await opts.store.applySync({ upserts: upserts.splice(0), removes: rm }, opts.fence);
    summary.new_sessions += r.added;
    summary.removed_sessions += r.removed;
    summary.updated_sessions += r.updated;
  };

  // Files to (re)read, in batches; within a batch up to READ_CONCURRENCY reads run at once.
  const todo: Array<{ f: Listed; sig: string | null }> = [];
  for (const f of files) {
    const isNew = !known.has(f.name);
    if (!opts.reader) {
      if (isNew) upserts.push({ name: f.name, meta: { proxy: opts.defaultProxy ?? null } });
      if (upserts.length >= SYNC_BATCH) await flush([]);
      continue;
    }
    const sig = await signature(f.file);
    if (!isNew && sig !== null && known.get(f.name) === sig) continue;
    todo.push({ f, sig });
    if (todo.length >= SYNC_BATCH) await readBatch(todo.splice(0), opts.reader, upserts, flush);
  }
  if (opts.reader) await readBatch(todo, opts.reader, upserts, flush);
  await flush([]);
  for (let i = 0; i < removes.length; i += SYNC_BATCH) await flush(removes.slice(i, i + SYNC_BATCH));

  summary.total_sessions = (await opts.store.status()).total;
  return summary;
}
