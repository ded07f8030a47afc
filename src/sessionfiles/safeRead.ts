/**
 * The one set of rules for opening a file from the sessions volume (session
 * files and sidecars alike), so that no file put there can hang, flood or
 * redirect the reader:
 *
 * - lstat first: only a regular file is opened (no symlink, FIFO, socket,
 *   device or directory), and one larger than the caller's limit is refused
 *   before a byte is read (a 1 GB sparse file costs nothing);
 * - open with O_NONBLOCK | O_NOFOLLOW: a FIFO swapped in after the lstat
 *   cannot block the open, a symlink swapped in is refused (ELOOP);
 * - fstat the opened descriptor and check it again (same rules), then read at
 *   most the size it had: a file that grows meanwhile (or /dev/zero) cannot
 *   make the read unbounded.
 *
 * Refusals are short reasons that say what is wrong, never what the file holds.
 * The per-file read deadline is the worker pool's (./pool.ts): a read that
 * blocks in the kernel (a hung network filesystem) cannot be interrupted here.
 */
import { closeSync, constants as fsConstants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';

/** Session files are a few dozen KB; a larger one is refused unread. */
export const MAX_SESSION_FILE_BYTES = 8 * 1024 * 1024;
/** Sidecars are a few hundred bytes in practice. */
export const MAX_SIDECAR_BYTES = 1024 * 1024;

/** O_NOFOLLOW is absent on Windows (where there are no FIFOs to fear either). */
const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK | (fsConstants.O_NOFOLLOW ?? 0);

export type FileBytes = { bytes: Uint8Array } | { missing: true } | { error: string };

const SYMLINK = 'is a symbolic link (not followed)';

/** Why a file with these stats must not be read, or null when it may be. */
function refusal(st: Stats, maxBytes: number): string | null {
  if (st.isFile()) return st.size > maxBytes ? `file is ${st.size} bytes, more than the ${maxBytes}-byte limit` : null;
  if (st.isSymbolicLink()) return SYMLINK;
  if (st.isDirectory()) return 'not a file (directory)';
  if (st.isFIFO()) return 'not a regular file (FIFO)';
  if (st.isSocket()) return 'not a regular file (socket)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'not a regular file (device)';
  return 'not a regular file';
}

function failure(err: unknown): FileBytes {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return { missing: true }; // vanished between listing and reading
  if (code === 'ELOOP') return { error: SYMLINK };
  if (code === 'EISDIR') return { error: 'not a file (directory)' };
  return { error: `cannot read file (${code ?? (err instanceof Error ? err.name : 'unknown error')})` };
}

/**
 * The bytes of a regular file of at most maxBytes, with blocking I/O (the
 * reader threads' job). `alloc(size)` gives the buffer to read into (a reused
 * scratch buffer, say): the bytes are a view of it.
 */
export function readRegularFileSync(file: string, maxBytes: number, alloc: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size)): FileBytes {
  let fd: number;
  try {
    const st = lstatSync(file, { throwIfNoEntry: false });
    if (st === undefined) return { missing: true };
    const bad = refusal(st, maxBytes);
    if (bad !== null) return { error: bad };
    fd = openSync(file, OPEN_FLAGS);
  } catch (err) {
    return failure(err);
  }
  try {
    const st = fstatSync(fd);
    const bad = refusal(st, maxBytes);
    if (bad !== null) return { error: bad };
    const buf = alloc(st.size);
    let n = 0;
    for (let r = 1; n < st.size && r > 0; n += r) r = readSync(fd, buf, n, st.size - n, n);
    return { bytes: buf.subarray(0, n) };
  } catch (err) {
    return failure(err);
  } finally {
    closeSync(fd);
  }
}
