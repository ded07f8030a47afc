/**
 * createApp(): the Express app, no listen, no module-level state.
 *
 * Middleware order: trust proxy (hop count) → metrics → request log →
 * helmet → route table (404/405) → auth → rate limit → body parsers → routes
 * → docs/UI static pages → 404 → JSON errors. Authentication runs before
 * body parsing on purpose: the contract says 401 comes before 422, which must
 * hold for malformed bodies too, and unauthenticated clients never make us
 * parse anything. /docs, /ui and their assets are public (the pages hold no
 * data; their API calls carry the key).
 */
import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Store } from 'express-rate-limit';
import helmet from 'helmet';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Metrics } from '../metrics';
import type { LeaseRequest, LeaseResult, PoolService } from '../pool/poolService';
import { authMiddleware, makeAuthenticator, mustProveLease, requireAdmin } from './auth';
import { HttpError, errorHandler, type LogLevelName } from './errors';
import { buildOpenApi } from './openapi';
import { readParams } from './params';
import { ceilSeconds, presentEvent, presentListed, presentSession, presentStatus } from './present';
import { rateLimiter } from './ratelimit';
import * as S from './schemas';
import { formatUtc } from '../time';
import { STATIC_PREFIXES, docsRouter, uiRouter } from '../ui';

export interface AppDeps {
  config: Config;
  /** The pool's operations: the only thing the routes call. */
  poolService: PoolService;
  logger: Logger;
  /** Readiness: the store answers, scripts are loaded, not shutting down. */
  ready: () => Promise<boolean>;
  /** ms left of a recovery grace after a store data loss, null when none (Redis store only). */
  recoveryEndsInMs?: () => Promise<number | null>;
  /** Shared rate-limit counters (Redis); undefined → in-process. */
  rateLimitStore?: Store;
  /** Prometheus metrics (GET /metrics); undefined → no /metrics. */
  metrics?: Metrics;
}

/** Known routes and their methods: anything else is 404, a wrong method 405. */
export const ROUTES: Record<string, readonly string[]> = {
  '/status': ['GET'],
  '/session': ['GET'],
  '/release': ['POST'],
  '/invalidate': ['POST'],
  '/sync': ['POST'],
  '/floodwait': ['POST'],
  '/restore': ['POST'],
  '/report': ['POST'],
  '/heartbeat': ['POST'],
  '/sessions': ['GET'],
  '/events': ['GET'],
  '/healthz': ['GET'],
  '/readyz': ['GET'],
  '/metrics': ['GET'],
  '/openapi.json': ['GET'],
  '/docs': ['GET'],
  '/ui': ['GET'],
};

/** GET routes that change state: HEAD on them is 405, never a lease thrown away. */
export const STATEFUL_GETS = new Set(['/session']);

/** Endpoints that need no API key (and /metrics when TELEGATE_METRICS_PUBLIC is on; every path under STATIC_PREFIXES). */
export const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/openapi.json', '/docs', '/ui']);

/** The HTML pages: they get helmet's full header set (their routers set their own CSP). */
const PAGES = new Set(['/docs', '/ui']);

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

/** The route table also names the matched route for metrics (res.locals.route: a ROUTES path, never the URL). */
function routeTable(req: Request, res: Response, next: NextFunction): void {
  const prefix = STATIC_PREFIXES.find((p) => req.path.startsWith(p));
  const path = trimSlash(req.path);
  const methods = prefix ? ['GET'] : ROUTES[path];
  if (!methods) return next(new HttpError(404, 'Not Found'));
  res.locals.route = prefix ? `${prefix}*` : path;
  // HEAD never changes state: a GET that does (GET /session leases) has no HEAD.
  const allowed = methods.includes('GET') && !STATEFUL_GETS.has(path) ? [...methods, 'HEAD'] : methods;
  if (!allowed.includes(req.method)) return next(new HttpError(405, 'Method Not Allowed', { Allow: methods.join(', ') }));
  next();
}

/** The client is gone: aborted when the response closes before it was written (a long-poll stops waiting). */
function clientGone(res: Response): AbortSignal {
  const gone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  return gone.signal;
}

/** A lease request from GET /session's parameters (also taken along by next=true). */
function leaseRequest(res: Response, p: S.NextParams, scopes?: readonly string[]): LeaseRequest {
  return { waitMs: (p.wait ?? 0) * 1000, signal: clientGone(res), scopes, tags: p.tag };
}

