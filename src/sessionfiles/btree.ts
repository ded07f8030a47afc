/**
 * A small, strict, read-only reader of the SQLite file format
 * (https://www.sqlite.org/fileformat2.html), enough for the few queries the
 * session reader makes (./sqlite.ts), about 20 times cheaper than opening the
 * bytes with sql.js.
 *
 * It is a fast path, not a second SQLite: anything it does not fully
 * understand throws `Unsupported`, and the caller then reads the file with
 * sql.js, whose answer (including every error message) is the reference.
 * It declines, among others: UTF-16 databases, text that is not valid UTF-8
 * (or has a NUL or a BOM), schemas beyond plain tables it parses completely
 * (quoted names, DEFAULT, COLLATE, DESC, CHECK, UNIQUE, AUTOINCREMENT, views,
 * triggers, indexes other than a primary key's...), order-dependent reads of
 * a table with an index, and every structural inconsistency it meets (page
 * numbers, cell offsets, record headers, overflow chains). Where SQLite
 * itself would report corruption it checks the same things (the whole
 * schema, a record's fields filling its payload exactly, empty pages, tree
 * depth) and seeks with the same binary search, so that a corrupt file gets
 * the same answer. test/sessionfiles/fastpath.test.ts compares it with
 * sql.js on every fixture and on seeded random corruptions.
 */

/** The fast path cannot answer for this file: use sql.js. */
export class Unsupported extends Error {}

export type Value = bigint | number | string | Uint8Array | null;
export type Row = Map<string, Value>;

function no(why: string): never {
  throw new Unsupported(why);
}

/** The queries ./sqlite.ts makes, answered as SQLite would (column names lower-cased). */
export interface SessionDb {
  /** SELECT name FROM sqlite_master WHERE type = 'table' (lower-cased). */
  tables(): Set<string>;
  /** SELECT * FROM table [ORDER BY orderBy] [LIMIT limit]. */
  selectAll(table: string, opts?: { orderBy?: string; limit?: number }): Row[];
  /** SELECT col FROM table WHERE keyCol = key (first row), or null. */
  selectWhere(table: string, col: string, keyCol: string, key: bigint): Row | null;
}

// ------------------------------------------------------------------ schema

