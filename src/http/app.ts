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
import { pinoHttp } from 'pino-http';
import type { Config } from '../config';
import { serializeErr, type Logger } from '../log';
import type { Metrics } from '../metrics';
import type { Pool } from '../pool/pool';
import type { SyncSummary } from '../sync';
import { authMiddleware, makeAuthenticator, mustProveLease, requireAdmin } from './auth';
import { HttpError, errorHandler, type LogLevelName } from './errors';
import { buildOpenApi } from './openapi';
import { readParams } from './params';
import { ceilSeconds, presentEvent, presentListed, presentSession, presentStatus } from './present';
import { rateLimiter } from './ratelimit';
import * as S from './schemas';
import { formatUtc } from '../time';
import { decide } from '../telegram/errors';
import { STATIC_PREFIXES, docsRouter, uiRouter } from '../ui';

export interface AppDeps {
  config: Config;
  pool: Pool;
  logger: Logger;
  /** Run a manual sync (unfenced). */
  runSync: (force: boolean) => Promise<SyncSummary>;
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

const BODY_LIMIT = '16kb';
const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Scopes and tags compare case-insensitively: lowercased, each once. */
function lowerOnce(values: readonly string[] | undefined): string[] {
  return [...new Set((values ?? []).map((s) => s.toLowerCase()))];
}

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

export function createApp(deps: AppDeps): express.Express {
  const { config, pool, logger, metrics } = deps;
  const isPublic = (path: string): boolean =>
    PUBLIC_PATHS.has(trimSlash(path)) || (config.metricsPublic && trimSlash(path) === '/metrics') || STATIC_PREFIXES.some((p) => path.startsWith(p));
  // Probes, scrapes and static pages are logged at debug, not info.
  const quiet = (path: string): boolean => isPublic(path) || trimSlash(path) === '/metrics';
  const runSync = metrics ? (force: boolean) => metrics.timeSync('manual', () => deps.runSync(force)) : deps.runSync;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);
  app.set('etag', false);

