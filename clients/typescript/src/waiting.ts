/**
 * Auto-wait policy for GET /session (the Python client has the same one):
 *
 * 1. The first request asks with `wait=0`: it answers at once, so a pool in
 *    which nothing can ever become free (nothing in use, no timed flood wait)
 *    fails at once.
 * 2. Later requests long-poll (`wait` up to 60 s, never past `maxWaitMs`): the
 *    server hands over a session as soon as one is released or a flood wait
 *    ends, so there is nothing to sleep in between.
 * 3. When the server does not hold the request (an older server without
 *    `wait`), the client sleeps: `next_release_in` plus jitter or, while
 *    sessions are in use, exponential backoff with jitter up to a cap,
 *    whichever is shorter.
 * 4. Never past `maxWaitMs` (null: no bound).
 */
import type { NoSessionAvailableError } from './errors';

/** The server's upper bound for GET /session?wait= (seconds). */
export const MAX_LONG_POLL_SECONDS = 60;
/** A long-poll answered this much earlier than asked was not held. */
const HELD_TOLERANCE_MS = 500;
/** Longest single sleep between tries. */
export const MAX_SLEEP_MS = 300_000;

export interface WaitPlanOptions {
  maxWaitMs: number | null;
  longPoll: boolean;
  backoffBaseMs: number;
  backoffCapMs: number;
  now?: () => number;
  random?: () => number;
}

export class WaitPlan {
  private readonly deadline: number | null;
  private readonly now: () => number;
  private readonly random: () => number;
  private tries = 0;
  private backoffs = 0;
  /** True once the server held a long-poll; false once it answered one early. */
  serverLongPolls: boolean | null = null;

  constructor(private readonly opts: WaitPlanOptions) {
    if (opts.maxWaitMs !== null && !(opts.maxWaitMs >= 0)) throw new RangeError('maxWaitMs must be >= 0 or null');
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.deadline = opts.maxWaitMs === null ? null : this.now() + opts.maxWaitMs;
  }

  remainingMs(): number | null {
    return this.deadline === null ? null : this.deadline - this.now();
  }

  /** The `wait` (seconds) to send with the next GET /session. */
  pollSeconds(): number {
    if (this.tries === 0 || !this.opts.longPoll || this.serverLongPolls === false) return 0;
    const rem = this.remainingMs();
    return rem === null ? MAX_LONG_POLL_SECONDS : Math.max(0, Math.min(MAX_LONG_POLL_SECONDS, Math.floor(rem / 1000)));
  }

  /** Milliseconds to sleep before the next try; throws `err` when there is no point in waiting. */
  after503(err: NoSessionAvailableError, askedSeconds: number, heldMs: number): number {
    this.tries += 1;
    if (err.nextReleaseIn === null && !err.inUse) throw err; // nothing can become free
    const rem = this.remainingMs();
    if (rem !== null && rem <= 0) throw err;
    if (askedSeconds > 0) this.serverLongPolls = heldMs >= askedSeconds * 1000 - HELD_TOLERANCE_MS;
    if (this.opts.longPoll && this.serverLongPolls !== false && (rem === null || rem >= 1000)) return 0;
    let delay = Infinity;
    if (err.nextReleaseIn !== null) delay = err.nextReleaseIn * 1000 + this.random() * 1000;
    if (err.inUse) {
      const step = Math.min(this.opts.backoffCapMs, this.opts.backoffBaseMs * 2 ** Math.min(this.backoffs, 30));
      this.backoffs += 1;
      delay = Math.min(delay, step * (0.5 + 0.5 * this.random()));
    }
    delay = Math.min(delay, MAX_SLEEP_MS); // ask again at least this often (restores, new files)
    return rem === null ? delay : Math.min(delay, rem);
  }
}
