/**
 * What the pool (./pool.ts) hands its reader threads (./readerWorker.ts):
 * one task per chunk of files, one answer per file in order, and the shared
 * progress slots of the task that the pool's per-file deadline reads.
 */
import type { Proxy } from '../pool/types';
import type { SessionFileInfo } from './read';

export type ReaderTask = {
  op: 'read' | 'sig';
  files: string[];
  /** Int32Array over it: [PROGRESS_TICK] bumped before each file, [PROGRESS_INDEX] that file's index (files.length once done). */
  progress: SharedArrayBuffer;
};
export type ReaderAnswer = { infos: SessionFileInfo[] } | { sigs: Array<string | null> };

export interface WorkerData {
  defaultProxy: Proxy | null;
  /**
   * Tests only: reading or stat'ing a file of this base name blocks the thread
   * for good, as a read on a hung network filesystem does (the pool's deadline
   * is what ends it).
   */
  stallOn?: string;
  /** Tests only: reading or stat'ing a file of this base name ends the thread, as a crash does. */
  exitOn?: string;
  /** Tests only: the thread fails while loading, as one whose modules cannot load does. */
  failLoad?: boolean;
}

/** What a thread posts (besides answers) once its modules are loaded: it can read. */
export const LOADED = 'session-file reader loaded';

export const PROGRESS_TICK = 0;
export const PROGRESS_INDEX = 1;
export const PROGRESS_SLOTS = 2;

/** What a file whose read failed unexpectedly (a bug, a hostile file, the deadline) reads as: the batch goes on. */
export function failedRead(why: string): SessionFileInfo {
  return { meta: { proxy: null }, fileError: why };
}
