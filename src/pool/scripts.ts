/**
 * Loads lua/*.lua once and registers each with ioredis `defineCommand`.
 * ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT by itself, so a
 * Redis restart or SCRIPT FLUSH needs nothing from us.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Cluster, Redis, Result } from 'ioredis';

/**
 * A connection to the pool's data: one Redis (standalone or via Sentinel) or a
 * Cluster. Defined here, the lowest layer that needs it (./connect.ts
 * re-exports it), so that neither connect.ts nor redis.ts imports the other back.
 */
export type RedisClient = Redis | Cluster;

/** lua/ resolved from the package root (tsc does not copy .lua into dist/). */
export const LUA_DIR = path.resolve(__dirname, '..', '..', 'lua');

export interface LuaScript {
  name: string;
  numberOfKeys: number;
  lua: string;
}

/**
 * Scripts made of two lua/ scripts run back to back in ONE script call (so
 * atomically): `first` gives a session back, and only when it did not fail
 * (a negative code) `then` runs. Each part keeps its own file, header and
 * KEYS/ARGV: the single source of its rules (issuing stays in acquireSession).
 * See composeScripts for the calling convention.
 */
export const COMPOSED: ReadonlyArray<{ name: string; first: string; then: string }> = [
  { name: 'releaseAndAcquire', first: 'releaseSession', then: 'acquireSession' },
  { name: 'floodWaitAndAcquire', first: 'floodWaitSession', then: 'acquireSession' },
];

/**
 * One script from two: `KEYS` are the first part's keys then the second's
 * (numberOfKeys is the sum), `ARGV[1]` is how many of the following ARGV
 * belong to the first part, the rest go to the second. Each part runs as a
 * Lua function whose parameters shadow the globals KEYS and ARGV, so its text
 * is used unchanged. Output: {firstReply} when the first part answered a
 * negative code (nothing else ran), else {firstReply, secondReply}.
 */
export function composeScripts(name: string, first: LuaScript, then: LuaScript): LuaScript {
  const lua = `-- ${name}: ${first.name} then ${then.name}, composed by src/pool/scripts.ts (composeScripts)
local n1, na = ${first.numberOfKeys}, tonumber(ARGV[1])
local k1, a1, k2, a2 = {}, {}, {}, {}
for i = 1, #KEYS do if i <= n1 then k1[#k1 + 1] = KEYS[i] else k2[#k2 + 1] = KEYS[i] end end
for i = 2, #ARGV do if i <= na + 1 then a1[#a1 + 1] = ARGV[i] else a2[#a2 + 1] = ARGV[i] end end
local r1 = (function(KEYS, ARGV)
${first.lua}
end)(k1, a1)
if type(r1) == 'number' and r1 < 0 then return {r1} end
local r2 = (function(KEYS, ARGV)
${then.lua}
end)(k2, a2)
return {r1, r2}
`;
  return { name, numberOfKeys: first.numberOfKeys + then.numberOfKeys, lua };
}

/** `verbNoun-<numberOfKeys>.lua` → {name, numberOfKeys, lua}, plus the COMPOSED scripts made from them. */
export function readScripts(dir = LUA_DIR): LuaScript[] {
  const files = readFiles(dir);
  const byName = new Map(files.map((s) => [s.name, s]));
  const part = (n: string): LuaScript => {
    const s = byName.get(n);
    if (!s) throw new Error(`lua/: ${n} is missing (a part of a composed script)`);
    return s;
  };
  return [...files, ...COMPOSED.map((c) => composeScripts(c.name, part(c.first), part(c.then)))];
}

function readFiles(dir: string): LuaScript[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.lua'))
    .sort()
    .map((file) => {
      const m = /^([a-zA-Z]+)-(\d+)\.lua$/.exec(file);
      if (!m?.[1] || !m[2]) throw new Error(`lua/${file}: expected the name verbNoun-<numberOfKeys>.lua`);
      return { name: m[1], numberOfKeys: Number(m[2]), lua: withIncludes(readFileSync(path.join(dir, file), 'utf8'), dir, file) };
    });
}

/**
 * A line `--#include <name>` is replaced by lua/lib/<name>.lua (Lua helpers
 * several scripts share, e.g. history: each script still goes to Redis as
 * one self-contained text).
 */
function withIncludes(lua: string, dir: string, file: string): string {
  return lua.replace(/^--#include (\S+)$/gm, (_, name: string) => {
    if (!/^[a-zA-Z]+$/.test(name)) throw new Error(`lua/${file}: bad include ${name}`);
    return readFileSync(path.join(dir, 'lib', `${name}.lua`), 'utf8').trimEnd();
  });
}

export function defineScripts(redis: RedisClient, scripts: LuaScript[] = readScripts()): void {
  for (const s of scripts) redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
}

type Arg = string | number;
type Reply = unknown; // checked by the wrappers in redis.ts before use

declare module 'ioredis' {
  interface RedisCommander<Context> {
    releaseAndAcquire(...keysThenArgv: Arg[]): Result<Reply, Context>;
    floodWaitAndAcquire(...keysThenArgv: Arg[]): Result<Reply, Context>;
    acquireSession(free: string, leased: string, flood: string, invalid: string, rfree: string, rend: string, scopes: string, epoch: string, recovering: string, token: string, events: string, ...argv: Arg[]): Result<Reply, Context>;
    cancelAcquire(free: string, leased: string, token: string, rfree: string, rend: string, events: string, ...argv: Arg[]): Result<Reply, Context>;
    releaseSession(free: string, leased: string, session: string, invalid: string, rfree: string, rend: string, flood: string, events: string, ...argv: Arg[]): Result<Reply, Context>;
    floodWaitSession(free: string, leased: string, flood: string, invalid: string, session: string, rfree: string, rend: string, scopes: string, health: string, events: string, ...argv: Arg[]): Result<Reply, Context>;
    invalidateSession(free: string, leased: string, flood: string, invalid: string, session: string, rfree: string, rend: string, health: string, events: string, ...argv: Arg[]): Result<Reply, Context>;
    restoreSession(free: string, leased: string, flood: string, invalid: string, session: string, rfree: string, rend: string, health: string, events: string, ...argv: Arg[]): Result<Reply, Context>;
    heartbeatSession(leased: string, session: string, ...argv: Arg[]): Result<Reply, Context>;
    poolStatus(free: string, leased: string, flood: string, invalid: string, rfree: string, rend: string, scopes: string, health: string, ...argv: Arg[]): Result<Reply, Context>;
    applySync(seq: string, ids: string, free: string, leased: string, flood: string, invalid: string, fence: string, rfree: string, rend: string, health: string, fingerprints: string, events: string, ...argv: Arg[]): Result<Reply, Context>;
    listSessions(free: string, leased: string, flood: string, invalid: string, seq: string, rend: string, health: string, ...argv: Arg[]): Result<Reply, Context>;
    recordError(session: string, events: string, ...argv: Arg[]): Result<Reply, Context>;
    takeLeadership(leader: string, fence: string, ...argv: Arg[]): Result<Reply, Context>;
    renewLeadership(leader: string, fence: string, ...argv: Arg[]): Result<Reply, Context>;
    releaseLeadership(leader: string, ...argv: Arg[]): Result<Reply, Context>;
    takeRateLimit(counter: string, ...argv: Arg[]): Result<Reply, Context>;
  }
}
