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
 * An idle pool does not keep the process alive. A worker that dies (a bug,
 * out of memory) fails the reads it had, and is replaced.
 *
 * Per-file deadline: a thread that stays on one file longer than
 * readTimeoutMs (a read blocked on a hung network filesystem, a parser
 * stuck on a hostile file) is terminated and replaced; that file reads as
 * `fileError: 'read timed out …'` (its signature as null) and the other files
 * of its chunks are read again by the other threads, so one bad file never
 * stalls a batch or a later sync. A thread blocked inside a system call ends
 * only when the call returns: it is left behind (unref'd), not waited for.
 * (Why this is not piscina or tinypool, whose abort ends a whole task and
 * re-refs the aborted thread: docs/sync-benchmark.md.)
 */
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { Proxy } from '../pool/types';
import type { SessionFileReader } from '../sync';
import { failedRead, PROGRESS_ID, PROGRESS_INDEX, PROGRESS_SLOTS, PROGRESS_TICK, type WorkerData, type WorkerReply, type WorkerRequest } from './protocol';
import type { SessionFileInfo } from './read';

/** readerWorker.js in dist/; readerWorker.ts when this file runs from src/ under tsx. */
const WORKER_FILE = path.join(__dirname, `readerWorker${path.extname(__filename)}`);

/**
 * Worker threads do not inherit tsx's loader hooks (`--import tsx`): a .ts
 * worker registers tsx's CommonJS hook itself (tsx is there, or this .ts file
 * would not be running). Compiled code starts the .js file directly.
 */
function startWorker(workerData: WorkerData): Worker {
  if (!WORKER_FILE.endsWith('.ts')) return new Worker(WORKER_FILE, { workerData });
  return new Worker(`require('tsx/cjs'); require(${JSON.stringify(WORKER_FILE)});`, { eval: true, workerData });
}
/** Files per message: big enough to amortise messaging, small enough to balance the threads. */
const READ_CHUNK = 16;
const SIG_CHUNK = 256;
/** Chunks queued per worker, so it never waits for the main thread between chunks. */
const PER_WORKER = 2;
/** A file read (or stat) that takes longer fails with "read timed out"; files take well under a millisecond. */
export const DEFAULT_READ_TIMEOUT_MS = 10_000;

export interface SessionFileReaderPoolOptions {
  /** Worker threads (default: min(os.availableParallelism(), 4)). */
  threads?: number;
  /** Applies when a sidecar gives no proxy (as readSessionFile's option). */
  defaultProxy: Proxy | null;
  /** Per-file deadline (default DEFAULT_READ_TIMEOUT_MS). */
  readTimeoutMs?: number;
  /** Tests only: see WorkerData.stallOn. */
  stallOn?: string;
}

export interface SessionFileReaderPool {
  /** Pass as runSync's `reader` (it has readMany and signatures). */
  readonly read: SessionFileReader;
  readonly threads: number;
  /** Stop the workers; pending and later reads fail. */
  close(): Promise<void>;
}

/** Replies of the parts of one request, as one reply. */
function merge(id: number, parts: WorkerReply[]): WorkerReply {
  if (parts.some((p) => 'sigs' in p)) return { id, sigs: parts.flatMap((p) => ('sigs' in p ? p.sigs : [])) };
  return { id, infos: parts.flatMap((p) => ('infos' in p ? p.infos : [])) };
}

export function defaultReaderThreads(): number {
  return Math.max(1, Math.min(os.availableParallelism(), 4));
}

interface Job {
  op: WorkerRequest['op'];
  files: string[];
  resolve: (reply: WorkerReply) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  inflight: Map<number, Job>;
  /** It has started (its modules loaded): worth replacing if it dies. */
  started: boolean;
  /** The thread's published position (readerWorker's PROGRESS_*). */
  progress: Int32Array;
  /** The tick last seen and since when (ms), for the deadline. */
  seen?: { tick: number; since: number };
  /** Given up on after a deadline: its exit is no longer ours to handle. */
  retired: boolean;
}

export function createSessionFileReaderPool(opts: SessionFileReaderPoolOptions): SessionFileReaderPool {
  const threads = opts.threads ?? defaultReaderThreads();
  if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`threads must be a positive integer, got ${threads}`);
  const readTimeoutMs = opts.readTimeoutMs ?? DEFAULT_READ_TIMEOUT_MS;
  const queue: Job[] = [];
  const slots: Slot[] = [];
  let nextId = 1;
  let closed = false;
  /** Set when a thread died before it started (it cannot load): every read fails with it. */
  let broken: Error | undefined;

  const spawn = (): Slot => {
    const progress = new SharedArrayBuffer(PROGRESS_SLOTS * Int32Array.BYTES_PER_ELEMENT);
    const data: WorkerData = { defaultProxy: opts.defaultProxy, progress, ...(opts.stallOn === undefined ? {} : { stallOn: opts.stallOn }) };
    const slot: Slot = { worker: startWorker(data), inflight: new Map(), started: false, progress: new Int32Array(progress), retired: false };
    slot.worker.unref();
    slot.worker.on('message', (reply: WorkerReply) => {
      if ('ready' in reply) {
        slot.started = true;
        return;
      }
      const job = slot.inflight.get(reply.id);
      if (job === undefined) return;
      slot.inflight.delete(reply.id);
      if ('error' in reply) job.reject(new Error(`session-file reader thread: ${reply.error}`));
      else job.resolve(reply);
      if (slot.inflight.size === 0) slot.worker.unref();
      pump();
    });
    let failure: Error | undefined;
    slot.worker.on('error', (err) => (failure = err));
    slot.worker.on('exit', (code) => {
      if (slot.retired) return;
      const why = failure ?? new Error(`session-file reader thread exited (code ${code})`);
      for (const job of slot.inflight.values()) job.reject(why);
      slot.inflight.clear();
      const i = slots.indexOf(slot);
      if (i >= 0) slots.splice(i, 1);
      if (closed) return;
      if (!slot.started) {
        broken = why;
        for (const job of queue.splice(0)) job.reject(why);
        return;
      }
      slots.push(spawn());
      pump();
    });
    return slot;
  };

  const pump = (): void => {
    for (const slot of slots) {
      while (queue.length > 0 && slot.inflight.size < PER_WORKER) {
        const job = queue.shift()!;
        const id = nextId++;
        slot.inflight.set(id, job);
        if (slot.inflight.size === 1) slot.worker.ref();
        slot.worker.postMessage({ id, op: job.op, files: job.files } satisfies WorkerRequest);
      }
    }
  };

  /** The slot's thread is stuck on one file: that file times out, the rest is read again elsewhere. */
  const retire = (slot: Slot): void => {
    slot.retired = true;
    slots.splice(slots.indexOf(slot), 1);
    slot.worker.unref();
    void slot.worker.terminate().catch(() => undefined);
    const stuckId = Atomics.load(slot.progress, PROGRESS_ID);
    const stuckIndex = Atomics.load(slot.progress, PROGRESS_INDEX);
    const again: Job[] = [];
    for (const [id, job] of slot.inflight) {
      if (id !== stuckId) {
        again.push(job);
        continue;
      }
      const timedOut: WorkerReply =
        job.op === 'read'
          ? { id, infos: [failedRead(`read timed out (over ${readTimeoutMs / 1000} s)`)] }
          : { id, sigs: [null] };
      const before = job.files.slice(0, stuckIndex);
      const after = job.files.slice(stuckIndex + 1);
      const part = (files: string[]): Promise<WorkerReply[]> =>
        files.length === 0 ? Promise.resolve([]) : new Promise((resolve, reject) => again.push({ op: job.op, files, resolve: (r) => resolve([r]), reject }));
      Promise.all([part(before), part(after)]).then(([b, a]) => job.resolve(merge(id, [...b, timedOut, ...a])), job.reject);
    }
    slot.inflight.clear();
    queue.unshift(...again);
    slots.push(spawn());
    pump();
  };

  const checkEvery = Math.max(20, Math.min(1000, readTimeoutMs / 4));
  let lastCheck = Date.now();
  const watchdog = setInterval(() => {
    const now = Date.now();
    // A late check means this thread was busy: the replies may be waiting behind it, so the clocks start again.
    const late = now - lastCheck > 2 * checkEvery;
    lastCheck = now;
    for (const slot of [...slots]) {
      if (late || !slot.started || slot.inflight.size === 0) {
        slot.seen = undefined;
        continue;
      }
      const tick = Atomics.load(slot.progress, PROGRESS_TICK);
      if (slot.seen?.tick !== tick) slot.seen = { tick, since: now };
      else if (now - slot.seen.since >= readTimeoutMs) retire(slot);
    }
  }, checkEvery);
  watchdog.unref();

  const run = (op: WorkerRequest['op'], files: readonly string[], chunk: number): Promise<WorkerReply[]> => {
    if (closed) return Promise.reject(new Error('session-file reader pool is closed'));
    if (broken !== undefined) return Promise.reject(broken);
    const parts: Array<Promise<WorkerReply>> = [];
    for (let i = 0; i < files.length; i += chunk) {
      const part = files.slice(i, i + chunk);
      parts.push(new Promise((resolve, reject) => queue.push({ op, files: part, resolve, reject })));
    }
    pump();
    return Promise.all(parts);
  };

  const readMany = async (files: readonly string[]): Promise<SessionFileInfo[]> =>
    (await run('read', files, READ_CHUNK)).flatMap((r) => ('infos' in r ? r.infos : []));
  const signatures = async (files: readonly string[]): Promise<Array<string | null>> =>
    (await run('sig', files, SIG_CHUNK)).flatMap((r) => ('sigs' in r ? r.sigs : []));
  const read: SessionFileReader = Object.assign(async (file: string) => (await readMany([file]))[0]!, { readMany, signatures });

  for (let i = 0; i < threads; i++) slots.push(spawn());

  return {
    read,
    threads,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(watchdog);
      const err = new Error('session-file reader pool is closed');
      for (const job of queue.splice(0)) job.reject(err);
      await Promise.all(slots.map((s) => s.worker.terminate()));
    },
  };
}
