/**
 * The one JSON error handler: renders the spec's {"detail": ...} shapes, logs
 * unknown errors with their stack, answers 500 without internals, and never
 * exits the process.
 */
import type { NextFunction, Request, Response } from 'express';
import { LeaseMismatchError, SessionNotFoundError, StoreMisconfiguredError, StoreUnavailableError, SyncError } from '../errors';
import type { Logger } from '../log';
import { RequestValidationError } from './params';

/** An error whose answer is fixed: status + detail (+ headers). */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(
    readonly status: number,
    readonly detail: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(typeof detail === 'string' ? detail : `HTTP ${status}`);
  }
}

interface BodyParserError extends Error {
  type?: string;
  status?: number;
  body?: string;
}

/** Parse failures of body-parser, answered as FastAPI answers them. */
function fromBodyParser(err: BodyParserError): HttpError | null {
  switch (err.type) {
    case 'entity.parse.failed': {
      const pos = /position (\d+)/.exec(err.message);
      return new HttpError(422, [
        { type: 'json_invalid', loc: ['body', pos?.[1] ? Number(pos[1]) : 0], msg: 'JSON decode error', input: {}, ctx: { error: err.message } },
      ]);
    }
    case 'entity.too.large':
      return new HttpError(413, 'Request Entity Too Large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'Unsupported Media Type');
    case 'request.aborted':
      return new HttpError(400, 'Bad Request');
    default:
      return null;
  }
}

export function toHttpError(err: unknown): HttpError | null {
  if (err instanceof HttpError) return err;
  if (err instanceof RequestValidationError) return new HttpError(422, err.issues);
  if (err instanceof SessionNotFoundError) return new HttpError(404, 'Session not found');
  if (err instanceof LeaseMismatchError) return new HttpError(409, { error: 'lease_mismatch', session_id: err.sessionId });
  if (err instanceof StoreUnavailableError) return new HttpError(503, { error: 'store_unavailable' }, { 'Retry-After': '1' });
  if (err instanceof StoreMisconfiguredError) return new HttpError(503, { error: 'store_misconfigured', reason: err.reason });
  if (err instanceof SyncError) return new HttpError(500, { error: err.code, reason: err.reason });
  if (err instanceof Error && 'type' in err) return fromBodyParser(err as BodyParserError);
  return null;
}

export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(err); // Express closes the connection
      return;
    }
    let http = toHttpError(err);
    if (!http) {
      logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
      http = new HttpError(500, 'Internal Server Error');
    } else if (err instanceof StoreMisconfiguredError) {
      // Said once, at error level, by the store when it found the policy; not once per request.
      logger.debug({ path: req.path }, 'store misconfigured');
    } else if (http.status === 503) {
      logger.warn({ err: (err as Error).cause ?? err, path: req.path }, 'store unavailable');
    }
    res.status(http.status).set(http.headers).json({ detail: http.detail });
  };
}
