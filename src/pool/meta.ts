import type { SessionMeta } from './types';

/** Parse a stored meta JSON value; a corrupt value is treated as empty rather than failing the call. */
export function parseMeta(raw: string | null | undefined): SessionMeta {
  if (!raw) return {};
  try {
    const v: unknown = JSON.parse(raw);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v) : {};
  } catch {
    return {};
  }
}
