/**
 * LongPoll: acquire with long-poll waiting over the store, for PoolService
 * (./poolService.ts, what the routes call). A parked acquire is retried when
 * any replica announces a freed session
 * (pub/sub), when the earliest flood deadline passes, or at a safety poll,
 * and is answered with the normal "none free" result when its wait runs out
 * or the process shuts down.
 */
import type { AcquireOptions, AcquireResult, PoolStore } from './types';

/** Source of "a session became free" announcements (pub/sub or in-process). */
export interface FreedSource {
  /**
   * Returns an unsubscribe function. `what` is a session id (free for every
   * request), "scoped:<id>" (free only for scopes it does not rest on), or
   * "reap"/"sync" for many at once.
   */
  onFreed(listener: (what: string) => void): () => void;
}

/** Re-check at least this often while parked, in case an announcement was lost. */
export const SAFETY_POLL_MS = 1000;

interface Waiter {
  /**
   * `relay`: woken for one freed session, with this many other waiters to pass it on to if this one cannot use it
   * (it asks for tags or scopes the session does not have); undefined for every other wake-up.
   */
  wake: (relay?: number) => void;
  /** Asks for scopes: only such a waiter can use a session freed with scoped rests. */
  scoped: boolean;
}

export class LongPoll {
  private readonly queue: Waiter[] = [];
  private closing = false;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly store: PoolStore,
    private readonly leaseTtlMs: number,
    freed: FreedSource,
    /** Tests only: a longer safety poll shows that nothing else woke a waiter. */
    private readonly safetyPollMs = SAFETY_POLL_MS,
  ) {
    this.unsubscribe = freed.onFreed((what) => this.announce(what));
  }

  /** Requests currently parked in a long-poll. */
  get waiting(): number {
    return this.queue.length;
  }

  private announce(what: string): void {
    if (/^\d+$/.test(what)) {
      // One session freed: wake the longest-parked waiter only (no thundering herd). If it cannot use that session
      // (its tags or scopes), it passes the wake-up on, at most once around the queue (see acquire()).
      this.queue.shift()?.wake(this.queue.length);
    } else if (what.startsWith('scoped:')) {
      // Free but resting on some scopes: which scoped waiter can use it is for
      // the store to say, so every scoped waiter retries; unscoped ones sleep on.
      for (const w of this.queue.filter((x) => x.scoped)) w.wake();
    } else {
      for (const w of this.queue.splice(0)) w.wake();
    }
  }

  /** Parks until woken; resolves with the relay count of a one-session wake-up (see Waiter.wake), else undefined. */
  private park(ms: number, scoped: boolean, signal?: AbortSignal): Promise<number | undefined> {
    return new Promise((resolve) => {
      const waiter: Waiter = {
        scoped,
        wake: (relay?: number) => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          const i = this.queue.indexOf(waiter);
          if (i >= 0) this.queue.splice(i, 1);
          resolve(relay);
        },
      };
      const onAbort = (): void => waiter.wake();
      const timer = setTimeout(() => waiter.wake(), ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(waiter);
    });
  }

  /**
   * Acquire, waiting up to waitMs for a session to become free. An aborted
   * signal (client gone) stops waiting without acquiring. `onPark` is called
   * once if the request parks (metrics tell "issued at once" from "waited").
   * `want` says which sessions this request can use (scopes); it parks until
   * one of those frees, the store's scope-aware next release included.
   * `first` replaces the first attempt (a give-back and acquire in one step,
   * POST /release?next=true); the retries while parked are plain acquires.
   */
  async acquire(
    waitMs = 0,
    signal?: AbortSignal,
    onPark?: () => void,
    want: AcquireOptions = {},
    first?: () => Promise<AcquireResult>,
  ): Promise<AcquireResult> {
    const deadline = Date.now() + waitMs;
    const scoped = (want.scopes?.length ?? 0) > 0;
    let result = await (first ? first() : this.store.acquire(this.leaseTtlMs, want));
    let parked = false;
    while (!result.ok && !this.closing && !signal?.aborted) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      if (!parked) {
        parked = true;
        onPark?.();
      }
      const relay = await this.park(Math.min(remaining, this.safetyPollMs, result.nextReleaseInMs ?? Infinity), scoped, signal);
      if (this.closing || signal?.aborted) {
        // Woken for a freed session this request will not take: the next waiter may.
        if (relay !== undefined) this.queue.shift()?.wake(Math.min(relay, this.queue.length));
        break;
      }
      result = await this.store.acquire(this.leaseTtlMs, want);
      // Woken for one freed session that this request cannot use (a tag or scope it asks for): pass the wake-up on,
      // or the session would sit free while a waiter that can use it sleeps until its safety poll. Bounded: once
      // around the queue per announcement.
      if (!result.ok && relay !== undefined && relay > 0) this.queue.shift()?.wake(Math.min(relay - 1, this.queue.length));
    }
    return result;
  }

  /** Shutdown: every parked request is answered now; no new parking. */
  drain(): void {
    this.closing = true;
    for (const w of this.queue.splice(0)) w.wake();
  }

  close(): void {
    this.drain();
    this.unsubscribe();
  }
}
