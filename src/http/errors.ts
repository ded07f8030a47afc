/**
 * The one JSON error handler: renders the spec's {"detail": ...} shapes, logs
 * unknown errors with their stack, answers 500 without internals, and never
 * exits the process. Every answer is JSON, whatever the request held: a body
 * too deep to echo is answered without its input, and if even that cannot be
 * rendered, with a fixed 500 JSON.
 *
 * Routine answers are not errors: the request log line says how the request
 * ended (the answer's level and reason, read by app.ts's request logger);
 * only what an operator must act on is logged at `error`.
 */
import { STATUS_CODES } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { LeaseMismatchError, SessionNotFoundError, StoreMisconfiguredError, StoreRefusedError, StoreUnavailableError, SyncError } from '../errors';
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

/** A JSON body that does not parse (JSON.parse's `message`), answered as FastAPI answers it. */
export function jsonInvalid(message: string): HttpError {
  const pos = /position (\d+)/.exec(message);
  return new HttpError(422, [{ type: 'json_invalid', loc: ['body', pos?.[1] ? Number(pos[1]) : 0], msg: 'JSON decode error', input: {}, ctx: { error: message } }]);
}

/** Parse failures of body-parser, answered as FastAPI answers them. */
function fromBodyParser(err: BodyParserError): HttpError | null {
  switch (err.type) {
    case 'entity.parse.failed':
      return jsonInvalid(err.message);
    case 'entity.too.large':
    case 'parameters.too.many':
      return new HttpError(413, 'Request Entity Too Large');
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new HttpError(415, 'Unsupported Media Type');
    case 'request.aborted':
      return new HttpError(400, 'Bad Request');
    default:
      // A client error body-parser (or zlib under it: a corrupt gzip/br body) raised without a type.
      if (typeof err.status === 'number' && err.status >= 400 && err.status < 500 && (err as { expose?: unknown }).expose === true)
        return new HttpError(err.status, STATUS_CODES[err.status] ?? 'Bad Request');
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
  if (err instanceof Error && ('type' in err || 'expose' in err)) return fromBodyParser(err as BodyParserError);
  // The pages' router could not percent-decode a path parameter (GET /docs/assets/%): a path that names no file, as
  // /ui/% and /status% are; not a failure of ours to log with its stack.
  if (err instanceof URIError && (err as { status?: unknown }).status === 400) return new HttpError(404, 'Not Found');
  return null;
}

/** How a request that ended in `err` is logged: level and a one-line reason (no stack). */
export type LogLevelName = 'debug' | 'info' | 'warn' | 'error';

function logLevelOf(err: unknown, http: HttpError): LogLevelName {
  if (err instanceof StoreRefusedError) return 'error'; // Redis out of memory: an operator must act
  if (err instanceof SyncError) return err.code === 'sync_refused' ? 'warn' : 'error';
  return http.status >= 500 && http.status !== 503 ? 'error' : 'warn';
}

/** The answer as JSON text; a detail too deep to render (a 422 echoing `[[[…]]]`) is answered without its inputs. */
function renderDetail(detail: unknown): string | null {
  try {
    return JSON.stringify({ detail });
  } catch {
    if (!Array.isArray(detail)) return null;
    try {
      return JSON.stringify({ detail: detail.map((d: unknown) => (d && typeof d === 'object' ? { ...d, input: null } : d)) });
    } catch {
      return null;
    }
  }
}

/** What a request that failed with `err` is answered, and how its log line says it ended. */
export interface ErrorAnswer {
  status: number;
  headers: Record<string, string>;
  /** The JSON text. */
  body: string;
  level: LogLevelName;
  reason?: string;
}

/** The answer to `err`; an error that is not the client's (no known answer) is logged here with its stack. */
export function errorAnswer(err: unknown, logger: Logger, method: string | undefined, path: string): ErrorAnswer {
  let http = toHttpError(err);
  let level: LogLevelName;
  let reason: string | undefined;
  if (!http) {
    logger.error({ err, method, path }, 'unhandled error');
    http = new HttpError(500, 'Internal Server Error');
    level = 'error';
  } else {
    // A misconfigured store is said once, at error level, by the store when it finds the policy; not once per request.
    level = err instanceof StoreMisconfiguredError ? 'debug' : logLevelOf(err, http);
    if (err instanceof StoreUnavailableError || err instanceof SyncError) reason = reasonOf(err);
  }
  let body = renderDetail(http.detail);
  if (body === null) {
    logger.error({ status: http.status, method, path }, 'error answer could not be rendered');
    http = new HttpError(500, 'Internal Server Error');
    body = JSON.stringify({ detail: http.detail });
  }
  return { status: http.status, headers: http.headers, body, level, reason };
}

/**
 * The JSON error handler of the Express app that serves the HTML pages and their assets (a file that cannot be read,
 * a path under a static prefix that is not there); `answered` tells the request's log line how it ended.
 */
export function errorHandler(logger: Logger, answered: (res: Response, a: ErrorAnswer) => void) {
  return (err: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) {
      next(err); // Express closes the connection
      return;
    }
    const a = errorAnswer(err, logger, req.method, req.path);
    answered(res, a);
    res.status(a.status).set(a.headers).type('application/json').send(a.body);
  };
}

/** One line on what went wrong in the store or the sync (never the command's arguments). */
function reasonOf(err: StoreUnavailableError | SyncError): string {
  if (err instanceof SyncError) return err.message;
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