interface TableDef {
  /** The table's name, lower-cased. */
  name: string;
  /** Declared column names, lower-cased, in order. */
  columns: string[];
  /** Index in `columns` of each record field, in record order. */
  recordOrder: number[];
  withoutRowid: boolean;
  /** Column that is the rowid (INTEGER PRIMARY KEY of a rowid table), or -1. */
  rowidAlias: number;
  /** Primary-key column indexes, in key order. */
  pk: number[];
  /** Declared type of each column, lower-cased words joined by one space. */
  types: string[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Words that may not be a type name word (they start a constraint we do not handle). */
const CONSTRAINT_WORDS = new Set([
  'constraint', 'primary', 'key', 'not', 'null', 'unique', 'check', 'default', 'collate', 'references',
  'generated', 'as', 'on', 'conflict', 'asc', 'desc', 'autoincrement', 'foreign', 'always', 'stored', 'virtual', 'hidden',
]);

/**
 * SQLite's keywords (https://sqlite.org/lang_keywords.html): a name that is one
 * may or may not parse as an identifier; such schemas are left to SQLite.
 */
const SQL_KEYWORDS = new Set(
  (
    'abort action add after all alter always analyze and as asc attach autoincrement before begin between by cascade case cast ' +
    'check collate column commit conflict constraint create cross current current_date current_time current_timestamp database ' +
    'default deferrable deferred delete desc detach distinct do drop each else end escape except exclude exclusive exists explain ' +
    'fail filter first following for foreign from full generated glob group groups having if ignore immediate in index indexed ' +
    'initially inner insert instead intersect into is isnull join key last left like limit match materialized natural no not ' +
    'nothing notnull null nulls of offset on or order others outer over partition plan pragma preceding primary query raise range ' +
    'recursive references regexp reindex release rename replace restrict returning right rollback row rows savepoint select set ' +
    'table temp temporary then ties to transaction trigger unbounded union unique update using vacuum values view virtual when ' +
    'where window with without'
  ).split(' '),
);

function tokenize(sql: string): string[] {
  const tokens: string[] = [];
  // SQLite's white space is exactly these five (not \v, not Unicode spaces).
  const re = /[ \t\n\f\r]*(?:([A-Za-z_][A-Za-z0-9_]*)|([(),]))/y;
  let pos = 0;
  while (pos < sql.length) {
    re.lastIndex = pos;
    const m = re.exec(sql);
    if (m === null) {
      if (/^[ \t\n\f\r]*$/.test(sql.slice(pos))) break;
      no('schema text outside the supported subset');
    }
    tokens.push(m[1] ?? m[2]!);
    pos = re.lastIndex;
  }
  return tokens;
}

/** Split `a, b (c, d), e` at top-level commas. */
function splitTopLevel(tokens: string[]): string[][] {
  const parts: string[][] = [[]];
  let depth = 0;
  for (const t of tokens) {
    if (t === '(') depth++;
    if (t === ')') depth--;
    if (t === ',' && depth === 0) parts.push([]);
    else parts[parts.length - 1]!.push(t);
  }
  return parts;
}

/** Parsed CREATE TABLE texts: session files of one library version share them. */
const defCache = new Map<string, TableDef>();
const DEF_CACHE_MAX = 256;

/** Parse `CREATE TABLE name (defs) [WITHOUT ROWID]` as SQLite stores it; Unsupported beyond a plain subset. */
export function parseCreateTable(sql: string): Readonly<TableDef> {
  let def = defCache.get(sql);
  if (def === undefined) {
    def = parseCreateTableText(sql); // throws Unsupported: such texts are not cached, each file re-checks
    if (defCache.size >= DEF_CACHE_MAX) defCache.clear();
    defCache.set(sql, def);
  }
  return def;
}

function parseCreateTableText(sql: string): TableDef {
  const tokens = tokenize(sql);
  const lower = tokens.map((t) => t.toLowerCase());
  if (lower[0] !== 'create' || lower[1] !== 'table' || !IDENT.test(tokens[2] ?? '') || SQL_KEYWORDS.has(lower[2]!) || tokens[3] !== '(') {
    no('not a plain CREATE TABLE');
  }
  let depth = 0;
  let close = -1;
  for (let i = 3; i < tokens.length; i++) {
    if (tokens[i] === '(') depth++;
    if (tokens[i] === ')' && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close < 0) no('unbalanced CREATE TABLE');
  const tail = lower.slice(close + 1).join(' ');
  if (tail !== '' && tail !== 'without rowid') no(`CREATE TABLE options: ${tail}`);
  const withoutRowid = tail === 'without rowid';

  const columns: string[] = [];
  const types: string[] = [];
  const pkCols: string[] = [];
  let columnPk = -1;
  for (const part of splitTopLevel(tokens.slice(4, close))) {
    const words = part.map((t) => t.toLowerCase());
    if (words.length === 0) no('empty column definition');
    if (words[0] === 'primary' && words[1] === 'key' && part[2] === '(' && part[part.length - 1] === ')') {
      // Table constraint: PRIMARY KEY (a, b, ...), plain column names only.
      const inner = splitTopLevel(part.slice(3, -1));
      if (pkCols.length > 0 || columnPk >= 0) no('two primary keys');
      for (const c of inner) {
        if (c.length !== 1 || !IDENT.test(c[0]!) || SQL_KEYWORDS.has(c[0]!.toLowerCase())) no('primary key with more than column names');
        pkCols.push(c[0]!.toLowerCase());
      }
      continue;
    }
    // Column definitions come before table constraints (else a syntax error: SQLite's to report).
    if (pkCols.length > 0) no('column after a table constraint');
    if (part.some((t) => !IDENT.test(t) || SQL_KEYWORDS.has(t.toLowerCase()) && !CONSTRAINT_WORDS.has(t.toLowerCase()))) {
      no('column definition with more than plain words');
    }
    const name = words[0]!;
    if (CONSTRAINT_WORDS.has(name) || columns.includes(name)) no(`column name ${name}`);
    let i = 1;
    const typeWords: string[] = [];
    while (i < words.length && !CONSTRAINT_WORDS.has(words[i]!)) typeWords.push(words[i++]!);
    // Constraints we understand: PRIMARY KEY [ASC], NOT NULL. (UNIQUE would add an index.)
    while (i < words.length) {
      if (words[i] === 'not' && words[i + 1] === 'null') {
        i += 2;
      } else if (words[i] === 'primary' && words[i + 1] === 'key') {
        i += 2;
        if (words[i] === 'asc') i++;
        if (columnPk >= 0) no('two primary keys');
        columnPk = columns.length;
      } else {
        no(`column constraint: ${words.slice(i).join(' ')}`);
      }
    }
    columns.push(name);
    types.push(typeWords.join(' '));
  }
  if (columnPk >= 0) pkCols.push(columns[columnPk]!);
  const pk = pkCols.map((c) => {
    const i = columns.indexOf(c);
    if (i < 0) no(`primary key names unknown column ${c}`);
    return i;
  });
  if (new Set(pk).size !== pk.length) no('repeated primary key column');
  if (withoutRowid && pk.length === 0) no('WITHOUT ROWID without a primary key');
  // A rowid table's single INTEGER PRIMARY KEY column is the rowid itself (not stored in the record).
  const rowidAlias = !withoutRowid && pk.length === 1 && types[pk[0]!] === 'integer' ? pk[0]! : -1;
  const recordOrder = withoutRowid ? [...pk, ...columns.map((_, i) => i).filter((i) => !pk.includes(i))] : columns.map((_, i) => i);
  return { name: lower[2]!, columns, recordOrder, withoutRowid, rowidAlias, pk, types };
}

// ------------------------------------------------------------------ file

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Text as sql.js decodes it, for valid UTF-8 without NUL or a leading BOM (else Unsupported). */
function text(bytes: Uint8Array): string {
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  // eslint-disable-next-line no-control-regex -- NUL is exactly what we look for
  if (!/[\u0000\u0080-\u00ff]/.test(latin1)) return latin1; // plain ASCII: the same in any decoding
  if (bytes.includes(0)) no('NUL in text');
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) no('text starting with a BOM');
  try {
    return utf8.decode(bytes);
  } catch {
    return no('text that is not valid UTF-8');
  }
}

const TABLE_LEAF = 0x0d;
const TABLE_INTERIOR = 0x05;
const INDEX_LEAF = 0x0a;
const INDEX_INTERIOR = 0x02;
/** SQLite's own limit (BTCURSOR_MAX_DEPTH): deeper is corrupt. */
const MAX_DEPTH = 20;

interface Cell {
  rowid: bigint;
  payload: Uint8Array;
}

export class FileDb implements SessionDb {
  private readonly view: DataView;
  private readonly pageSize: number;
  /** Usable bytes per page (page size less the reserved bytes). */
  private readonly usable: number;
  private readonly pages: number;
  private master: Array<{ type: string; name: string; tblName: string; root: number; sql: string | null }> | undefined;
  private readonly defs = new Map<string, TableDef>();

  /** `bytes` passed checkHeader (./sqlite.ts): magic, page size, whole pages. */
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const raw = this.view.getUint16(16);
    this.pageSize = raw === 1 ? 65536 : raw;
    const u8 = (o: number): number => bytes[o]!;
    // Header fields SQLite insists on (else "file is not a database"): leave those cases to it.
    if (u8(18) < 1 || u8(18) > 2 || u8(19) < 1 || u8(19) > 2) no('file format version');
    if (u8(21) !== 64 || u8(22) !== 32 || u8(23) !== 32) no('payload fractions');
    const schemaFormat = this.view.getUint32(44);
    if (schemaFormat < 1 || schemaFormat > 4) no('schema format');
    if (this.view.getUint32(56) !== 1) no('text encoding is not UTF-8');
    this.usable = this.pageSize - u8(20);
    if (this.usable < 480) no('usable page size');
    const headerPages = this.view.getUint32(28);
    const headerValid = headerPages > 0 && this.view.getUint32(24) === this.view.getUint32(92);
    this.pages = headerValid ? headerPages : Math.floor(bytes.length / this.pageSize);
    if (this.pages * this.pageSize > bytes.length) no('file shorter than its header says');
  }

  // ---------------------------------------------------------------- pages

  private pageStart(page: number): number {
    if (!Number.isInteger(page) || page < 1 || page > this.pages) no(`page ${page} out of range`);
    return (page - 1) * this.pageSize;
  }

  /** Cell offsets (absolute) of a b-tree page, with its type and right-most child. */
  private readPage(page: number, isRoot: boolean): { type: number; cells: number[]; right: number } {
    const start = this.pageStart(page);
    const h = page === 1 ? start + 100 : start;
    const type = this.bytes[h]!;
    const interior = type === TABLE_INTERIOR || type === INDEX_INTERIOR;
    if (!interior && type !== TABLE_LEAF && type !== INDEX_LEAF) no(`page ${page}: not a b-tree page`);
    const n = this.view.getUint16(h + 3);
    // Empty pages exist only as the root leaf of an empty table (SQLite: corrupt otherwise).
    if (n === 0 && (interior || !isRoot)) no(`page ${page}: no cells`);
    const headerSize = interior ? 12 : 8;
    const ptrs = h + headerSize;
    const end = start + this.usable;
    if (ptrs + 2 * n > end || n > (this.pageSize - 8) / 6) no(`page ${page}: too many cells`);
    const cells = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const off = this.view.getUint16(ptrs + 2 * i);
      if (off < ptrs + 2 * n - start || off + 4 > this.usable) no(`page ${page}: cell offset`);
      cells[i] = start + off;
    }
    return { type, cells, right: interior ? this.view.getUint32(h + 8) : 0 };
  }

