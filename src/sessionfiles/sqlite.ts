/**
 * Reads the bytes of a Telethon / Pyrogram `.session` (SQLite) file with a
 * real SQLite (better-sqlite3).
 *
 * SQLite never opens the file: the bytes ./safeRead.ts read (regular file,
 * size limit, O_NONBLOCK) are deserialized, copied, into a read-only
 * in-memory database, so the file on disk is never written, locked, migrated
 * or VACUUMed, and no `-wal`/`-journal`/`-shm` file next to it is looked at.
 * Never throws for bad input: every problem is a `{ error }` with a short reason.
 */
import BetterSqlite3 from 'better-sqlite3';
import { dcAddress, isTestDcAddress, PROD_DC_TABLE, TEST_DC_TABLE, type DcAddress } from './dcs';
import { AUTH_KEY_BYTES } from './strings';

/** What one session file holds, before any sidecar is applied. */
export interface ParsedSession {
  format: 'telethon' | 'pyrogram';
  /** Layout: Telethon v1 (sessions), Telethon v2 (datacenter), Pyrogram/Kurigram (sessions). */
  layout: 'telethon-v1' | 'telethon-v2' | 'pyrogram';
  /** Value of the version table. */
  version: number;
  dcId: number;
  /** Server address and port of dcId (stored, or from the DC table for Pyrogram); null when unknown. */
  serverAddress: string | null;
  port: number | null;
  /** A 256-byte key; always set on success. */
  authKey: Uint8Array;
  userId: bigint | null;
  /** Pyrogram only (null when the column is missing or NULL). */
  apiId: number | null;
  /** Pyrogram: stored; Telethon: the stored address is a test DC's. */
  testMode: boolean;
  /** null when the file does not tell (Telethon v1 without its own entity's phone). */
  isBot: boolean | null;
}

export type ParseResult = { ok: true; session: ParsedSession } | { ok: false; error: string; partial?: Partial<ParsedSession> };

/** The IPv4 addresses of the DC table (./dcs.ts), by DC id. */
export const PROD_DCS: Readonly<Record<number, string>> = ipv4Of(PROD_DC_TABLE);
export const TEST_DCS: Readonly<Record<number, string>> = ipv4Of(TEST_DC_TABLE);

function ipv4Of(table: Readonly<Record<number, DcAddress>>): Record<number, string> {
  return Object.fromEntries(Object.entries(table).map(([id, dc]) => [id, dc.ipv4]));
}

/** A column value as SQLite returns it (integers as bigint, blobs as bytes). */
export type Value = bigint | number | string | Uint8Array | null;
/** A row by lower-cased column name. */
type Row = Map<string, Value>;

const SQLITE_MAGIC = 'SQLite format 3\0';

/**
 * Header checks done before SQLite sees the bytes, for clearer reasons than
 * "database disk image is malformed". (A WAL-mode file opens as is; frames
 * still in its `-wal` file, not yet checkpointed, are not seen.)
 */
function checkHeader(bytes: Uint8Array): string | null {
  if (bytes.length === 0) return 'empty file';
  if (bytes.length < 100 || Buffer.from(bytes.buffer, bytes.byteOffset, 16).toString('latin1') !== SQLITE_MAGIC) {
    return 'not a SQLite database';
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const raw = view.getUint16(16);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) {
    return 'corrupt SQLite header (bad page size)';
  }
  const pages = view.getUint32(28);
  const headerSizeValid = pages > 0 && view.getUint32(24) === view.getUint32(92);
  const expected = headerSizeValid ? pages * pageSize : pageSize;
  if (bytes.length < expected) {
    return `truncated file (${bytes.length} of ${expected} bytes)`;
  }
  if (bytes.length % pageSize !== 0) {
    return `truncated file (${bytes.length} bytes is not a whole number of ${pageSize}-byte pages)`;
  }
  return null;
}

