/**
 * X-API-Key authentication. Keys are compared in constant time (SHA-256
 * digests, every configured key checked, no early exit) the first time they
 * are presented, and never logged; an accepted key's verdict is then kept
 * (see makeAuthenticator). Requests carry only a short, non-reversible key id
 * for rate limiting.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpError } from './errors';

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

export interface Principal {
  /** First 16 hex chars of SHA-256(key): stable, safe to use as a rate-limit key. */
  keyId: string;
  admin: boolean;
}

export function makeAuthenticator(apiKeys: string[], adminKeys: string[]): (key: string) => Principal | null {
  const all = apiKeys.map(digest);
  const admins = adminKeys.map(digest);
  const rolesEnabled = adminKeys.length > 0;
  const matchAny = (d: Buffer, set: Buffer[]): boolean => {
    let found = false;
    for (const k of set) found = timingSafeEqual(d, k) || found;
    return found;
  };
  // Verdicts of keys already accepted: a worker presents the same key on every request, and its SHA-256 and the
  // compare against every configured key were a fixed cost per request. Only accepted keys are kept, so the map holds
  // at most the configured keys (the bound below is a second guard) and a flood of wrong keys can neither grow it nor
  // skip the constant-time check: an unknown key is always digested and compared against every configured key. A hit
  // is an exact-string lookup of a key this process has already accepted: it tells nobody anything about a key
  // they do not have.
  const accepted = new Map<string, Principal>();
  const most = Math.max(16, all.length);
  return (key) => {
    const known = accepted.get(key);
    if (known) return known;
    const d = digest(key);
    if (!matchAny(d, all)) return null;
    const principal = Object.freeze({ keyId: d.subarray(0, 8).toString('hex'), admin: rolesEnabled ? matchAny(d, admins) : true });
    if (accepted.size >= most) accepted.clear();
    accepted.set(key, principal);
    return principal;
  };
}

/** The caller of a request carrying `key` (the X-API-Key header): 401 without a key, 403 for a key not configured. */
export function principalOf(authenticate: (key: string) => Principal | null, key: string | string[] | undefined): Principal {
  if (key === undefined || key === '') throw new HttpError(401, 'API key required');
  // Node joins repeated X-API-Key headers into one string; an array never comes for it, and would be no key.
  const principal = typeof key === 'string' ? authenticate(key) : null;
  if (!principal) throw new HttpError(403, 'Invalid API key');
  return principal;
}

/**
 * Whether a request must carry the session's lease_token: a worker key when
 * roles are on (TELEGATE_ADMIN_KEYS set), and every key when `everyKey`
 * (TELEGATE_REQUIRE_LEASE_TOKEN, for release and flood wait). With roles off
 * every key is an admin, so by default nothing changes.
 */
export function mustProveLease(p: Principal | undefined, everyKey: boolean): boolean {
  return everyKey || !p?.admin;
}

/** 403 unless the caller holds an admin key. */
export function requireAdmin(p: Principal | undefined): void {
  if (!p?.admin) throw new HttpError(403, 'Admin API key required');
}
