/**
 * Worker thread of createSessionFileReaderPool (./pool.ts): blocking file I/O (this thread does nothing else), one message
 * per chunk of files (./protocol.ts). Loaded as readerWorker.js from dist/ and as
 * readerWorker.ts under tsx (the worker inherits the parent's --import).
 *
 * Before each file it publishes which one it is on (WorkerData.progress), so
 * the pool can tell a thread stuck on one file from a busy one, and replace it.
 */
import path from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { failedRead, PROGRESS_ID, PROGRESS_INDEX, PROGRESS_TICK, type WorkerData, type WorkerReply, type WorkerRequest } from './protocol';
import { readSessionFileSync, type SessionFileInfo } from './read';
import { sessionSignatureSync as signatureOf } from './signature';

if (parentPort !== null) {
  const port = parentPort;
  const data = workerData as WorkerData;
  const opts = { defaultProxy: data.defaultProxy };
  const progress = new Int32Array(data.progress);
  /** Publish "now on file i of request id", then run fn on it. */
  const each = <T>(req: WorkerRequest, fn: (file: string) => T): T[] =>
    req.files.map((file, i) => {
      Atomics.store(progress, PROGRESS_ID, req.id);
      Atomics.store(progress, PROGRESS_INDEX, i);
      Atomics.add(progress, PROGRESS_TICK, 1);
      if (data.stallOn !== undefined && path.basename(file) === data.stallOn) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
      return fn(file);
    });
  /** One file's read; an exception is that file's error, not the whole chunk's (its name only: a message may quote file data). */
  const readOne = (file: string): SessionFileInfo => {
    try {
      return readSessionFileSync(file, opts);
    } catch (err) {
      return failedRead(`cannot read file (unexpected ${err instanceof Error ? err.name : 'error'})`);
    }
  };
  port.on('message', (req: WorkerRequest) => {
    let reply: WorkerReply;
    try {
      reply = req.op === 'read' ? { id: req.id, infos: each(req, readOne) } : { id: req.id, sigs: each(req, signatureOf) };
    } catch (err) {
      reply = { id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    }
    port.postMessage(reply);
  });
  // Loaded (better-sqlite3's native module included): ready for files.
  port.postMessage({ id: 0, ready: true } satisfies WorkerReply);
}
