/**
 * Errors of the TeleGate client. Every one is a TeleGateError; HTTP error
 * answers are HttpError (or a subclass) carrying the status and the JSON
 * `detail` of the answer.
 */

export class TeleGateError extends Error {
  override name = 'TeleGateError';
}

/**
 * No session could be leased (503 `no_free_session`), and auto-wait was off,
 * ran out of `maxWaitMs`, or saw that none can ever become free.
 */
export class NoSessionAvailableError extends TeleGateError {
  override name = 'NoSessionAvailableError';
  constructor(
    /** Sessions in flood wait or invalidated (the 503's `in_floodwait`). */
    readonly waitingCount: number,
    /** Seconds until the earliest flood wait ends; null when none is timed. */
    readonly nextReleaseIn: number | null,
    /** Sessions currently leased, when the server says (null otherwise). */
    readonly inUse: number | null,
    /**
     * True when the server holds issuing after its store lost data (503
     * `store_recovering`): `nextReleaseIn` is then the time left of that grace.
     */
    readonly recovering = false,
  ) {
    super(
      recovering
        ? `No session issued: the server is recovering from a store data loss; issuing resumes in ${nextReleaseIn ?? '?'} s`
        : `No free session: ${waitingCount} in flood wait${inUse === null ? '' : `, ${inUse} in use`}; ` +
            (nextReleaseIn === null ? 'no flood wait ends by itself' : `next release in ${nextReleaseIn} s`),
    );
  }
}

/** The server answered with an error status. */
export class HttpError extends TeleGateError {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    /** The answer's `detail` (a string, an object or a list of validation issues). */
    readonly detail: unknown,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: HTTP ${status}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
}

/** 401 (no API key) or 403 (unknown key, or an admin-only endpoint with a worker key). */
export class AuthError extends HttpError {
  override name = 'AuthError';
}

/** 409 `lease_mismatch`: the lease this client holds is no longer the session's current one. */
export class LeaseMismatchError extends HttpError {
  override name = 'LeaseMismatchError';
  get sessionId(): number | null {
    const d = this.detail as { session_id?: unknown } | null;
    return typeof d?.session_id === 'number' ? d.session_id : null;
  }
}

/** 404 `Session not found` (`/floodwait`, `/restore`, `/heartbeat` with an unknown id). */
export class SessionNotFoundError extends HttpError {
  override name = 'SessionNotFoundError';
}

/**
 * The lease withSession() held is no longer ours: a heartbeat (or the final
 * release) answered 409 or 404 — it expired, an operator released,
 * invalidated or restored it, or the store lost its data. Someone else may
 * hold the session now: stop using it. `cause` is the server's answer.
 */
export class LeaseLostError extends TeleGateError {
  override name = 'LeaseLostError';
  constructor(
    readonly sessionId: number,
    cause: unknown,
  ) {
    super(`session ${sessionId}: lease lost (${cause instanceof Error ? cause.message : String(cause)})`, { cause });
  }
}

/** The server could not be reached, or did not answer in time, after the allowed retries. */
export class TeleGateConnectionError extends TeleGateError {
  override name = 'TeleGateConnectionError';
}

export function httpError(status: number, detail: unknown, method: string, path: string): HttpError {
  if (status === 401 || status === 403) return new AuthError(status, detail, method, path);
  if (status === 409 && (detail as { error?: unknown } | null)?.error === 'lease_mismatch')
    return new LeaseMismatchError(status, detail, method, path);
  if (status === 404 && detail === 'Session not found') return new SessionNotFoundError(status, detail, method, path);
  return new HttpError(status, detail, method, path);
}
