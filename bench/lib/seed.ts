/**
 * Filling pools: real .session files for the sync at start-up (both stores),
 * and bulk registration straight into Redis through the service's own sync
 * path (RedisStore.applySync: the applySync Lua script, in batches of
 * SYNC_BATCH, several batches in flight) for the pool-size and memory steps.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { built } from './built';

/** Session names look like the phone numbers people name their files after. */
export function sessionName(i: number): string {
  return String(79_000_000_000 + i);
}

/**
 * A minimal valid Telethon v7 session (what Telethon writes after login), as
 * bytes; `n` makes its auth key its own (files sharing an auth key are
 * duplicates, see lua/applySync: only one of them is ever issued).
 */
export function telethonSessionBytes(n = 0): Uint8Array {
  const db = new Database(':memory:');
  try {
    db.exec(`create table version (version integer primary key);
      insert into version values (7);
      create table sessions (dc_id integer primary key, server_address text, port integer, auth_key blob, takeout_id integer) without rowid;
      create table entities (id integer primary key, hash integer not null, username text, phone integer, name text, date integer) without rowid;
      create table sent_files (md5_digest blob, file_size integer, type integer, id integer, hash integer, primary key(md5_digest, file_size, type)) without rowid;
      create table update_state (id integer primary key, pts integer, qts integer, date integer, seq integer) without rowid;
      insert into entities values (0, 123456789, null, null, null, 0);
      insert into update_state values (0, 1, 0, 0, 1);`);
    const key = Buffer.from(new Uint8Array(256).map((_, i) => (i * 73 + 11) & 0xff));
    key.writeUInt32BE(n >>> 0, 0);
    db.prepare('insert into sessions values (?, ?, ?, ?, ?)').run(2, '149.154.167.51', 443, key, null);
    return db.serialize();
  } finally {
    db.close();
  }
}

/** n session files in dir (created); returns dir. */
export function makeSessionFiles(dir: string, n: number): Promise<string> {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(path.join(dir, `${sessionName(i)}.session`), telethonSessionBytes(i));
  return Promise.resolve(dir);
}

export interface SeedResult {
  added: number;
  seconds: number;
  perSecond: number;
}

/**
 * Register sessions [from, to) under prefix through RedisStore.applySync,
 * meta {"proxy":null} as a sync without a default proxy writes it.
 */
export async function seedRedis(url: string, prefix: string, from: number, to: number, inflight = 4): Promise<SeedResult> {
  const { RedisStore, createRedis } = built.redis();
  const { SYNC_BATCH } = built.sync();
  const redis = createRedis(url, { commandTimeout: 60_000, enableOfflineQueue: true });
  const store = new RedisStore(redis, prefix);
  const t0 = performance.now();
  let next = from;
  let added = 0;
  try {
    const worker = async (): Promise<void> => {
      while (next < to) {
        const start = next;
        const end = Math.min(to, start + SYNC_BATCH);
        next = end;
        const upserts = [];
        for (let i = start; i < end; i++) upserts.push({ name: sessionName(i), meta: { proxy: null } });
        const r = await store.applySync({ upserts, removes: [] });
        added += r.added;
      }
    };
    await Promise.all(Array.from({ length: inflight }, worker));
  } finally {
    await store.close();
  }
  const seconds = (performance.now() - t0) / 1000;
  return { added, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(added / seconds) };
}