  /** A varint at `o` (at most 9 bytes, not past `end`), as a bigint, and its length. */
  private varint(o: number, end: number): [bigint, number] {
    let v = 0n;
    for (let i = 0; i < 9; i++) {
      if (o + i >= end) no('varint past the end');
      const b = this.bytes[o + i]!;
      if (i === 8) return [(v << 8n) | BigInt(b), 9];
      v = (v << 7n) | BigInt(b & 0x7f);
      if (b < 0x80) return [v, i + 1];
    }
    return no('varint');
  }

  /** A small varint (sizes, serial types) as a number. */
  private small(o: number, end: number): [number, number] {
    const b = this.bytes[o];
    if (b !== undefined && b < 0x80 && o < end) return [b, 1];
    const [v, n] = this.varint(o, end);
    if (v > 0x7fffffffn) no('size out of range');
    return [Number(v), n];
  }

  /** The payload of a cell whose payload size varint is at `o`; follows overflow pages. */
  private payload(o: number, size: number, pageEnd: number, index: boolean): Uint8Array {
    const u = this.usable;
    const maxLocal = index ? Math.floor(((u - 12) * 64) / 255) - 23 : u - 35;
    const minLocal = Math.floor(((u - 12) * 32) / 255) - 23;
    let local = size;
    if (size > maxLocal) {
      const k = minLocal + ((size - minLocal) % (u - 4));
      local = k <= maxLocal ? k : minLocal;
    }
    if (o + local > pageEnd) no('payload past the page');
    if (local === size) return this.bytes.subarray(o, o + size);
    if (o + local + 4 > pageEnd) no('overflow pointer past the page');
    const out = new Uint8Array(size);
    out.set(this.bytes.subarray(o, o + local), 0);
    let filled = local;
    let next = this.view.getUint32(o + local);
    for (let hops = 0; filled < size; hops++) {
      if (hops > this.pages) no('overflow chain loops');
      const start = this.pageStart(next);
      const take = Math.min(size - filled, u - 4);
      out.set(this.bytes.subarray(start + 4, start + 4 + take), filled);
      filled += take;
      next = this.view.getUint32(start);
    }
    return out;
  }

