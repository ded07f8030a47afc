/**
 * Sessions directories of real Telethon files for multi-process tests: one
 * file is generated (python3) and copied under any name with an auth key of
 * its own (one key is one account: copies with one key would be duplicates).
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { telethonCopier } from '../sessionfiles/fixtures';

let copy: ((dest: string) => void) | undefined;

/** Add `<name>.session` (a valid Telethon file, an account of its own) to `dir`. */
export function addSession(dir: string, name: string): void {
  copy ??= telethonCopier();
  copy(path.join(dir, `${name}.session`));
}

/** A fresh temp directory with n session files acc000, acc001, … */
export function makeDir(n: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-cluster-'));
  for (let i = 0; i < n; i++) addSession(dir, `acc${String(i).padStart(3, '0')}`);
  return dir;
}
