/**
 * One API request as the front layer (app.ts) serves it: Node's own request
 * and response, what the front learned on the way (the route's name, the
 * caller's principal, the body), what the handler says about its answer for
 * the request log line (level, reason), and the hooks a lease in progress
 * leaves for the end listener (abandon, unsent).
 *
 * The API's routes are served without Express's request and response: Express
 * re-parents both objects onto its own prototypes on every request
 * (Object.setPrototypeOf), which on this machine costs a bare JSON route more
 * CPU than everything else it does together (bench/findings.md, "Without
 * Express"). Only the HTML pages and their assets still go through Express.
 * The answers are the ones Express wrote: `json` is res.json's (the same
 * Content-Type with its charset, Content-Length, no ETag, no body for HEAD:
 * Node drops it), `text` is res.send's for a string.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery, type ParsedUrlQuery } from 'node:querystring';
import type { Principal } from './auth';
import type { LogLevelName } from './errors';

const JSON_TYPE = 'application/json; charset=utf-8';

export class Exchange {
  /** The route's name for metrics: a table path or a static prefix with `*`, never the URL. */
  route: string | undefined = undefined;
  /** Who called, once the API key is accepted. */
  principal: Principal | undefined = undefined;
  /** The parsed body (JSON or form), undefined without one. */
  body: unknown = undefined;
  /** How routine the answer is, when the route or the error handler says so (the log line's level). */
  logLevel: LogLevelName | undefined = undefined;
  /** What went wrong in the store or the sync, for the log line of a 5xx. */
  reason: string | undefined = undefined;
  /** A long-poll in progress: aborted when the client leaves. */
  abandon: AbortController | undefined = undefined;
  /** A lease answered into a response that never reached its socket: gives it back. */
  unsent: (() => void) | undefined = undefined;
  private parsedQuery: ParsedUrlQuery | undefined = undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** The request id (X-Request-Id, given or minted). */
    readonly id: string,
    /** The URL's path, undecoded, as Express's req.path was. */
    readonly path: string,
    /** The URL's query string, without its `?`; null without one. */
    private readonly rawQuery: string | null,
  ) {}

  /** The query string's parameters, parsed when first read, as Express's default ("simple") query parser does. */
  get query(): ParsedUrlQuery {
    return (this.parsedQuery ??= parseQuery(this.rawQuery ?? ''));
  }

  /** Answer `body` as JSON. */
  json(body: unknown, status = 200): void {
    this.text(status, JSON_TYPE, JSON.stringify(body));
  }

  /** Answer a text body of the given type. */
  text(status: number, contentType: string, text: string): void {
    const res = this.res;
    res.statusCode = status;
    res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  }

  header(name: string, value: string): void {
    this.res.setHeader(name, value);
  }
}
