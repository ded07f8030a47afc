/**
 * The fast SQLite reader (src/sessionfiles/btree.ts) must answer exactly as
 * sql.js does, or decline (then sql.js reads the file). Every fixture is
 * parsed both ways; the common layouts must take the fast path; and seeded
 * random corruptions of real files never make the two disagree.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SqlJsStatic } from 'sql.js';
import { loadSqlJs, parseSessionBytes, parseSessionBytesFast } from '../../src/sessionfiles/sqlite';
import { makeSessions, tempDir, type FixtureSpec } from './fixtures';

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
  // Not usable
  { name: 'other', kind: 'other' },
  { name: 'tl_norow', kind: 'telethon', no_row: true },
  { name: 'py_norow', kind: 'pyrogram', no_row: true },
  { name: 'tl_key128', kind: 'telethon', key_len: 128 },
  { name: 'tl_keynull', kind: 'telethon', key_len: null },
  { name: 'tl_keyempty', kind: 'telethon', key_len: 0 },
  { name: 'tl_v9', kind: 'telethon', version: 9 },
];

/**
 * Layouts the fast path must take (else syncs are slow for no reason): every
 * Telethon one. Pyrogram's schema (DEFAULT expressions, indexes, a trigger)
 * is beyond it: those files are read by sql.js.
 */
const MUST_BE_FAST = SPECS.map((s) => s.name).filter((n) => n.startsWith('tl') && n !== 'tl_utf16');
const LEFT_TO_SQLJS = ['tl_utf16', ...SPECS.map((s) => s.name).filter((n) => /^(py|kg)_/.test(n))];

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

describe('sessionfiles: the fast SQLite reader answers as sql.js', () => {
  let dir: string;
  let cleanup: () => void;
  let SQL: SqlJsStatic;

  before(async function () {
    this.timeout(60_000);
    SQL = await loadSqlJs();
    ({ dir, cleanup } = tempDir());
    makeSessions(dir, SPECS);
  });
  after(() => cleanup());

  const bytesOf = (name: string): Buffer => readFileSync(path.join(dir, `${name}.session`));

  it('gives the same result as sql.js for every fixture, and takes the common layouts', () => {
    const declined: string[] = [];
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.session'))) {
      const name = file.slice(0, -'.session'.length);
      const bytes = bytesOf(name);
      const fast = parseSessionBytesFast(bytes);
      const reference = parseSessionBytes(SQL, bytes, 'sqljs');
      if (fast === undefined) declined.push(name);
      else assert.deepEqual(fast, reference, name);
      assert.deepEqual(parseSessionBytes(SQL, bytes), reference, `${name} (auto)`);
    }
    assert.deepEqual(declined.filter((n) => MUST_BE_FAST.includes(n)), [], 'declined by the fast path');
    assert.deepEqual(declined.sort(), LEFT_TO_SQLJS.sort(), 'left to sql.js');
  });

  it('finds the own user among thousands of entities (multi-level b-trees, negative ids, overflow pages)', () => {
    for (const name of ['tl_big', 'tl_big_rowid', 'tl_p1024', 'tl_p1024_rowid']) {
      const fast = parseSessionBytesFast(bytesOf(name));
      assert.ok(fast?.ok, name);
      assert.notEqual(fast.session.userId, null, name);
      assert.deepEqual(fast, parseSessionBytes(SQL, bytesOf(name), 'sqljs'), name);
    }
  });

  // More rounds or another seed, when changing btree.ts: TELEGATE_FUZZ_ROUNDS=5000 TELEGATE_FUZZ_SEED=7
  it('agrees with sql.js on randomly corrupted files, or declines them', function () {
    this.timeout(600_000);
    const rounds = Number(process.env.TELEGATE_FUZZ_ROUNDS ?? 150);
    const next = rng(Number(process.env.TELEGATE_FUZZ_SEED ?? 20_240_611));
    let compared = 0;
    for (const name of ['tl_self', 'tl_rowid', 'tl_p1024', 'tl_big', 'tl_migrated', 'tl_autovacuum', 'tl2_user', 'other']) {
      const good = bytesOf(name);
      for (let round = 0; round < rounds; round++) {
        const bad = Buffer.from(good);
        const flips = 1 + Math.floor(next() * 4);
        // Mostly in the first pages, where the schema and the session row live.
        const span = next() < 0.7 ? Math.min(bad.length, 3 * bad.readUInt16BE(16) || 65536) : bad.length;
        for (let i = 0; i < flips; i++) bad[Math.floor(next() * span)] = Math.floor(next() * 256);
        const fast = parseSessionBytesFast(bad);
        if (fast === undefined) continue;
        const reference = parseSessionBytes(SQL, bad, 'sqljs');
        if (JSON.stringify(fast, bigints) !== JSON.stringify(reference, bigints)) {
          const file = path.join(dir, `diverged-${name}-${round}.bin`);
          writeFileSync(file, bad);
          assert.deepEqual(fast, reference, `${name} round ${round} (bytes in ${file})`);
        }
        compared++;
      }
    }
    assert.ok(compared > rounds, `only ${compared} corrupted files were read by the fast path`);
  });
});

function bigints(_key: string, v: unknown): unknown {
  return typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v;
}
