/**
 * X-API-Key authentication. Keys are compared in constant time (SHA-256
 * digests, every configured key checked, no early exit) and never logged;
 * requests carry only a short, non-reversible key id for rate limiting.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
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
  return (key) => {
    const d = digest(key);
    if (!matchAny(d, all)) return null;
    return { keyId: d.subarray(0, 8).toString('hex'), admin: rolesEnabled ? matchAny(d, admins) : true };
  };
}

export function authMiddleware(authenticate: (key: string) => Principal | null) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const key = req.get('x-api-key');
    if (key === undefined || key === '') return next(new HttpError(401, 'API key required'));
    const principal = authenticate(key);
    if (!principal) return next(new HttpError(403, 'Invalid API key'));
    res.locals.principal = principal;
    next();
  };
}

/**
 * Whether a request must carry the session's lease_token: a worker key when
 * roles are on (TELEGATE_ADMIN_KEYS set), and every key when `everyKey`
 * (TELEGATE_REQUIRE_LEASE_TOKEN, for release and flood wait). With roles off
 * every key is an admin, so by default nothing changes.
 */
export function mustProveLease(res: Response, everyKey: boolean): boolean {
  const p = res.locals.principal as Principal | undefined;
  return everyKey || !p?.admin;
}

export function requireAdmin(_req: Request, res: Response, next: NextFunction): void {
  const p = res.locals.principal as Principal | undefined;
  if (!p?.admin) return next(new HttpError(403, 'Admin API key required'));
  next();
}
