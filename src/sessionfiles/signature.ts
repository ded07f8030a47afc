/**
 * A session's change signature: sync stores it with each session and re-reads
 * the files only when it differs. It covers the `.session` file
 * (`size-mtime(ms)`) and, when there is one, its sidecar JSON (`~size-mtime`),
 * so a change to the sidecar alone (tags, proxy, api_id) is read at the next
 * sync too. The sidecar is lstat'ed: a symlink there is a file error, and
 * replacing it is a change.
 */
import { lstatSync, statSync } from 'node:fs';
import { lstat, stat } from 'node:fs/promises';
import { sidecarPathFor } from './sidecar';

type Stat = { size: number; mtimeMs: number };

export function fileSignature(st: Stat): string {
  return `${st.size}-${Math.trunc(st.mtimeMs)}`;
}

function combine(session: Stat, sidecar: Stat | undefined): string {
  return sidecar === undefined ? fileSignature(session) : `${fileSignature(session)}~${fileSignature(sidecar)}`;
}

/** The signature of `sessionPath` and its sidecar; null when the session file cannot be stat'ed. */
export function sessionSignatureSync(sessionPath: string): string | null {
  try {
    const st = statSync(sessionPath, { throwIfNoEntry: false });
    if (st === undefined) return null;
    return combine(st, lstatSync(sidecarPathFor(sessionPath), { throwIfNoEntry: false }));
  } catch {
    return null; // unreadable: treated as changed, the reader reports why
  }
}

/** sessionSignatureSync, off the event loop's thread pool. */
export async function sessionSignature(sessionPath: string): Promise<string | null> {
  let st: Stat;
  try {
    st = await stat(sessionPath);
  } catch {
    return null; // vanished between listing and stat: treated as changed, the reader reports it
  }
  const sidecar = await lstat(sidecarPathFor(sessionPath)).catch(() => undefined);
  return combine(st, sidecar);
}
