/** A RedisStore's freed announcements, heard the way a replica hears them (a subscriber connection). */
import { once } from 'node:events';
import Redis from 'ioredis';
import { RedisFreedSource } from '../../src/pool/notifier';
import type { RedisStore } from '../../src/pool/redis';

/** Subscribed once this resolves: nothing published after it is missed. */
export async function subscribeFreed(url: string, store: RedisStore): Promise<RedisFreedSource> {
  const sub = new Redis(url, { lazyConnect: false });
  await once(sub, 'ready');
  const freed = new RedisFreedSource(sub, store.keys.freedChannel);
  await freed.ready;
  return freed;
}