/** `AS (` is how CREATE TABLE declares a generated column (`GENERATED ALWAYS` is optional). */
const GENERATED_COLUMN = /\bAS\s*\(/i;

/** The few queries the readers below make, column names lower-cased. */
class SessionDb {
  constructor(private readonly db: BetterSqlite3.Database) {}

  private rows(sql: string, limit = Infinity): Row[] {
    const stmt = this.db.prepare(sql).safeIntegers(true).raw(true);
    const names = stmt.columns().map((c) => c.name.toLowerCase());
    const toRow = (values: Value[]): Row => new Map(names.map((n, i) => [n, values[i] ?? null]));
    if (limit === 1) {
      const one = stmt.get() as Value[] | undefined;
      return one === undefined ? [] : [toRow(one)];
    }
    return (stmt.all() as Value[][]).slice(0, limit).map(toRow);
  }

  /**
   * The tables' names, lower-cased. A table with a generated column is
   * refused: its value is computed when read, so a few bytes of schema
   * (`AS (zeroblob(500000000))`) could make `SELECT *` allocate gigabytes.
   * No session library declares one.
   */
  tables(): Set<string> {
    const rows = this.rows("SELECT name, sql FROM sqlite_master WHERE type = 'table'");
    if (rows.some((r) => GENERATED_COLUMN.test(String(r.get('sql'))))) throw new SchemaError('unknown schema (generated column)');
    return new Set(rows.map((r) => String(r.get('name')).toLowerCase()));
  }

  selectAll(table: string, opts: { orderBy?: string; limit?: number } = {}): Row[] {
    return this.rows(`SELECT * FROM ${table}${opts.orderBy === undefined ? '' : ` ORDER BY ${opts.orderBy}`}`, opts.limit);
  }

  selectWhere(table: string, col: string, keyCol: string, key: bigint): Row | null {
    return this.rows(`SELECT ${col} FROM ${table} WHERE ${keyCol} = ${key}`, 1)[0] ?? null;
  }
}

function firstRow(db: SessionDb, table: string): Row | null {
  return db.selectAll(table, { limit: 1 })[0] ?? null;
}

/** An integer column as a JS number, or null (NULL, text, out of range). */
function int(v: Value | undefined): number | null {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  return null;
}

function big(v: Value | undefined): bigint | null {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  return null;
}

/** The reason a stored auth key is unusable, or null when it is a 256-byte blob. */
function authKeyProblem(v: Value | undefined): string | null {
  if (v === undefined || v === null) return 'no auth key (NULL)';
  if (!(v instanceof Uint8Array)) return `auth key is stored as ${typeof v === 'string' ? 'text' : 'a number'}, expected a 256-byte blob`;
  if (v.length === 0) return 'no auth key (empty; logged out or never logged in)';
  if (v.length !== AUTH_KEY_BYTES) return `auth key is ${v.length} bytes, expected ${AUTH_KEY_BYTES}`;
  return null;
}

class SchemaError extends Error {}

function requireColumns(row: Row, table: string, cols: readonly string[]): void {
  const missing = cols.filter((c) => !row.has(c));
  if (missing.length > 0) throw new SchemaError(`unknown schema (${table} table lacks ${missing.join(', ')})`);
}

function validDc(dcId: number | null): dcId is number {
  return dcId !== null && dcId >= 1 && dcId <= 255;
}

function readTelethonV1(db: SessionDb, version: number, tables: Set<string>): ParseResult {
  const row = firstRow(db, 'sessions');
  if (row === null) return { ok: false, error: 'no session row (sessions table is empty)', partial: { format: 'telethon' } };
  requireColumns(row, 'sessions', ['dc_id', 'server_address', 'port', 'auth_key']);
  const dcId = int(row.get('dc_id'));
  if (!validDc(dcId)) return { ok: false, error: `invalid dc_id ${String(row.get('dc_id'))}`, partial: { format: 'telethon' } };
  const keyProblem = authKeyProblem(row.get('auth_key'));
  if (keyProblem !== null) return { ok: false, error: keyProblem, partial: { format: 'telethon', dcId } };
  let userId: bigint | null = null;
  let isBot: boolean | null = null;
  if (tables.has('entities')) {
    // Telethon ≥1.25 saves its own id as the entity with id 0 (access hash = own user id).
    try {
      const self = db.selectWhere('entities', 'hash', 'id', 0n);
      const id = big(self?.get('hash'));
      if (id !== null && id > 0n) {
        userId = id;
        // Only user accounts have a phone number: a phone on its own entity means "not a bot".
        const phone = db.selectWhere('entities', 'phone', 'id', id)?.get('phone');
        if ((typeof phone === 'string' && phone !== '') || (typeof phone === 'bigint' && phone > 0n) || (typeof phone === 'number' && phone > 0)) isBot = false;
      }
    } catch (err) {
      // An entities table of another shape (a SQLite error) only costs us the user id.
      if (!(err instanceof BetterSqlite3.SqliteError)) throw err;
    }
  }
  const address = row.get('server_address');
  return {
    ok: true,
    session: {
      format: 'telethon',
      layout: 'telethon-v1',
      version,
      dcId,
      serverAddress: typeof address === 'string' && address !== '' ? address : null,
      port: int(row.get('port')),
      authKey: row.get('auth_key') as Uint8Array,
      userId,
      apiId: null,
      testMode: isTestDcAddress(typeof address === 'string' ? address : null),
      isBot,
    },
  };
}

/** 'host:port' or '[v6]:port' as Telethon v2 stores DataCenter.addr. */
function splitAddr(addr: Value | undefined): { host: string | null; port: number | null } {
  if (typeof addr !== 'string') return { host: null, port: null };
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr) ?? /^(.*):(\d+)$/.exec(addr);
  if (m === null) return { host: addr === '' ? null : addr, port: null };
  return { host: m[1] ?? null, port: Number(m[2]) };
}

