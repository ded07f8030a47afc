/**
 * A session-file reader that parses in worker threads, so that a sync of
 * many files uses every core and the main thread (HTTP, Redis) stays free. runSync hands it whole batches (readMany) and
 * asks it for the files' signatures (a stat per file, also off the main
 * thread); the reader is also a plain `(path) => Promise<info>` function.
 *
 *   const pool = createSessionFileReaderPool({ defaultProxy });
 *   await runSync({ ..., reader: pool.read });
 *   await pool.close();   // at shutdown
 *
 * The threads are a piscina pool (queue, respawn, ref/unref are its): one
 * task per chunk of files (./readerWorker.ts). An idle pool does not keep the
 * process alive. A thread that dies (a bug, out of memory) fails the chunk it
 * had, and piscina replaces it.
 *
 * Per-file deadline: each task carries shared progress slots (which file its
 * thread is on). A task whose thread stays on one file longer than
 * readTimeoutMs (a parser stuck on a hostile file, a read blocked on a hung
 * network filesystem) is aborted: piscina terminates that thread and starts
 * another. That file reads as `fileError: 'read timed out …'` (its signature
 * as null) and the other files of the chunk are read again as new tasks, so
 * one bad file never stalls a batch or a later sync. Caveat: a thread
 * blocked inside a system call ends only when the call returns, and Node
 * joins every thread at exit, so such a process cannot exit before then
 * (unref'ing the thread does not change it: docs/sync-benchmark.md).
 */
import os from 'node:os';
import path from 'node:path';
import { Piscina } from 'piscina';
import type { Proxy } from '../pool/types';
import type { SessionFileReader } from '../sync';
import { failedRead, LOADED, PROGRESS_INDEX, PROGRESS_SLOTS, PROGRESS_TICK, type ReaderAnswer, type ReaderTask, type WorkerData } from './protocol';
import type { SessionFileInfo } from './read';

/** readerWorker.js in dist/; readerWorker.ts when this file runs from src/ under tsx (the threads inherit --import tsx). */
const WORKER_FILE = path.join(__dirname, `readerWorker${path.extname(__filename)}`);
/**
 * Files per task: big enough to amortise messaging, small enough to balance
 * the threads. A task with an AbortSignal runs alone on its thread (piscina),
 * so a thread waits for the main thread between tasks, and each task has
 * its own bookkeeping: 64 files make both rare (16, the old pool's chunk
 * with 2 queued per thread, cost ~10 % more here: docs/sync-benchmark.md).
 */
const READ_CHUNK = 64;
/** A stat is cheaper than a read: 256 per task (the old pool's) cost ~10 % more CPU on a 10k re-sync. */
const SIG_CHUNK = 1024;
/** A file read (or stat) that takes longer fails with "read timed out"; files take well under a millisecond. */
export const DEFAULT_READ_TIMEOUT_MS = 10_000;

export interface SessionFileReaderPoolOptions {
  /** Worker threads (default: min(os.availableParallelism(), 4)). */
  threads?: number;
  /** Applies when a sidecar gives no proxy (as readSessionFile's option). */
  defaultProxy: Proxy | null;
  /** Per-file deadline (default DEFAULT_READ_TIMEOUT_MS). */
  readTimeoutMs?: number;
  /** Tests only: see WorkerData.stallOn, exitOn and failLoad. */
  stallOn?: string;
  exitOn?: string;
  failLoad?: boolean;
}

export interface SessionFileReaderPool {
  /** Pass as runSync's `reader` (it has readMany and signatures). */
  readonly read: SessionFileReader;
  readonly threads: number;
  /** Stop the workers; pending and later reads fail. */
  close(): Promise<void>;
}

export function defaultReaderThreads(): number {
  return Math.max(1, Math.min(os.availableParallelism(), 4));
}

/** A task in piscina's hands, as the deadline watches it. */
interface Watched {
  files: number;
  progress: Int32Array;
  abort: AbortController;
  /** The tick last seen and since when (ms). */
  seen?: { tick: number; since: number };
  /** Set when the deadline aborted it: the index of the file its thread was stuck on. */
  stuckAt?: number;
}

/** One kind of request: its chunk size, its answers, and what a file past the deadline answers. */
interface Op<T> {
  op: ReaderTask['op'];
  chunk: number;
  answers: (a: ReaderAnswer) => T[];
  timedOut: () => T;
}

