/**
 * Hostile or broken files in the sessions volume (issue 10 items 7 and 8),
 * read through the real worker-thread pool and the main-thread reader: FIFOs,
 * symlinks (to /dev/zero, to a file holding a secret), 1 GB sparse files,
 * sidecars whose broken JSON holds a secret or nests past any stack, and a
 * file the reader stalls on. Each must end in a short file_error that says
 * what is wrong, in bounded time and memory, and never quotes the file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createSessionFileReaderPool, readSessionFile, type SessionFileInfo, type SessionFileReaderPool } from '../../src/sessionfiles';
import { MAX_SESSION_FILE_BYTES, MAX_SIDECAR_BYTES } from '../../src/sessionfiles/safeRead';
import { makeSessions, tempDir } from '../../support/sessions';

const SECRET = 'Hunter2-S3CRET-pass';
const GIB = 1024 * 1024 * 1024;

function mkfifo(file: string): void {
  const r = spawnSync('mkfifo', [file]);
  if (r.status !== 0) throw new Error(`mkfifo ${file} failed: ${r.error?.message ?? r.stderr.toString()}`);
}

describe('sessionfiles: hostile files', () => {
  let dir: string;
  let cleanup: () => void;
  let pool: SessionFileReaderPool;
  const file = (name: string): string => path.join(dir, `${name}.session`);

  before(() => {
    ({ dir, cleanup } = tempDir());
    const names = ['fifojson', 'zerojson', 'sparsejson', 'linkjson', 'badjson', 'deepjson', 'ok', 'stall'];
    makeSessions(
      dir,
      names.map((name) => ({ name, kind: 'telethon' as const })),
    );
    mkfifo(path.join(dir, 'fifojson.json'));
    mkfifo(file('fifo'));
    symlinkSync('/dev/zero', path.join(dir, 'zerojson.json'));
    writeFileSync(path.join(dir, 'secret.txt'), `${SECRET}\n`);
    symlinkSync(path.join(dir, 'secret.txt'), path.join(dir, 'linkjson.json'));
    writeFileSync(path.join(dir, 'badjson.json'), `{\n  "phone": "15550001111",\n  "twoFA": ${SECRET}\n}\n`);
    writeFileSync(path.join(dir, 'deepjson.json'), `{"a":${'['.repeat(50_000)}${']'.repeat(50_000)}}`);
    // Sparse: a size of 1 GB, no disk blocks.
    writeFileSync(path.join(dir, 'sparsejson.json'), '');
    truncateSync(path.join(dir, 'sparsejson.json'), GIB);
    writeFileSync(file('sparse'), '');
    truncateSync(file('sparse'), GIB);
    pool = createSessionFileReaderPool({ threads: 2, defaultProxy: null, readTimeoutMs: 1000, stallOn: 'stall.session' });
  });
  after(async () => {
    await pool.close();
    cleanup();
  });

  /** Every reason below is checked on both readers; neither may quote a file. */
  const readers: Array<[string, (f: string) => Promise<SessionFileInfo>]> = [
    ['worker pool', (f) => pool.read(f)],
    ['main thread', (f) => readSessionFile(f, { defaultProxy: null })],
  ];

  const expectations: Array<[string, RegExp, string]> = [
    ['fifojson', /^sidecar fifojson\.json: not a regular file \(FIFO\)$/, 'a FIFO sidecar never blocks the read'],
    ['fifo', /^not a regular file \(FIFO\)$/, 'a FIFO session file never blocks the read'],
    ['zerojson', /^sidecar zerojson\.json: is a symbolic link \(not followed\)$/, 'a sidecar symlinked to /dev/zero is not followed'],
    ['linkjson', /^sidecar linkjson\.json: is a symbolic link \(not followed\)$/, 'a sidecar symlinked to a secret is not followed'],
    ['sparsejson', new RegExp(`^sidecar sparsejson\\.json: file is ${GIB} bytes, more than the ${MAX_SIDECAR_BYTES}-byte limit$`), 'size checked before reading'],
    ['sparse', new RegExp(`^file is ${GIB} bytes, more than the ${MAX_SESSION_FILE_BYTES}-byte limit$`), 'size checked before reading'],
    ['badjson', /^sidecar JSON: not valid JSON at line 3, column 12 \(unexpected character\)$/, 'where, not what'],
    ['deepjson', /^sidecar JSON: nested deeper than 64 levels$/, 'no stack overflow, no failed batch'],
  ];

  for (const [readerName, read] of readers) {
    it(`${readerName}: each hostile file reads as a file_error saying what is wrong, without its content`, async () => {
      const rssBefore = process.memoryUsage().rss;
      for (const [name, reason, why] of expectations) {
        const info = await read(file(name));
        assert.match(info.fileError ?? '', reason, `${name}: ${why}`);
        assert.equal(JSON.stringify(info).includes('Hunter2'), false, `${name}: no content in the result`);
      }
      // Reading the 1 GB files or /dev/zero would have cost a gigabyte or more.
      const grownMb = (process.memoryUsage().rss - rssBefore) / 1024 / 1024;
      assert.ok(grownMb < 200, `RSS grew ${grownMb.toFixed(0)} MB`);
      assert.equal((await read(file('ok'))).fileError, undefined, 'a good file still reads');
    });
  }

  it('worker pool: a file the reader is stuck on times out, its thread is replaced, and the rest of the batch is read', async () => {
    const batch = ['ok', 'badjson', 'stall', 'ok', 'fifojson', 'ok'].map(file);
    const infos = await pool.read.readMany!(batch);
    assert.deepEqual(
      infos.map((i) => i.fileError?.replace(/ \(.*$/, '') ?? 'ok'),
      ['ok', 'sidecar JSON: not valid JSON at line 3, column 12', 'read timed out', 'ok', 'sidecar fifojson.json: not a regular file', 'ok'],
    );
    assert.match(infos[2]!.fileError!, /^read timed out \(over 1 s\)$/);
    const sigs = await pool.read.signatures!([file('ok'), file('stall'), file('ok')]);
    assert.deepEqual(
      sigs.map((s) => s === null),
      [false, true, false],
      'a stat stuck past the deadline reads as "changed" (null)',
    );
    // The replacement threads serve the next sync.
    assert.equal((await pool.read(file('ok'))).fileError, undefined);
  });
});