function readTelethonV2(db: SessionDb, version: number, tables: Set<string>): ParseResult {
  const dcs = db.selectAll('datacenter', { orderBy: 'id' });
  if (dcs.length === 0) return { ok: false, error: 'no session row (datacenter table is empty)', partial: { format: 'telethon' } };
  for (const r of dcs) requireColumns(r, 'datacenter', ['id', 'addr', 'auth']);
  const user = tables.has('user') ? firstRow(db, 'user') : null;
  // The home DC is the logged-in user's; without a user row, the first DC (as Telethon v1 would).
  const homeId = int(user?.get('dc')) ?? int(dcs[0]?.get('id'));
  const home = dcs.find((r) => int(r.get('id')) === homeId);
  if (home === undefined || !validDc(homeId)) {
    return { ok: false, error: `user's home DC ${String(homeId)} has no datacenter row`, partial: { format: 'telethon' } };
  }
  const keyProblem = authKeyProblem(home.get('auth'));
  if (keyProblem !== null) return { ok: false, error: keyProblem, partial: { format: 'telethon', dcId: homeId } };
  const { host, port } = splitAddr(home.get('addr'));
  const userId = big(user?.get('id'));
  return {
    ok: true,
    session: {
      format: 'telethon',
      layout: 'telethon-v2',
      version,
      dcId: homeId,
      serverAddress: host,
      port,
      authKey: home.get('auth') as Uint8Array,
      userId: userId !== null && userId > 0n ? userId : null,
      apiId: null,
      testMode: isTestDcAddress(host),
      isBot: user === null ? null : user.get('bot') === 1n,
    },
  };
}

