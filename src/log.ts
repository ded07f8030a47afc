/**
 * Structured JSON logs (pino). Secrets never reach a log line: API keys,
 * lease tokens, proxy passwords and session strings are redacted by path, and
 * an error is logged as what went wrong, never with what it was given (see
 * serializeErr).
 */
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config';

export type { Logger };

export const REDACT_PATHS = [
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.query.lease_token',
  'req.body.lease_token',
  '*.lease_token',
  '*.leaseToken',
  '*.password',
  '*.proxy.password',
  '*.session_string',
  '*.sessionString',
  '*.sessionKey',
  '*.session_key',
  '*.apiKey',
  '*.apiKeys',
];

/** Causes followed in an error chain. */
const MAX_CAUSES = 5;

/**
 * The one serializer of errors in a log line (`err`): type,
 * message, stack, primitive fields (code, errno...) and the cause chain.
 * Object-valued fields are dropped: ioredis hangs the failed command and its
 * arguments (a sync batch: session strings, proxy passwords) on its errors as
 * `command`, and no other object on an error is worth that risk.
 */
export function serializeErr(err: unknown, depth = 0): unknown {
  // Not an Error: whatever it is, it is not a command's arguments (`{ err: err.message }` is common).
  if (!(err instanceof Error)) return err;
  const out: Record<string, unknown> = { type: err.name, message: err.message, stack: err.stack };
  for (const [k, v] of Object.entries(err)) {
    if (k in out || k === 'cause') continue;
    if (v === null || ['string', 'number', 'boolean'].includes(typeof v)) out[k] = v;
  }
  if (err.cause !== undefined && depth < MAX_CAUSES) out.cause = serializeErr(err.cause, depth + 1);
  return out;
}

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'telegate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      serializers: { err: (err: unknown) => serializeErr(err) },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
