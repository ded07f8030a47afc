/* global require, process, performance */
/* eslint-disable @typescript-eslint/no-require-imports -- plain CommonJS, run by plain node */
/**
 * One measured sync, in a process of its own so that its peak RSS
 * (getrusage ru_maxrss, which covers worker threads) is the sync's alone.
 * Plain JavaScript on purpose: run with plain `node` against dist/, the
 * process holds what the service would (no TypeScript loader); bench/sync.ts
 * runs it with `--import tsx` only for `--src`.
 *
 *   node bench/sync/child.js '<json args>'   (see bench/sync.ts)
 *
 * Prints one JSON line: timings, the sync summary, CPU and memory.
 */
'use strict';
const os = require('node:os');
const path = require('node:path');
const { once } = require('node:events');

function redisCpu(info) {
  const num = (k) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return num('used_cpu_user') + num('used_cpu_sys');
}

async function main() {
  const args = JSON.parse(process.argv[2]);
  const lib = (m) => require(path.join(args.code, m));
  const { runSync } = lib('sync');
  const { RedisStore, createRedis } = lib('pool/redis');
  const sessionfiles = lib('sessionfiles');

  const redis = createRedis(args.redisUrl);
  redis.on('error', () => undefined);
  await once(redis, 'ready');
  const store = new RedisStore(redis, args.prefix);
  const defaultProxy = args.defaultProxy;

  // Reader start-up (worker threads, native module load) happens once per service
  // process, not per sync: done and timed before the measured sync.
  const t0 = performance.now();
  let reader;
  let close = async () => undefined;
  if (args.threads > 0) {
    const pool = sessionfiles.createSessionFileReaderPool({ threads: args.threads, defaultProxy });
    reader = pool.read;
    close = () => pool.close();
  } else {
    reader = (file) => sessionfiles.readSessionFile(file, { defaultProxy });
  }
  if (args.warmFile) await Promise.all(Array.from({ length: Math.max(1, args.threads) * 2 }, () => reader(args.warmFile)));
  const readerStartMs = performance.now() - t0;

  const rssBeforeMB = process.memoryUsage().rss / 1048576;
  const loadavg = os.loadavg();
  const redisCpu0 = redisCpu(await redis.info('cpu'));
  const cpu0 = process.cpuUsage();
  const t1 = performance.now();
  // As a service that exposes session strings (TELEGATE_EXPOSE_SESSION_STRING): the
  // heavier case, and the one bench/sync.ts checks a lease against.
  const summary = await runSync({ dir: args.dir, store, reader, defaultProxy, maxRemoveFraction: 0.5, keepSessionString: true });
  const syncMs = performance.now() - t1;
  const cpu = process.cpuUsage(cpu0);
  const redisCpuS = redisCpu(await redis.info('cpu')) - redisCpu0;
  const peakRssMB = process.resourceUsage().maxRSS / 1024;
  const redisUsedMB = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? NaN) / 1048576;

  await close();
  await store.close();
  process.stdout.write(
    JSON.stringify({
      syncMs,
      readerStartMs,
      summary,
      cpuUserS: cpu.user / 1e6,
      cpuSystemS: cpu.system / 1e6,
      redisCpuS,
      rssBeforeMB,
      peakRssMB,
      redisUsedMB,
      loadavg,
    }) + '\n',
  );
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack ? err.stack : String(err)}\n`);
  process.exit(1);
});
