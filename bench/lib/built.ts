/**
 * The service's own code, loaded from the build the benchmark runs (dist/ or
 * --dist), not from src/: seeding and reading session files use exactly the
 * code under test, and work in progress in src/ cannot break a run. Types
 * come from src/ (type-only imports, erased at run time).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as KeysModule from '../../src/pool/keys';
import type * as RedisModule from '../../src/pool/redis';
import type * as SessionFilesModule from '../../src/sessionfiles';
import type * as SyncModule from '../../src/sync';
import { ROOT } from './procs';

let distDir = path.join(ROOT, 'dist');
const load = createRequire(__filename);

/** Use another build (bench/run.ts --dist). */
export function useDist(dir: string): void {
  distDir = dir;
}

export function builtDir(): string {
  return distDir;
}

export const built = {
  redis: (): typeof RedisModule => load(path.join(distDir, 'pool', 'redis.js')) as typeof RedisModule,
  keys: (): typeof KeysModule => load(path.join(distDir, 'pool', 'keys.js')) as typeof KeysModule,
  sync: (): typeof SyncModule => load(path.join(distDir, 'sync.js')) as typeof SyncModule,
  sessionfiles: (): typeof SessionFilesModule => load(path.join(distDir, 'sessionfiles', 'index.js')) as typeof SessionFilesModule,
};
