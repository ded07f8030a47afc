/**
 * Mocha global fixtures: one real redis-server for the whole run, on a free
 * port, killed at the end, and the leak guard. Suites that need their own
 * server (restarts, failures) start one with RedisServer.start() from
 * support/redis.ts; the rest of the process toolbox is in support/ too.
 */
import { RedisServer } from '../../support/redis';

let server: RedisServer | undefined;

/** After the last test, the process has this long to exit by itself before the leak guard ends it. */
export const LEAK_GRACE_MS = 15_000;

export async function mochaGlobalSetup(): Promise<void> {
  server = await RedisServer.start();
  process.env.TELEGATE_TEST_REDIS_URL = server.url;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await server?.stop();
  // Mocha (without --exit) waits for the event loop to empty: one handle a test
  // left open (a client reconnecting to a stopped Redis, a timer) would hang the
  // run until CI's limit. This unref'd timer only fires when something still
  // holds the loop: it names what is left, then exits. The exit code stays
  // mocha's (its 'exit' listener sets it from the failure count).
  setTimeout(() => {
    const left = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout');
    console.error(`\ntest run: still running ${LEAK_GRACE_MS / 1000} s after the last test; open resources: ${left.join(', ') || 'timers'}. Exiting.`);
    process.exit();
  }, LEAK_GRACE_MS).unref();
}

/** The shared redis-server that the mocha global setup started. */
export function sharedRedisUrl(): string {
  const url = process.env.TELEGATE_TEST_REDIS_URL;
  if (!url) throw new Error('TELEGATE_TEST_REDIS_URL is not set: run the tests through mocha (see .mocharc.json)');
  return url;
}
