/**
 * TELEGATE_REDIS_WAIT_REPLICAS: after a state-changing script, `WAIT N
 * timeout` on the same connection, so an answer is only given once N
 * replicas hold the change and a failover cannot lose it.
 *
 * The script and the WAIT go out as one pipeline: on one connection Redis runs
 * them in order, and on Redis Cluster ioredis sends a pipeline to the node
 * that owns its keys, so the keyless WAIT reaches the shard that ran the
 * script. (A pipelined script is sent as EVAL, never EVALSHA, so no NOSCRIPT
 * retry can slip behind the WAIT after a failover.)
 */
import type { ChainableCommander, RedisCommander } from 'ioredis';
import type { RedisClient } from './connect';

export interface ReplicaWait {
  /** Replicas that must acknowledge; 0 → no WAIT at all. */
  replicas: number;
  timeoutMs: number;
}

export const NO_WAIT: ReplicaWait = { replicas: 0, timeoutMs: 0 };

/** Sends exactly one command on the client or on a pipeline (same arguments either way). */
export type Send = (c: RedisCommander | ChainableCommander) => unknown;

export interface WriteResult {
  reply: unknown;
  /** Replicas that acknowledged; equals `wait.replicas` when no WAIT was asked for. */
  acked: number;
}

/**
 * Run one write, then WAIT when asked. Errors of the write itself (or of the
 * connection) are thrown as they come; a WAIT that answers fewer acks is not
 * an error here: the caller decides (and compensates) with `acked`.
 */
export async function writeAndWait(client: RedisClient, wait: ReplicaWait, send: Send): Promise<WriteResult> {
  if (wait.replicas <= 0) return { reply: await send(client), acked: 0 };
  const pipeline = client.pipeline();
  send(pipeline);
  pipeline.call('WAIT', wait.replicas, wait.timeoutMs);
  const results = await pipeline.exec();
  const [write, waited] = results ?? [];
  if (!write) throw new Error('pipeline answered nothing');
  if (write[0]) throw write[0];
  const acked = !waited || waited[0] ? 0 : Number(waited[1]);
  return { reply: write[1], acked: Number.isFinite(acked) ? acked : 0 };
}
