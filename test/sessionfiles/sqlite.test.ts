/**
 * parseSessionBytes (src/sessionfiles/sqlite.ts, better-sqlite3 on a
 * read-only in-memory copy of the bytes) on every layout the generators
 * write, and on seeded random corruptions of real files: an answer or a short
 * reason every time, never an exception.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { parseSessionBytes } from '../../src/sessionfiles/sqlite';
import { BROKEN_SPECS, makeSessions, tempDir, type FixtureSpec } from '../../support/sessions';

const SPECS: FixtureSpec[] = [
  // Telethon v1, as the library writes it over the years
  { name: 'tl_self', kind: 'telethon', dc_id: 2, self_id: 777000123, entities: 5 },
  { name: 'tl_noself', kind: 'telethon', dc_id: 4, entities: 3 },
  { name: 'tl_v3', kind: 'telethon', version: 3, no_takeout: true, dc_id: 1 },
  { name: 'tl_ipv6', kind: 'telethon', dc_id: 5, server_address: '2001:b28:f23f:f005::a', self_id: 5 },
  { name: 'tl_host', kind: 'telethon', dc_id: 2, server_address: 'dc2.example.org' },
  { name: 'tl_wal', kind: 'telethon', dc_id: 3, wal: true, self_id: 42 },
  { name: 'tl_real_sql', kind: 'telethon', telethon_sql: true, self_id: 91, entities: 20 },
  { name: 'tl_migrated', kind: 'telethon', telethon_sql: true, migrated: true, self_id: 92 },
  { name: 'tl_rowid', kind: 'telethon', rowid: true, self_id: 93, entities: 30 },
  { name: 'tl_rowid_real_sql', kind: 'telethon', rowid: true, telethon_sql: true, migrated: true, self_id: 94 },
  { name: 'tl_big', kind: 'telethon', self_id: 8_000_000_001, entities: 3000, unicode_names: true },
  { name: 'tl_big_noself', kind: 'telethon', entities: 3000 },
  { name: 'tl_big_rowid', kind: 'telethon', rowid: true, self_id: 95, entities: 3000 },
  { name: 'tl_p1024', kind: 'telethon', page_size: 1024, self_id: 96, entities: 400 },
  { name: 'tl_p1024_rowid', kind: 'telethon', page_size: 1024, rowid: true, self_id: 97, entities: 400 },
  { name: 'tl_p65536', kind: 'telethon', page_size: 65536, self_id: 98, entities: 10 },
  { name: 'tl_autovacuum', kind: 'telethon', auto_vacuum: true, self_id: 99, entities: 500 },
  { name: 'tl_utf16', kind: 'telethon', encoding: 'UTF-16le', self_id: 100 },
  { name: 'tl_unicode_host', kind: 'telethon', server_address: 'дц2.пример.рф' },
  // Telethon v2
  { name: 'tl2_user', kind: 'telethon2', dcs: [[2, '149.154.167.51:443', 256], [4, '149.154.167.91:443', 256]], user: { id: 123456, dc: 4 } },
  { name: 'tl2_nouser', kind: 'telethon2', dcs: [[1, '149.154.175.53:443', 256]] },
  { name: 'tl2_shortkey', kind: 'telethon2', dcs: [[2, '149.154.167.51:443', 64]], user: { id: 7, dc: 2 } },
  // Pyrogram / Kurigram
  { name: 'py_v3', kind: 'pyrogram', version: 3, dc_id: 2, api_id: 611335, user_id: 5566778899 },
  { name: 'py_v2', kind: 'pyrogram', version: 2, dc_id: 5, user_id: 42 },
  { name: 'py_v3_bot', kind: 'pyrogram', version: 3, dc_id: 1, api_id: 94575, user_id: 7000000001, is_bot: true },
  { name: 'kg_v7', kind: 'pyrogram', version: 7, kurigram: true, dc_id: 4, api_id: 2496, user_id: 6000000000 },
  { name: 'py_v8', kind: 'pyrogram', version: 8, dc_id: 2, api_id: 1 },
  ...BROKEN_SPECS,
];

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fixtures that are usable session files: all but the broken ones, a short key and an unknown version. */
const UNUSABLE = new Set([...BROKEN_SPECS.map((s) => s.name), 'tl2_shortkey', 'py_v8']);
const USABLE = SPECS.map((s) => s.name).filter((n) => !UNUSABLE.has(n));

