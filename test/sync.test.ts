/**
 * Sync with the real session-file reader, on the memory store: what is
 * registered, what is skipped, what is re-read, and how file problems and
 * sidecar proxies reach the pool.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MemoryStore } from '../src/pool/memory';
import { RedisStore, createRedis } from '../src/pool/redis';
import { createSessionFileReaderPool, fileSignature, readSessionFile, type SessionFileReaderPool } from '../src/sessionfiles';
import { runSync, type SessionFileReader, type SyncOptions } from '../src/sync';
import { sharedRedisUrl } from './helpers/global';
import { makeSessions } from '../support/sessions';

const DEFAULT_PROXY = { type: 'socks5', host: 'default.proxy', port: 1080 };

for (const mode of ['main thread', 'worker pool'] as const) describe(`sync with the session-file reader (${mode})`, () => {
  let dir: string;
  let outside: string;
  let store: MemoryStore;
  let reads: string[];
  const skipped: string[] = [];
  let pool: SessionFileReaderPool | undefined;

  /** The reader under test, recording which files it reads. */
  const reader = (): SessionFileReader => {
    if (mode === 'main thread') {
      return (file) => {
        reads.push(path.basename(file));
        return readSessionFile(file, { defaultProxy: DEFAULT_PROXY });
      };
    }
    pool ??= createSessionFileReaderPool({ threads: 2, defaultProxy: DEFAULT_PROXY });
    const inner = pool.read;
    return Object.assign((file: string) => inner(file), {
      readMany: (files: readonly string[]) => {
        reads.push(...files.map((f) => path.basename(f)));
        return inner.readMany!(files);
      },
      signatures: inner.signatures,
    });
  };

  const sync = (extra: Partial<SyncOptions> = {}) =>
    runSync({
      dir,
      store,
      maxRemoveFraction: 0.5,
      reader: reader(),
      onSkip: (name, why) => skipped.push(`${name}: ${why}`),
      ...extra,
    });

  after(async () => {
    await pool?.close();
    pool = undefined;
  });

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-sync-'));
    outside = mkdtempSync(path.join(os.tmpdir(), 'telegate-outside-'));
    store = new MemoryStore();
    reads = [];
    skipped.length = 0;
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(outside, { recursive: true, force: true });
  });

  it('registers only regular *.session files directly in the directory', async () => {
    makeSessions(dir, [
      { name: 'good', kind: 'telethon' },
      { name: '.hidden', kind: 'telethon' },
    ]);
    makeSessions(outside, [{ name: 'elsewhere', kind: 'telethon' }]);
    symlinkSync(path.join(outside, 'elsewhere.session'), path.join(dir, 'link.session'));
    mkdirSync(path.join(dir, 'sub.session'));
    mkdirSync(path.join(dir, 'nested'));
    makeSessions(path.join(dir, 'nested'), [{ name: 'deep', kind: 'telethon' }]);
    writeFileSync(path.join(dir, 'good.session-journal'), 'x');
    writeFileSync(path.join(dir, 'good.session-wal'), 'x');
    writeFileSync(path.join(dir, 'notes.txt'), 'x');
    writeFileSync(path.join(dir, 'bad\u0007name.session'), 'x');
    const r = await sync();
    assert.equal(r.new_sessions, 1);
    const names: string[] = [];
    for await (const page of store.scanNames()) names.push(...page.map(([n]) => n));
    assert.deepEqual(names, ['good']);
    assert.equal(skipped.length, 1);
    assert.match(skipped[0]!, /control characters/);
  });

  it('carries format, dc, user and the sidecar proxy into the pool; broken files stay out of circulation', async () => {
    makeSessions(dir, [
      { name: 'tele', kind: 'telethon', dc_id: 4, self_id: 777 },
      { name: 'pyro', kind: 'pyrogram', dc_id: 2, user_id: 555, sidecar: { proxy: ['socks5', '10.1.2.3', 1081, true, 'u', 'p'], twoFA: 'secret' } },
      { name: 'short', kind: 'telethon', key_len: 128 },
      { name: 'badjson', kind: 'telethon', sidecar_text: '{not json' },
    ]);
    writeFileSync(path.join(dir, 'empty.session'), '');
    await sync();
    const byName = new Map((await store.list({ limit: 100 })).sessions.map((s) => [s.name, s]));
    assert.deepEqual([byName.get('tele')?.meta.format, byName.get('tele')?.meta.dcId, byName.get('tele')?.meta.userId], ['telethon', 4, 777]);
    assert.equal(byName.get('tele')?.meta.proxy?.host, 'default.proxy');
    const pyro = byName.get('pyro');
    assert.deepEqual([pyro?.meta.format, pyro?.meta.userId, pyro?.meta.proxy?.host, pyro?.meta.proxy?.port], ['pyrogram', 555, '10.1.2.3', 1081]);
    assert.equal(JSON.stringify(pyro?.meta.account ?? {}).includes('secret'), false, 'twoFA stripped');
    for (const bad of ['short', 'badjson', 'empty']) {
      assert.equal(byName.get(bad)?.state, 'invalidated', bad);
      assert.match(byName.get(bad)?.reason ?? '', /^file_error: /, bad);
    }
    const r = await store.acquire(60_000);
    assert.ok(r.ok);
    assert.ok(['tele', 'pyro'].includes(r.session.name));
  });

  it('re-reads only new or changed files, and a repaired file comes back into circulation', async () => {
    makeSessions(dir, [{ name: 'a', kind: 'telethon' }, { name: 'b', kind: 'telethon' }]);
    writeFileSync(path.join(dir, 'c.session'), 'garbage');
    await sync();
    assert.deepEqual(reads.sort(), ['a.session', 'b.session', 'c.session']);
    reads = [];
    const again = await sync();
    assert.deepEqual(reads, [], 'an unchanged directory re-reads nothing');
    assert.deepEqual([again.new_sessions, again.removed_sessions, again.updated_sessions], [0, 0, 0]);
    rmSync(path.join(dir, 'c.session'));
    makeSessions(dir, [{ name: 'c', kind: 'telethon' }]);
    const t = new Date(Date.now() + 5000);
    utimesSync(path.join(dir, 'c.session'), t, t);
    const fixed = await sync();
    assert.deepEqual(reads, ['c.session']);
    assert.equal(fixed.updated_sessions, 1);
    const c = (await store.list({ limit: 10 })).sessions.find((s) => s.name === 'c');
    assert.deepEqual([c?.state, c?.reason], ['free', null]);
  });

  it('a change to the sidecar alone (tags) is read at the next sync; an unchanged pair is not re-read', async () => {
    makeSessions(dir, [{ name: 'a', kind: 'telethon' }]);
    const sidecar = path.join(dir, 'a.json');
    writeFileSync(sidecar, JSON.stringify({ tags: ['ru'] }));
    await sync();
    const tagsOf = async () => (await store.list({ limit: 10 })).sessions.find((s) => s.name === 'a')?.meta.tags;
    assert.deepEqual(await tagsOf(), ['ru']);
    reads = [];
    await sync();
    assert.deepEqual(reads, [], 'nothing changed: nothing re-read');
    writeFileSync(sidecar, JSON.stringify({ tags: ['premium', 'ru'] }));
    const t = new Date(Date.now() + 5000);
    utimesSync(sidecar, t, t);
    await sync();
    assert.deepEqual(reads, ['a.session'], 'the .session file is untouched, its sidecar changed');
    assert.deepEqual(await tagsOf(), ['premium', 'ru']);
  });

  it('stores session strings only when they are exposed', async () => {
    makeSessions(dir, [{ name: 'acct', kind: 'telethon' }]);
    await sync();
    const hidden = (await store.list({ limit: 10 })).sessions[0];
    assert.equal(hidden?.meta.format, 'telethon');
    assert.equal(hidden?.meta.sessionString, undefined, 'not stored by default');
    assert.equal(hidden?.meta.sessionKey, undefined, 'nor the session key');
    // Turning exposure on re-reads the (unchanged) file once, and stores the string.
    const on = await sync({ keepSessionString: true });
    assert.equal(on.updated_sessions, 1);
    const shown = (await store.list({ limit: 10 })).sessions[0];
    assert.match(shown?.meta.sessionString ?? '', /^1[A-Za-z0-9_-]+=*$/);
    assert.equal(shown?.meta.sessionKey?.dcId, 2, 'and the key the other formats are made from');
    assert.equal((await sync({ keepSessionString: true })).updated_sessions, 0, 'and only once');
  });

  it('re-reads once a file stored with its string but no session key (an older version)', async () => {
    makeSessions(dir, [{ name: 'acct', kind: 'telethon' }]);
    await sync({ keepSessionString: true });
    const stored = (await store.list({ limit: 10 })).sessions[0]!;
    const { sessionKey: _k, ...old } = stored.meta;
    const sig = fileSignature(statSync(path.join(dir, 'acct.session')));
    await store.applySync({ upserts: [{ name: 'acct', meta: old, sig: `${sig}+s` }], removes: [] });
    assert.equal((await sync({ keepSessionString: true })).updated_sessions, 1);
    assert.equal((await store.list({ limit: 10 })).sessions[0]?.meta.sessionKey?.dcId, 2);
  });

  describe('one account, one session (A2)', () => {
    const session = (name: string) => path.join(dir, `${name}.session`);
    async function byName(name: string) {
      const s = (await store.list({ limit: 100 })).sessions.find((x) => x.name === name);
      assert.ok(s, `${name} is listed`);
      return s;
    }

    it('a copied file is a duplicate, re-read at every sync, and takes over when the original goes', async () => {
      makeSessions(dir, [{ name: 'x', kind: 'telethon' }]);
      await sync();
      copyFileSync(session('x'), session('x copy'));
      assert.equal((await sync()).new_sessions, 1);
      const dup = await byName('x copy');
      assert.deepEqual([dup.state, dup.reason], ['invalidated', 'file_error: same auth key as x']);
      reads = [];
      await sync();
      assert.deepEqual(reads, ['x copy.session'], 'the duplicate, and only it, is re-read');
      const x = await store.acquire(60_000);
      assert.ok(x.ok && x.session.name === 'x');
      assert.equal((await store.acquire(60_000)).ok, false, 'the copy is never issued');
      await store.release(x.session.id, x.session.leaseToken);
      rmSync(session('x'));
      assert.deepEqual(await sync(), { new_sessions: 0, removed_sessions: 1, updated_sessions: 1, total_sessions: 1 });
      assert.deepEqual([(await byName('x copy')).state, (await byName('x copy')).reason], ['free', null]);
    });

    it('a renamed file nobody holds is the same account under its new name within one sync', async () => {
      makeSessions(dir, [{ name: 's000000', kind: 'telethon' }, { name: 'other', kind: 'telethon' }]);
      await sync();
      renameSync(session('s000000'), session('renamed'));
      assert.deepEqual(await sync(), { new_sessions: 1, removed_sessions: 1, updated_sessions: 0, total_sessions: 2 });
      assert.equal((await byName('renamed')).state, 'free');
    });

    it('a pool stored before fingerprints re-reads every file once; a key already in the pool stays with its session', async () => {
      makeSessions(dir, [{ name: 'b', kind: 'telethon' }]);
      // What an older version stored: a bare signature, no fingerprint.
      await store.applySync({ upserts: [{ name: 'b', meta: { proxy: null }, sig: fileSignature(statSync(session('b'))) }], removes: [] });
      const b = await store.acquire(60_000);
      assert.ok(b.ok);
      copyFileSync(session('b'), session('a')); // a new name sorting first, with b's key
      assert.deepEqual(await sync(), { new_sessions: 1, removed_sessions: 0, updated_sessions: 1, total_sessions: 2 });
      assert.deepEqual([(await byName('a')).reason, (await byName('b')).state], ['file_error: same auth key as b', 'in_use']);
      assert.equal((await store.acquire(60_000)).ok, false, 'zero double issue');
      reads = [];
      await sync();
      assert.deepEqual(reads, ['a.session'], 'b was re-read once');
    });
  });

  it('reads many files with bounded concurrency and registers all of them', async () => {
    const specs = Array.from({ length: 40 }, (_, i) => ({ name: `n${i}`, kind: 'telethon' as const }));
    makeSessions(dir, specs);
    const r = await sync();
    assert.equal(r.new_sessions, 40);
    assert.equal((await store.status()).free, 40);
  });

  it('completes past FIFOs and skips a name that is not UTF-8 (reported, never registered mangled)', async () => {
    makeSessions(dir, [{ name: 'good', kind: 'telethon' }, { name: 'fifojson', kind: 'telethon' }]);
    for (const fifo of ['fifo.session', 'fifojson.json']) assert.equal(spawnSync('mkfifo', [path.join(dir, fifo)]).status, 0, `mkfifo ${fifo}`);
    writeFileSync(Buffer.concat([Buffer.from(`${dir}/caf`), Buffer.from([0xe9]), Buffer.from('.session')]), 'x');
    const r = await sync();
    assert.equal(r.new_sessions, 2);
    const byName = new Map((await store.list({ limit: 10 })).sessions.map((s) => [s.name, s]));
    assert.deepEqual([...byName.keys()].sort(), ['fifojson', 'good']);
    assert.equal(byName.get('fifojson')?.reason, 'file_error: sidecar fifojson.json: not a regular file (FIFO)');
    assert.deepEqual(skipped, ['caf\\xe9.session: name is not valid UTF-8']);
    reads = [];
    assert.equal((await sync()).updated_sessions, 0, 'nothing is re-read at the next sync');
    assert.deepEqual(reads, []);
  });
});

