/**
 * How long readSessionFile takes per file, and the memory it needs.
 *
 *   npx tsx test/sessionfiles/bench.ts [files=1000] [concurrency=8]
 *
 * Generates the Telethon v7 files (40 entities each, ~24 KB) with
 * make_sessions.py into a temp dir, then reads them: sequentially (cold and
 * warm page cache runs), and with `concurrency` reads in flight; then parses
 * the bytes alone (better-sqlite3). Prints JSON. (A whole sync,
 * with the worker-thread reader and Redis: bench/sync.ts.)
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { readdirSync } from 'node:fs';
import { readSessionFile } from '../../src/sessionfiles';
import { parseSessionBytes } from '../../src/sessionfiles/sqlite';
import { makeBulk, tempDir } from '../../support/sessions';

const mb = (bytes: number): number => Math.round((bytes / 1048576) * 10) / 10;

async function timed(label: string, files: string[], concurrency: number, fn: (f: string) => Promise<unknown>) {
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < files.length) {
        const f = files[next++];
        if (f !== undefined) await fn(f);
      }
    }),
  );
  const ms = performance.now() - t0;
  return { label, files: files.length, concurrency, totalMs: Math.round(ms), perFileMs: Number((ms / files.length).toFixed(3)) };
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 1000);
  const concurrency = Number(process.argv[3] ?? 8);
  const { dir, cleanup } = tempDir('telegate-bench-');
  try {
    makeBulk(dir, n);
    const files = readdirSync(dir).map((f) => path.join(dir, f));
    const rssStart = process.memoryUsage().rss;
    const opts = { defaultProxy: null };
    let bad = 0;
    const read = async (f: string) => {
      if ((await readSessionFile(f, opts)).fileError !== undefined) bad++;
    };
    const results = [
      await timed('readSessionFile sequential (1st pass)', files, 1, read),
      await timed('readSessionFile sequential (2nd pass)', files, 1, read),
      await timed(`readSessionFile, ${concurrency} in flight`, files, concurrency, read),
      await timed('fs.readFile only, sequential', files, 1, (f) => readFile(f)),
    ];
    // Before the next step, which holds every file's bytes at once.
    const peakRssReadingMB = mb(process.resourceUsage().maxRSS * 1024);
    const bytes = await Promise.all(files.map((f) => readFile(f)));
    const t0 = performance.now();
    for (const b of bytes) parseSessionBytes(b);
    const parseMs = performance.now() - t0;
    results.push({
      label: 'parseSessionBytes only (bytes in memory)',
      files: n,
      concurrency: 1,
      totalMs: Math.round(parseMs),
      perFileMs: Number((parseMs / n).toFixed(3)),
    });
    console.log(
      JSON.stringify(
        {
          node: process.version,
          results,
          unusable: bad,
          rssAtStartMB: mb(rssStart),
          peakRssReadingMB,
          peakRssMB: mb(process.resourceUsage().maxRSS * 1024),
        },
        null,
        2,
      ),
    );
  } finally {
    cleanup();
  }
}

void main();