export function createSessionFileReaderPool(opts: SessionFileReaderPoolOptions): SessionFileReaderPool {
  const threads = opts.threads ?? defaultReaderThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
  const readTimeoutMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const workerData: WorkerData = {
    defaultProxy: opts.defaultProxy,
    ...(opts.stallOn === undefined ? {} : { stallOn: opts.stallOn }),
    ...(opts.exitOn === undefined ? {} : { exitOn: opts.exitOn }),
    ...(opts.failLoad === undefined ? {} : { failLoad: opts.failLoad }),
  };
  // idleTimeout Infinity: the threads (better-sqlite3 loaded) stay for the next sync; idle, they are unref'd.
  const piscina = new Piscina<ReaderTask, ReaderAnswer>({ filename: WORKER_FILE, minThreads: threads, maxThreads: threads, idleTimeout: Infinity, workerData });
  const watched = new Set<Watched>();
  let closed = false;
  /** A thread has loaded its modules (readerWorker's LOADED message). */
  let loaded = false;
  /**
   * Set when a thread failed before any had loaded: the threads cannot load,
   * and piscina starts no more of them, so every read fails with this rather
   * than wait in its queue for good.
   */
  let broken: Error | undefined;
  /** A thread failed with err: is the pool broken (now or before)? */
  const breaks = (err: unknown): Error | undefined => {
    if (loaded || broken !== undefined) return broken;
    broken = new Error(`session-file reader thread: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    for (const task of watched) task.abort.abort();
    return broken;
  };
  piscina.on('message', (m: unknown) => {
    if (m === LOADED) loaded = true;
  });
  // A thread that dies with no task (nothing waits on it) is an 'error' event; piscina replaces the thread.
  piscina.on('error', breaks);

  /** One chunk as one task; past the deadline, its stuck file times out and the rest are read again. */
  const runChunk = async <T>(op: Op<T>, files: string[]): Promise<T[]> => {
    if (files.length === 0) return [];
    if (closed) throw new Error('session-file reader pool is closed');
    if (broken !== undefined) throw broken;
    const progress = new SharedArrayBuffer(PROGRESS_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    const task: Watched = { files: files.length, progress: new Int32Array(progress), abort: new AbortController() };
    watched.add(task);
    const outcome = await piscina.run({ op: op.op, files, progress }, { signal: task.abort.signal }).then(
      (answer) => ({ answer }),
      (err: unknown) => ({ err }),
    );
    watched.delete(task);
    if ('answer' in outcome) return op.answers(outcome.answer);
    const failure = breaks(outcome.err);
    if (failure !== undefined) throw failure;
    const at = task.stuckAt;
    if (at === undefined) {
      const why = outcome.err instanceof Error ? outcome.err.message : String(outcome.err);
      throw new Error(`session-file reader thread: ${why}`, { cause: outcome.err });
    }
    const [before, after] = await Promise.all([runChunk(op, files.slice(0, at)), runChunk(op, files.slice(at + 1))]);
    return [...before, op.timedOut(), ...after];
  };

  const checkEvery = Math.max(20, Math.min(1000, readTimeoutMs / 4));
  let lastCheck = Date.now();
  const watchdog = setInterval(() => {
    const now = Date.now();
    // A late check means this thread was busy: the answers may be waiting behind it, so the clocks start again.
    const late = now - lastCheck > 2 * checkEvery;
    lastCheck = now;
    for (const task of watched) {
      const tick = Atomics.load(task.progress, PROGRESS_TICK);
      // The file it is on, read once: the thread may move on meanwhile, and a
      // second read could say "done" (files.length) after this one said not.
      const at = Atomics.load(task.progress, PROGRESS_INDEX);
      // Not started yet (queued), or done (its answer on the way): no clock.
      const done = at >= task.files;
      if (late || tick === 0 || done || task.stuckAt !== undefined) {
        task.seen = undefined;
        continue;
      }
      if (task.seen?.tick !== tick) task.seen = { tick, since: now };
      else if (now - task.seen.since >= readTimeoutMs) {
        task.stuckAt = at;
        task.abort.abort();
      }
    }
  }, checkEvery);
  watchdog.unref();

  const chunks = <T>(op: Op<T>, files: readonly string[]): Promise<T[]> => {
    const parts: Array<Promise<T[]>> = [];
    for (let i = 0; i < files.length; i += op.chunk) parts.push(runChunk(op, files.slice(i, i + op.chunk)));
    return Promise.all(parts).then((p) => p.flat());
  };
  const readOp: Op<SessionFileInfo> = {
    op: 'read',
    chunk: READ_CHUNK,
    answers: (a) => ('infos' in a ? a.infos : []),
    timedOut: () => failedRead(`read timed out (over ${readTimeoutMs / 1000} s)`),
  };
  const sigOp: Op<string | null> = { op: 'sig', chunk: SIG_CHUNK, answers: (a) => ('sigs' in a ? a.sigs : []), timedOut: () => null };
  const readMany = (files: readonly string[]): Promise<SessionFileInfo[]> => chunks(readOp, files);
  const signatures = (files: readonly string[]): Promise<Array<string | null>> => chunks(sigOp, files);
  const read: SessionFileReader = Object.assign(async (file: string) => (await readMany([file]))[0]!, { readMany, signatures });

  return {
    read,
    threads,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(watchdog);
      await piscina.destroy();
    },
  };
}