  private leafCell(cell: number, page: { type: number }, pageEnd: number): Cell {
    const [size, n1] = this.small(cell, pageEnd);
    if (page.type === TABLE_LEAF) {
      const [rowid, n2] = this.varint(cell + n1, pageEnd);
      return { rowid: BigInt.asIntN(64, rowid), payload: this.payload(cell + n1 + n2, size, pageEnd, false) };
    }
    return { rowid: 0n, payload: this.payload(cell + n1, size, pageEnd, true) };
  }

  /** Every row of a b-tree, in order; `visit` returns true to stop. */
  private scan(root: number, index: boolean, visit: (c: Cell) => boolean): void {
    const walk = (page: number, depth: number): boolean => {
      if (depth > MAX_DEPTH) no('b-tree too deep');
      const p = this.readPage(page, depth === 0);
      const pageEnd = this.pageStart(page) + this.usable;
      const leaf = index ? INDEX_LEAF : TABLE_LEAF;
      const interior = index ? INDEX_INTERIOR : TABLE_INTERIOR;
      if (p.type === leaf) {
        for (const c of p.cells) if (visit(this.leafCell(c, p, pageEnd))) return true;
        return false;
      }
      if (p.type !== interior) no('b-tree page of the wrong kind');
      for (const c of p.cells) {
        if (walk(this.view.getUint32(c), depth + 1)) return true;
        if (index) {
          // An index interior cell is itself an entry, between its left subtree and the next.
          const [size, n] = this.small(c + 4, pageEnd);
          if (visit({ rowid: 0n, payload: this.payload(c + 4 + n, size, pageEnd, true) })) return true;
        }
      }
      return walk(p.right, depth + 1);
    };
    walk(root, 0);
  }

