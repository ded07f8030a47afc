/** Figures of a step that a run left out: from the newest full run that recorded them (bench/results/<date>*.json, not --quick). */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './procs';
import type { Results } from './results';

export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

/** Files of bench/results whose name matches `re`, newest first (their names start with their date). */
export function resultFiles(re: RegExp): string[] {
  return existsSync(RESULTS_DIR) ? readdirSync(RESULTS_DIR).filter((x) => re.test(x)).sort().reverse() : [];
}

export function newestRecorded<T>(pick: (r: Results) => T | undefined): { r: Results; value: T; file: string } | undefined {
  for (const file of resultFiles(/^\d.*\.json$/).filter((x) => !x.includes('-quick'))) {
    const r = JSON.parse(readFileSync(path.join(RESULTS_DIR, file), 'utf8')) as Results;
    const value = pick(r);
    if (value !== undefined) return { r, value, file: `bench/results/${file}` };
  }
  return undefined;
}
