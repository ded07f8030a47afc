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

/** `verbNoun-<numberOfKeys>.lua` → {name, numberOfKeys, lua}. */
export function readScripts(dir = LUA_DIR): LuaScript[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.lua'))
    .sort()
    .map((file) => {
      const m = /^([a-zA-Z]+)-(\d+)\.lua$/.exec(file);
      if (!m?.[1] || !m[2]) throw new Error(`lua/${file}: expected the name verbNoun-<numberOfKeys>.lua`);
      return { name: m[1], numberOfKeys: Number(m[2]), lua: readFileSync(path.join(dir, file), 'utf8') };
    });
}

export function defineScripts(redis: RedisClient, scripts: LuaScript[] = readScripts()): void {
  for (const s of scripts) redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
}

type Arg = string | number;
type Reply = unknown; // checked by the wrappers in redis.ts before use

declare module 'ioredis' {
  interface RedisCommander<Context> {
    acquireSession(free: string, leased: string, flood: string, invalid: string, epoch: string, recovering: string, token: string, ...argv: Arg[]): Result<Reply, Context>;
    cancelAcquire(free: string, leased: string, token: string, ...argv: Arg[]): Result<Reply, Context>;
    releaseSession(free: string, leased: string, session: string, invalid: string, ...argv: Arg[]): Result<Reply, Context>;
    floodWaitSession(free: string, leased: string, flood: string, invalid: string, session: string, ...argv: Arg[]): Result<Reply, Context>;
    invalidateSession(free: string, leased: string, flood: string, invalid: string, session: string, ...argv: Arg[]): Result<Reply, Context>;
    restoreSession(free: string, leased: string, flood: string, invalid: string, session: string, ...argv: Arg[]): Result<Reply, Context>;
    heartbeatSession(leased: string, session: string, ...argv: Arg[]): Result<Reply, Context>;
    poolStatus(free: string, leased: string, flood: string, invalid: string, ...argv: Arg[]): Result<Reply, Context>;
    applySync(seq: string, ids: string, free: string, leased: string, flood: string, invalid: string, fence: string, fingerprints: string, ...argv: Arg[]): Result<Reply, Context>;
    listSessions(free: string, leased: string, flood: string, invalid: string, seq: string, ...argv: Arg[]): Result<Reply, Context>;
    takeLeadership(leader: string, fence: string, ...argv: Arg[]): Result<Reply, Context>;
    renewLeadership(leader: string, fence: string, ...argv: Arg[]): Result<Reply, Context>;
    releaseLeadership(leader: string, ...argv: Arg[]): Result<Reply, Context>;
    hitRateLimit(counter: string, ...argv: Arg[]): Result<Reply, Context>;
  }
}
