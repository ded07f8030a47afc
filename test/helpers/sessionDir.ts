/**
 * Sessions directories of real Telethon files for multi-process tests: one
 * file is generated (python3) and copied under any name, which is fast.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeBulk } from '../sessionfiles/fixtures';

let template: string | undefined;

/** Add `<name>.session` (a valid Telethon file) to `dir`. */
export function addSession(dir: string, name: string): void {
  if (!template) {
    const tdir = mkdtempSync(path.join(os.tmpdir(), 'telegate-template-'));
    makeBulk(tdir, 1);
    const file = readdirSync(tdir).find((f) => f.endsWith('.session'));
    assert.ok(file, 'fixture generator wrote a session file');
    template = path.join(tdir, file);
  }
  copyFileSync(template, path.join(dir, `${name}.session`));
}

/** A fresh temp directory with n session files acc000, acc001, … */
export function makeDir(n: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-cluster-'));
  for (let i = 0; i < n; i++) addSession(dir, `acc${String(i).padStart(3, '0')}`);
  return dir;
}
