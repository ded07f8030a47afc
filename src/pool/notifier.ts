/**
 * "A session became free" announcements. Redis: one subscriber connection per
 * replica on the channel the scripts PUBLISH to (ioredis resubscribes after a
 * reconnect). Memory: the store's own events.
 */
import type { RedisClient } from './connect';
import type { FreedSource } from './longPoll';
import type { MemoryStore } from './memory';
import { closeRedis } from './redis';

export class RedisFreedSource implements FreedSource {
  private readonly listeners = new Set<(what: string) => void>();

  /** Resolves once the subscription is active (retried by ioredis across reconnects). */
  readonly ready: Promise<void>;

  /**
   * `sub` must be a dedicated connection (subscriber mode) with its offline
   * queue on, so the SUBSCRIBE waits for a connection instead of failing.
   */
  constructor(
    private readonly sub: RedisClient,
    channel: string,
  ) {
    sub.on('message', (ch: string, msg: string) => {
      if (ch === channel) for (const l of this.listeners) l(msg);
    });
    this.ready = sub.subscribe(channel).then(() => undefined);
  }

  onFreed(listener: (what: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await closeRedis(this.sub);
  }
}

export function memoryFreedSource(store: MemoryStore): FreedSource {
  return {
    onFreed(listener) {
      const l = (what: number | string): void => listener(String(what));
      store.events.on('freed', l);
      return () => store.events.off('freed', l);
    },
  };
}
