/**
 * Sync benchmark: how long runSync takes, and the memory it needs, on 1k,
 * 10k and 100k real Telethon session files, against a real Redis.
 *
 *   npm run bench:sync [-- options]
 *   (= npm run build --silent && node --import tsx bench/sync.ts [options])
 *
 *   --quick         1k and 10k only (bench/results/sync-<date>-quick.json)
 *   --sizes a,b     these sizes instead
 *   --threads N     reader worker threads (default: the pool's default,
 *                   min(availableParallelism, 4)); 0 = read on the main thread
 *   --repeat N      measure each size N times (first sync + re-sync each time; medians)
 *   --src           run src/ through tsx instead of the compiled dist/ (adds ~40 MB RSS)
 *   --dist DIR      compiled code to run (default dist/, which must be newer than src/;
 *                   another DIR is run as it is: e.g. an older commit's build, to compare)
 *   --out FILE      results file
 *   --docs / --no-docs
 *
 * A full run with the defaults writes bench/results/sync-<date>.json and
 * docs/sync-benchmark.md; any other options write sync-<date>-<variant>.json
 * and no docs (unless --docs).
 *
 * What it does, for each size N: writes one real Telethon v7 file with
 * support/make_sessions.py and copies it N times under distinct
 * names into a fresh temp dir; starts from an empty Redis (its own
 * redis-server on a free port); runs the first sync, then a no-change
 * re-sync, each in a child process of its own (bench/sync/child.js) so that
 * the peak RSS is that sync's. The temp dir is removed after each size, the
 * redis-server and any child at the end (also on error and SIGINT/SIGTERM).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { defaultReaderThreads } from '../src/sessionfiles/pool';
import { RedisServer } from '../support/redis';
import { telethonCopier } from '../support/sessions';
import { median } from '../support/stats';
import { TARGETS, writeDoc, type SizeResult, type SyncRun, type SyncResults } from './sync/report';

const ROOT = path.resolve(__dirname, '..');
const FILE_BYTES_EST = 24 * 1024;
/** Bound for one measured sync (a child process); the 100k first sync targets 20 s. */
const CHILD_TIMEOUT_MS = 5 * 60_000;
const PREFIX = 'bench';
const DEFAULT_PROXY = { type: 'socks5', host: 'proxy.bench.invalid', port: 1080, username: 'u', password: 'p' };

interface Args {
  sizes: number[];
  quick: boolean;
  threads: number;
  repeat: number;
  code: string;
  src: boolean;
  out: string;
  docs: boolean;
}

function parseArgs(argv: string[]): Args {
  const known = ['--quick', '--sizes', '--threads', '--repeat', '--src', '--dist', '--out', '--docs', '--no-docs'];
  const val = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  for (const a of argv) if (a.startsWith('--') && !known.includes(a)) throw new Error(`unknown option ${a} (see the header of bench/sync.ts)`);
  const quick = argv.includes('--quick');
  const sizesArg = val('--sizes');
  const sizes = sizesArg !== undefined ? sizesArg.split(',').map(Number) : quick ? [1000, 10_000] : [1000, 10_000, 100_000];
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`bad --sizes ${sizesArg}`);
  const full = !quick && sizesArg === undefined;
  const src = argv.includes('--src');
  const threads = Number(val('--threads') ?? defaultReaderThreads());
  const repeat = Number(val('--repeat') ?? 1);
  if (!Number.isInteger(threads) || threads < 0 || !Number.isInteger(repeat) || repeat < 1) throw new Error('bad --threads / --repeat');
  const code = src ? path.join(ROOT, 'src') : path.resolve(val('--dist') ?? path.join(ROOT, 'dist'));
  // Anything but the service's own set-up is an experiment: its own results file, no docs.
  const variant = [
    quick ? '-quick' : sizesArg !== undefined ? '-sizes' : '',
    threads !== defaultReaderThreads() ? `-threads${threads}` : '',
    src ? '-src' : code !== path.join(ROOT, 'dist') ? '-dist' : '',
  ].join('');
  const date = new Date().toISOString().slice(0, 10);
  const out = path.resolve(val('--out') ?? path.join(ROOT, 'bench', 'results', `sync-${date}${variant}.json`));
  let docs = full && variant === '';
  if (argv.includes('--docs')) docs = true;
  if (argv.includes('--no-docs')) docs = false;
  return { sizes, quick, threads, repeat, code, src, out, docs };
}

