/**
 * Leader election on Redis (a lease, in the manner of redis-semaphore's Lock):
 * SET NX PX to take it, a compare-and-extend script to renew it on an
 * unref()'d timer at a third of the TTL, compare-and-delete to give it up.
 * A renewal that fails or finds the lock gone ends leadership at once
 * (`lost`), so the leader's jobs stop before another replica can start them.
 */
import { EventEmitter } from 'node:events';
import type { RedisClient } from '../pool/connect';
import type { Keys } from '../pool/keys';
import { NO_WAIT, writeAndWait, type ReplicaWait } from '../pool/replication';
import type { Logger } from '../log';

export interface LeadershipEvents {
  gained: [fence: number];
  lost: [];
}

export interface Leadership extends EventEmitter<LeadershipEvents> {
  readonly isLeader: boolean;
  readonly fence: number | undefined;
  start(): void;
  stop(): Promise<void>;
}

export class RedisLeadership extends EventEmitter<LeadershipEvents> implements Leadership {
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;
  private heldFence: number | undefined;
  /** The first attempt usually runs before the connection is up: try again the moment it is, not a period later. */
  private readonly onReady = (): void => void this.tick();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    readonly replicaId: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
    /** A new fence must be on the replicas too, or a failover could hand the same fence to the next leader. */
    private readonly wait: ReplicaWait = NO_WAIT,
  ) {
    super();
  }

  get isLeader(): boolean {
    return this.heldFence !== undefined;
  }

  get fence(): number | undefined {
    return this.heldFence;
  }

  start(): void {
    this.stopped = false;
    const every = Math.max(100, Math.floor(this.ttlMs / 3));
    this.timer = setInterval(() => void this.tick(), every);
    this.timer.unref();
    this.redis.on('ready', this.onReady);
    void this.tick();
  }

  private lose(why: string): void {
    if (this.heldFence === undefined) return;
    this.heldFence = undefined;
    this.logger.warn({ replica: this.replicaId, why }, 'leadership lost');
    this.emit('lost');
  }

  /** One renewal or acquisition attempt; never two at once. */
  async tick(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      if (this.heldFence !== undefined) {
        const ok = await this.redis.renewLeadership(this.keys.leader, this.keys.fence, this.replicaId, this.ttlMs, this.heldFence);
        if (ok !== 1) this.lose('lock taken or expired');
      } else {
        const taken = await writeAndWait(this.redis, this.wait, (c) => c.takeLeadership(this.keys.leader, this.keys.fence, this.replicaId, this.ttlMs));
        const fence = Number(taken.reply);
        if (fence > 0 && taken.acked < this.wait.replicas) {
          // Not durable yet: do not act as leader on a fence a failover could hand out again; retry next tick.
          this.logger.warn({ replica: this.replicaId, acked: taken.acked, wanted: this.wait.replicas }, 'leadership not taken: too few Redis replicas acknowledged the fence');
        } else if (fence > 0 && !this.stopped) {
          this.heldFence = fence;
          this.logger.info({ replica: this.replicaId, fence }, 'leadership gained');
          this.emit('gained', fence);
        }
      }
    } catch (err) {
      // Cannot prove we still hold the lock: stop acting as leader now.
      this.lose(`renewal failed: ${(err as Error).message}`);
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.redis.off('ready', this.onReady);
    const wasLeader = this.isLeader;
    this.lose('shutting down');
    if (wasLeader) {
      try {
        await this.redis.releaseLeadership(this.keys.leader, this.replicaId);
      } catch (err) {
        this.logger.warn({ err }, 'could not release leadership; it expires with its TTL');
      }
    }
  }
}

/** Where a leadership takes its fencing token: the next one, each time (takeLeadership's INCR). */
export interface FenceSource {
  takeFence(): number;
}

/**
 * The embedded store serves one process: it is always the leader, fenced
 * like a Redis leader (each start takes a new fence from the store, and the
 * store refuses a sync carrying an older one), so the service treats both alike.
 */
export class LocalLeadership extends EventEmitter<LeadershipEvents> implements Leadership {
  private heldFence: number | undefined;
  constructor(private readonly fences: FenceSource) {
    super();
  }
  get isLeader(): boolean {
    return this.heldFence !== undefined;
  }
  get fence(): number | undefined {
    return this.heldFence;
  }
  start(): void {
    if (this.heldFence !== undefined) return;
    this.heldFence = this.fences.takeFence();
    this.emit('gained', this.heldFence);
  }
  stop(): Promise<void> {
    if (this.heldFence !== undefined) {
      this.heldFence = undefined;
      this.emit('lost');
    }
    return Promise.resolve();
  }
}
