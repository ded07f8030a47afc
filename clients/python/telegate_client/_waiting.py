"""
Auto-wait policy for GET /session, shared by the blocking and asyncio clients.

1. The first request asks with ``wait=0``: it answers at once, so a pool in
   which nothing can ever become free (nothing in use, no timed flood wait:
   everything invalidated, or no sessions at all) raises at once.
2. Later requests long-poll (``wait`` up to 60 s, never past ``max_wait``):
   the server hands over a session the moment one is released or a flood
   wait ends, so there is nothing to sleep in between.
3. When the server does not hold the request (an older server without
   ``wait``), the client sleeps instead: ``next_release_in`` plus jitter, or,
   while sessions are in use, an exponential backoff with jitter up to a cap,
   whichever is shorter.
4. Never past ``max_wait``; None means no bound (as the original client).
"""
import math
import random
import time
from typing import Callable, Optional

from .errors import NoSessionAvailable

#: The server's upper bound for GET /session?wait=.
MAX_LONG_POLL = 60
#: A long-poll answered this much earlier than asked was not held (no long-poll support).
_HELD_TOLERANCE = 0.5
#: Longest single sleep between tries, seconds.
MAX_SLEEP = 300.0


class WaitPlan:
    def __init__(self, max_wait: Optional[float], long_poll: bool, backoff_base: float, backoff_cap: float,
                 clock: Callable[[], float] = time.monotonic, rand: Callable[[], float] = random.random) -> None:
        if max_wait is not None and max_wait < 0:
            raise ValueError('max_wait must be >= 0 or None')
        self.clock = clock
        self.rand = rand
        self.deadline = None if max_wait is None else clock() + max_wait
        self.long_poll = long_poll
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.tries = 0
        self.backoffs = 0
        #: True once the server held a long-poll; False once it answered one early.
        self.server_long_polls: Optional[bool] = None

    def remaining(self) -> Optional[float]:
        return None if self.deadline is None else self.deadline - self.clock()

    def poll_seconds(self) -> int:
        """The ``wait`` to send with the next GET /session."""
        if self.tries == 0 or not self.long_poll or self.server_long_polls is False:
            return 0
        rem = self.remaining()
        return MAX_LONG_POLL if rem is None else max(0, min(MAX_LONG_POLL, int(math.floor(rem))))

    def after_503(self, exc: NoSessionAvailable, asked: int, held: float) -> float:
        """Seconds to sleep before the next try; raises ``exc`` when there is no point in waiting."""
        self.tries += 1
        if exc.next_release_in is None and not exc.in_use:
            # No flood wait ends by itself and nothing is in use (or an old server that
            # does not say): nothing can become free. The original client raised here too.
            raise exc
        rem = self.remaining()
        if rem is not None and rem <= 0:
            raise exc
        if asked > 0:
            self.server_long_polls = held >= asked - _HELD_TOLERANCE
        if self.long_poll and self.server_long_polls is not False and (rem is None or rem >= 1):
            # Long-poll right away: the server wakes us when something is freed.
            return 0.0
        delay = math.inf
        if exc.next_release_in is not None:
            delay = exc.next_release_in + self.rand()
        if exc.in_use:
            step = min(self.backoff_cap, self.backoff_base * (2 ** min(self.backoffs, 30)))
            self.backoffs += 1
            delay = min(delay, step * (0.5 + 0.5 * self.rand()))
        delay = min(delay, MAX_SLEEP)  # ask again at least this often (restores, new files)
        return delay if rem is None else min(delay, rem)
