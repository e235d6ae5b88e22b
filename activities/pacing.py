"""A per-worker pace for Agora calls that do not pass through a rate-limited task queue, sized by the live fleet.

Queries run as local activities inside the workflow worker, so Temporal's task-queue rate limit does not see them.
Each worker process instead spaces its own queries evenly at its share of the fleet's query budget. The share follows
the number of workers alive now (`FleetPace`), counted from Temporal itself: every worker keeps a short poll on the
task queue `<queue>-fleet` (no task is ever scheduled there), and `DescribeTaskQueue` lists the pollers with the time
of their last poll. A killed worker stops polling and drops out of the count within seconds; an added one is counted
at the others' next refresh, and every worker waits that long before its first query so that the fleet never exceeds
Agora's rate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import timedelta

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, PollActivityTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

log = logging.getLogger("worker.fleet")

# How often each worker counts the fleet.
FLEET_REFRESH = 2.0
# The deadline of one presence poll; the server answers an empty poll about a second before it (after ~2 s).
PRESENCE_POLL = timedelta(seconds=3)
# A worker whose last presence poll is this much older than the freshest one has stopped polling: it is gone.
ALIVE_WITHIN = 6.0
# Workers of versions without the presence poll are seen on the workflow task queue only, whose idle long polls last
# up to a minute: they count while their last poll is this recent.
LEGACY_ALIVE_WITHIN = 75.0


def fleet_queue(task_queue: str) -> str:
    """The task queue on which the workers of `task_queue` show they are alive (nothing is ever scheduled there)."""
    return f"{task_queue}-fleet"


class Pace:
    """Spaces calls at most `rate` per second; a caller waits for its slot instead of being refused.

    Slots are handed out in arrival order at 1/rate apart. A caller that has been waiting past its own deadline is
    not special-cased: the activity's timeout cancels the wait, and Temporal retries the call.
    """

    def __init__(self, rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = self._interval_of(rate)
        self._clock = clock
        self._next = 0.0

    @staticmethod
    def _interval_of(rate: float) -> float:
        if rate <= 0:
            raise ValueError(f"a pace needs a positive rate in calls per second, got {rate}")
        return 1.0 / rate

    @property
    def rate(self) -> float:
        """Calls per second."""
        return 1.0 / self._interval

    def set_rate(self, rate: float) -> None:
        """Change the rate from the next slot on: it comes one new interval after the last slot handed out."""
        interval = self._interval_of(rate)
        self._next += interval - self._interval
        self._interval = interval

    def hold(self, seconds: float) -> None:
        """Hand out no slot in the next `seconds`."""
        self._next = max(self._next, self._clock() + seconds)

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


class FleetPace:
    """Keeps `pace` at `fleet_rate` divided by the workers alive on `task_queue` (never fewer than `floor`)."""

    def __init__(
        self,
        client: Client,
        task_queue: str,
        pace: Pace,
        fleet_rate: float,
        *,
        floor: int = 1,
        refresh: float = FLEET_REFRESH,
    ) -> None:
        self._client = client
        self._queue = task_queue
        self._pace = pace
        self._fleet_rate = fleet_rate
        self._floor = max(floor, 1)
        self._refresh = refresh
        self.identity = client.identity
        self.workers = self._floor
        self.counted_at: float | None = None
        self._presence_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Show this worker as alive, count the fleet, and hold the first query one count of the others long: a worker
        that starts beside us at the same moment may not have been seen yet, nor seen us."""
        self._presence_task = asyncio.create_task(self._presence())
        try:
            others = await self._count(include_self=False)
        except BaseException:
            self._presence_task.cancel()
            self._presence_task = None
            raise
        self._apply(others + 1, announce=True)
        self._pace.hold(self._refresh + 1.0)

    async def run(self) -> None:
        """Recount every `refresh` seconds until cancelled (after `start`)."""
        presence = self._presence_task or asyncio.create_task(self._presence())
        try:
            while True:
                await asyncio.sleep(self._refresh)
                try:
                    self._apply(await self._count(include_self=True))
                except RPCError as err:  # Temporal unreachable for a moment: keep the last count
                    log.warning("cannot count the workers of %s (%s); keeping %d", self._queue, err, self.workers)
        finally:
            presence.cancel()

    def _apply(self, alive: int, *, announce: bool = False) -> None:
        self.workers = max(alive, self._floor)
        self.counted_at = time.monotonic()
        share = self._share(self.workers)
        if abs(self._pace.rate - share) < 1e-9 and not announce:
            return
        self._pace.set_rate(share)
        log.info(
            "%d worker(s) poll task queue %s: this one makes at most %.2f Agora queries/s",
            self.workers,
            self._queue,
            share,
        )

    def _share(self, workers: int) -> float:
        return self._fleet_rate / workers

    async def _presence(self) -> None:
        """Keep a short poll open on the fleet queue, so that DescribeTaskQueue shows this worker as alive."""
        request = PollActivityTaskQueueRequest(
            namespace=self._client.namespace,
            task_queue=TaskQueue(name=fleet_queue(self._queue), kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            identity=self.identity,
        )
        while True:
            try:
                await self._client.workflow_service.poll_activity_task_queue(
                    request, retry=False, timeout=PRESENCE_POLL
                )
            except RPCError:
                await asyncio.sleep(1.0)  # a deadline, or Temporal unreachable: poll again shortly

    async def _count(self, *, include_self: bool) -> int:
        """The workers alive now: fresh presence polls, plus workers that poll the workflow queue without one."""
        fleet = await self._pollers(fleet_queue(self._queue), TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)
        alive = _recent(fleet, ALIVE_WITHIN)
        legacy = _recent(await self._pollers(self._queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW), LEGACY_ALIVE_WITHIN)
        alive |= legacy - set(fleet)
        alive.discard(self.identity)
        return len(alive) + (1 if include_self else 0)

    async def _pollers(self, name: str, kind: TaskQueueType.ValueType) -> dict[str, float]:
        """Poller identity → time of its last poll (server clock, seconds)."""
        response = await self._client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=self._client.namespace,
                task_queue=TaskQueue(name=name, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=kind,
            ),
            retry=True,
            timeout=timedelta(seconds=5),
        )
        return {p.identity: p.last_access_time.ToMicroseconds() / 1e6 for p in response.pollers}


def _recent(pollers: dict[str, float], within: float) -> set[str]:
    """The identities whose last poll is at most `within` seconds older than the freshest (so clocks never matter)."""
    if not pollers:
        return set()
    freshest = max(pollers.values())
    return {identity for identity, at in pollers.items() if freshest - at <= within}
