"""The Python API against Temporal's time-skipping server and the emulator: one recording per channel."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from emulator.testing import RunningEmulator
from recorder import api
from tests.conftest import worker_for
from tests.recorder.conftest import APP_ID, Rig, channel
from tests.workflows.helpers import TEACHER, request, tasks_of
from workflows import names
from workflows.models import RecordingStatus


async def status_when(client: Client, ch: str, ok, *, within: float = 20.0) -> RecordingStatus:
    """Poll describe_recording until `ok(status)` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        status = await api.describe_recording(client, ch, app_id=APP_ID)
        if ok(status):
            return status
        assert loop.time() < deadline, f"status never matched: {status}"
        await asyncio.sleep(0.1)


def test_workflow_id_names_app_and_channel():
    """The workflow id is derived from the App ID and the channel, so a channel has one recording."""
    assert api.workflow_id("app1", "math-101") == "recording:app1:math-101"


def test_static_summary_fits_and_details_have_no_secret():
    """The summary stays within 200 bytes and the details list the request's settings but no storage secret."""
    req = request(channel="c" * 63, max_idle_time=600, check_interval=60, storage_profile="eu")
    summary = api.static_summary(req)
    assert summary == f"Recording {'c' * 63} (mix)" and len(summary.encode()) <= 200
    details = api.static_details(req)
    for part in ("527841", "527842", "600 s", "60 s", "after 10m", "`eu`"):
        assert part in details
    assert "secret" not in details.lower()


async def test_start_status_stop_returns_the_manifest(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """start_recording starts the workflow, describe_recording sees its sid, stop_recording returns the manifest."""
    req = request()
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        outcome = await api.start_recording(ts_env.client, req, app_id=APP_ID, task_queue=queue)
        assert outcome.workflow_id == f"recording:{APP_ID}:{req.channel}"
        assert not outcome.already_running and outcome.run_id
        status = await status_when(ts_env.client, req.channel, lambda s: s.sid is not None)
        assert status.channel == req.channel and status.uid == req.uid
        manifest = await api.stop_recording(ts_env.client, req.channel, app_id=APP_ID)
        assert manifest.phase == "stopped" and manifest.stop_trigger == "requested"
        assert [s.sid for s in manifest.segments] == [status.sid]
        assert manifest.segments[0].end_reason == "stopped"
        # A closed recording still answers: its final status, and its manifest on a second stop.
        closed = await api.describe_recording(ts_env.client, req.channel, app_id=APP_ID)
        assert closed.phase == "stopped"
        again = await api.stop_recording(ts_env.client, req.channel, app_id=APP_ID)
        assert again.phase == "stopped" and [s.sid for s in again.segments] == [status.sid]
    assert [t["sid"] for t in tasks_of(emulator, req.channel)] == [status.sid]
    assert not tasks_of(emulator, req.channel)[0]["running"]


async def test_second_start_returns_the_running_recording(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """Starting a channel that is already recording returns that recording, and Agora gets one task only."""
    req = request()
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        first = await api.start_recording(ts_env.client, req, app_id=APP_ID, task_queue=queue)
        await status_when(ts_env.client, req.channel, lambda s: s.sid is not None)
        second = await api.start_recording(ts_env.client, req, app_id=APP_ID, task_queue=queue)
        assert second.already_running
        assert (second.workflow_id, second.run_id) == (first.workflow_id, first.run_id)
        assert second.status is not None and second.status.sid is not None
        assert len(tasks_of(emulator, req.channel)) == 1
        await api.stop_recording(ts_env.client, req.channel, app_id=APP_ID)
        # Once stopped, the same channel can be recorded again (a new run of the same workflow id).
        third = await api.start_recording(ts_env.client, req, app_id=APP_ID, task_queue=queue)
        assert not third.already_running and third.run_id != first.run_id
        await status_when(ts_env.client, req.channel, lambda s: s.sid is not None)
        await api.stop_recording(ts_env.client, req.channel, app_id=APP_ID)
    assert len(tasks_of(emulator, req.channel)) == 2


async def test_unknown_channel_raises_recording_not_found(ts_env: WorkflowEnvironment):
    """describe_recording and stop_recording of a channel never recorded raise RecordingNotFound with a clear text."""
    with pytest.raises(api.RecordingNotFound, match=r"no recording for channel nobody-here \(workflow id "):
        await api.describe_recording(ts_env.client, "nobody-here", app_id=APP_ID)
    with pytest.raises(api.RecordingNotFound):
        await api.stop_recording(ts_env.client, "nobody-here", app_id=APP_ID)


@pytest.mark.devserver
async def test_start_sets_summary_details_and_search_attributes(rig: Rig):
    """The started workflow carries its static summary and details and the channel and phase search attributes."""
    ch = channel()
    rig.emulator.join(ch, TEACHER)
    req = request(ch, max_idle_time=600, check_interval=60, max_duration=timedelta(hours=2))
    outcome = await api.start_recording(rig.client, req, app_id=APP_ID, task_queue=rig.queue)
    try:
        desc = await rig.client.get_workflow_handle(outcome.workflow_id).describe()
        assert await desc.static_summary() == f"Recording {ch} (mix)"
        details = await desc.static_details()
        assert details is not None
        assert f"`{ch}`" in details and "600 s" in details and "60 s" in details and "after 2h" in details
        assert desc.typed_search_attributes.get(names.CHANNEL) == ch
        assert desc.typed_search_attributes.get(names.PHASE) is not None
        assert desc.status == WorkflowExecutionStatus.RUNNING
    finally:
        await api.stop_recording(rig.client, ch, app_id=APP_ID)


@pytest.mark.devserver
async def test_list_recordings_filters_by_phase_and_running(rig: Rig):
    """list_recordings finds a running recording by App ID and phase, and only with running_only=False once ended."""
    ch = channel()
    rig.emulator.join(ch, TEACHER)
    req = request(ch, max_idle_time=60, check_interval=30)
    outcome = await api.start_recording(rig.client, req, app_id=APP_ID, task_queue=rig.queue)
    await status_when(rig.client, ch, lambda s: s.phase == "recording")

    async def listed(**kwargs) -> list[api.RecordingSummary]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while True:
            rows = [r for r in await api.list_recordings(rig.client, **kwargs) if r.workflow_id == outcome.workflow_id]
            if rows or loop.time() > deadline:
                return rows
            await asyncio.sleep(0.2)

    rows = await listed(app_id=APP_ID, phase="recording")
    assert len(rows) == 1
    row = rows[0]
    assert (row.channel, row.phase, row.uid, row.status) == (ch, "recording", req.uid, "Running")
    assert row.sid is not None and row.restarts == 0
    assert [r for r in await api.list_recordings(rig.client, app_id="another-app") if r.channel == ch] == []
    await api.stop_recording(rig.client, ch, app_id=APP_ID)
    ended = await listed(app_id=APP_ID, running_only=False, phase="stopped")
    assert [(r.status, r.phase) for r in ended] == [("Completed", "stopped")]
    running = [r for r in await api.list_recordings(rig.client, app_id=APP_ID) if r.workflow_id == outcome.workflow_id]
    assert running == []
