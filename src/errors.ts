/**
 * Typed errors of the pool. Scripts return negative codes for expected
 * outcomes; codeToError() is the one place that maps them.
 */

export class PoolError extends Error {
  override name = 'PoolError';
}

export class SessionNotFoundError extends PoolError {
  override name = 'SessionNotFoundError';
  constructor(readonly sessionId: number) {
    super(`session ${sessionId} not found`);
  }
}

export class LeaseMismatchError extends PoolError {
  override name = 'LeaseMismatchError';
  constructor(readonly sessionId: number) {
    super(`lease token is not the current lease of session ${sessionId}`);
  }
}

export class StaleFenceError extends PoolError {
  override name = 'StaleFenceError';
  constructor() {
    super('sync rejected: this replica is no longer the leader (stale fence)');
  }
}

/** The store (Redis) cannot be reached or did not answer in time. */
export class StoreUnavailableError extends PoolError {
  override name = 'StoreUnavailableError';
  constructor(cause?: unknown) {
    super('store unavailable', { cause });
  }
}

/**
 * The store is reachable but unsafe to use: a Redis whose maxmemory-policy may
 * evict pool keys (allkeys-*). `reason` says what to set.
 */
export class StoreMisconfiguredError extends PoolError {
  override name = 'StoreMisconfiguredError';
  constructor(readonly reason: string) {
    super(`store misconfigured: ${reason}`);
  }
}

/** A store reply that does not have the shape its script documents: a bug, never user input. */
export class StoreReplyError extends PoolError {
  override name = 'StoreReplyError';
}

export class SyncError extends Error {
  override name = 'SyncError';
  constructor(
    readonly code: 'sync_failed' | 'sync_refused',
    readonly reason: string,
  ) {
    super(`${code}: ${reason}`);
  }
}

export const CODE_NOT_FOUND = -1;
export const CODE_LEASE_MISMATCH = -2;
export const CODE_STALE_FENCE = -3;

/** Map a script's negative reply code to its typed error. */
export function codeToError(code: number, sessionId: number): PoolError {
  switch (code) {
    case CODE_NOT_FOUND:
      return new SessionNotFoundError(sessionId);
    case CODE_LEASE_MISMATCH:
      return new LeaseMismatchError(sessionId);
    case CODE_STALE_FENCE:
      return new StaleFenceError();
    default:
      return new StoreReplyError(`unexpected script code ${code}`);
  }
}
