/**
 * Structured JSON logs (pino). Secrets never reach a log line: API keys,
 * lease tokens, proxy passwords and session strings are redacted by path.
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

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'telegate' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
