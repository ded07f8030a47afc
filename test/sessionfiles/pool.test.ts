/**
 * createSessionFileReaderPool: worker threads give exactly what
 * readSessionFile gives on the main thread, in order, and the signatures
 * sync compares.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Proxy } from '../../src/pool/types';
import { PROGRESS_INDEX, PROGRESS_SLOTS } from '../../src/sessionfiles/protocol';
import { createSessionFileReaderPool, fileSignature, readSessionFile, type SessionFileReaderPool } from '../../src/sessionfiles';
import { makeSessions, tempDir, type FixtureSpec } from '../../support/sessions';

const DEFAULT_PROXY: Proxy = { type: 'socks5', host: '10.0.0.9', port: 1080 };

const SPECS: FixtureSpec[] = [
  { name: 'tl', kind: 'telethon', self_id: 777, entities: 50 },
  { name: 'tl2', kind: 'telethon2', dcs: [[2, '149.154.167.51:443', 256]], user: { id: 7, dc: 2 } },
  { name: 'py', kind: 'pyrogram', api_id: 5, user_id: 9, sidecar: { proxy: ['socks5', '10.1.2.3', 1081, true, 'u', 'p'], twoFA: 'x' } },
  { name: 'short', kind: 'telethon', key_len: 128 },
  { name: 'badjson', kind: 'telethon', sidecar_text: '{not json' },
  { name: 'other', kind: 'other' },
];

describe('sessionfiles: createSessionFileReaderPool', () => {
  let dir: string;
  let cleanup: () => void;
  let pool: SessionFileReaderPool;
  let files: string[];

  before(() => {
    ({ dir, cleanup } = tempDir());
    makeSessions(dir, SPECS);
    writeFileSync(path.join(dir, 'empty.session'), '');
    writeFileSync(path.join(dir, 'text.session'), 'not a database\n'.repeat(20));
    mkdirSync(path.join(dir, 'dir.session'));
    files = [...SPECS.map((s) => s.name), 'empty', 'text', 'dir', 'missing'].map((n) => path.join(dir, `${n}.session`));
    pool = createSessionFileReaderPool({ threads: 2, defaultProxy: DEFAULT_PROXY });
  });
  after(async () => {
    await pool.close();
    cleanup();
  });

  it('reads each file as readSessionFile does, in order, one at a time or many at once', async () => {
    const expected = await Promise.all(files.map((f) => readSessionFile(f, { defaultProxy: DEFAULT_PROXY })));
    // Many at once, more than one chunk per thread, repeated so both threads get each file.
    const many = [...files, ...files, ...files, ...files];
    assert.deepEqual(await pool.read.readMany!(many), [...expected, ...expected, ...expected, ...expected]);
    for (const [i, f] of files.entries()) assert.deepEqual(await pool.read(f), expected[i], f);
    assert.equal(pool.threads, 2);
  });

  it('gives the signatures sync compares (null when a file cannot be stat’ed)', async () => {
    const sigs = await pool.read.signatures!(files);
    assert.deepEqual(
      sigs,
      files.map((f) => {
        if (f.endsWith('missing.session')) return null;
        // The sidecar's size and mtime join the .session file's when there is one.
        const sidecar = f.replace(/\.session$/, '.json');
        const own = fileSignature(statSync(f));
        return existsSync(sidecar) ? `${own}~${fileSignature(lstatSync(sidecar))}` : own;
      }),
    );
  });

  it('fails reads once closed', async () => {
    const other = createSessionFileReaderPool({ threads: 1, defaultProxy: null });
    assert.equal((await other.read(files[0]!)).fileError, undefined);
    await other.close();
    await other.close();
    await assert.rejects(other.read(files[0]!), /closed/);
  });

  it('a thread that dies fails only the chunk it had, and is replaced', async () => {
    writeFileSync(path.join(dir, 'die.session'), '');
    // One thread: what reads after each death is its replacement.
    const dying = createSessionFileReaderPool({ threads: 1, defaultProxy: DEFAULT_PROXY, exitOn: 'die.session' });
    try {
      const expected = await readSessionFile(files[0]!, { defaultProxy: DEFAULT_PROXY });
      const fine = Array.from({ length: 40 }, () => files[0]!);
      for (let round = 0; round < 3; round++) {
        // The dying chunk and 3 good ones queued behind it.
        const [died, good] = await Promise.allSettled([dying.read.readMany!([files[0]!, path.join(dir, 'die.session')]), dying.read.readMany!(fine)]);
        assert.equal(died.status, 'rejected');
        assert.match(String(died.reason), /^Error: session-file reader thread: .*exited/);
        assert.deepEqual(good, { status: 'fulfilled', value: fine.map(() => expected) }, `round ${round}`);
      }
    } finally {
      await dying.close();
    }
  });

  it('threads that cannot load fail every read at once, never leave one waiting', async () => {
    const broken = createSessionFileReaderPool({ threads: 2, defaultProxy: null, failLoad: true });
    try {
      // More chunks than threads: most are still queued when the threads fail.
      const many = Array.from({ length: 200 }, () => files[0]!);
      for (let round = 0; round < 3; round++) {
        await assert.rejects(broken.read.readMany!(many), /^Error: session-file reader thread: /, `round ${round}`);
      }
    } finally {
      await broken.close();
    }
  });

  it('a file whose thread finishes just as the deadline fires never adds an answer: one per file, in order', async () => {
    writeFileSync(path.join(dir, 'stall.session'), '');
    const stall = path.join(dir, 'stall.session');
    // The race, made certain: the thread moves on (here: finishes the chunk) between the
    // watchdog's "is it done?" and "which file is it on?". Simulated by answering the
    // second of two back-to-back reads of a task's file index with "done" (once); the
    // worker threads have their own Atomics, untouched.
    const realLoad = Atomics.load;
    const lastWasIndex = new WeakMap<object, boolean>();
    let fired = false;
    const racyLoad = (arr: Int32Array, i: number): number => {
      const v = realLoad(arr, i);
      if (!(arr instanceof Int32Array) || arr.length !== PROGRESS_SLOTS || !(arr.buffer instanceof SharedArrayBuffer)) return v;
      const again = i === PROGRESS_INDEX && lastWasIndex.get(arr) === true;
      lastWasIndex.set(arr, i === PROGRESS_INDEX);
      if (again && !fired) {
        fired = true;
        return 1; // the chunk's one file is done
      }
      return v;
    };
    Atomics.load = racyLoad as typeof Atomics.load;
    const racing = createSessionFileReaderPool({ threads: 1, defaultProxy: null, readTimeoutMs: 200, stallOn: 'stall.session' });
    try {
      const infos = await racing.read.readMany!([stall]);
      assert.equal(infos.length, 1, 'one answer per file');
      assert.match(infos[0]?.fileError ?? '', /read timed out/);
    } finally {
      Atomics.load = realLoad;
      await racing.close();
    }
  });

  it('refuses a thread count that is not a positive integer', () => {
    assert.throws(() => createSessionFileReaderPool({ threads: 0, defaultProxy: null }), RangeError);
  });
});
