"""Class schedules firing on a real dev server: the recording each class time starts, joins, starts late or misses."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowHandle

from emulator.testing import RunningEmulator
from recorder import api, schedules
from recorder.connection import connect
from recorder.devserver import DevServer
from recorder.worker import running_workers
from tests.conftest import settings_for, worker_for
from tests.schedules.conftest import (
    APP_ID,
    channel,
    class_at,
    eventually,
    request_for,
    soon,
    until_time,
    workflow_exists,
)
from tests.workflows.helpers import TEACHER, tasks_of
from workflows import names
from workflows.models import RecordingManifest
from workflows.recording import RecordingWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.slow]


def recording(client: Client, ch: str) -> WorkflowHandle[RecordingWorkflow, RecordingManifest]:
    """The handle of a channel's recording (its id is the API's)."""
    return client.get_workflow_handle_for(RecordingWorkflow.run, api.workflow_id(APP_ID, ch))


async def fired(client: Client, sid: str, within: float = 30.0) -> list[schedules.FiringReport]:
    """The schedule's firings once each has been run by a worker (none pending)."""

    async def probe() -> list[schedules.FiringReport] | None:
        report = await schedules.describe_class(client, sid)
        done = [f for f in report.firings if f.status != "pending"]
        return done if done and len(done) == len(report.firings) else None

    return await eventually(probe, within)


async def test_a_class_due_now_records_until_its_planned_end(dev_client: Client, emulator: RunningEmulator):
    """A class due in a few seconds starts its channel's recording, tagged with its schedule, ending at class end."""
    ch = channel()
    emulator.join(ch, TEACHER)
    at, length = soon(3), timedelta(seconds=12)
    async with worker_for(dev_client, emulator) as queue:
        [sid] = await schedules.add_class(dev_client, class_at(ch, at, length), app_id=APP_ID, task_queue=queue)
        assert sid == f"class:{APP_ID}:{ch}:{schedules.WEEKDAYS[at.weekday()]}-{at:%H%M%S}"
        await eventually(lambda: _started(dev_client, ch), 15)
        handle = recording(dev_client, ch)
        status = await handle.query(RecordingWorkflow.status)
        manifest = await handle.result()
        desc = await handle.describe()
        [firing] = await fired(dev_client, sid)

    assert status.planned_end == at + length
    assert manifest.stop_trigger == "end_time" and manifest.phase == "stopped"
    assert manifest.ended_at is not None and at + length <= manifest.ended_at < at + length + timedelta(seconds=10)
    assert desc.typed_search_attributes.get(names.SCHEDULE) == sid
    assert (firing.status, firing.late, firing.scheduled_at) == ("started", False, at)
    assert firing.recording_id == api.workflow_id(APP_ID, ch) and firing.recording_run_id == desc.run_id
    assert len(tasks_of(emulator, ch)) == 1
    listed = await eventually(lambda: _listed(dev_client, schedules.recordings_query(sid)), 15)
    assert listed == [api.workflow_id(APP_ID, ch)]


async def _started(client: Client, ch: str) -> bool | None:
    return True if await workflow_exists(client, api.workflow_id(APP_ID, ch)) else None


async def _listed(client: Client, query: str) -> list[str] | None:
    ids = [wf.id async for wf in client.list_workflows(query)]
    return ids or None


async def test_a_paused_schedule_starts_nothing(dev_client: Client, emulator: RunningEmulator):
    """A class paused before its time fires no firing and starts no recording; resumed, it has class times again."""
    ch = channel()
    at = soon(3)
    async with worker_for(dev_client, emulator) as queue:
        [sid] = await schedules.add_class(
            dev_client, class_at(ch, at, timedelta(seconds=30)), app_id=APP_ID, task_queue=queue
        )
        await schedules.pause_class(dev_client, sid, note="exam week")
        await until_time(at + schedules.LATE_AFTER + timedelta(seconds=1))  # `show` reports it as not fired now
        report = await schedules.describe_class(dev_client, sid)
        assert report.paused and report.note == "exam week" and report.next_times == []
        assert not await workflow_exists(dev_client, api.workflow_id(APP_ID, ch))
        assert [f.status for f in report.firings] == ["not fired"]
        assert "paused" in report.firings[0].reason
        await schedules.resume_class(dev_client, sid)
        resumed = await schedules.describe_class(dev_client, sid)
    assert not resumed.paused and resumed.next_times[0] == at + timedelta(days=7)
    assert tasks_of(emulator, ch) == []


async def test_a_holiday_starts_nothing(dev_client: Client, emulator: RunningEmulator):
    """A class whose day is a skip date fires nothing that day; the next class is a week later."""
    ch = channel()
    at = soon(3)
    holiday = at.date()
    async with worker_for(dev_client, emulator) as queue:
        [sid] = await schedules.add_class(
            dev_client,
            class_at(ch, at, timedelta(seconds=30), skip=[schedules.DateRange(first=holiday, last=holiday)]),
            app_id=APP_ID,
            task_queue=queue,
        )
        await until_time(at + timedelta(seconds=3))
        report = await schedules.describe_class(dev_client, sid)
    assert report.firings == [] and report.next_times[0] == at + timedelta(days=7)
    assert not await workflow_exists(dev_client, api.workflow_id(APP_ID, ch))