describe('sessionfiles: parseSessionBytes (a real SQLite)', () => {
  let dir: string;
  let cleanup: () => void;

  before(function () {
    this.timeout(60_000);
    ({ dir, cleanup } = tempDir());
    makeSessions(dir, SPECS);
  });
  after(() => cleanup());

  const bytesOf = (name: string): Buffer => readFileSync(path.join(dir, `${name}.session`));

  it('reads every layout (page sizes, WAL, UTF-16, rowid tables, auto-vacuum, migrated schemas)', () => {
    for (const name of USABLE) {
      const r = parseSessionBytes(bytesOf(name));
      assert.ok(r.ok, `${name}: ${r.ok ? '' : r.error}`);
      assert.equal(r.session.authKey.length, 256, name);
    }
    for (const name of SPECS.map((s) => s.name).filter((n) => !USABLE.includes(n))) assert.equal(parseSessionBytes(bytesOf(name)).ok, false, name);
  });

  it('finds the own user among thousands of entities (multi-level b-trees, negative ids, overflow pages)', () => {
    for (const [name, id] of [['tl_big', 8_000_000_001n], ['tl_big_rowid', 95n], ['tl_p1024', 96n], ['tl_p1024_rowid', 97n]] as const) {
      const r = parseSessionBytes(bytesOf(name));
      assert.ok(r.ok, name);
      assert.equal(r.session.userId, id, name);
    }
  });

  it('does not keep a view of the caller\'s buffer (the reader reuses it for the next file)', () => {
    const bytes = Buffer.from(bytesOf('tl_self'));
    const r = parseSessionBytes(bytes);
    assert.ok(r.ok);
    const key = Buffer.from(r.session.authKey).toString('hex');
    bytes.fill(0);
    assert.equal(Buffer.from(r.session.authKey).toString('hex'), key);
  });

  it('refuses a table with a generated column (a few bytes of schema could make a read allocate gigabytes)', () => {
    const db = new Database(':memory:');
    db.exec(`create table version (version integer primary key); insert into version values (7);
      create table sessions (dc_id integer primary key, server_address text, port integer, auth_key blob, takeout_id integer,
        pad blob generated always as (zeroblob(100000000)));
      insert into sessions (dc_id, server_address, port, auth_key) values (2, '149.154.167.51', 443, zeroblob(256));`);
    const bytes = db.serialize();
    db.close();
    assert.deepEqual(parseSessionBytes(bytes), { ok: false, error: 'unknown schema (generated column)' });
  });

  // More rounds or another seed: TELEGATE_FUZZ_ROUNDS=5000 TELEGATE_FUZZ_SEED=7
  it('answers randomly corrupted files with a result or a reason, never an exception', function () {
    this.timeout(600_000);
    const rounds = Number(process.env.TELEGATE_FUZZ_ROUNDS ?? 100);
    const next = rng(Number(process.env.TELEGATE_FUZZ_SEED ?? 20_240_611));
    let failed = 0;
    for (const name of ['tl_self', 'tl_rowid', 'tl_p1024', 'tl_big', 'tl_migrated', 'tl_autovacuum', 'tl2_user', 'py_v3', 'other']) {
      const good = bytesOf(name);
      for (let round = 0; round < rounds; round++) {
        const bad = Buffer.from(good);
        const flips = 1 + Math.floor(next() * 4);
        // Mostly in the first pages, where the schema and the session row live.
        const span = next() < 0.7 ? Math.min(bad.length, 3 * bad.readUInt16BE(16) || 65536) : bad.length;
        for (let i = 0; i < flips; i++) bad[Math.floor(next() * span)] = Math.floor(next() * 256);
        let r;
        try {
          r = parseSessionBytes(bad);
        } catch (err) {
          const file = path.join(dir, `threw-${name}-${round}.bin`);
          writeFileSync(file, bad);
          assert.fail(`${name} round ${round} threw ${String(err)} (bytes in ${file})`);
        }
        if (!r.ok) {
          failed++;
          assert.match(r.error, /\S/);
        }
      }
    }
    assert.ok(failed > 0, 'no corruption was noticed: the flips missed the files');
  });
});