  /**
   * A record's first `wanted` fields (SQLite values: integers as bigint, as
   * sql.js gives them with useBigInt); with `only`, the other fields are
   * skipped (left null) without being decoded.
   */
  private record(payload: Uint8Array, wanted: number, only?: readonly boolean[]): Value[] {
    const end = payload.length;
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const small = (o: number): [number, number] => {
      let v = 0;
      for (let i = 0; i < 9; i++) {
        if (o + i >= end) no('record header past the payload');
        const b = payload[o + i]!;
        if (i === 8 || v > 0xffffff) no('serial type out of range');
        v = v * 128 + (b & 0x7f);
        if (b < 0x80) return [v, i + 1];
      }
      return no('record header');
    };
    const [headerSize, n0] = small(0);
    if (headerSize < n0 || headerSize > end) no('record header size');
    const out: Value[] = [];
    let h = n0;
    let body = headerSize;
    // The whole header is read: SQLite finds a record corrupt when its fields do not fill the payload exactly.
    for (let field = 0; h < headerSize; field++) {
      const [t, n] = small(h);
      h += n;
      const len = t >= 12 ? (t - 12) >> 1 : [0, 1, 2, 3, 4, 6, 8, 8, 0, 0][t] ?? no('reserved serial type');
      if (body + len > end) no('record body past the payload');
      if (field < wanted) out.push(only === undefined || only[field] === true ? this.value(t, view, body, payload, len) : null);
      body += len;
    }
    if (h !== headerSize || body !== end) no('record header and payload disagree');
    return out;
  }

  private value(t: number, view: DataView, o: number, payload: Uint8Array, len: number): Value {
    switch (t) {
      case 0:
        return null;
      case 1:
        return BigInt(view.getInt8(o));
      case 2:
        return BigInt(view.getInt16(o));
      case 3:
        return BigInt((view.getInt8(o) << 16) | view.getUint16(o + 1));
      case 4:
        return BigInt(view.getInt32(o));
      case 5:
        return BigInt(view.getInt16(o)) * 4294967296n + BigInt(view.getUint32(o + 2));
      case 6:
        return view.getBigInt64(o);
      case 7: {
        const f = view.getFloat64(o);
        if (Number.isNaN(f)) no('NaN stored'); // SQLite reads a stored NaN as NULL
        return f;
      }
      case 8:
        return 0n;
      case 9:
        return 1n;
      default: {
        const bytes = payload.subarray(o, o + len);
        if (t % 2 === 0) return new Uint8Array(bytes); // a copy, as sql.js gives (not a view of the file)
        return text(bytes);
      }
    }
  }

