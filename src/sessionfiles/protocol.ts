/**
 * What the pool (./pool.ts) and its reader threads (./readerWorker.ts) say to
 * each other: one request per chunk of files, one reply per request, and the
 * shared progress slots the pool's per-file deadline reads.
 */
import type { Proxy } from '../pool/types';
import type { SessionFileInfo } from './read';

export type WorkerRequest = { id: number; op: 'read' | 'sig'; files: string[] };
export type WorkerReply =
  | { id: 0; ready: true }
  | { id: number; infos: SessionFileInfo[] }
  | { id: number; sigs: Array<string | null> }
  | { id: number; error: string };

export interface WorkerData {
  defaultProxy: Proxy | null;
  /** Int32Array over it: [PROGRESS_TICK] bumped before each file, [PROGRESS_ID] its request, [PROGRESS_INDEX] its index. */
  progress: SharedArrayBuffer;
  /**
   * Tests only: reading or stat'ing a file of this base name blocks the thread
   * for good, as a read on a hung network filesystem does (the pool's deadline
   * is what ends it).
   */
  stallOn?: string;
}

export const PROGRESS_TICK = 0;
export const PROGRESS_ID = 1;
export const PROGRESS_INDEX = 2;
export const PROGRESS_SLOTS = 3;

/** What a file whose read failed unexpectedly (a bug, a hostile file, the deadline) reads as: the batch goes on. */
export function failedRead(why: string): SessionFileInfo {
  return { meta: { proxy: null }, fileError: why };
}
