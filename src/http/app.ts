/**
 * createApp(): the service's HTTP request listener, no listen, no module-level
 * state.
 *
 * Everything about an endpoint is one entry of the route table (routes.ts);
 * this file derives the front layer from it: the per-path facts it looks up
 * once per request (404/405 with Allow, public or not, quiet log, HTML page)
 * and the handlers it calls (admin check, parameters validated, lease token
 * required as the entry says).
 *
 * The API's routes are served on Node's own request and response (an
 * Exchange, exchange.ts), not through Express: its per-request prototype swap
 * cost more than everything else a bare Express route does (bench/findings.md).
 * Only the HTML pages and their assets (/docs, /ui) are handed to an Express
 * app (helmet's full set, static files, their routers' redirects and CSPs).
 *
 * Per request: request id and the one end listener (log line, metrics, a lease
 * given up) → security headers → route table (404/405) → auth and rate limit
 * (not on public paths) → body parsers (only when a body is announced) → the
 * route's handler → the one JSON error answer for whatever failed on the way.
 * Authentication runs before body parsing on purpose: the contract says 401
 * comes before 422, which must hold for malformed bodies too, and
 * unauthenticated clients never make us parse anything. /docs, /ui and their
 * assets are public (the pages hold no data; their API calls carry the key).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import express, { type Response } from 'express';
import type { Store } from 'express-rate-limit';
import helmet from 'helmet';
import parseUrl from 'parseurl';
import type { Logger } from '../log';
import { BODY_LIMIT_BYTES, plainJsonLength, readPlainJson } from './body';
import { makeAuthenticator, mustProveLease, principalOf, requireAdmin } from './auth';
import { HttpError, errorAnswer, errorHandler, type ErrorAnswer } from './errors';
import { Exchange } from './exchange';
import { buildOpenApi } from './openapi';
import { readParams, type ParamSchema } from './params';
import { rateLimiter } from './ratelimit';
import { ROUTE_TABLE, clientLeft, isPublic, type Route, type RouteDeps } from './routes';
import { withToken } from './schemas';
import { STATIC_PREFIXES, docsRouter, uiRouter } from '../ui';

export interface AppDeps extends Omit<RouteDeps, 'openapi'> {
  logger: Logger;
  /** Shared rate-limit counters (Redis); undefined → in-process. */
  rateLimitStore?: Store;
}

/**
 * Security headers of the JSON API, set once per answer from this fixed list instead of running helmet's twelve
 * middlewares: what matters for an answer no browser renders as a page: no sniffing (never run as script or HTML),
 * nothing may load or frame it, no referrer, HTTPS once seen.
 */