describe('sync: two at once on Redis end in the same state as one', () => {
  it('a fenced (cron) and an unfenced (manual) sync racing on one pool', async () => {
    const redis = createRedis(sharedRedisUrl());
    redis.on('error', () => undefined);
    await once(redis, 'ready');
    await redis.flushdb();
    const store = new RedisStore(redis, 'race');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'telegate-race-'));
    try {
      makeSessions(dir, Array.from({ length: 120 }, (_, i) => ({ name: `r${i}`, kind: 'telethon' as const })));
      await redis.set(store.keys.fence, '7');
      const reader = (file: string) => readSessionFile(file, { defaultProxy: null });
      const opts = { dir, store, reader, maxRemoveFraction: 0.5 };
      const [a, b] = await Promise.all([runSync({ ...opts, fence: 7 }), runSync(opts)]);
      assert.equal(a.new_sessions + b.new_sessions, 120, 'each file registered exactly once');
      assert.equal(await redis.hlen(store.keys.ids), 120);
      const st = await store.status();
      assert.deepEqual([st.total, st.free], [120, 120]);
      // Removing files while both run again: still one consistent end state.
      for (let i = 0; i < 30; i++) rmSync(path.join(dir, `r${i}.session`));
      const [c, d] = await Promise.all([runSync({ ...opts, fence: 7 }), runSync(opts)]);
      assert.equal(c.removed_sessions + d.removed_sessions, 30);
      assert.equal((await store.status()).total, 90);
      assert.equal(await redis.hlen(store.keys.ids), 90);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