async def test_a_firing_while_the_channel_records_joins_it(dev_client: Client, emulator: RunningEmulator):
    """Triggering a class whose channel is recording starts no second recorder and keeps that recording's end."""
    ch = channel()
    emulator.join(ch, TEACHER)
    async with worker_for(dev_client, emulator) as queue:
        started = await api.start_recording(dev_client, request_for(ch), app_id=APP_ID, task_queue=queue)
        [sid] = await schedules.add_class(
            dev_client,
            class_at(ch, datetime.now(UTC) + timedelta(days=1), timedelta(minutes=50)),
            app_id=APP_ID,
            task_queue=queue,
        )
        result = await schedules.trigger_class(dev_client, sid, wait=True)
        handle = recording(dev_client, ch)
        status = await handle.query(RecordingWorkflow.status)
        desc = await handle.describe()
        await api.stop_recording(dev_client, ch, app_id=APP_ID)
    assert result is not None and result.outcome == "joined" and result.run_id is None
    assert desc.run_id == started.run_id and status.planned_end is None
    assert desc.typed_search_attributes.get(names.SCHEDULE) is None
    assert len(tasks_of(emulator, ch)) == 1


async def test_workers_down_at_class_time_start_late_with_the_original_end(
    dev_client: Client, emulator: RunningEmulator
):
    """With every worker down at class time, a class still on starts late to its original end; one over starts none."""
    long_ch, short_ch = channel(), channel()
    emulator.join(long_ch, TEACHER)
    at, queue = soon(3), f"tq-down-{long_ch}"
    [long_sid] = await schedules.add_class(
        dev_client, class_at(long_ch, at, timedelta(minutes=2)), app_id=APP_ID, task_queue=queue
    )
    [short_sid] = await schedules.add_class(
        dev_client, class_at(short_ch, at, timedelta(seconds=4)), app_id=APP_ID, task_queue=queue
    )
    await until_time(at + timedelta(seconds=8))  # no worker polls `queue` until now
    async with running_workers(dev_client, settings_for(emulator), queue=queue):
        [late] = await fired(dev_client, long_sid)
        [missed] = await fired(dev_client, short_sid)
        status = await recording(dev_client, long_ch).query(RecordingWorkflow.status)
        await api.stop_recording(dev_client, long_ch, app_id=APP_ID)

    assert (late.status, late.late, late.planned_end) == ("started", True, at + timedelta(minutes=2))
    assert late.ran_at is not None and late.ran_at - at >= timedelta(seconds=8)
    assert "no worker ran the firing" in late.reason
    assert status.planned_end == at + timedelta(minutes=2)
    assert (missed.status, missed.late) == ("missed", True) and "had ended" in missed.reason
    assert not await workflow_exists(dev_client, api.workflow_id(APP_ID, short_ch))
    assert tasks_of(emulator, short_ch) == []


async def test_temporal_down_at_class_time_catches_up_while_the_class_is_on(emulator: RunningEmulator):
    """With the server down at class time, a class still on is fired late with its original end; one over is not."""
    long_ch, short_ch = channel(), channel()
    emulator.join(long_ch, TEACHER)
    server = DevServer(db_file=Path(tempfile.mkdtemp(prefix="schedules-")) / "temporal.db")
    await server.start()
    try:
        client = await connect(target_host=server.address)
        at, queue = soon(4), f"tq-{long_ch}"
        [long_sid] = await schedules.add_class(
            client, class_at(long_ch, at, timedelta(minutes=2)), app_id=APP_ID, task_queue=queue
        )
        [short_sid] = await schedules.add_class(
            client, class_at(short_ch, at, timedelta(seconds=3)), app_id=APP_ID, task_queue=queue
        )
        await until_time(at - timedelta(seconds=2))
        await server.stop()
        await until_time(at + timedelta(seconds=12))  # past the short class and its 10 s minimum catchup window
        await server.start()
        client = await connect(target_host=server.address)
        async with running_workers(client, settings_for(emulator), queue=queue):
            [late] = await fired(client, long_sid)
            status = await recording(client, long_ch).query(RecordingWorkflow.status)
            await api.stop_recording(client, long_ch, app_id=APP_ID)
            short = await schedules.describe_class(client, short_sid)
            short_recorded = await workflow_exists(client, api.workflow_id(APP_ID, short_ch))
    finally:
        await server.stop()
    assert (late.status, late.late, late.planned_end) == ("started", True, at + timedelta(minutes=2))
    assert late.fired_at is not None and late.fired_at - at >= timedelta(seconds=10)
    assert "Temporal fired the schedule" in late.reason
    assert status.planned_end == at + timedelta(minutes=2)
    [missed] = short.firings
    assert missed.status in ("not fired", "missed") and missed.late
    assert not short_recorded and tasks_of(emulator, short_ch) == []