export const API_HEADERS: ReadonlyArray<[string, string]> = [
  ['Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'"],
  ['X-Content-Type-Options', 'nosniff'],
  ['Cross-Origin-Resource-Policy', 'same-origin'],
  ['Referrer-Policy', 'no-referrer'],
  ['Strict-Transport-Security', 'max-age=31536000; includeSubDomains'],
  ['X-Frame-Options', 'DENY'],
];

const REQUEST_ID = /^[\w.:-]{1,128}$/;

const trimSlash = (path: string): string => (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path);

/** What the front layer needs to know about a path, computed once per app from the route table. */
interface PathFacts {
  /** The route's name for metrics (Exchange.route): a table path or a static prefix with `*`, never the URL. */
  route: string;
  /** Methods it answers (HEAD included where a GET does not change state). */
  allowed: ReadonlySet<string>;
  /** The Allow header of its 405. */
  allow: string;
  /** No API key needed. */
  open: boolean;
  /** Request log line at debug. */
  quiet: boolean;
  /** HTML page: helmet's full header set. */
  page: boolean;
  /** The table's handlers by method (HEAD runs GET's); none for the static pages, which Express serves. */
  handlers?: ReadonlyMap<string, Handler>;
}

/** A table route's handler as the front layer calls it: admin check, parameters read, handler run; it throws or rejects with what failed. */
type Handler = (x: Exchange) => Promise<void> | void;

/** Every path's facts, derived from the route table for this deployment (TELEGATE_METRICS_PUBLIC decides /metrics). */
function pathFacts(d: RouteDeps): Map<string, PathFacts> {
  const byPath = new Map<string, Route[]>();
  for (const r of ROUTE_TABLE) byPath.set(r.path, [...(byPath.get(r.path) ?? []), r]);
  const facts = new Map<string, PathFacts>();
  for (const [path, routes] of byPath) {
    const methods = routes.map((r) => r.method);
    // HEAD never changes state: a GET that does (GET /session leases) has no HEAD.
    const head = routes.some((r) => r.method === 'GET' && !r.stateful) ? ['HEAD'] : [];
    const handlers = new Map<string, Handler>();
    for (const r of routes) {
      const h = handlerOf(r, d);
      if (h) handlers.set(r.method, h);
    }
    facts.set(path, {
      route: path,
      allowed: new Set([...methods, ...head]),
      allow: methods.join(', '),
      // One method per path today; a path mixing public and keyed methods would need per-method facts.
      open: routes.every((r) => isPublic(r, d.config.metricsPublic)),
      quiet: routes.every((r) => r.quiet === true),
      page: routes.some((r) => r.page === true),
      handlers: handlers.size > 0 ? handlers : undefined,
    });
  }
  return facts;
}

/** Every file under a static prefix is a public GET page asset. */
const STATIC_FACTS: ReadonlyArray<[prefix: string, facts: PathFacts]> = STATIC_PREFIXES.map((prefix) => [
  prefix,
  { route: `${prefix}*`, allowed: new Set(['GET', 'HEAD']), allow: 'GET', open: true, quiet: true, page: true },
]);

/**
 * A table route's handler: admin check, then parameters validated (lease token required as the route says), then
 * the route's handle.
 */
function handlerOf(r: Route, d: RouteDeps): Handler | undefined {
  const handle = r.handle?.bind(r);
  if (!handle) return undefined; // served by the static routers
  const params = r.params;
  const withLeaseToken: ParamSchema | undefined = params && r.leaseToken ? withToken(params) : undefined;
  const everyKey = r.leaseToken === 'config' ? d.config.requireLeaseToken : false;
  const admin = r.admin === true;
  return (x) => {
    if (admin) requireAdmin(x.principal);
    const schema = withLeaseToken && mustProveLease(x.principal, everyKey) ? withLeaseToken : params;
    return handle(d, schema ? readParams(x.query, x.body, schema) : undefined, x);
  };
}

/** The requests queued (pipelined) on each connection, ended by ONE 'close' listener per socket, not one each. */
const QUEUED = new WeakMap<Socket, Set<() => void>>();

function queuedOn(socket: Socket): Set<() => void> {
  let waiting = QUEUED.get(socket);
  if (!waiting) {
    const set = new Set<() => void>();
    socket.once('close', () => {
      for (const end of set) end();
    });
    QUEUED.set(socket, set);
    waiting = set;
  }
  return waiting;
}

/** The exchange of a request handed to the pages' Express app, for its error handler (the log line's level). */
const PAGE_EXCHANGES = new WeakMap<ServerResponse, Exchange>();

/**
 * The request's URL split as Express split it (parseurl), or undefined when it cannot be: url.parse throws on an
 * absolute-form target with a broken host (`GET http://[x/status`), and a throw here, outside any handler, would be an
 * uncaught exception that ends the process. Undefined is answered like a URL without a path: 404 (Express answered
 * its finalhandler's 404 for both).
 */
function urlOf(req: IncomingMessage): ReturnType<typeof parseUrl> {
  try {
    return parseUrl(req);
  } catch {
    return undefined;
  }
}

/** Node's request as the body parsers leave it. */
type ParsedRequest = IncomingMessage & { body?: unknown };

export function createApp(deps: AppDeps): RequestListener {
  const { config, logger, metrics } = deps;
  const authenticate = makeAuthenticator(config.apiKeys, config.adminKeys);
  const limit = rateLimiter(config.rateLimit, deps.rateLimitStore);
  const json = express.json({ limit: BODY_LIMIT_BYTES, strict: false, type: ['application/json', 'application/*+json'] });
  const form = express.urlencoded({ limit: BODY_LIMIT_BYTES, extended: false, parameterLimit: 50 });
  // Built once per app from the route table, with the handlers the front layer calls.
  const facts = pathFacts({ ...deps, openapi: buildOpenApi({ metricsPublic: config.metricsPublic }) });
  // The request log line: id, method, path, status and time only, nothing the redaction paths could match, so its
  // logger skips redaction (every other line keeps it). One line per request, written when it ends.
  const reqLog = logger.child({}, { redact: { paths: [] } });

  /** Answer `err` (the one JSON error answer); after the headers went out, only closing the connection is left. */
  const fail = (x: Exchange, err: unknown): void => {
    const res = x.res;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const a = errorAnswer(err ?? new Error('Rejected promise'), logger, x.req.method, x.path);
    x.logLevel = a.level;
    x.reason = a.reason;
    for (const name in a.headers) res.setHeader(name, a.headers[name] as string);
    x.text(a.status, 'application/json; charset=utf-8', a.body);
  };

  /** The route's handler, then its answer or its error. */
  const run = (x: Exchange, handler: Handler): void => {
    try {
      handler(x)?.catch((err: unknown) => fail(x, err));
    } catch (err) {
      fail(x, err);
    }
  };

  /**
   * Body parsers, when the request announces a body (every GET the workers send has none), then the handler. A plain
   * JSON body (what workers send) is read by body.ts; every other one by body-parser.
   */
  const parseBody = (x: Exchange, handler: Handler): void => {
    const req = x.req as ParsedRequest;
    if (req.headers['transfer-encoding'] === undefined && req.headers['content-length'] === undefined) return run(x, handler);
    const plain = plainJsonLength(req);
    if (plain !== undefined) {
      readPlainJson(req, plain, (err, body) => {
        if (err) return fail(x, err);
        x.body = body;
        run(x, handler);
      });
      return;
    }
    json(req, x.res, (err?: unknown) => {
      if (err !== undefined) return fail(x, err);
      form(req, x.res, (err2?: unknown) => {
        if (err2 !== undefined) return fail(x, err2);
        x.body = req.body;
        run(x, handler);
      });
    });
  };

  // The HTML pages and their assets: Express, with helmet's full header set (their routers replace the CSP).
  const pages = express();
  pages.disable('x-powered-by');
  pages.set('trust proxy', config.trustProxy);
  pages.set('etag', false);
  pages.use(helmet());
  pages.use((req, res, next) => {
    const x = PAGE_EXCHANGES.get(res);
    const f = x === undefined ? undefined : STATIC_FACTS.find(([prefix]) => x.path.startsWith(prefix))?.[1] ?? facts.get(trimSlash(x.path));
    // A page's wrong method is 405 like an API route's, with helmet's headers.
    if (f && !f.allowed.has(req.method)) return next(new HttpError(405, 'Method Not Allowed', { Allow: f.allow }));
    next();
  });
  pages.use(docsRouter(), uiRouter());
  // Files missing under the static prefixes.
  pages.use((_req, _res, next) => next(new HttpError(404, 'Not Found')));
  pages.use(
    errorHandler(logger, (res: Response, a: ErrorAnswer) => {
      const x = PAGE_EXCHANGES.get(res);
      if (x) {
        x.logLevel = a.level;
        x.reason = a.reason;
      }
    }),
  );

  /**
   * The front layer every request goes through: request id and log line, security headers, route table (404/405),
   * auth and rate limit (not on public paths), body parsers (not without a body), then the table route's handler.
   * The route's facts (path, public, quiet, page, handler) are one Map lookup here.
   */
  const front = (req: IncomingMessage, res: ServerResponse): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    const url = urlOf(req);
    const path = url?.pathname ?? '/';
    const x = new Exchange(req, res, id, path, typeof url?.query === 'string' ? url.query : null);
    const f = STATIC_FACTS.find(([prefix]) => path.startsWith(prefix))?.[1] ?? facts.get(trimSlash(path));
    onEnd(x, f?.quiet ?? false); // probes, scrapes and static pages: debug
    if (f?.page) {
      x.route = f.route;
      PAGE_EXCHANGES.set(res, x);
      pages(req, res);
      return;
    }
    for (const [name, value] of API_HEADERS) res.setHeader(name, value);
    // The route table: an unknown path is 404, a wrong method 405; a known one is named for metrics.
    if (!f) return fail(x, new HttpError(404, 'Not Found'));
    x.route = f.route;
    if (!f.allowed.has(req.method ?? '')) return fail(x, new HttpError(405, 'Method Not Allowed', { Allow: f.allow }));
    const handler = f.handlers?.get(req.method === 'HEAD' ? 'GET' : (req.method ?? ''));
    if (!handler) return fail(x, new HttpError(404, 'Not Found'));
    if (f.open) return parseBody(x, handler);
    try {
      x.principal = principalOf(authenticate, req.headers['x-api-key']);
    } catch (err) {
      return fail(x, err);
    }
    if (!limit) return parseBody(x, handler);
    limit(x.principal.keyId, res).then(
      () => parseBody(x, handler),
      (err: unknown) => fail(x, err),
    );
  };

  /**
   * The server's request listener. The front answers every failure it expects; this is for the one it does not: a
   * throw here would be an uncaught exception, and one request must never end the process (under Express its router
   * caught such throws). Answered 500 JSON with the API's headers, logged with its stack.
   */
  return (req, res) => {
    try {
      front(req, res);
    } catch (err) {
      logger.error({ err, method: req.method }, 'unhandled error in the front layer');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = JSON.stringify({ detail: 'Internal Server Error' });
      res.statusCode = 500;
      for (const [name, value] of API_HEADERS) res.setHeader(name, value);
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Content-Length', Buffer.byteLength(body));
      res.end(body);
    }
  };

  /**
   * The request's ONE end listener: its log line, its metrics, and a lease in progress given up (routes.ts). 'close'
   * comes after 'finish' for an answered request and alone when the client left first (one listener instead of a
   * 'finish' and 'close' pair for the log, a 'close' for the metrics and one per lease).
   */
  function onEnd(x: Exchange, quiet: boolean): void {
    const { req, res, id } = x;
    const start = process.hrtime.bigint();
    const method = req.method ?? '';
    const path = (req.url ?? '').split('?')[0] ?? '';
    const ended = (): void => {
      const aborted = !res.writableFinished;
      if (aborted) clientLeft(x);
      // 499 (nginx's "client closed request"), as in the metrics: the client left before its answer was written,
      // whatever status the response held then. A warning, not an error: a worker that gives up on a long-poll or is
      // stopped mid-request is the client's doing, nothing an operator must act on.
      const status = aborted ? 499 : res.statusCode;
      const ns = Number(process.hrtime.bigint() - start);
      metrics?.request(method, x.route, status, !aborted, ns / 1e9);
      // A route or the error answer may say how routine its answer is: "no free session" and "not ready" are
      // answers, not errors.
      const level = x.logLevel ?? (aborted ? 'warn' : status >= 500 ? 'error' : quiet ? 'debug' : status >= 400 ? 'warn' : 'info');
      if (!reqLog.isLevelEnabled(level)) return;
      const line: Record<string, unknown> = { req: { id, method, path }, res: { status }, responseTime: Math.round(ns / 1e6) };
      if (x.reason !== undefined && (aborted || status >= 500)) line.reason = x.reason;
      reqLog[level](line, 'request completed');
    };
    res.once('close', ended);
    // A pipelined request queued behind another one: its response has no socket yet, and when the connection dies
    // first Node never closes it. The client is gone all the same: mark the response destroyed (a lease in progress
    // sees it) and end the request here.
    if (res.socket === null) {
      const died = (): void => {
        if (res.socket !== null) return; // it got the socket meanwhile: its own 'close' comes
        res.off('close', ended);
        res.destroy();
        ended();
      };
      const waiting = queuedOn(req.socket);
      waiting.add(died);
      res.once('close', () => waiting.delete(died));
    }
  }
}