// ------------------------------------------------------------- processes

const children = new Set<ChildProcess>();
const cleanups: Array<() => void> = [];

function cleanupAll(): void {
  for (const c of children) c.kill('SIGKILL');
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      fn();
    } catch {
      // best effort on the way out
    }
  }
}

function runChild(args: Record<string, unknown>, src: boolean): Promise<SyncRun> {
  const nodeArgs = [...(src ? ['--import', 'tsx'] : []), path.join(__dirname, 'sync', 'child.js'), JSON.stringify(args)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      children.delete(child);
      if (code !== 0) {
        reject(new Error(`sync child failed (${signal ?? code}${signal === 'SIGKILL' ? `, over ${CHILD_TIMEOUT_MS / 1000} s?` : ''}): ${stderr.trim().slice(-2000)}`));
        return;
      }
      try {
        const line = stdout.trim().split('\n').pop() ?? '';
        resolve(JSON.parse(line) as SyncRun);
      } catch {
        reject(new Error(`sync child printed no result: ${stdout.slice(-500)} ${stderr.slice(-500)}`));
      }
    });
  });
}

// ------------------------------------------------------------------ files

function checkDisk(dir: string, n: number): void {
  const s = statfsSync(dir);
  const needBytes = n * FILE_BYTES_EST * 1.2 + 256 * 1024 * 1024;
  const freeBytes = s.bavail * s.bsize;
  if (freeBytes < needBytes) {
    throw new Error(`${n} session files need ~${Math.round(needBytes / 1e9)} GB in ${dir}; ${Math.round(freeBytes / 1e9)} GB free (set TMPDIR elsewhere)`);
  }
  if (s.ffree > 0 && s.ffree < n + 10_000) throw new Error(`${n} session files need ${n} inodes in ${dir}; ${s.ffree} free`);
}

/** n copies of one template, each an account of its own (one auth key, one session). */
function writeCopies(copy: (dest: string) => void, dir: string, n: number): void {
  for (let i = 0; i < n; i++) copy(path.join(dir, `s${String(i).padStart(7, '0')}.session`));
}

/** The compiled code must be what src/ says: a stale dist/ would measure old code. */
function checkBuild(code: string): void {
  const srcDir = path.join(ROOT, 'src');
  const stale: string[] = [];
  for (const sub of ['', 'sessionfiles', 'pool']) {
    for (const f of readdirSync(path.join(srcDir, sub)).filter((n) => n.endsWith('.ts'))) {
      const js = path.join(code, sub, f.replace(/\.ts$/, '.js'));
      if (!existsSync(js) || statSync(js).mtimeMs < statSync(path.join(srcDir, sub, f)).mtimeMs) stale.push(path.join(sub, f));
    }
  }
  if (stale.length > 0) throw new Error(`${path.relative(ROOT, code) || code} is older than src/ (${stale.slice(0, 5).join(', ')}): run \`npm run build\` first (or pass --src)`);
}

