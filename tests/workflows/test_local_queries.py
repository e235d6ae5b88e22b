"""Queries as local activities: what a check costs in history, and how each worker paces its queries."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.pacing import Pace
from activities.recording import RecordingActivities
from agora.client import AgoraClient
from emulator.testing import RunningEmulator
from tests.conftest import settings_for, worker_for
from tests.workflows.helpers import TEACHER, request, start
from workflows import names
from workflows.models import QueryInput
from workflows.recording import RecordingWorkflow


class FrozenClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pace_hands_out_slots_one_interval_apart_and_frees_them_as_time_passes():
    clock = FrozenClock()
    pace = Pace(4.0, clock=clock)
    assert [pace.reserve() for _ in range(4)] == [0.0, 0.25, 0.5, 0.75]
    clock.now += 2.0  # idle long enough: the next caller goes at once, with no burst credit kept
    assert [pace.reserve() for _ in range(2)] == [0.0, 0.25]


def test_pace_refuses_a_rate_that_is_not_positive():
    with pytest.raises(ValueError, match="positive rate"):
        Pace(0)


def test_query_budget_is_split_between_control_calls_and_worker_processes(emulator: RunningEmulator):
    settings = settings_for(emulator, rate_limit=10.0, control_share=0.3, worker_processes=4)
    assert settings.control_rate == pytest.approx(3.0)
    assert settings.query_rate_per_worker == pytest.approx(7.0 / 4)
    with pytest.raises(ValueError, match="worker_processes"):
        settings_for(emulator, worker_processes=0)


async def test_local_queries_wait_for_the_workers_pace_and_remote_ones_do_not(emulator: RunningEmulator):
    """A local query takes a slot of the worker's pace; one from the query task queue is paced by Temporal instead."""
    clock = FrozenClock()
    pace = Pace(100.0, clock=clock)
    settings = settings_for(emulator)
    client = AgoraClient(
        app_id=settings.app_id,
        customer_id=settings.customer_id,
        customer_secret=settings.customer_secret,
        base_url=settings.base_url,
    )
    acts = RecordingActivities(client, app_id=settings.app_id, storage_profiles=settings.profiles(), query_pace=pace)
    params = QueryInput(channel="c", mode="mix", resource_id="r", sid="s")
    emulator.inject("query", "not_found", count=4)  # an unknown resourceId would answer 1001, not 404
    local = ActivityEnvironment()
    local.info = dataclasses.replace(local.info, is_local=True)
    remote = ActivityEnvironment()
    try:
        for _ in range(3):
            assert (await local.run(acts.query_recorder, params)).found is False
        await remote.run(acts.query_recorder, params)
    finally:
        await client.aclose()
    assert pace.reserve() == pytest.approx(0.03)  # three slots taken, by the local calls only


async def test_a_steady_check_costs_six_history_events(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """Each check is a timer and a local-activity marker in one workflow task: no activity task events at all."""
    req = request(check_interval=10, max_duration=timedelta(minutes=30))
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        await handle.result()
        checks = (await handle.query(RecordingWorkflow.status)).checks
    events = [e async for e in handle.fetch_history_events()]
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    markers = [e for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert names.QUERY not in scheduled
    assert checks >= 170 and len(markers) >= checks
    # 30 minutes of checks plus acquire, start, confirm and stop: the start and stop add about 50 events in all.
    assert len(events) / checks < 6.5, f"{len(events)} events for {checks} checks"
