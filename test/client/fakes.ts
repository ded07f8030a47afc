/**
 * Fake GramJS errors, shaped like telegram/errors (RPCBaseErrors, RPCErrorList):
 * an RPCError keeps Telegram's error in `errorMessage` and formats its message
 * as "<code>: <errorMessage> (caused by <request>)"; FloodWaitError has
 * `.seconds`, `errorMessage` 'FLOOD' and a prose message. And the shared test
 * vectors (test/vectors/telegram-errors.json) as such errors.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface FakeRequest {
  className: string;
}

export class RPCError extends Error {
  code: number | undefined;
  errorMessage: string;

  constructor(message: string, request?: FakeRequest, code?: number) {
    super(`${code ?? ''}: ${message}${RPCError.fmtRequest(request)}`);
    this.name = new.target.name;
    this.code = code;
    this.errorMessage = message;
  }

  static fmtRequest(request?: FakeRequest): string {
    return request ? ` (caused by ${request.className})` : '';
  }
}

export class FloodError extends RPCError {
  override code = 420;
  override errorMessage = 'FLOOD';
}

export class FloodWaitError extends FloodError {
  seconds: number;

  constructor(args: { request?: FakeRequest; capture?: number }) {
    const seconds = Number(args.capture ?? 0);
    super(`A wait of ${seconds} seconds is required${RPCError.fmtRequest(args.request)}`, args.request);
    this.message = `A wait of ${seconds} seconds is required${RPCError.fmtRequest(args.request)}`;
    this.seconds = seconds;
  }
}

export class SlowModeWaitError extends FloodError {
  seconds: number;

  constructor(args: { request?: FakeRequest; capture?: number }) {
    const seconds = Number(args.capture ?? 0);
    super(`A wait of ${seconds} seconds is required before sending another message in this chat`, args.request);
    this.seconds = seconds;
  }
}

export interface Vector {
  error: string;
  method: string | null;
  action: 'rest' | 'invalidate' | 'none';
  scope?: string | null;
}

export const VECTORS = (
  JSON.parse(readFileSync(path.resolve(__dirname, '..', 'vectors', 'telegram-errors.json'), 'utf8')) as { vectors: Vector[] }
).vectors;

/** A GramJS-shaped error for a vector, as GramJS's RPCMessageToError would raise it. */
export function gramjsError(v: Vector): Error {
  const request = v.method === null ? undefined : { className: v.method };
  const flood = /^FLOOD_WAIT_(\d+)$/.exec(v.error);
  if (flood) return new FloodWaitError({ capture: Number(flood[1]), request });
  return new RPCError(v.error, request, 400);
}