// ------------------------------------------------------------------- main

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (!args.src && args.code === path.join(ROOT, 'dist')) checkBuild(args.code);
  const tmpRoot = os.tmpdir();
  checkDisk(tmpRoot, Math.max(...args.sizes));

  const started = new Date();
  const load = os.loadavg();
  console.error(`sync bench: sizes ${args.sizes.join(', ')}, ${args.threads} reader thread(s), ${args.src ? 'src via tsx' : args.code}; load ${load.map((l) => l.toFixed(2)).join(' ')}`);

  const redisServer = await RedisServer.start();
  cleanups.push(() => void redisServer.stop());
  const admin = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => undefined);
  cleanups.push(() => admin.disconnect());
  const redisVersion = /redis_version:(\S+)/.exec(await admin.info('server'))?.[1] ?? 'unknown';
  // The same code as the child's (another --dist may store sessions another way).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { RedisStore, createRedis } = require(path.join(args.code, 'pool', 'redis')) as typeof import('../src/pool/redis');
  const storeRedis = createRedis(redisServer.url);
  storeRedis.on('error', () => undefined);
  const store = new RedisStore(storeRedis, PREFIX);
  cleanups.push(() => storeRedis.disconnect());

  const tpl = mkdtempSync(path.join(tmpRoot, 'telegate-syncbench-tpl-'));
  cleanups.push(() => rmSync(tpl, { recursive: true, force: true }));
  const copy = telethonCopier();
  const template = path.join(tpl, 'template.session');
  copy(template);

  const results: SizeResult[] = [];
  for (const n of args.sizes) {
    const dir = mkdtempSync(path.join(tmpRoot, 'telegate-syncbench-'));
    const removeDir = () => rmSync(dir, { recursive: true, force: true });
    cleanups.push(removeDir);
    try {
      const tw = performance.now();
      writeCopies(copy, dir, n);
      console.error(`  ${n}: ${n} files written in ${((performance.now() - tw) / 1000).toFixed(1)} s`);
      const first: SyncRun[] = [];
      const resync: SyncRun[] = [];
      for (let r = 0; r < args.repeat; r++) {
        await admin.flushall();
        const childArgs = { code: args.code, dir, redisUrl: redisServer.url, prefix: PREFIX, threads: args.threads, defaultProxy: DEFAULT_PROXY, warmFile: template };
        const a = await runChild(childArgs, args.src);
        const s = a.summary;
        if (s.new_sessions !== n || s.total_sessions !== n) throw new Error(`first sync of ${n}: ${JSON.stringify(s)}`);
        first.push(a);
        console.error(`  ${n}: first sync ${(a.syncMs / 1000).toFixed(2)} s, peak RSS ${a.peakRssMB.toFixed(0)} MB (load ${a.loadavg[0]!.toFixed(2)})`);
        const b = await runChild(childArgs, args.src);
        const t = b.summary;
        if (t.new_sessions !== 0 || t.updated_sessions !== 0 || t.removed_sessions !== 0 || t.total_sessions !== n) {
          throw new Error(`no-change re-sync of ${n}: ${JSON.stringify(t)}`);
        }
        resync.push(b);
        console.error(`  ${n}: re-sync    ${(b.syncMs / 1000).toFixed(2)} s, peak RSS ${b.peakRssMB.toFixed(0)} MB (load ${b.loadavg[0]!.toFixed(2)})`);
      }
      // What a worker gets: the session string and the proxy read from the file.
      const leased = await store.acquire(60_000);
      if (!leased.ok || leased.session.meta.sessionString === undefined || leased.session.meta.proxy?.host !== DEFAULT_PROXY.host) {
        throw new Error(`a leased session lacks what the files hold: ${JSON.stringify(leased).slice(0, 300)}`);
      }
      results.push({
        files: n,
        firstSyncS: median(first.map((x) => x.syncMs)) / 1000,
        resyncS: median(resync.map((x) => x.syncMs)) / 1000,
        peakRssMB: Math.max(...first.map((x) => x.peakRssMB), ...resync.map((x) => x.peakRssMB)),
        first,
        resync,
      });
    } finally {
      removeDir();
      cleanups.splice(cleanups.indexOf(removeDir), 1);
    }
  }
  await admin.flushall();

  const out: SyncResults = {
    date: started.toISOString(),
    mode: args.quick ? 'quick' : args.sizes.join(',') === '1000,10000,100000' ? 'full' : 'custom',
    machine: {
      cores: os.availableParallelism(),
      cpu: os.cpus()[0]?.model ?? 'unknown',
      memGB: Math.round(os.totalmem() / 1e9),
      node: process.version,
      redis: redisVersion,
      loadavgAtStart: load,
    },
    config: { readerThreads: args.threads, code: args.src ? 'src (tsx)' : path.relative(ROOT, args.code) || '.', fileBytes: FILE_BYTES_EST, defaultProxy: true },
    targets: TARGETS,
    results,
  };
  mkdirSync(path.dirname(args.out), { recursive: true });
  writeFileSync(args.out, JSON.stringify(out, null, 2) + '\n');
  console.error(`results: ${path.relative(ROOT, args.out)}`);
  if (args.docs) {
    const doc = path.join(ROOT, 'docs', 'sync-benchmark.md');
    writeDoc(doc, out, path.relative(ROOT, args.out));
    console.error(`docs: ${path.relative(ROOT, doc)}`);
  }
  for (const r of results) {
    console.log(
      `${String(r.files).padStart(7)} files: first sync ${r.firstSyncS.toFixed(2)} s, re-sync ${r.resyncS.toFixed(2)} s, peak RSS ${r.peakRssMB.toFixed(0)} MB`,
    );
  }
  await store.close();
  await admin.quit();
  await redisServer.stop();
  cleanupAll(); // the template dir; the rest is closed already
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    cleanupAll();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : err);
  cleanupAll();
  process.exitCode = 1;
});
