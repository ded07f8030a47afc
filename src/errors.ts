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

/**
 * What a store client's error may say in a log or a reply: its name, message
 * and code, never what it was given. ioredis attaches the failed command and
 * its arguments to its errors (a sync batch holds session strings and proxy
 * passwords), so every store error is reduced to this before it travels on.
 */
export function storeErrorSummary(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const summary = new Error(err.message);
  summary.name = err.name;
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string') (summary as NodeJS.ErrnoException).code = code;
  return summary;
}

/** The store (Redis) cannot be reached or did not answer in time. */
export class StoreUnavailableError extends PoolError {
  override name = 'StoreUnavailableError';
  constructor(cause?: unknown) {
    super('store unavailable', cause === undefined ? undefined : { cause: storeErrorSummary(cause) });
  }
}

/**
 * The store answers but refuses to write (Redis OOM under maxmemory with
 * noeviction): an operator must act. Answered like an unavailable store,
 * logged as an error; a sync refused this way is `sync_failed`.
 */
export class StoreRefusedError extends StoreUnavailableError {
  override name = 'StoreRefusedError';
  constructor(readonly reason: string) {
    super();
    this.message = `store refused the write: ${reason}`;
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

/**
 * A change was made on the Redis master but fewer replicas than
 * TELEGATE_REDIS_WAIT_REPLICAS acknowledged it in time: a failover now could
 * lose it, so it is answered like an unreachable store (503).
 */
export class ReplicationTimeoutError extends StoreUnavailableError {
  override name = 'ReplicationTimeoutError';
  constructor(
    readonly wanted: number,
    readonly acked: number,
  ) {
    super();
    this.message = `store unavailable: ${acked} of ${wanted} Redis replicas acknowledged the change in time`;
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
