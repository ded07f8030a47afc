/**
 * A session file's change signature, `size-mtime(ms)`: sync stores it with
 * each session and re-reads a file only when it differs.
 */
export function fileSignature(st: { size: number; mtimeMs: number }): string {
  return `${st.size}-${Math.trunc(st.mtimeMs)}`;
}
