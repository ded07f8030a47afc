/**
 * createApp(): the Express app, no listen, no module-level state.
 *
 * Everything about an endpoint is one entry of the route table (routes.ts);
 * this file derives the app from it: the per-path facts the front layer looks
 * up once per request (404/405 with Allow, public or not, quiet log, HTML
 * page) and the handlers it calls (admin check, parameters validated, lease
 * token required as the entry says): no route is registered with Express.
 *
 * Middleware order: trust proxy (hop count) → request end (log line,
 * metrics, a lease given up) → helmet → route table (404/405) → auth → rate
 * limit → body parsers → the table route's handler, called from that same
 * front layer (the Express router never walks to it) → docs/UI static pages
 * → 404 → JSON errors. Authentication runs before body parsing on purpose:
 * the contract says 401 comes before 422, which must hold for malformed
 * bodies too, and unauthenticated clients never make us parse anything.
 * /docs, /ui and their assets are public (the pages hold no data; their API
 * calls carry the key).
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Store } from 'express-rate-limit';
import helmet from 'helmet';
import type { Logger } from '../log';
import { authMiddleware, makeAuthenticator, mustProveLease, requireAdmin } from './auth';
import { HttpError, errorHandler, type LogLevelName } from './errors';
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

const BODY_LIMIT = '16kb';
const REQUEST_ID = /^[\w.:-]{1,128}$/;

const trimSlash = (path: string): string => (path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path);

/** What the front layer needs to know about a path, computed once per app from the route table. */
interface PathFacts {
  /** The route's name for metrics (res.locals.route): a table path or a static prefix with `*`, never the URL. */
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

/** A table route's handler as the front layer calls it: admin check, parameters read, handler run. */
type Handler = (req: Request, res: Response, next: NextFunction) => void;

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
 * the route's handle. What throws or rejects goes to `next`, as Express's router would pass it (a rejection with no
 * reason becomes an Error, as there), so every failure reaches the one JSON error handler.
 */
function handlerOf(r: Route, d: RouteDeps): Handler | undefined {
  const handle = r.handle?.bind(r);
  if (!handle) return undefined; // served by the static routers
  const params = r.params;
  const withLeaseToken: ParamSchema | undefined = params && r.leaseToken ? withToken(params) : undefined;
  const everyKey = r.leaseToken === 'config' ? d.config.requireLeaseToken : false;
  const failed = (next: NextFunction) => (err: unknown) => next(err ?? new Error('Rejected promise'));
  const run: Handler = (req, res, next) => {
    try {
      const schema = withLeaseToken && mustProveLease(res, everyKey) ? withLeaseToken : params;
      handle(d, schema ? readParams(req, schema) : undefined, req, res, next)?.catch(failed(next));
    } catch (err) {
      next(err);
    }
  };
  return r.admin ? (req, res, next) => requireAdmin(req, res, (err?: unknown) => (err === undefined ? run(req, res, next) : next(err))) : run;
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

export function createApp(deps: AppDeps): express.Express {
  const { config, logger, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('etag', false);

  const authenticate = makeAuthenticator(config.apiKeys, config.adminKeys);
  const auth = authMiddleware(authenticate);
  const limit = rateLimiter(config.rateLimit, deps.rateLimitStore, logger);
  const json = express.json({ limit: BODY_LIMIT, strict: false, type: ['application/json', 'application/*+json'] });
  const form = express.urlencoded({ limit: BODY_LIMIT, extended: false, parameterLimit: 50 });
  const pages = helmet(); // the HTML pages (/ui, /docs): helmet's full set; their routers replace the CSP
  // Built once per app from the route table, with the handlers the front layer calls.
  const facts = pathFacts({ ...deps, openapi: buildOpenApi({ metricsPublic: config.metricsPublic }) });
  // The request log line: id, method, path, status and time only, nothing the redaction paths could match, so its
  // logger skips redaction (every other line keeps it). One line per request, written when it ends.
  const reqLog = logger.child({}, { redact: { paths: [] } });

  /**
   * The layers every request goes through, as ONE Express layer (each was its own before: metrics, request log,
   * helmet, route table, auth, rate limit, two body parsers): request id and log line, security headers, route
   * table (404/405), auth and rate limit (not on public paths), body parsers (not for GET/HEAD), then the table
   * route's handler itself: the Express router never walks its route layers (a path-to-regexp match each) for a
   * table route. The route's facts (path, public, quiet, page, handler) are one Map lookup here. Pages and static
   * assets go on to Express (docs/UI routers), and so does a handler's plain next() (to the 404 fallback).
   */
  app.use((req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    const path = req.path;
    const f = STATIC_FACTS.find(([prefix]) => path.startsWith(prefix))?.[1] ?? facts.get(trimSlash(path));
    onEnd(req, res, id, f?.quiet ?? false); // probes, scrapes and static pages: debug
    const steps: Array<(n: NextFunction) => void> = [];
    if (f?.page) steps.push((n) => pages(req, res, n));
    else for (const [name, value] of API_HEADERS) res.setHeader(name, value);
    // The route table: an unknown path is 404, a wrong method 405; a known one is named for metrics.
    steps.push((n) => {
      if (!f) return n(new HttpError(404, 'Not Found'));
      res.locals.route = f.route;
      if (!f.allowed.has(req.method)) return n(new HttpError(405, 'Method Not Allowed', { Allow: f.allow }));
      n();
    });
    if (!f?.open) steps.push((n) => auth(req, res, n), (n) => void limit(req, res, n));
    // A request without a body (every GET the workers send) skips the parsers, which would find nothing to read.
    if (req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined) steps.push((n) => json(req, res, n), (n) => form(req, res, n));
    const run = f?.handlers?.get(req.method === 'HEAD' ? 'GET' : req.method);
    let i = 0;
    const step = (err?: unknown): void => {
      if (err !== undefined && err !== null && err !== 'route') return next(err);
      const fn = steps[i++];
      if (fn) fn(step);
      else if (run) run(req, res, next);
      else next();
    };
    step();
  });

  /**
   * The request's ONE end listener: its log line, its metrics, and a lease in progress given up (routes.ts). 'close'
   * comes after 'finish' for an answered request and alone when the client left first (one listener instead of a
   * 'finish' and 'close' pair for the log, a 'close' for the metrics and one per lease).
   */
  function onEnd(req: Request, res: Response, id: string, quiet: boolean): void {
    const start = process.hrtime.bigint();
    const method = req.method;
    const path = req.url.split('?')[0] ?? '';
    const ended = (): void => {
      const aborted = !res.writableFinished;
      if (aborted) clientLeft(res);
      // 499 (nginx's "client closed request"), as in the metrics: the client left before its answer was written,
      // whatever status the response held then. A warning, not an error: a worker that gives up on a long-poll or is
      // stopped mid-request is the client's doing, nothing an operator must act on.
      const status = aborted ? 499 : res.statusCode;
      const ns = Number(process.hrtime.bigint() - start);
      metrics?.request(method, res.locals.route as string | undefined, status, !aborted, ns / 1e9);
      // A route or the error handler may say how routine its answer is (res.locals.logLevel, see errors.ts):
      // "no free session" and "not ready" are answers, not errors.
      const said = res.locals.logLevel as LogLevelName | undefined;
      const level = said ?? (aborted ? 'warn' : status >= 500 ? 'error' : quiet ? 'debug' : status >= 400 ? 'warn' : 'info');
      if (!reqLog.isLevelEnabled(level)) return;
      const reason = res.locals.reason as string | undefined;
      const line: Record<string, unknown> = { req: { id, method, path }, res: { status }, responseTime: Math.round(ns / 1e6) };
      if (reason !== undefined && (aborted || status >= 500)) line.reason = reason;
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

  app.use(docsRouter(), uiRouter());

  // Files missing under the static prefixes (and /metrics without metrics).
  app.use((_req, _res, next) => next(new HttpError(404, 'Not Found')));
  app.use(errorHandler(logger));
  return app;
}
