/**
 * What-if data layouts for the pool in Redis, holding the same sessions
 * (name, meta, lease token, LRU order, name → id) and measured the same way
 * as the real one (INFO used_memory delta over n sessions). Nothing here
 * changes the service: these are evidence for a proposal to the data model.
 */
import { createHash } from 'node:crypto';
import Redis from 'ioredis';
import { dataBytes, type RedisProc } from './procs';
import { sessionName } from './seed';

export interface LayoutResult {
  layout: string;
  /** What changes against the current layout. */
  change: string;
  meta: string;
  /** Encoding of the per-session data / ids / free order (OBJECT ENCODING of a sample). */
  encodings: string;
  bytesPerSession: number;
  /** After every session holds a lease token (as after its first lease). */
  bytesPerSessionWithToken: number;
}

type Cmd = [string, ...Array<string | number>];

interface Layout {
  layout: string;
  change: string;
  /** Commands registering session `id` (1-based) with name and meta. */
  register(id: number, name: string, meta: string): Cmd[];
  /** Commands storing a lease token for session `id`. */
  token(id: number, name: string, meta: string, tok: string): Cmd[];
  /** Keys whose encoding tells the story. */
  sampleKeys(n: number): string[];
  config?: Record<string, string>;
}

const P = '{alt}';
const BUCKET = 64; // sessions per bucket hash: 64 fields ≤ hash-max-listpack-entries (128)
const ID_BUCKETS = 4096; // name → id buckets (a sha1 prefix of the name picks one)

const bucketOf = (id: number): number => Math.floor(id / BUCKET);
const nameBucket = (name: string): string => createHash('sha1').update(name).digest('hex').slice(0, 3); // redis.sha1hex() in Lua


function layouts(): Layout[] {
  const perKey: Layout = {
    layout: 'per-session keys',
    change: 'one hash `s:<id>` per session {name, meta, tok} (the layout before bf5e288); ids hash name → id; free zset',
    register: (id, name, meta) => [
      ['HSET', `${P}:ids`, name, String(id)],
      ['HSET', `${P}:s:${id}`, 'name', name, 'meta', meta],
      ['ZADD', `${P}:free`, id, String(id)],
    ],
    token: (id, _n, _m, tok) => [['HSET', `${P}:s:${id}`, 'tok', tok]],
    sampleKeys: () => [`${P}:s:1`, `${P}:ids`, `${P}:free`],
  };
  const buckets: Layout = {
    layout: 'bucket hashes',
    change: `sessions as fields of \`s:<id div ${BUCKET}>\`: <id> → "name\\tmeta", <id>:t → token (the layout of bf5e288); ids hash; free zset`,
    register: (id, name, meta) => [
      ['HSET', `${P}:ids`, name, String(id)],
      ['HSET', `${P}:b:${bucketOf(id)}`, String(id), `${name}\t${meta}`],
      ['ZADD', `${P}:free`, id, String(id)],
    ],
    token: (id, _n, _m, tok) => [['HSET', `${P}:b:${bucketOf(id)}`, `${id}:t`, tok]],
    sampleKeys: () => [`${P}:b:1`, `${P}:ids`, `${P}:free`],
  };
  const bucketsAndIds: Layout = {
    ...buckets,
    layout: 'bucket hashes + bucketed ids',
    change: `as above, and name → id in ${ID_BUCKETS} hashes picked by a sha1 prefix of the name (redis.sha1hex in Lua)`,
    register: (id, name, meta) => [
      ['HSET', `${P}:ids:${nameBucket(name)}`, name, String(id)],
      ['HSET', `${P}:b:${bucketOf(id)}`, String(id), `${name}\t${meta}`],
      ['ZADD', `${P}:free`, id, String(id)],
    ],
    sampleKeys: () => [`${P}:b:1`, `${P}:ids:${nameBucket(sessionName(0))}`, `${P}:free`],
  };
  const listFree: Layout = {
    ...bucketsAndIds,
    layout: 'bucket hashes + bucketed ids + free list',
    change: 'as above, and the free order as a FIFO list (RPUSH on release, LPOP on acquire) instead of a sorted set',
    register: (id, name, meta) => [
      ['HSET', `${P}:ids:${nameBucket(name)}`, name, String(id)],
      ['HSET', `${P}:b:${bucketOf(id)}`, String(id), `${name}\t${meta}`],
      ['RPUSH', `${P}:free`, String(id)],
    ],
  };
  return [perKey, buckets, bucketsAndIds, listFree];
}