  if (metrics) app.use(metrics.middleware());
  app.use(
    pinoHttp({
      logger,
      genReqId: (req, res) => {
        const given = req.headers['x-request-id'];
        const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      autoLogging: true,
      // A route or the error handler may say how routine its answer is (res.locals.logLevel, see errors.ts):
      // "no free session" and "not ready" are answers, not errors.
      customLogLevel: (req, res, err) => {
        const said = (res as Response).locals?.logLevel as LogLevelName | undefined;
        if (said) return said;
        if (err || res.statusCode >= 500) return 'error';
        if (quiet(req.url?.split('?')[0] ?? '')) return 'debug';
        return res.statusCode >= 400 ? 'warn' : 'info';
      },
      // No stack for a status: pino-http would attach a made-up "failed with status code" Error to every 5xx.
      // Errors worth a stack are logged once by the error handler.
      customErrorMessage: () => 'request completed',
      customErrorObject: (_req, res, _err, val: Record<string, unknown>) => {
        const { err: _dropped, ...rest } = val;
        const reason = (res as Response).locals?.reason as string | undefined;
        return reason === undefined ? rest : { ...rest, reason };
      },
      serializers: {
        err: (err: unknown) => serializeErr(err),
        req: (req: { id: unknown; method: string; url: string }) => ({ id: req.id, method: req.method, path: req.url.split('?')[0] }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
    }),
  );
  app.use(helmet());
  app.use(routeTable);

  const authenticate = makeAuthenticator(config.apiKeys, config.adminKeys);
  const auth = authMiddleware(authenticate);
  const limit = rateLimiter(config.rateLimit, deps.rateLimitStore, logger);
  app.use((req, res, next) => (isPublic(req.path) ? next() : auth(req, res, next)));
  app.use((req, res, next) => (isPublic(req.path) ? next() : limit(req, res, next)));
  app.use(express.json({ limit: BODY_LIMIT, strict: false, type: ['application/json', 'application/*+json'] }));
  app.use(express.urlencoded({ limit: BODY_LIMIT, extended: false, parameterLimit: 50 }));

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
    res.json(presentStatus(await pool.store.status()));
  });

  app.get('/session', async (req, res) => {
    const p = readParams<S.AcquireParams>(req, S.schemas.acquire);
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort();
    });
    let parked = false;
    const r = await pool.acquire((p.wait ?? 0) * 1000, gone.signal, () => (parked = true), { scopes: lowerOnce(p.scope), tags: lowerOnce(p.tag) });
    if (gone.signal.aborted) metrics?.acquisition('abandoned');
    else metrics?.acquisition(!r.ok ? 'none_free' : parked ? 'waited' : 'issued');
    if (!r.ok && r.recoveryEndsInMs !== undefined) {
      const left = ceilSeconds(r.recoveryEndsInMs);
      res.set('Retry-After', String(left));
      res.status(503).json({ detail: { error: 'store_recovering', in_floodwait: 0, next_release_in: left } });
      return;
    }
    if (r.ok) {
      if (gone.signal.aborted) {
        // The client left while we were acquiring: give the session straight back.
        await pool.store.release(r.session.id, r.session.leaseToken);
        return;
      }
      res.json(presentSession(r.session, config.exposeSessionString, p.format));
      return;
    }
    const nextIn = r.nextReleaseInMs === null ? null : ceilSeconds(r.nextReleaseInMs);
    if (nextIn !== null) res.set('Retry-After', String(nextIn));
    res.locals.logLevel = 'info';
    res.status(503).json({ detail: { error: 'no_free_session', in_floodwait: r.inFloodwait, next_release_in: nextIn, in_use: r.inUse } });
  });

  app.post('/release', async (req, res) => {
    const p = readParams<S.ReleaseParams>(req, mustProveLease(res, config.requireLeaseToken) ? S.tokenSchemas.release : S.schemas.release);
    await pool.store.release(p.session_id, p.lease_token);
    res.json({ status: 'released', session_id: p.session_id });
  });

  app.post('/floodwait', async (req, res) => {
    const p = readParams<S.FloodwaitParams>(req, mustProveLease(res, config.requireLeaseToken) ? S.tokenSchemas.floodwait : S.schemas.floodwait);
    const r = await pool.store.floodWait(p.session_id, p.wait_seconds * 1000, p.lease_token, p.scope?.toLowerCase());
    metrics?.floodWait();
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
    const decision = decide(p.error, p.method?.toLowerCase(), config.restrictedRestSeconds);
    const r = await pool.store.report(p.session_id, { error: p.error.toUpperCase(), decision, leaseToken: p.lease_token });
    res.json({
      status: 'reported',
      session_id: r.id,
      error: p.error.toUpperCase(),
      action: r.action,
      ...(r.action === 'rest' ? { scope: r.scope, until: r.until === null ? null : formatUtc(r.until) } : {}),
      ...(r.health === null ? {} : { health: r.health }),
    });
  });

  app.post('/heartbeat', async (req, res) => {
    const p = readParams<S.HeartbeatParams>(req, S.schemas.heartbeat);
    const expires = await pool.store.heartbeat(p.session_id, p.lease_token, pool.leaseTtlMs);
    res.json({ status: 'extended', session_id: p.session_id, lease_expires_at: formatUtc(expires) });
  });

  // Admins invalidate any session without a token (even under TELEGATE_REQUIRE_LEASE_TOKEN);
  // a worker key only the session it holds, proven by its lease token.
  app.post('/invalidate', async (req, res) => {
    const p = readParams<S.InvalidateParams>(req, mustProveLease(res, false) ? S.tokenSchemas.invalidate : S.schemas.invalidate);
    await pool.store.invalidate(p.session_id, p.reason, p.lease_token);
    metrics?.invalidation();
    res.json({ status: 'invalidated', session_id: p.session_id });
  });

  app.post('/restore', requireAdmin, async (req, res) => {
    const p = readParams<S.RestoreParams>(req, S.schemas.restore);
    const r = await pool.store.restore(p.session_id);
    res.json({ status: 'restored', session_id: r.id, state: r.state });
  });

  app.post('/sync', requireAdmin, async (req, res) => {
    const p = readParams<S.SyncParams>(req, S.schemas.sync);
    const r = await runSync(p.force ?? false);
    res.json({
      status: 'sync complete',
      details: { new_sessions: r.new_sessions, removed_sessions: r.removed_sessions, total_sessions: r.total_sessions, updated_sessions: r.updated_sessions },
    });
  });

  app.get('/sessions', requireAdmin, async (req, res) => {
    const p = readParams<S.ListParams>(req, S.schemas.list);
    const page = await pool.store.list({
      state: p.state,
      health: p.health,
      tag: p.tag?.toLowerCase(),
      scope: p.scope?.toLowerCase(),
      cursor: p.cursor === undefined ? undefined : String(p.cursor),
      limit: p.limit ?? 100,
    });
    res.json({ sessions: page.sessions.map(presentListed), next_cursor: page.nextCursor });
  });

  app.get('/events', requireAdmin, async (req, res) => {
    const p = readParams<S.EventsParams>(req, S.schemas.events);
    const page = await pool.store.history({ sessionId: p.session_id, cursor: p.cursor, limit: p.limit ?? 100 });
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
