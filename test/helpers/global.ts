/**
 * Mocha global fixtures: one real redis-server for the whole run, on a free
 * port, killed at the end. Suites that need their own server (restarts,
 * failures) start one with RedisServer.start().
 */
import { RedisServer } from './redis';

let server: RedisServer | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  server = await RedisServer.start();
  process.env.TELEGATE_TEST_REDIS_URL = server.url;
}

export async function mochaGlobalTeardown(): Promise<void> {
  await server?.stop();
}
