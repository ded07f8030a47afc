/**
 * Every Redis key the service uses, built in one place. All share one hash
 * tag `{prefix}` so each script touches a single slot (Redis Cluster safe).
 *
 * Per-session data lives in small bucket hashes, SESSION_BUCKET sessions per
 * hash, so it stays listpack-encoded and costs no key per session:
 *   `{p}:s:<floor(id / SESSION_BUCKET)>`  field `<id>`   → "<name>\t<meta JSON>"
 *                                          field `<id>:t` → lease token (current or last)
 *                                          field `<id>:r` → invalidation reason
 *                                          field `<id>:rs` → scoped rests, JSON {scope: deadlineMs}
 *                                          field `<id>:re` → latest scoped deadline (ms)
 *                                          field `<id>:e` → last reported error "<NAME><TAB><ms>"
 *                                          field `<id>:tg` → its tags, "t1,t2" (sorted)
 *                                          field `<id>:c` → counters JSON {i, n, s, r: {scope: n}}
 *                                          field `<id>:g` → "1": its file was missing at a sync
 *                                                           while leased or resting (see lua/applySync)
 *                                          field `<id>:f` → its file's auth-key fingerprint (reader syncs)
 *                                          field `<id>:d` → "1": a duplicate, its auth key belongs to
 *                                                           another session (never issued nor restored)
 * and one hash `{p}:fp` maps each auth-key fingerprint to the one session that may be issued with that key.
 * (a name never holds a tab: sync rejects names with control characters).
 *
 * Scoped rests (rests on one Telegram method): `free` holds only sessions with
 * no running rest at all (an unscoped acquire touches nothing else); `rfree`
 * holds, in the same LRU order, sessions free of lease and account-wide rest
 * but resting on some scope; `rend` scores each `rfree` member with the end
 * of its last scoped rest (promotion back to `free`); `{p}:rest:<scope>` holds
 * id → deadline per scope, and `scopes` scope → the latest deadline ever set
 * on it (so a scope whose rests all ended is dropped whole).
 *
 * Tags: `{p}:tag:<tag>` is the set of ids carrying it (kept by sync).
 *
 * Health (`health` zset, one score per session that is not simply ok):
 * restricted → the end of its restriction rest (ms, counted while ahead),
 * HEALTH_LOGGED_OUT, HEALTH_BANNED, HEALTH_FILE_ERROR (small codes below).
 */

export const HEALTH_LOGGED_OUT = 1;
export const HEALTH_BANNED = 2;
export const HEALTH_FILE_ERROR = 3;

/**
 * The signature stored (ids hash "<id>:gone") for a session whose file was
 * missing while it was leased or resting: never a real file signature
 * (size-mtime), so sync re-sends the file as soon as it is back.
 */
export const GONE_SIG = 'gone';

/**
 * The signature stored for a duplicate (a file whose auth key another session
 * holds): never a real one, so sync re-reads the file at every sync and the
 * duplicate takes over as soon as the holder is removed.
 */
export const DUP_SIG = 'dup';

/** Sessions per bucket hash: 64 x up to 11 fields (704 entries: past Redis's default hash-max-listpack-entries of 512 only when most sessions have most fields, which does not happen). */
export const SESSION_BUCKET = 64;
export interface Keys {
  seq: string;
  ids: string;
  free: string;
  leased: string;
  flood: string;
  invalid: string;
  /** Free of lease and account-wide rest, resting on some scope: id → LRU score. */
  rfree: string;
  /** Members of rfree: id → when their last scoped rest ends (ms). */
  rend: string;
  /** scope → latest deadline set on it (ms). */
  scopes: string;
  /** Prefix of the per-scope rest zsets: `${restPrefix}${scope}` id → deadline (ms). */
  restPrefix: string;
  /** id → health code or restriction end (see above). */
  health: string;
  /** Prefix of the per-tag id sets: `${tagPrefix}${tag}`. */
  tagPrefix: string;
  /** The capped stream of recent events (XADD MAXLEN ~), written by the state scripts with their change (lua/lib/history.lua). */
  events: string;
  /** Hash auth-key fingerprint -> the id of the one session holding that key (lua/applySync). */
  fingerprints: string;
  fence: string;
  leader: string;
  /** Pool epoch "<epochId>:<counter>": detects that Redis lost data (lua/acquireSession-11.lua). */
  epoch: string;
  /** Present (with a PX) while issuing is held after a detected data loss. */
  recovering: string;
  /** Per-acquire key "<id>:<free score>:<issued event id>" that lets cancelAcquire find the session, and its event, by its token. */
  acquireToken(token: string): string;
  /** Prefix of the session bucket hashes: `${sessionPrefix}${floor(id / SESSION_BUCKET)}`. */
  sessionPrefix: string;
  /** Pub/sub channel announcing that a session became free. */
  freedChannel: string;
  /** The bucket hash holding session `id`. */
  session(id: number | string): string;
}

/** Field names of one session inside its bucket hash. */
export const sessionField = {
  data: (id: number | string): string => `${id}`,
  token: (id: number | string): string => `${id}:t`,
  reason: (id: number | string): string => `${id}:r`,
  rests: (id: number | string): string => `${id}:rs`,
  restEnd: (id: number | string): string => `${id}:re`,
  lastError: (id: number | string): string => `${id}:e`,
  tags: (id: number | string): string => `${id}:tg`,
  counters: (id: number | string): string => `${id}:c`,
  gone: (id: number | string): string => `${id}:g`,
  fingerprint: (id: number | string): string => `${id}:f`,
  duplicate: (id: number | string): string => `${id}:d`,
};

export function makeKeys(prefix: string): Keys {
  const p = `{${prefix}}`;
  const sessionPrefix = `${p}:s:`;
  return {
    seq: `${p}:seq`,
    ids: `${p}:ids`,
    free: `${p}:free`,
    leased: `${p}:leased`,
    flood: `${p}:flood`,
    invalid: `${p}:invalid`,
    rfree: `${p}:rfree`,
    rend: `${p}:rend`,
    scopes: `${p}:scopes`,
    restPrefix: `${p}:rest:`,
    health: `${p}:health`,
    tagPrefix: `${p}:tag:`,
    events: `${p}:events`,
    fingerprints: `${p}:fp`,
    fence: `${p}:fence`,
    leader: `${p}:leader`,
    epoch: `${p}:epoch`,
    recovering: `${p}:recovering`,
    acquireToken: (token) => `${p}:tok:${token}`,
    sessionPrefix,
    freedChannel: `${p}:freed`,
    session: (id) => `${sessionPrefix}${Math.floor(Number(id) / SESSION_BUCKET)}`,
  };
}