/** Answer a lease as GET /session does: the session, or 503 with why none (nothing when the client left). */
function answerLease(res: Response, p: S.NextParams, r: LeaseResult, exposeSessionString: boolean): void {
  if (r.ok) {
    res.json(presentSession(r.session, exposeSessionString, p.format));
    return;
  }
  if ('abandoned' in r) return;
  if (r.recoveryEndsInMs !== undefined) {
    const left = ceilSeconds(r.recoveryEndsInMs);
    res.set('Retry-After', String(left));
    res.status(503).json({ detail: { error: 'store_recovering', in_floodwait: 0, next_release_in: left } });
    return;
  }
  const nextIn = r.nextReleaseInMs === null ? null : ceilSeconds(r.nextReleaseInMs);
  if (nextIn !== null) res.set('Retry-After', String(nextIn));
  res.locals.logLevel = 'info';
  res.status(503).json({ detail: { error: 'no_free_session', in_floodwait: r.inFloodwait, next_release_in: nextIn, in_use: r.inUse } });
}

export function createApp(deps: AppDeps): express.Express {
  const { config, poolService, logger, metrics } = deps;
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
  const measure = metrics?.middleware();
  // The request log line: id, method, path, status and time only, nothing the redaction paths could match, so its
  // logger skips redaction (every other line keeps it). One line per request, written when it ends.
  const reqLog = logger.child({}, { redact: { paths: [] } });

  /**
   * The layers every request goes through, as ONE Express layer (each was its own before: metrics, request log,
   * helmet, route table, auth, rate limit, two body parsers): request id and log line, security headers, route
   * table (404/405), auth and rate limit (not on public paths), body parsers (not for GET/HEAD). The route's facts
   * (path, public, quiet) are computed once here.
   */
  app.use((req, res, next) => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    const path = req.path;
    const route = trimSlash(path);
    const isStatic = STATIC_PREFIXES.some((p) => path.startsWith(p));
    const open = isStatic || PUBLIC_PATHS.has(route) || (config.metricsPublic && route === '/metrics');
    logRequest(req, res, id, open || route === '/metrics'); // probes, scrapes and static pages: debug
    const steps: Array<(n: NextFunction) => void> = [];
    if (measure) steps.push((n) => measure(req, res, n));
    if (isStatic || PAGES.has(route)) steps.push((n) => pages(req, res, n));
    else for (const [name, value] of API_HEADERS) res.setHeader(name, value);
    steps.push((n) => routeTable(req, res, n));
    if (!open) steps.push((n) => auth(req, res, n), (n) => void limit(req, res, n));
    // A request without a body (every GET the workers send) skips the parsers, which would find nothing to read.
    if (req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined) steps.push((n) => json(req, res, n), (n) => form(req, res, n));
    let i = 0;
    const step = (err?: unknown): void => {
      if (err !== undefined && err !== null && err !== 'route') return next(err);
      const f = steps[i++];
      if (f) f(step);
      else next();
    };
    step();
  });

  function logRequest(req: Request, res: Response, id: string, quiet: boolean): void {
    const start = process.hrtime.bigint();
    const method = req.method;
    const path = req.url.split('?')[0] ?? '';
    const done = (): void => {
      res.off('finish', done);
      res.off('close', done);
      const status = res.statusCode;
      // A route or the error handler may say how routine its answer is (res.locals.logLevel, see errors.ts):
      // "no free session" and "not ready" are answers, not errors.
      const said = res.locals.logLevel as LogLevelName | undefined;
      const aborted = !res.writableFinished;
      const level = said ?? (aborted || status >= 500 ? 'error' : quiet ? 'debug' : status >= 400 ? 'warn' : 'info');
      if (!reqLog.isLevelEnabled(level)) return;
      const reason = res.locals.reason as string | undefined;
      const responseTime = Math.round(Number(process.hrtime.bigint() - start) / 1e6);
      const line: Record<string, unknown> = { req: { id, method, path }, res: { status }, responseTime };
      if (reason !== undefined && (aborted || status >= 500)) line.reason = reason;
      reqLog[level](line, 'request completed');
    };
    res.on('finish', done);
    res.on('close', done);
  }

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const ok = await deps.ready();
    if (!ok) {
      res.locals.logLevel = 'warn';
      res.status(503).json({ detail: { error: 'not_ready' } });
      return;
    }
    // A recovery grace keeps the replica ready: failing readiness would take every replica out of
    // the Service and turn "503 with Retry-After" into "connection refused" (README, Reliability).
    const grace = deps.recoveryEndsInMs ? await deps.recoveryEndsInMs().catch(() => null) : null;
    res.json(grace === null ? { status: 'ready' } : { status: 'ready', recovering: true, recovery_ends_in: ceilSeconds(grace) });
  });

  app.get('/status', async (_req, res) => {
    res.json(presentStatus(await poolService.status()));
  });

  app.get('/session', async (req, res) => {
    const p = readParams<S.AcquireParams>(req, S.schemas.acquire);
    answerLease(res, p, await poolService.acquire(leaseRequest(res, p, p.scope)), config.exposeSessionString);
  });

  app.post('/release', async (req, res) => {
    const p = readParams<S.ReleaseParams>(req, mustProveLease(res, config.requireLeaseToken) ? S.tokenSchemas.release : S.schemas.release);
    if (p.next) {
      const r = await poolService.releaseAndNext({ id: p.session_id, leaseToken: p.lease_token }, leaseRequest(res, p, p.scope));
      answerLease(res, p, r, config.exposeSessionString);
      return;
    }
    await poolService.release(p.session_id, p.lease_token);
    res.json({ status: 'released', session_id: p.session_id });
  });

  app.post('/floodwait', async (req, res) => {
    const p = readParams<S.FloodwaitParams>(req, mustProveLease(res, config.requireLeaseToken) ? S.tokenSchemas.floodwait : S.schemas.floodwait);
    const rest = { id: p.session_id, waitMs: p.wait_seconds * 1000, leaseToken: p.lease_token, scope: p.scope };
    if (p.next) {
      answerLease(res, p, await poolService.floodWaitAndNext(rest, leaseRequest(res, p)), config.exposeSessionString);
      return;
    }
    const r = await poolService.floodWait(rest);
    res.json({
      status: 'floodwait_set',
      session_id: r.id,
      session_name: r.name,
      floodwait_until: formatUtc(r.until),
      in_floodwait: r.state !== 'free',
      state: r.state,
      ...(r.scope === null ? {} : { scope: r.scope }),
    });
  });

  app.post('/report', async (req, res) => {
    const p = readParams<S.ReportParams>(req, mustProveLease(res, config.requireLeaseToken) ? S.tokenSchemas.report : S.schemas.report);
    const r = await poolService.report({ id: p.session_id, error: p.error, method: p.method, leaseToken: p.lease_token });
    res.json({
      status: 'reported',
      session_id: r.id,
      error: r.error,
      action: r.action,
      ...(r.action === 'rest' ? { scope: r.scope, until: r.until === null ? null : formatUtc(r.until) } : {}),
      ...(r.health === null ? {} : { health: r.health }),
    });
  });

  app.post('/heartbeat', async (req, res) => {
    const p = readParams<S.HeartbeatParams>(req, S.schemas.heartbeat);
    const expires = await poolService.heartbeat(p.session_id, p.lease_token);
    res.json({ status: 'extended', session_id: p.session_id, lease_expires_at: formatUtc(expires) });
  });

  // Admins invalidate any session without a token (even under TELEGATE_REQUIRE_LEASE_TOKEN);
  // a worker key only the session it holds, proven by its lease token.
  app.post('/invalidate', async (req, res) => {
    const p = readParams<S.InvalidateParams>(req, mustProveLease(res, false) ? S.tokenSchemas.invalidate : S.schemas.invalidate);
    await poolService.invalidate(p.session_id, p.reason, p.lease_token);
    res.json({ status: 'invalidated', session_id: p.session_id });
  });

  app.post('/restore', requireAdmin, async (req, res) => {
    const p = readParams<S.RestoreParams>(req, S.schemas.restore);
    const r = await poolService.restore(p.session_id);
    res.json({ status: 'restored', session_id: r.id, state: r.state });
  });

  app.post('/sync', requireAdmin, async (req, res) => {
    const p = readParams<S.SyncParams>(req, S.schemas.sync);
    const r = await poolService.sync(p.force ?? false);
    res.json({
      status: 'sync complete',
      details: { new_sessions: r.new_sessions, removed_sessions: r.removed_sessions, total_sessions: r.total_sessions, updated_sessions: r.updated_sessions },
    });
  });

  app.get('/sessions', requireAdmin, async (req, res) => {
    const p = readParams<S.ListParams>(req, S.schemas.list);
    const page = await poolService.list({
      state: p.state,
      health: p.health,
      tag: p.tag,
      scope: p.scope,
      cursor: p.cursor === undefined ? undefined : String(p.cursor),
      limit: p.limit ?? 100,
    });
    res.json({ sessions: page.sessions.map(presentListed), next_cursor: page.nextCursor });
  });

  app.get('/events', requireAdmin, async (req, res) => {
    const p = readParams<S.EventsParams>(req, S.schemas.events);
    const page = await poolService.history({ sessionId: p.session_id, cursor: p.cursor, limit: p.limit ?? 100 });
    res.json({ events: page.events.map(presentEvent), next_cursor: page.nextCursor });
  });

  if (metrics) {
    app.get('/metrics', async (_req, res) => {
      res.set('Content-Type', metrics.contentType).send(await metrics.render());
    });
  }

  const openapi = buildOpenApi({ metricsPublic: config.metricsPublic });
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.use(docsRouter(), uiRouter());

  // Files missing under the static prefixes (and /metrics without metrics).
  app.use((_req, _res, next) => next(new HttpError(404, 'Not Found')));
  app.use(errorHandler(logger));
  return app;
}
