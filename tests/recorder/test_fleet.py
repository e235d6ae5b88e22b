"""Fleet pacing: each worker's share of Agora's query rate follows the workers alive on the task queue."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from activities.pacing import FLEET_REFRESH, FleetPace, Pace
from recorder.connection import connect
from workflows.recording import RecordingWorkflow


class FrozenClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_set_rate_spaces_the_next_slots_at_the_new_rate():
    """After set_rate the next slot comes one new interval after the last one handed out, and later ones follow."""
    clock = FrozenClock()
    pace = Pace(2.0, clock=clock)
    assert [pace.reserve() for _ in range(2)] == [0.0, 0.5]
    pace.set_rate(1.0)  # a worker joined: half the share
    assert [pace.reserve() for _ in range(2)] == [1.5, 2.5]
    pace.set_rate(4.0)  # two left
    assert pace.reserve() == pytest.approx(2.75) and pace.rate == 4.0


def test_hold_keeps_every_slot_back_until_it_ends():
    """hold(s) hands out no slot for s seconds (a new worker waits until the others have counted it)."""
    clock = FrozenClock()
    pace = Pace(10.0, clock=clock)
    pace.hold(3.0)
    assert [pace.reserve() for _ in range(2)] == [3.0, pytest.approx(3.1)]


# A liveness bound only: how fast the fleet is counted is measured in bench/fleet.py, not asserted here, so that a
# busy machine cannot fail the test.
SETTLE_WITHIN = 30.0


async def _until(condition: Callable[[], bool]) -> None:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < SETTLE_WITHIN, "condition not met in time"
        await asyncio.sleep(0.1)


async def _member(client: Client, queue: str, identity: str) -> tuple[FleetPace, Pace, asyncio.Task[None]]:
    own = await connect(target_host=client.service_client.config.target_host, identity=identity)
    pace = Pace(7.0)
    fleet = FleetPace(own, queue, pace, 7.0)
    await fleet.start()
    return fleet, pace, asyncio.create_task(fleet.run())


@pytest.mark.devserver
async def test_shares_follow_workers_joining_and_leaving(dev_client: Client):
    """Workers that start together count each other and take a third of the rate each; one leaving gives the others
    half each (sooner than an older worker's 75 s window); a newcomer holds its first query until the others have
    counted it."""
    queue = f"tq-fleet-{uuid.uuid4().hex[:8]}"
    a, pace_a, task_a = await _member(dev_client, queue, "worker-a")
    b, pace_b, task_b = await _member(dev_client, queue, "worker-b")
    assert pace_b.reserve() > FLEET_REFRESH  # a newcomer waits until the others have counted it
    await _until(lambda: a.workers == b.workers == 2)
    c, pace_c, task_c = await _member(dev_client, queue, "worker-c")
    try:
        await _until(lambda: a.workers == b.workers == c.workers == 3)
        assert [p.rate for p in (pace_a, pace_b, pace_c)] == pytest.approx([7 / 3] * 3)
        task_c.cancel()  # worker c is gone (its presence poll stops)
        await _until(lambda: a.workers == b.workers == 2)
        assert [pace_a.rate, pace_b.rate] == pytest.approx([3.5, 3.5])
    finally:
        for task in (task_a, task_b, task_c):
            task.cancel()


@pytest.mark.devserver
async def test_a_worker_without_the_presence_poll_is_counted_and_the_floor_holds(dev_client: Client):
    """A worker of an older version (it polls the workflow queue only) counts; AGORA_WORKER_PROCESSES is a floor."""
    queue = f"tq-fleet-{uuid.uuid4().hex[:8]}"
    old = await connect(target_host=dev_client.service_client.config.target_host, identity="old-version-worker")
    async with Worker(old, task_queue=queue, workflows=[RecordingWorkflow]):
        await asyncio.sleep(0.5)  # its first poll reaches the server
        pace = Pace(7.0)
        fleet = FleetPace(dev_client, queue, pace, 7.0)
        await fleet.start()
        assert fleet.workers == 2 and pace.rate == pytest.approx(3.5)
        floored = FleetPace(dev_client, queue, Pace(7.0), 7.0, floor=4)
        await floored.start()
        assert floored.workers == 4
