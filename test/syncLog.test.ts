/**
 * Problem files in the sessions volume through the real sync, the real
 * worker-thread reader and the service's log hooks (src/syncLog.ts): each
 * is logged once at warn, with a reason that never quotes the file, and
 * neither the log nor GET /sessions ever shows a secret the file holds.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import request from 'supertest';
import { createLogger } from '../src/log';
import { MemoryStore } from '../src/pool/memory';
import { createSessionFileReaderPool, type SessionFileReaderPool } from '../src/sessionfiles';
import { runSync } from '../src/sync';
import { syncLogHooks } from '../src/syncLog';
import { KEY, makeApp } from './helpers/app';
import { makeSessions } from '../support/sessions';

const SECRET = 'Hunter2-S3CRET-pass';

interface Line {
  level: string;
  msg: string;
  file?: string;
  why?: string;
}

describe('sync: problem files are logged once, without their content', () => {
  let dir: string;
  let outside: string;
  let pool: SessionFileReaderPool;
  let store: MemoryStore;
  let raw: string[];

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-synclog-'));
    outside = mkdtempSync(path.join(os.tmpdir(), 'telegate-synclog-outside-'));
    pool = createSessionFileReaderPool({ threads: 2, defaultProxy: null });
    store = new MemoryStore();
    raw = [];
  });
  afterEach(async () => {
    await pool.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('warns once per skipped name and per broken file; the secret is in no reason, log line or listing', async () => {
    makeSessions(
      dir,
      ['good', 'badjson', 'linkjson', 'fifojson'].map((name) => ({ name, kind: 'telethon' as const })),
    );
    writeFileSync(path.join(dir, 'badjson.json'), `{"twoFA": ${SECRET}}`);
    writeFileSync(path.join(outside, 'secret.json'), `{"twoFA": "${SECRET}"}`);
    symlinkSync(path.join(outside, 'secret.json'), path.join(dir, 'linkjson.json'));
    assert.equal(spawnSync('mkfifo', [path.join(dir, 'fifojson.json')]).status, 0, 'mkfifo');
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/latin1-caf`), Buffer.from([0xe9]), Buffer.from('.session')]), 'x');

    const logger = createLogger(
      'debug',
      new Writable({
        write(chunk: Buffer, _enc, done) {
          raw.push(chunk.toString());
          done();
        },
      }),
    );
    const hooks = syncLogHooks(logger, pool.read);
    const sync = () => runSync({ dir, store, maxRemoveFraction: 0.5, reader: hooks.reader, onSkip: hooks.onSkip });

    const first = await sync();
    assert.equal(first.new_sessions, 4, 'the non-UTF-8 name is not registered');
    await sync();

    const lines = raw.map((l) => JSON.parse(l) as Line);
    const warns = lines.filter((l) => l.level === 'warn').map((l) => `${l.file}: ${l.why}`);
    assert.deepEqual(warns.sort(), [
      'badjson.session: sidecar JSON: not valid JSON at line 1, column 11 (unexpected character)',
      'fifojson.session: sidecar fifojson.json: not a regular file (FIFO)',
      'latin1-caf\\xe9.session: name is not valid UTF-8',
      'linkjson.session: sidecar linkjson.json: is a symbolic link (not followed)',
    ]);
    assert.deepEqual(
      lines.filter((l) => l.level === 'debug').map((l) => l.file),
      ['latin1-caf\\xe9.session'],
      'the second sync reports the skipped name at debug only',
    );
    assert.equal(raw.join('').includes('Hunter2'), false, 'no secret in the log');

    const served = await makeApp('memory', {}, store);
    try {
      const res = await request(served.app).get('/sessions?limit=100').set('X-API-Key', KEY).expect(200);
      const body = JSON.stringify(res.body);
      assert.equal(body.includes('Hunter2'), false, 'no secret in GET /sessions');
      const states = (res.body as { sessions: Array<{ session_name: string; state: string }> }).sessions.map((s) => `${s.session_name}:${s.state}`);
      assert.deepEqual(states.sort(), ['badjson:invalidated', 'fifojson:invalidated', 'good:free', 'linkjson:invalidated']);
    } finally {
      served.pool.close(); // not served.close(): the store is closed by afterEach
    }
  });
});
