/**
 * Redis memory per registered session: INFO used_memory before and after
 * registering n sessions through the service's own sync path, where the
 * bytes go (MEMORY USAGE per key), and the same after every session was
 * leased once (a lease leaves its token in the session's hash).
 */
import path from 'node:path';
import { built } from './built';
import { dataBytes, type RedisProc } from './procs';
import { seedRedis, sessionName, type SeedResult } from './seed';
import { layoutAlternatives, type LayoutResult } from './layouts';

export interface MemoryPart {
  /** Key pattern without the `{prefix}:` (e.g. `s:<n>`), or `rest`. */
  key: string;
  part: string;
  encoding: string;
  bytes: number;
  bytesPerSession: number;
}

export interface MemoryResult {
  sessions: number;
  seed: SeedResult;
  usedMemoryBefore: number;
  usedMemoryAfter: number;
  bytesPerSession: number;
  /** After every session was acquired and released once. */
  bytesPerSessionAfterUse: number;
  breakdown: MemoryPart[];
  breakdownAfterUse: MemoryPart[];
  /** What-if layouts holding the same data, measured the same way. */
  alternatives: LayoutResult[];
  config: Record<string, string>;
}

const PREFIX = 'mem';

async function usedMemory(r: RedisProc): Promise<number> {
  return dataBytes(r.admin);
}

/**
 * Bytes by key pattern (digits replaced by <n>), whatever the layout: MEMORY
 * USAGE of every key of small groups, of a sample of 2000 scaled up for big
 * ones; what the keys do not account for (the keyspace table, allocator
 * rounding) is the rest.
 */
async function breakdown(r: RedisProc, n: number, total: number): Promise<MemoryPart[]> {
  const groups = new Map<string, string[]>();
  let cursor = '0';
  do {
    const [next, keys] = await r.admin.scan(cursor, 'COUNT', 5000);
    cursor = next;
    for (const key of keys) {
      // Per-acquire token keys ({p}:tok:<token>, 15 s TTL) are one group, whatever their random names.
      const pattern = key.replace(/:tok:.*$/, ':tok:<token>').replace(/\d+/g, '<n>');
      const list = groups.get(pattern) ?? [];
      list.push(key);
      groups.set(pattern, list);
    }
  } while (cursor !== '0');
  const parts: MemoryPart[] = [];
  for (const [pattern, keys] of [...groups.entries()].sort((x, y) => x[0].localeCompare(y[0]))) {
    const sample = keys.length <= 2000 ? keys : Array.from({ length: 2000 }, (_, i) => keys[Math.floor((i * keys.length) / 2000)] as string);
    let sum = 0;
    const encodings = new Set<string>();
    for (const [i, key] of sample.entries()) {
      sum += Number(await r.admin.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      if (i % 200 === 0) encodings.add(String(await r.admin.call('OBJECT', 'ENCODING', key)));
    }
    const bytes = Math.round((sum / sample.length) * keys.length);
    const type = await r.admin.type(keys[0] as string);
    const part = keys.length === 1 ? `${pattern} (${type})` : `${keys.length} × ${pattern} (${type})`;
    parts.push({ key: pattern.replace(/^\{[^}]*\}:/, ''), part, encoding: [...encodings].join('/'), bytes, bytesPerSession: Math.round((bytes / n) * 10) / 10 });
  }
  const counted = parts.reduce((a, p) => a + p.bytes, 0);
  parts.push({ key: 'rest', part: 'rest: keyspace table, allocator rounding', encoding: '-', bytes: total - counted, bytesPerSession: Math.round(((total - counted) / n) * 10) / 10 });
  return parts;
}

/** Acquire and release every session once, many in flight (scripts straight on Redis). */
async function leaseAll(url: string, n: number): Promise<void> {
  const { RedisStore, createRedis } = built.redis();
  const redis = createRedis(url, { commandTimeout: 60_000, enableOfflineQueue: true, enableAutoPipelining: true });
  const store = new RedisStore(redis, PREFIX);
  let left = n;
  try {
    const worker = async (): Promise<void> => {
      while (left > 0) {
        left--;
        const r = await store.acquire(60_000);
        if (!r.ok) throw new Error('leaseAll: no free session');
        await store.release(r.session.id, r.session.leaseToken);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
  } finally {
    await store.close();
  }
}

/** @param filesDir holds session files written by makeSessionFiles (for the meta a real sync stores) */
export async function measureMemory(r: RedisProc, n: number, filesDir: string, log: (m: string) => void, alternatives = true): Promise<MemoryResult> {
  await r.admin.flushall('SYNC');
  const before = await usedMemory(r);
  const seed = await seedRedis(r.url, PREFIX, 0, n);
  const after = await usedMemory(r);
  const parts = await breakdown(r, n, after - before);
  log(`  registered ${n} sessions: ${after - before} B (${((after - before) / n).toFixed(1)} B/session)`);
  await leaseAll(r.url, n);
  const afterUse = await usedMemory(r);
  const partsUsed = await breakdown(r, n, afterUse - before);
  const config: Record<string, string> = {};
  for (const name of ['hash-max-listpack-entries', 'hash-max-listpack-value', 'zset-max-listpack-entries', 'zset-max-listpack-value']) {
    const v = (await r.admin.config('GET', name));
    config[name] = v[1] ?? '';
  }
  await r.admin.flushall('SYNC');
  const fileMeta = JSON.stringify((await built.sessionfiles().readSessionFile(path.join(filesDir, `${sessionName(0)}.session`), { defaultProxy: null })).meta);
  const alt = alternatives ? await layoutAlternatives(r, n, log, fileMeta) : [];
  await r.admin.flushall('SYNC');
  return {
    sessions: n,
    seed,
    usedMemoryBefore: before,
    usedMemoryAfter: after,
    bytesPerSession: Math.round(((after - before) / n) * 10) / 10,
    bytesPerSessionAfterUse: Math.round(((afterUse - before) / n) * 10) / 10,
    breakdown: parts,
    breakdownAfterUse: partsUsed,
    alternatives: alt,
    config,
  };
}
