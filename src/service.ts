/**
 * Assembles one replica: a backend (backend.ts: Redis or embedded), pool,
 * jobs, HTTP server; and takes it down gracefully. main.ts owns the process.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import type { Config } from './config';
import type { Logger } from './log';
import { createBackend } from './backend';
import { createMetrics } from './metrics';
import { LeaderJobs } from './cluster/jobs';
import type { Leadership } from './cluster/leader';
import { PoolService } from './pool/poolService';
import { createApp } from './http/app';
import { clientErrorHandler } from './http/clientError';
import type { PoolStore } from './pool/types';
import { runSync, type SessionFileReader } from './sync';
import { syncLogHooks } from './syncLog';

export interface Service {
  readonly server: Server;
  readonly port: number;
  readonly store: PoolStore;
  /** The pool's operations as the routes call them (long-polls parked here). */
  readonly pool: PoolService;
  readonly leadership: Leadership;
  readonly replicaId: string;
  /** Graceful shutdown; resolves when everything is closed. */
  shutdown(reason: string): Promise<void>;
}

export interface ServiceOptions {
  config: Config;
  logger: Logger;
  /** Reads session files at sync; absent → a session is its file name. */
  reader?: SessionFileReader;
  /** Listen host (default all interfaces). */
  host?: string;
}

/** Listening failed for a reason the operator can act on (port taken, no permission). */
export class ListenError extends Error {
  override name = 'ListenError';
}

/** Listen on port/host; a taken port is a ListenError that names the port (Express 5's app.listen hands the error to the callback instead). */
function listen(app: RequestListener, port: number, host: string, logger: Logger): Promise<Server> {
  return new Promise<Server>((resolve, reject) => {
    const s = createServer(app);
    s.on('clientError', clientErrorHandler(logger));
    s.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new ListenError(`port ${port} is already in use (EADDRINUSE)`));
      else if (err.code === 'EACCES') reject(new ListenError(`no permission to listen on port ${port} (EACCES)`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new ListenError(`address ${host} is not available (EADDRNOTAVAIL)`));
      else reject(err);
    });
    s.listen(port, host, () => resolve(s));
  });
}

export async function startService({ config, logger, reader, host }: ServiceOptions): Promise<Service> {
  const replicaId = `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const backend = createBackend(config, logger, replicaId);
  const { store, freed, leadership } = backend;

  // metrics reads pool.waiting only when scraped, after both exist.
  const metrics = createMetrics({ store, isLeader: () => leadership.isLeader, waiting: () => pool.waiting });
  const fileLog = syncLogHooks(logger, reader);
  const sync = (fence: number | undefined, force: boolean) =>
    runSync({
      dir: config.sessionsDir,
      store,
      reader: fileLog.reader,
      defaultProxy: config.defaultProxy,
      maxRemoveFraction: config.syncMaxRemoveFraction,
      force,
      fence,
      onSkip: fileLog.onSkip,
      keepSessionString: config.exposeSessionString,
    });

  const pool = new PoolService({
    store,
    freed,
    leaseTtlMs: config.leaseTtlMs,
    restrictedRestSeconds: config.restrictedRestSeconds,
    runSync: (force) => sync(undefined, force),
    metrics,
  });

  let shuttingDown = false;
  const app = createApp({
    config,
    poolService: pool,
    logger,
    rateLimitStore: backend.rateLimitStore,
    metrics,
    ready: async () => !shuttingDown && backend.ready() && (await store.ping()),
    recoveryEndsInMs: backend.recoveryEndsInMs,
  });

  const jobs = new LeaderJobs({
    leadership,
    syncCron: config.syncCron,
    reaperIntervalMs: config.reaperIntervalMs,
    runSync: (fence) => sync(fence, false),
    reap: (limit) => store.reap(limit),
    logger,
    onSync: (result, seconds) => metrics.sync('scheduled', result, seconds),
    onReap: (count) => metrics.reaped(count),
  });

  const server = await listen(app, config.port, host ?? '0.0.0.0', logger).catch(async (err: unknown) => {
    // Nothing else is left running when the port cannot be had.
    jobs.stop();
    await leadership.stop();
    pool.close();
    await backend.close();
    throw err;
  });
  // Long-polls hold a request up to 60 s: keep sockets alive past that.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 90_000;
  const port = (server.address() as AddressInfo).port;
  logger.info({ port, replica: replicaId }, 'telegate listening');
  leadership.start();

  let done: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    done ??= (async () => {
      logger.info({ reason }, 'shutting down');
      shuttingDown = true; // readiness fails at once
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Keep-alive sockets that finish their last response after close() would
      // otherwise linger until their idle timeout: close them as they go idle.
      const reaper = setInterval(() => server.closeIdleConnections(), 50);
      server.closeIdleConnections();
      pool.drain(); // parked long-polls are answered now
      jobs.stop();
      await leadership.stop();
      const bound = new Promise<void>((resolve) => setTimeout(resolve, config.shutdownTimeoutMs).unref());
      await Promise.race([closed, bound]);
      clearInterval(reaper);
      server.closeAllConnections();
      pool.close();
      await backend.close();
      logger.info('shutdown complete');
    })();
    return done;
  };

  return { server, port, store, pool, leadership, replicaId, shutdown };
}
