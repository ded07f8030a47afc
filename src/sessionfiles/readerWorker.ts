/**
 * Worker thread of createSessionFileReaderPool (./pool.ts): its own sql.js
 * instance, blocking file I/O (this thread does nothing else), one message
 * per chunk of files. Loaded as readerWorker.js from dist/ and as
 * readerWorker.ts under tsx (the worker inherits the parent's --import).
 */
import { statSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import type { Proxy } from '../pool/types';
import { readSessionFileSync, type SessionFileInfo } from './index';
import { fileSignature } from './signature';
import { loadSqlJs } from './sqlite';

export type WorkerRequest = { id: number; op: 'read' | 'sig'; files: string[] };
export type WorkerReply =
  | { id: 0; ready: true }
  | { id: number; infos: SessionFileInfo[] }
  | { id: number; sigs: Array<string | null> }
  | { id: number; error: string };

export interface WorkerData {
  defaultProxy: Proxy | null;
}

function signatureOf(file: string): string | null {
  try {
    const st = statSync(file, { throwIfNoEntry: false });
    return st === undefined ? null : fileSignature(st);
  } catch {
    return null; // unreadable: treated as changed, the reader reports why
  }
}

if (parentPort !== null) {
  const port = parentPort;
  const opts = { defaultProxy: (workerData as WorkerData).defaultProxy };
  const sql = loadSqlJs();
  // A failed start is reported to each request (below), not as a crash.
  sql.then(() => port.postMessage({ id: 0, ready: true } satisfies WorkerReply), () => undefined);
  port.on('message', (req: WorkerRequest) => {
    sql.then(
      (SQL) => {
        let reply: WorkerReply;
        try {
          reply =
            req.op === 'read'
              ? { id: req.id, infos: req.files.map((f) => readSessionFileSync(f, opts, SQL)) }
              : { id: req.id, sigs: req.files.map(signatureOf) };
        } catch (err) {
          reply = { id: req.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
        }
        port.postMessage(reply);
      },
      (err: unknown) => port.postMessage({ id: req.id, error: `sql.js did not start: ${err instanceof Error ? err.message : String(err)}` }),
    );
  });
}
