"""Gapless classes: a redundant recording runs two lines of recorders, each on its own uid pair and resource.

On the real dev server with the schedules shrunk (tests/workflows/realtime.py says why).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from tests.workflows.helpers import tasks_of
from tests.workflows.realtime import fast_recording, poll
from workflows.models import RecordingStatus, StopRequest
from workflows.recording import RecordingWorkflow

SECOND = {"redundant": True, "redundant_uid": "527843", "redundant_backup_uid": "527844"}


def _both_up(status: RecordingStatus) -> bool:
    return len(status.lines) == 2 and all(line.up for line in status.lines)


async def test_two_lines_record_at_once_on_their_own_uids_and_resources(dev_client: Client):
    """Both recorders run at once, on uid and redundant_uid; the second acquire excludes the first's resource."""
    async with fast_recording(dev_client, **SECOND) as live:
        handle, emu, req = live.handle, live.emulator, live.request
        up = await poll(handle, _both_up)
        running = [t for t in tasks_of(emu, req.channel) if t["running"]]
        assert sorted(t["uid"] for t in running) == [req.uid, "527843"]
        assert sorted(line.sid or "" for line in up.lines) == sorted(t["sid"] for t in running)
        manifest = await handle.execute_update(RecordingWorkflow.stop, StopRequest())
        assert not any(t["running"] for t in tasks_of(emu, req.channel))
    assert sorted((s.line, s.uid, s.end_reason) for s in manifest.segments) == [
        (0, req.uid, "stopped"),
        (1, "527843", "stopped"),
    ]
    acquires = [
        json.loads(e.activity_task_scheduled_event_attributes.input.payloads[0].data)
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "acquire_resource"
    ]
    first = next(s for s in manifest.segments if s.line == 0)
    assert [a["exclude_resource_ids"] for a in acquires if a["uid"] == "527843"] == [[first.resource_id]]


async def test_a_crash_of_either_recorder_loses_no_class_time(dev_client: Client):
    """Line 1's recorder crashes and restarts while line 2 records: after both were up, the class has no gap."""
    async with fast_recording(dev_client, **SECOND) as live:
        handle, emu, req = live.handle, live.emulator, live.request
        both = await poll(handle, _both_up)
        await asyncio.sleep(3)  # a healthy check of each line after both are up
        emu.crash(both.lines[0].sid or "")
        restarted = await poll(handle, lambda s: s.lines[0].up and s.lines[0].restarts == 1)
        manifest = await asyncio.wait_for(handle.result(), 90)
    first_line = [s for s in manifest.segments if s.line == 0]
    assert [s.end_reason for s in first_line] == ["recorder_exited", "stopped"]
    assert [s.uid for s in first_line] == [req.uid, req.backup_uid] and restarted.lines[1].restarts == 0
    second_up = min(s.confirmed_at for s in manifest.segments if s.line == 1 and s.confirmed_at)
    assert [g for g in manifest.gaps if g.end > second_up] == []


async def test_redundant_recording_continues_as_new_with_both_lines(dev_client: Client):
    """A redundant recording continues as new with both lines' segments and ends with each stopped once."""
    overrides = {"checks_per_run": 3, "check_interval": 1, "max_duration": timedelta(seconds=25)}
    async with fast_recording(dev_client, **SECOND, **overrides) as live:
        handle, emu, req = live.handle, live.emulator, live.request
        manifest = await asyncio.wait_for(handle.result(), 120)
        assert not any(t["running"] for t in tasks_of(emu, req.channel))
    assert manifest.runs >= 2
    assert sorted((s.line, s.end_reason) for s in manifest.segments) == [(0, "stopped"), (1, "stopped")]
