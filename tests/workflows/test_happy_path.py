"""A class recorded end to end: start, confirm, checks, planned end, stop with the upload status."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from emulator.testing import RunningEmulator
from tests.conftest import worker_for
from tests.workflows.helpers import TEACHER, request, start, tasks_of


async def test_recording_runs_to_its_planned_end_and_stops(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """A recording with a maximum duration starts one recorder, confirms it, and stops it at the end with files."""
    req = request()
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    assert manifest.phase == "stopped"
    assert manifest.stop_trigger == "max_duration"
    assert len(manifest.segments) == 1
    seg = manifest.segments[0]
    assert seg.uid == req.uid and seg.end_reason == "stopped" and seg.confirmed_at is not None
    assert seg.m3u8_names == [f"{seg.sid}_{req.channel}.m3u8"]
    assert seg.uploading_status == "uploaded"
    tasks = tasks_of(emulator, req.channel)
    assert [t["sid"] for t in tasks] == [seg.sid]
    assert tasks[0]["endReason"] == "stopped" and not tasks[0]["running"]
