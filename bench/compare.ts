/**
 * A/B several builds of the service under the same Redis cycle load,
 * interleaved round by round so machine noise hits them alike, with the bare
 * Express ceiling measured in every round as the reference:
 *
 *   node --import tsx bench/compare.ts [--rounds 3] [--seconds 8] [--concurrency 64] [--out FILE] NAME=DIST_DIR...
 *
 * A NAME ending in `+next` runs its cycles with next=true on the release (one
 * request per cycle once each client holds a session).
 *
 * Each DIST_DIR is a built tree (its main.js; lua/ and node_modules/ resolved
 * from its parent, as in this repository). Prints and writes (default
 * bench/results/compare-<date>.json, which docs/benchmarks.md quotes) cycles/s,
 * acquire p99 and the service's CPU µs per HTTP request — the figure least
 * disturbed by other load on the machine.
 *
 * To try a proposal from bench/experiments/: copy src, lua, package.json and the
 * tsconfig files to a scratch directory, symlink node_modules, `git apply` the
 * patch there, `npx tsc -p tsconfig.build.json`, and compare its dist with an
 * unpatched copy built the same way.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { requestBytes, runCycles, runRequests } from './lib/load';
import { Children, ProcMonitor, ROOT, startCeiling, startRedis, startService, type CpuReport, type RedisProc } from './lib/procs';
import { useDist } from './lib/built';
import type { CompareResults, CompareRun } from './lib/results';
import { makeSessionFiles, seedRedis } from './lib/seed';
import { median } from '../support/stats';

const KEY = 'bench-compare-key';

function arg(argv: string[], flag: string, def: string): string {
  const i = argv.indexOf(flag);
  return i >= 0 ? (argv[i + 1] ?? def) : def;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const rounds = Number(arg(argv, '--rounds', '3'));
  const seconds = Number(arg(argv, '--seconds', '8'));
  const concurrency = Number(arg(argv, '--concurrency', '64'));
  const flags = new Set(['--rounds', '--seconds', '--concurrency', '--out']);
  const builds = argv
    .filter((a, i) => !a.startsWith('--') && !flags.has(argv[i - 1] ?? ''))
    .map((a) => {
      const eq = a.indexOf('=');
      return eq > 0 ? { name: a.slice(0, eq), dist: path.resolve(a.slice(eq + 1)) } : { name: path.basename(path.dirname(path.resolve(a))), dist: path.resolve(a) };
    });
  if (builds.length === 0) throw new Error('usage: bench/compare.ts [--rounds N] [--seconds S] [--concurrency C] [--out FILE] NAME=DIST_DIR...');
  const date = new Date().toISOString();
  const out = path.resolve(arg(argv, '--out', path.join(ROOT, 'bench', 'results', `compare-${date.replace(/:/g, '-').replace(/\..*$/, '')}.json`)));
  const children = new Children();
  process.once('SIGINT', () => {
    children.killAllNow();
    process.exit(130);
  });
  const results: CompareResults = { date, rounds, seconds, concurrency, ceiling: [], builds: builds.map((b) => ({ ...b, runs: [] })) };
  let redis: RedisProc | undefined;
  try {
    redis = await startRedis(children);
    const empty = await makeSessionFiles(path.join(children.tmp, 'empty'), 0);
    const ceil = await startCeiling(children);
    const ceilReq = requestBytes('GET', ceil.port, '/', {});
    await runRequests({ port: ceil.port, request: ceilReq, concurrency: 16, warmupMs: 0, durationMs: 2000 });
    for (let round = 1; round <= rounds; round++) {
      {
        const mon = new ProcMonitor({ ceiling: ceil.child.pid });
        let cpu: CpuReport | undefined;
        const r = await runRequests({ port: ceil.port, request: ceilReq, concurrency, warmupMs: 1000, durationMs: seconds * 1000, onStart: () => mon.start(), onEnd: () => (cpu = mon.stop()) });
        results.ceiling.push({ rps: r.rps, p99: r.latency.p99, otherCores: (cpu ?? mon.stop()).foreignCores });
        process.stderr.write(`round ${round} ceiling: ${r.rps} req/s, p99 ${r.latency.p99} ms\n`);
      }
      for (const [i, b] of results.builds.entries()) {
        const prefix = `cmp${i}`;
        if (round === 1) {
          useDist(b.dist); // registered by the build's own applySync and Lua
          await seedRedis(redis.url, prefix, 0, 1000);
        }
        const env: Record<string, string> = {
          REDIS_URL: redis.url,
          TELEGATE_API_KEYS: KEY,
          TELEGATE_SESSIONS_DIR: empty,
          TELEGATE_KEY_PREFIX: prefix,
          TELEGATE_RATE_LIMIT: '60000000',
          TELEGATE_SYNC_CRON: '0 0 1 1 *',
          LOG_LEVEL: 'info',
        };
        const svc = await startService(children, { name: b.name, distDir: b.dist, env });
        try {
          await runCycles({ ports: [svc.port], apiKey: KEY, concurrency: 16, warmupMs: 0, durationMs: 3000 });
          const mon = new ProcMonitor({ client: process.pid, service: svc.child.pid, redis: redis.child.pid });
          let cpu: CpuReport | undefined;
          const r = await runCycles({
            ports: [svc.port],
            apiKey: KEY,
            concurrency,
            next: b.name.endsWith('+next'),
            warmupMs: 1000,
            durationMs: seconds * 1000,
            onStart: () => mon.start(),
            onEnd: () => (cpu = mon.stop()),
          });
          const c = cpu ?? mon.stop();
          const run: CompareRun = {
            cyclesPerSec: r.cyclesPerSec,
            acquireP99: r.acquire.p99,
            serviceUs: Math.round(((c.cores.service ?? 0) * 1e6) / Math.max(1, r.rps)),
            redisUs: Math.round(((c.cores.redis ?? 0) * 1e6) / Math.max(1, r.rps)),
            otherCores: c.foreignCores,
            doubleIssues: r.doubleIssues + r.leaseMismatches,
          };
          b.runs.push(run);
          process.stderr.write(
            `round ${round} ${b.name}: ${run.cyclesPerSec} cycles/s, acquire p99 ${run.acquireP99} ms, service ${run.serviceUs} µs/request, ` +
              `redis ${run.redisUs} µs/request, other ${run.otherCores} cores, double issues ${run.doubleIssues}\n`,
          );
        } finally {
          await svc.stop();
        }
      }
    }
  } finally {
    redis?.admin.disconnect(); // or it reconnects to the killed redis-server for ever, and this process never exits
    await children.killAll();
    children.cleanupTmp();
  }
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`\nmedian over ${rounds} rounds (ceiling ${median(results.ceiling.map((c) => c.rps))} req/s):\n`);
  for (const b of results.builds) {
    process.stdout.write(
      `${b.name}: ${median(b.runs.map((x) => x.cyclesPerSec))} cycles/s, acquire p99 ${median(b.runs.map((x) => x.acquireP99))} ms, ` +
        `service ${median(b.runs.map((x) => x.serviceUs))} µs/request, redis ${median(b.runs.map((x) => x.redisUs))} µs/request\n`,
    );
  }
  process.stdout.write(`written: ${path.relative(ROOT, out)}\n`);
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = 1;
  });
}
