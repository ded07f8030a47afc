/**
 * The process: configuration, logging, one replica, signals. Invalid
 * configuration stops it at start-up with one line naming the variable.
 */
import { ConfigError, loadConfig } from './config';
import { createLogger } from './log';
import { ListenError, startService } from './service';
import { createSessionFileReaderPool, parseProxyUrl } from './sessionfiles';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, parseProxyUrl);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`telegate: invalid configuration: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger(config.logLevel);
  // Every log line is JSON: Node's own warnings (printed as text by its default
  // listener) and a crash's stack go through the logger too.
  process.removeAllListeners('warning');
  process.on('warning', (warning) => logger.warn({ err: warning }, 'node warning'));
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception; exiting');
    process.exit(1);
  });
  // Session files are read in worker threads, so a 100k-file sync never blocks request handling.
  const readers = createSessionFileReaderPool({ defaultProxy: config.defaultProxy });
  const service = await startService({ config, logger, reader: readers.read });

  const onSignal = (signal: NodeJS.Signals): void => {
    // Backstop: whatever hangs, the process ends a little after the bound.
    setTimeout(() => {
      logger.error('graceful shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs + 5_000).unref();
    service
      .shutdown(signal)
      .then(() => readers.close())
      .then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
}

main().catch((err: unknown) => {
  // A port that cannot be had says so in its own words; anything else is "failed to start".
  const what = err instanceof ListenError ? err.message : `failed to start: ${(err as Error).message}`;
  process.stderr.write(`telegate: ${what}\n`);
  process.exit(1);
});
