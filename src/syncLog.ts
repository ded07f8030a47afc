/**
 * How sync's problem files reach the log, each once rather than at every sync:
 *
 * - a file skipped for its name (control characters, not UTF-8, ...) is
 *   listed again at every sync: warn the first time this process sees it,
 *   debug afterwards;
 * - a broken session file (file_error) is read only when it is new or has
 *   changed (sync compares signatures), so it is logged at warn, with its
 *   reason, when it is read: once per version of the file.
 *
 * Reasons never hold file content (sessionfiles/), so they are safe to log.
 */
import path from 'node:path';
import type { Logger } from './log';
import type { SessionFileInfo } from './sessionfiles/read';
import type { SessionFileReader } from './sync';

/** Skipped names remembered per process; past this many the memory starts again (a few warnings repeat). */
const REMEMBERED_SKIPS = 10_000;

export interface SyncLogHooks {
  onSkip: (name: string, why: string) => void;
  /** The reader, logging the broken files it reads. */
  reader?: SessionFileReader;
}

export function syncLogHooks(logger: Logger, reader: SessionFileReader | undefined): SyncLogHooks {
  const skipped = new Set<string>();
  const onSkip = (name: string, why: string): void => {
    const key = `${name}\u0000${why}`;
    if (skipped.has(key)) {
      logger.debug({ file: name, why }, 'session file skipped (again)');
      return;
    }
    if (skipped.size >= REMEMBERED_SKIPS) skipped.clear();
    skipped.add(key);
    logger.warn({ file: name, why }, 'session file skipped');
  };
  if (reader === undefined) return { onSkip };

  const report = (file: string, info: SessionFileInfo | undefined): void => {
    if (info?.fileError !== undefined) logger.warn({ file: path.basename(file), why: info.fileError }, 'session file is broken: kept out of circulation until it changes');
  };
  const read = async (file: string): Promise<SessionFileInfo> => {
    const info = await reader(file);
    report(file, info);
    return info;
  };
  const readMany = reader.readMany;
  const logged: SessionFileReader = Object.assign(read, {
    ...(readMany === undefined
      ? {}
      : {
          readMany: async (files: readonly string[]): Promise<SessionFileInfo[]> => {
            const infos = await readMany(files);
            infos.forEach((info, i) => report(files[i]!, info));
            return infos;
          },
        }),
    ...(reader.signatures === undefined ? {} : { signatures: reader.signatures }),
  });
  return { onSkip, reader: logged };
}
