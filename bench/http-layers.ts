/**
 * What an HTTP layer costs on this machine, before any of TeleGate's work:
 * the servers of bench/layers/servers.ts (bare Node, Node with TeleGate's
 * answer headers, Node with Express's per-request prototype swap, the same
 * answered by res.json, a bare Express route) under the bench's own load
 * client, concurrency 64, interleaved round by round:
 *
 *   node --import tsx bench/http-layers.ts [--rounds 3] [--seconds 4] [--out FILE]
 *
 * Prints and writes (default bench/results/http-layers-<date>.json) req/s,
 * p99 and the server's CPU µs per request. bench/findings.md ("Without
 * Express") quotes it: it is why the API's routes do not go through Express.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../support/ports';
import { median } from '../support/stats';
import { requestBytes, runRequests } from './lib/load';
import { Children, ProcMonitor, ROOT, httpStatus } from './lib/procs';
import { SERVERS } from './layers/servers';

function arg(argv: string[], flag: string, def: string): string {
  const i = argv.indexOf(flag);
  return i >= 0 ? (argv[i + 1] ?? def) : def;
}

interface Run {
  rps: number;
  p99: number;
  us: number;
}

async function measure(children: Children, kind: string, seconds: number): Promise<Run> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', PORT: String(port) };
  const child = children.spawn(kind, process.execPath, ['--import', 'tsx', path.join(__dirname, 'layers', 'servers.ts'), kind], { env });
  try {
    const deadline = Date.now() + 20_000;
    while ((await httpStatus(port, '/').catch(() => 0)) !== 200) {
      if (!child.running() || Date.now() > deadline) throw new Error(`${kind} did not start: ${child.stderrTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const monitor = new ProcMonitor({ server: child.pid });
    let cores = 0;
    const r = await runRequests({
      port,
      request: requestBytes('GET', port, '/', {}),
      concurrency: 64,
      warmupMs: 1000,
      durationMs: seconds * 1000,
      onStart: () => monitor.start(),
      onEnd: () => (cores = monitor.stop().cores.server ?? 0),
    });
    if (Object.keys(r.errors).length > 0) throw new Error(`${kind}: errors ${JSON.stringify(r.errors)}`);
    return { rps: r.rps, p99: r.latency.p99, us: Math.round((cores * 1e6) / Math.max(1, r.rps)) };
  } finally {
    await child.stop();
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const rounds = Number(arg(argv, '--rounds', '3'));
  const seconds = Number(arg(argv, '--seconds', '4'));
  const date = new Date().toISOString();
  const out = path.resolve(arg(argv, '--out', path.join(ROOT, 'bench', 'results', `http-layers-${date.replace(/:/g, '-').replace(/\..*$/, '')}.json`)));
  const children = new Children();
  const runs: Record<string, Run[]> = Object.fromEntries(Object.keys(SERVERS).map((k) => [k, []]));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const kind of Object.keys(SERVERS)) {
        const r = await measure(children, kind, seconds);
        runs[kind]?.push(r);
        console.log(`round ${round} ${kind}: ${r.rps} req/s, p99 ${r.p99} ms, ${r.us} µs/request`);
      }
    }
  } finally {
    children.killAllNow();
  }
  console.log(`\nmedian over ${rounds} rounds:`);
  const medians = Object.entries(runs).map(([kind, list]) => ({
    kind,
    rps: median(list.map((r) => r.rps)),
    p99: median(list.map((r) => r.p99)),
    us: median(list.map((r) => r.us)),
  }));
  for (const m of medians) console.log(`${m.kind}: ${m.rps} req/s, p99 ${m.p99} ms, ${m.us} µs/request`);
  writeFileSync(out, `${JSON.stringify({ date, rounds, seconds, concurrency: 64, runs, medians }, null, 2)}\n`);
  console.log(`written: ${path.relative(process.cwd(), out)}`);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
