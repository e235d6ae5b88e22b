"""A per-worker pace for Agora calls that do not pass through a rate-limited task queue.

Queries run as local activities inside the workflow worker, so Temporal's task-queue rate limit does not see them.
Each worker process instead spaces its own queries evenly: with W worker processes sharing an App ID, each keeps to
its share of the query budget (`Settings.query_rate_per_worker`), and the fleet stays under Agora's limit.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class Pace:
    """Spaces calls at most `rate` per second; a caller waits for its slot instead of being refused.

    Slots are handed out in arrival order at 1/rate apart. A caller that has been waiting past its own deadline is
    not special-cased: the activity's timeout cancels the wait, and Temporal retries the call.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError(f"a pace needs a positive rate in calls per second, got {rate}")
        self._interval = 1.0 / rate
        self._clock = clock
        self._next = 0.0

    @property
    def rate(self) -> float:
        """Calls per second."""
        return 1.0 / self._interval

    def reserve(self) -> float:
        """Take the next slot; returns how many seconds the caller must wait for it (0 when it is free now)."""
        now = self._clock()
        slot = max(now, self._next)
        self._next = slot + self._interval
        return slot - now

    async def wait(self) -> float:
        """Wait for the next slot; returns the time waited in seconds."""
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
        return delay
