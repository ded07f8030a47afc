/**
 * The JSON body every worker sends (`Content-Type: application/json`, a
 * Content-Length within the limit, no Content-Encoding), read and parsed
 * without body-parser's machinery (type-is, content-type parsing, raw-body,
 * iconv-lite, on-finished: a few µs per POST, bench/findings.md). Any other
 * body — another media type or charset spelling, a compressed or chunked one,
 * one over the limit — still goes through body-parser, whose answers (400,
 * 413, 415, 422) this one gives too for what it reads: the same text (UTF-8,
 * a leading BOM dropped, as iconv-lite's decoder does), `{}` for an empty
 * body, JSON.parse's message in the 422 `json_invalid` answer; and a
 * request whose client left before its body was read runs without a body, as
 * body-parser runs it.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError, jsonInvalid } from './errors';

/** body-parser's `limit` for every body the API takes ('16kb'). */
export const BODY_LIMIT_BYTES = 16 * 1024;

/** The exact Content-Type values this path takes; every other spelling goes to body-parser. */
const PLAIN_JSON = new Set(['application/json', 'application/json; charset=utf-8']);
const DIGITS = /^\d{1,5}$/;

/** The body's length when it is a plain JSON body this path reads, else undefined (body-parser's). */
export function plainJsonLength(req: IncomingMessage): number | undefined {
  const h = req.headers;
  if (h['transfer-encoding'] !== undefined || h['content-encoding'] !== undefined) return undefined;
  if (!PLAIN_JSON.has(h['content-type'] ?? '')) return undefined;
  const length = h['content-length'];
  if (length === undefined || !DIGITS.test(length)) return undefined;
  const n = Number(length);
  return n <= BODY_LIMIT_BYTES ? n : undefined;
}

/**
 * The request can no longer deliver a body (on-finished's isFinished, body-parser's first check): the client left
 * while the front waited (the rate limiter's Redis round trip) and Node destroyed the request, its body unread; no
 * 'data', 'end' or 'aborted' comes to a reader attached now.
 */
function bodyGone(req: IncomingMessage): boolean {
  const socket = req.socket as IncomingMessage['socket'] | null;
  return socket === null || !socket.readable || (req.complete && !req.readable);
}

/** Read the `length` bytes of a plain JSON body and parse them; `done` gets the body or the error to answer. */
export function readPlainJson(req: IncomingMessage, length: number, done: (err: unknown, body?: unknown) => void): void {
  // body-parser runs the handler without a body then (its answer goes nowhere, what it does is done, a lease it
  // takes goes back as the client is gone); waiting here would leave the request's work undone without a word.
  if (bodyGone(req)) return done(null, undefined);
  const chunks: Buffer[] = [];
  let received = 0;
  const onData = (chunk: Buffer): void => {
    received += chunk.length;
    chunks.push(chunk);
  };
  const onEnd = (): void => {
    cleanup();
    // Node's parser delivers exactly Content-Length bytes or fails the request; a mismatch is body-parser's 400.
    if (received !== length) return done(new HttpError(400, 'Bad Request'));
    let text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received)).toString('utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.length === 0) return done(null, {});
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      return done(jsonInvalid(err instanceof Error ? err.message : String(err)));
    }
    done(null, body);
  };
  // The client left mid-body (body-parser's 'request.aborted'): nobody reads the answer, the log line says 499.
  const onError = (): void => {
    cleanup();
    done(new HttpError(400, 'Bad Request'));
  };
  const cleanup = (): void => {
    req.off('data', onData);
    req.off('end', onEnd);
    req.off('error', onError);
    req.off('aborted', onError);
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('error', onError);
  req.on('aborted', onError);
}
