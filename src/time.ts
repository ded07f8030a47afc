/** `YYYY-MM-DD HH:MM:SS` in UTC, the original service's time format. */
export function formatUtc(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}
