/**
 * The task of createSessionFileReaderPool's threads (./pool.ts, run by
 * piscina): blocking file I/O (the thread does nothing else), one task per
 * chunk of files (./protocol.ts). Loaded as readerWorker.js from dist/ and as
 * readerWorker.ts under tsx (the thread inherits the parent's --import tsx).
 *
 * Before each file it publishes which one it is on (ReaderTask.progress), so
 * the pool can tell a thread stuck on one file from a busy one, and abort it.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { failedRead, LOADED, PROGRESS_INDEX, PROGRESS_TICK, type ReaderAnswer, type ReaderTask, type WorkerData } from './protocol';
import { readSessionFileSync, type SessionFileInfo } from './read';
import { sessionSignatureSync as signatureOf } from './signature';

const data = workerData as WorkerData;
const opts = { defaultProxy: data.defaultProxy };
if (data.failLoad === true) throw new Error('reader thread failed to load (failLoad)');
// better-sqlite3's native module included: the pool may count on this thread.
parentPort?.postMessage(LOADED);

/** One file's read; an exception is that file's error, not the whole chunk's (its name only: a message may quote file data). */
function readOne(file: string): SessionFileInfo {
  try {
    return readSessionFileSync(file, opts);
  } catch (err) {
    return failedRead(`cannot read file (unexpected ${err instanceof Error ? err.name : 'error'})`);
  }
}

export default function readChunk(task: ReaderTask): ReaderAnswer {
  const progress = new Int32Array(task.progress);
  /** Publish "now on file i", then run fn on it; "done" (index = files.length) at the end. */
  const each = <T>(fn: (file: string) => T): T[] => {
    const out = task.files.map((file, i) => {
      Atomics.store(progress, PROGRESS_INDEX, i);
      Atomics.add(progress, PROGRESS_TICK, 1);
      if (data.stallOn !== undefined && path.basename(file) === data.stallOn) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      if (data.exitOn !== undefined && path.basename(file) === data.exitOn) process.exit(1);
      return fn(file);
    });
    Atomics.store(progress, PROGRESS_INDEX, task.files.length);
    return out;
  };
  return task.op === 'read' ? { infos: each(readOne) } : { sigs: each(signatureOf) };
}