function readPyrogram(db: SessionDb, version: number): ParseResult {
  const row = firstRow(db, 'sessions');
  if (row === null) return { ok: false, error: 'no session row (sessions table is empty)', partial: { format: 'pyrogram' } };
  requireColumns(row, 'sessions', ['dc_id', 'auth_key']);
  const dcId = int(row.get('dc_id'));
  if (!validDc(dcId)) return { ok: false, error: `invalid dc_id ${String(row.get('dc_id'))}`, partial: { format: 'pyrogram' } };
  const keyProblem = authKeyProblem(row.get('auth_key'));
  if (keyProblem !== null) return { ok: false, error: keyProblem, partial: { format: 'pyrogram', dcId } };
  const testMode = (int(row.get('test_mode')) ?? 0) !== 0;
  // Kurigram ≥7 stores the address; older storages do not: use the DC table,
  // test DCs on port 80 as Pyrogram connects to them.
  const stored = row.get('server_address');
  const fromTable = dcAddress(dcId, testMode);
  const storedAddress = typeof stored === 'string' && stored !== '' ? stored : null;
  const serverAddress = storedAddress ?? fromTable?.ipv4 ?? null;
  const port = int(row.get('port')) ?? (serverAddress === null ? null : testMode ? 80 : 443);
  const userId = big(row.get('user_id'));
  const apiId = int(row.get('api_id'));
  return {
    ok: true,
    session: {
      format: 'pyrogram',
      layout: 'pyrogram',
      version,
      dcId,
      serverAddress,
      port,
      authKey: row.get('auth_key') as Uint8Array,
      userId: userId !== null && userId > 0n ? userId : null,
      apiId: apiId !== null && apiId >= 0 && apiId <= 0xffffffff ? apiId : null,
      testMode,
      isBot: (int(row.get('is_bot')) ?? 0) !== 0,
    },
  };
}

function readSchema(db: SessionDb): ParseResult {
  const tables = db.tables();
  if (!tables.has('version')) {
    return { ok: false, error: tables.size === 0 ? 'unknown schema (no tables)' : 'unknown schema (no version table)' };
  }
  const v = firstRow(db, 'version');
  if (v === null) return { ok: false, error: 'unknown schema (version table is empty)' };
  if (v.has('version')) {
    const version = int(v.get('version'));
    if (version === 10 && tables.has('datacenter')) return readTelethonV2(db, version, tables);
    if (version !== null && version >= 1 && version <= 7 && tables.has('sessions')) {
      return readTelethonV1(db, version, tables);
    }
    return { ok: false, error: `unknown schema (Telethon session version ${String(v.get('version'))})`, partial: { format: 'telethon' } };
  }
  if (v.has('number')) {
    const version = int(v.get('number'));
    if (version !== null && version >= 1 && version <= 7 && tables.has('sessions')) return readPyrogram(db, version);
    return { ok: false, error: `unknown schema (Pyrogram storage version ${String(v.get('number'))})`, partial: { format: 'pyrogram' } };
  }
  return { ok: false, error: 'unknown schema (unrecognised version table)' };
}

function sqliteReason(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/file is not a database/i.test(msg)) return 'not a SQLite database';
  if (/malformed|corrupt/i.test(msg)) return `corrupt SQLite database (${msg})`;
  return `SQLite error: ${msg}`;
}

/**
 * The bytes as a Buffer SQLite can deserialize. A WAL-mode file (file format
 * versions 2 at offsets 18-19) is given as a rollback-journal one (1): an
 * in-memory database has no shared memory for a WAL index, and SQLite would
 * refuse to open it. The caller's bytes are not changed (a copy is patched).
 */
function rollbackImage(bytes: Uint8Array): Buffer {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf[18] !== 2 && buf[19] !== 2) return buf;
  const copy = Buffer.from(buf);
  copy[18] = 1;
  copy[19] = 1;
  return copy;
}

/**
 * Parse a session file's bytes. Never throws for a bad file, only for bugs.
 * The bytes are copied into SQLite's memory (the caller's buffer may be reused).
 */
export function parseSessionBytes(bytes: Uint8Array): ParseResult {
  const headerProblem = checkHeader(bytes);
  if (headerProblem !== null) return { ok: false, error: headerProblem };
  let db: BetterSqlite3.Database | undefined;
  try {
    db = new BetterSqlite3(rollbackImage(bytes), { readonly: true });
    return readSchema(new SessionDb(db));
  } catch (err) {
    if (err instanceof SchemaError) return { ok: false, error: err.message };
    // SQLite failures are SqliteErrors; anything else is a bug here.
    if (err instanceof TypeError || err instanceof ReferenceError || err instanceof RangeError) throw err;
    return { ok: false, error: sqliteReason(err) };
  } finally {
    db?.close();
  }
}