  // --------------------------------------------------------------- schema

  /**
   * sqlite_master, checked as a whole the way SQLite loads it (one bad entry
   * makes the database unreadable): only tables we can parse completely and
   * the automatic indexes of their primary keys; views, triggers and other
   * indexes are left to SQLite.
   */
  private schema(): NonNullable<FileDb['master']> {
    if (this.master !== undefined) return this.master;
    const rows: NonNullable<FileDb['master']> = [];
    this.scan(1, false, (c) => {
      const [type, name, tblName, root, sql] = this.record(c.payload, 5);
      if (typeof type !== 'string' || typeof name !== 'string' || typeof tblName !== 'string') no('sqlite_master row');
      if (typeof root !== 'bigint' || root < 1n || root > BigInt(this.pages)) no('sqlite_master rootpage');
      if (typeof sql !== 'string' && sql !== null && sql !== undefined) no('sqlite_master sql');
      rows.push({ type, name, tblName, root: Number(root), sql: sql ?? null });
      return false;
    });
    const autoIndexes = new Set<string>();
    const names = new Set<string>();
    for (const r of rows) {
      const lname = r.name.toLowerCase();
      if (names.has(lname)) no('two schema entries with one name');
      names.add(lname);
      if (r.type !== 'table') continue;
      if (r.sql === null || lname !== r.tblName.toLowerCase() || lname.startsWith('sqlite_')) no(`schema entry ${r.name}`);
      const def = parseCreateTable(r.sql);
      if (def.name !== lname) no(`schema entry ${r.name} names another table`);
      this.defs.set(lname, def);
      // A rowid table's primary key that is not the rowid has an index of its own.
      if (!def.withoutRowid && def.pk.length > 0 && def.rowidAlias < 0) autoIndexes.add(`sqlite_autoindex_${lname}_1`);
    }
    for (const r of rows) {
      if (r.type === 'table') continue;
      if (r.type !== 'index' || r.sql !== null || !autoIndexes.delete(r.name.toLowerCase())) no(`schema entry ${r.name} (${r.type})`);
      if (`sqlite_autoindex_${r.tblName.toLowerCase()}_1` !== r.name.toLowerCase()) no(`index ${r.name} of another table`);
    }
    if (autoIndexes.size > 0) no('an automatic index is missing');
    this.master = rows;
    return rows;
  }

  tables(): Set<string> {
    return new Set(this.schema().filter((r) => r.type === 'table').map((r) => r.name.toLowerCase()));
  }

  private table(name: string): { def: TableDef; root: number; indexed: boolean } {
    const lname = name.toLowerCase();
    const entries = this.schema().filter((r) => r.type === 'table' && r.name.toLowerCase() === lname);
    if (entries.length !== 1) no(`table ${name}`);
    const t = entries[0]!;
    const def = this.defs.get(lname) ?? no(`table ${name}`);
    const indexed = this.schema().some((r) => r.type === 'index' && r.tblName.toLowerCase() === lname);
    return { def, root: t.root, indexed };
  }

  /** The row's column values, in declared order; with `cols`, only those (the rest null). */
  private row(def: TableDef, cell: Cell, cols?: readonly number[]): Value[] {
    const only = cols === undefined ? undefined : def.recordOrder.map((c) => cols.includes(c));
    const fields = this.record(cell.payload, def.columns.length, only);
    // Fields missing at the end (columns added by ALTER TABLE later) read as their default: NULL (no DEFAULT is accepted).
    const values = new Array<Value>(def.columns.length).fill(null);
    fields.forEach((v, i) => (values[def.recordOrder[i]!] = v));
    if (def.rowidAlias >= 0) {
      if (values[def.rowidAlias] !== null) no('rowid alias stored in the record');
      values[def.rowidAlias] = cell.rowid;
    }
    return values;
  }

