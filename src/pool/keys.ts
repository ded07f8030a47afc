/**
 * Every Redis key the service uses, built in one place. All share one hash
 * tag `{prefix}` so each script touches a single slot (Redis Cluster safe).
 */
export interface Keys {
  seq: string;
  ids: string;
  free: string;
  leased: string;
  flood: string;
  invalid: string;
  fence: string;
  leader: string;
  /** Prefix of per-session hashes: `${sessionPrefix}${id}`. */
  sessionPrefix: string;
  /** Pub/sub channel announcing that a session became free. */
  freedChannel: string;
  session(id: number | string): string;
}

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
    fence: `${p}:fence`,
    leader: `${p}:leader`,
    sessionPrefix,
    freedChannel: `${p}:freed`,
    session: (id) => `${sessionPrefix}${id}`,
  };
}