async function run(redis: Redis, cmds: Iterable<Cmd>): Promise<void> {
  let batch = redis.pipeline();
  let size = 0;
  for (const c of cmds) {
    batch.call(...c);
    if (++size === 2000) {
      await batch.exec();
      batch = redis.pipeline();
      size = 0;
    }
  }
  if (size > 0) await batch.exec();
}

function* each(n: number, f: (id: number, name: string) => Cmd[]): Iterable<Cmd> {
  for (let i = 0; i < n; i++) yield* f(i + 1, sessionName(i));
}

const TOKEN = 'Qm9vdHN0cmFwVG9rZW4xMjM0'; // 24 chars, like newLeaseToken()

async function measure(r: RedisProc, redis: Redis, n: number, l: Layout, meta: string, config: Record<string, string> = {}): Promise<LayoutResult> {
  const saved: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) {
    saved[k] = ((await redis.config('GET', k)))[1] ?? '';
    await redis.config('SET', k, v);
  }
  try {
    await redis.flushall('SYNC');
    const used = (): Promise<number> => dataBytes(r.admin);
    const before = await used();
    await run(redis, each(n, (id, name) => l.register(id, name, meta)));
    const registered = await used();
    await run(redis, each(n, (id, name) => l.token(id, name, meta, TOKEN)));
    const withToken = await used();
    const encodings: string[] = [];
    for (const key of l.sampleKeys(n)) encodings.push(String(await redis.call('OBJECT', 'ENCODING', key)));
    const cfg = Object.entries(config).map(([k, v]) => `${k} ${v}`).join(', ');
    return {
      layout: cfg ? `${l.layout} (${cfg})` : l.layout,
      change: l.change,
      meta,
      encodings: encodings.join(' / '),
      bytesPerSession: Math.round(((registered - before) / n) * 10) / 10,
      bytesPerSessionWithToken: Math.round(((withToken - before) / n) * 10) / 10,
    };
  } finally {
    for (const [k, v] of Object.entries(saved)) await redis.config('SET', k, v);
    await redis.flushall('SYNC');
  }
}

/**
 * @param fileMeta meta JSON as a sync that reads a real session file stores it
 *   (format, dcId, userId, proxy and the session string)
 */
export async function layoutAlternatives(r: RedisProc, n: number, log: (m: string) => void, fileMeta: string): Promise<LayoutResult[]> {
  const redis = new Redis(r.url, { maxRetriesPerRequest: 0, commandTimeout: 60_000 });
  const out: LayoutResult[] = [];
  try {
    const all = layouts();
    const [perKey, buckets] = all;
    for (const l of all) {
      const x = await measure(r, redis, n, l, '{"proxy":null}');
      out.push(x);
      log(`  layout ${x.layout}: ${x.bytesPerSession} B/session, ${x.bytesPerSessionWithToken} with token`);
    }
    // Meta as a sync that reads real session files stores it: with the session string (~350 characters), and without.
    if (perKey && buckets) {
      const { sessionString: _dropped, ...lean } = JSON.parse(fileMeta) as Record<string, unknown>;
      const leanMeta = JSON.stringify(lean);
      const runs: Array<[Layout, string, Record<string, string>, string]> = [
        [perKey, fileMeta, {}, 'per-session keys, file meta'],
        [buckets, fileMeta, {}, 'bucket hashes, file meta'],
        [buckets, fileMeta, { 'hash-max-listpack-value': '1024' }, 'bucket hashes, file meta, hash-max-listpack-value 1024'],
        [perKey, leanMeta, {}, 'per-session keys, file meta without the session string'],
        [buckets, leanMeta, {}, 'bucket hashes, file meta without the session string'],
        [buckets, leanMeta, { 'hash-max-listpack-value': '128' }, 'bucket hashes, file meta without the session string, hash-max-listpack-value 128'],
      ];
      for (const [l, meta, config, label] of runs) {
        const x = { ...(await measure(r, redis, n, l, meta, config)), layout: label };
        out.push(x);
        log(`  layout ${x.layout}: ${x.bytesPerSession} B/session, ${x.bytesPerSessionWithToken} with token`);
      }
    }
  } finally {
    redis.disconnect();
  }
  return out;
}