  private toRow(columns: string[], values: Value[]): Row {
    return new Map(columns.map((c, i) => [c, values[i] ?? null]));
  }

  selectAll(table: string, opts: { orderBy?: string; limit?: number } = {}): Row[] {
    const { def, root, indexed } = this.table(table);
    // Without ORDER BY the order is the table's; SQLite could choose an index instead.
    if (indexed) no(`table ${table} has an index`);
    const limit = opts.limit ?? Infinity;
    const rows: Value[][] = [];
    const sorted = opts.orderBy === undefined ? -1 : def.columns.indexOf(opts.orderBy);
    if (opts.orderBy !== undefined && sorted < 0) no(`no column ${opts.orderBy}`);
    const inKeyOrder = sorted >= 0 && (def.rowidAlias === sorted || (def.withoutRowid && def.pk[0] === sorted && def.pk.length === 1));
    if (sorted >= 0 && !inKeyOrder) no('ORDER BY a column that is not the key');
    this.scan(root, def.withoutRowid, (c) => {
      rows.push(this.row(def, c));
      return rows.length >= limit;
    });
    // Key order is ORDER BY's order; keys of mixed types (NULL, text...) are declined all the same.
    if (sorted >= 0 && rows.some((r) => typeof r[sorted] !== 'bigint')) no('ORDER BY over non-integer keys');
    return rows.map((r) => this.toRow(def.columns, r));
  }

  selectWhere(table: string, col: string, keyCol: string, key: bigint): Row | null {
    const { def, root, indexed } = this.table(table);
    const c = def.columns.indexOf(col);
    const k = def.columns.indexOf(keyCol);
    if (c < 0 || k < 0) no(`no column ${col} or ${keyCol}`);
    if (!def.types[k]!.includes('int')) no('key column without INTEGER affinity');
    const matches = (v: Value): boolean => (typeof v === 'bigint' ? v === key : typeof v === 'number' && v === Number(key));
    const cols = [k, c];
    let found: Value[] | null = null;
    if (k === def.rowidAlias) {
      found = this.seekRowid(root, key, def, cols);
    } else if (def.withoutRowid && def.pk.length === 1 && def.pk[0] === k) {
      found = this.seekKey(root, key, def, cols);
    } else {
      // A full scan: the first match in table order, as SQLite without an index.
      if (indexed) no(`table ${table} has an index`);
      this.scan(root, def.withoutRowid, (cell) => {
        const r = this.row(def, cell, cols);
        if (!matches(r[k]!)) return false;
        found = r;
        return true;
      });
    }
    return found === null ? null : this.toRow([col], [found[c]!]);
  }

  /**
   * `WHERE rowid = key` as SQLite seeks it (sqlite3BtreeTableMoveto): the
   * same binary search over each page, so a corrupt (unsorted) tree leads
   * both to the same answer.
   */
  private seekRowid(root: number, key: bigint, def: TableDef, cols: readonly number[]): Value[] | null {
    let page = root;
    for (let depth = 0; depth <= MAX_DEPTH; depth++) {
      const p = this.readPage(page, depth === 0);
      const pageEnd = this.pageStart(page) + this.usable;
      const leaf = p.type === TABLE_LEAF;
      if (!leaf && p.type !== TABLE_INTERIOR) no('b-tree page of the wrong kind');
      const keyAt = (i: number): bigint => {
        const c = p.cells[i]!;
        const o = leaf ? c + this.small(c, pageEnd)[1] : c + 4;
        return BigInt.asIntN(64, this.varint(o, pageEnd)[0]);
      };
      let lwr = 0;
      let upr = p.cells.length - 1;
      let idx = upr >> 1;
      let child = -1;
      for (;;) {
        const k = keyAt(idx);
        if (k < key) {
          lwr = idx + 1;
          if (lwr > upr) break;
        } else if (k > key) {
          upr = idx - 1;
          if (lwr > upr) break;
        } else {
          if (leaf) return this.row(def, this.leafCell(p.cells[idx]!, p, pageEnd), cols);
          child = this.view.getUint32(p.cells[idx]!);
          break;
        }
        idx = (lwr + upr) >> 1;
      }
      if (leaf) return null;
      page = child >= 0 ? child : lwr >= p.cells.length ? p.right : this.view.getUint32(p.cells[lwr]!);
    }
    return no('b-tree too deep');
  }

  /**
   * `WHERE pk = key` on a WITHOUT ROWID table as SQLite runs it: seek to the
   * first entry >= key (sqlite3BtreeIndexMoveto, same binary search), step
   * to the next entry when the leaf is exhausted, and return that entry
   * unless it is greater than the key.
   */
  private seekKey(root: number, key: bigint, def: TableDef, cols: readonly number[]): Value[] | null {
    const pkField = def.recordOrder.indexOf(def.pk[0]!);
    if (pkField !== 0) no('key is not the first field');
    /** The entry's first field compared with the key (integers only; anything else is left to SQLite). */
    const cmp = (payload: Uint8Array): number => {
      const headerSize = payload[0];
      const t = payload[1];
      if (headerSize === undefined || t === undefined || headerSize < 2 || headerSize > 0x3f || headerSize > payload.length) no('index key header');
      const len = [0, 1, 2, 3, 4, 6, 8, 8, 0, 0][t];
      if (len === undefined || t === 0 || t === 7) no('index key that is not an integer');
      if (headerSize + len > payload.length) no('index key past the payload');
      const k = t === 8 ? 0n : t === 9 ? 1n : this.intAt(payload, headerSize, t);
      return k < key ? -1 : k > key ? 1 : 0;
    };
    type Level = { p: ReturnType<FileDb['readPage']>; pageEnd: number; ix: number };
    const stack: Level[] = [];
    const payloadAt = (l: Level, i: number, leaf: boolean): Uint8Array => {
      const c = l.p.cells[i]!;
      const o = leaf ? c : c + 4;
      const [size, n] = this.small(o, l.pageEnd);
      return this.payload(o + n, size, l.pageEnd, true);
    };
    let page = root;
    for (let depth = 0; ; depth++) {
      if (depth > MAX_DEPTH) no('b-tree too deep');
      const p = this.readPage(page, depth === 0);
      const leaf = p.type === INDEX_LEAF;
      if (!leaf && p.type !== INDEX_INTERIOR) no('b-tree page of the wrong kind');
      const level: Level = { p, pageEnd: this.pageStart(page) + this.usable, ix: 0 };
      if (p.cells.length === 0) {
        level.ix = 0; // the empty root leaf of an empty table
      } else {
        let lwr = 0;
        let upr = p.cells.length - 1;
        let idx = upr >> 1;
        for (;;) {
          // Equal counts as greater: the seek lands on the first entry >= key.
          if (cmp(payloadAt(level, idx, leaf)) < 0) lwr = idx + 1;
          else upr = idx - 1;
          if (lwr > upr) break;
          idx = (lwr + upr) >> 1;
        }
        level.ix = lwr;
      }
      stack.push(level);
      if (leaf) break;
      page = level.ix >= p.cells.length ? p.right : this.view.getUint32(p.cells[level.ix]!);
    }
    // Past the end of the leaf: the entry is the nearest ancestor's cell we went left of.
    let entry: Uint8Array | undefined;
    for (let i = stack.length - 1; i >= 0 && entry === undefined; i--) {
      const l = stack[i]!;
      if (l.ix < l.p.cells.length) entry = payloadAt(l, l.ix, i === stack.length - 1);
    }
    if (entry === undefined || cmp(entry) > 0) return null;
    return this.row(def, { rowid: 0n, payload: entry }, cols);
  }

  private intAt(payload: Uint8Array, o: number, t: number): bigint {
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const v = this.value(t, view, o, payload, 0);
    if (typeof v !== 'bigint') no('integer expected');
    return v;
  }
}
