"""Agora's callbacks (NCS) as the workflow takes them: faster than the next check, once each, in any order.

On the real dev server with the schedules shrunk (tests/workflows/realtime.py says why): a callback ends a wait
whose timer may fire at the same moment.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client

from tests.workflows.helpers import tasks_of
from tests.workflows.realtime import Live, fast_recording, poll
from workflows import names
from workflows.inbox import CallbackInboxWorkflow
from workflows.models import RecorderEvent, RecordingManifest, StopRequest
from workflows.recording import RecordingWorkflow


def event(live: Live, event_type: int, sid: str | None = None, **fields: Any) -> RecorderEvent:
    """A callback about the live recording's channel (its current sid unless another is named)."""
    fields.setdefault("notice_id", uuid.uuid4().hex)
    fields.setdefault("app_id", live.emulator.config.app_id)
    return RecorderEvent(event_type=event_type, cname=live.request.channel, sid=sid or "", **fields)


async def _recording_sid(live: Live) -> str:
    status = await poll(live.handle, lambda s: s.phase == "recording" and s.sid is not None)
    assert status.sid is not None
    return status.sid


async def _manifest(live: Live) -> RecordingManifest:
    return await live.handle.query(RecordingWorkflow.manifest)


async def test_a_session_exit_callback_heals_a_crash_before_the_next_check(dev_client: Client):
    """A recorder crash announced by event 11 is checked at once: the restart comes well before the next check."""
    async with fast_recording(dev_client, check_interval=30, max_idle_time=60) as live:
        sid = await _recording_sid(live)
        live.emulator.crash(sid)
        began = asyncio.get_running_loop().time()
        await live.handle.signal(RecordingWorkflow.recorder_event, event(live, 11, sid, exit_status=1))
        restarted = await poll(live.handle, lambda s: s.restarts == 1 and s.phase == "recording", within=25)
        healed_in = asyncio.get_running_loop().time() - began
        await live.handle.signal(RecordingWorkflow.request_stop, StopRequest())
    assert restarted.uid == live.request.backup_uid
    assert healed_in < 20, healed_in  # the next check was 30 s away; the 404 backoff and a start take a few


async def test_a_resent_or_duplicated_callback_acts_once(dev_client: Client):
    """The same noticeId delivered three times counts once; another notice counts again."""
    async with fast_recording(dev_client) as live:
        sid = await _recording_sid(live)
        again = event(live, 33, sid, progress=2500, notice_id="n-1")
        for _ in range(3):
            await live.handle.signal(RecordingWorkflow.recorder_event, again)
        await live.handle.signal(RecordingWorkflow.recorder_event, event(live, 33, sid, progress=5000))
        status = await poll(live.handle, lambda s: s.callbacks >= 2)
        await asyncio.sleep(0.5)
        assert (await live.handle.query(RecordingWorkflow.status)).callbacks == status.callbacks == 2
        await live.handle.signal(RecordingWorkflow.request_stop, StopRequest())


async def test_delivery_callbacks_in_any_order_keep_the_latest_state(dev_client: Client):
    """Uploaded (31) wins over a late uploading progress (33); the files of 31 and the progress are kept."""
    async with fast_recording(dev_client) as live:
        sid = await _recording_sid(live)
        send = live.handle.signal
        await send(RecordingWorkflow.recorder_event, event(live, 30, sid, sequence=1))
        await send(RecordingWorkflow.recorder_event, event(live, 33, sid, sequence=2, progress=5000))
        await send(RecordingWorkflow.recorder_event, event(live, 31, sid, sequence=4, file_names=[f"{sid}_x.m3u8"]))
        await send(RecordingWorkflow.recorder_event, event(live, 33, sid, sequence=3, progress=7000))
        await poll(live.handle, lambda s: s.callbacks == 4)
        seg = (await _manifest(live)).segments[0]
        await send(RecordingWorkflow.request_stop, StopRequest())
    assert (seg.delivery, seg.upload_progress) == ("uploaded", 100.0)
    assert f"{sid}_x.m3u8" in seg.file_list


async def test_an_announced_failover_shows_the_new_uid_and_bak_names_at_once(dev_client: Client):
    """Event 12 puts the migration's new uid and the bak0_ M3U8 name on the segment before any query shows it."""
    async with fast_recording(dev_client, file_name_prefix=["school", "math"]) as live:
        sid = await _recording_sid(live)
        await live.handle.signal(RecordingWorkflow.recorder_event, event(live, 12, sid, new_uid="3456789012"))
        await poll(live.handle, lambda s: s.callbacks == 1)
        seg = (await _manifest(live)).segments[0]
        await live.handle.signal(RecordingWorkflow.request_stop, StopRequest())
    assert seg.failover_uid == "3456789012" and seg.failovers_announced == 1
    assert f"school/math/bak0_{sid}_{live.request.channel}.m3u8" in seg.m3u8_names


async def test_file_infos_confirm_the_m3u8_name_without_the_query(dev_client: Client):
    """Event 4 confirms the M3U8 names it lists, before the 15 s query would (here long after it)."""
    async with fast_recording(dev_client) as live:
        status = await poll(live.handle, lambda s: s.sid is not None)
        sid = status.sid or ""
        name = f"{sid}_{live.request.channel}.m3u8"
        await live.handle.signal(RecordingWorkflow.recorder_event, event(live, 4, sid, file_names=[name]))
        await poll(live.handle, lambda s: s.callbacks == 1)
        seg = (await _manifest(live)).segments[0]
        await live.handle.signal(RecordingWorkflow.request_stop, StopRequest())
    assert seg.m3u8_confirmed and seg.m3u8_names == [name]


async def test_a_callback_about_a_sid_nobody_started_reaches_the_inbox(dev_client: Client):
    """A callback about a sid this recording never started is forwarded to the App ID's inbox, once."""
    async with fast_recording(dev_client) as live:
        own_app = f"app-{uuid.uuid4().hex[:6]}"  # an inbox of this test's own
        inbox = await dev_client.start_workflow(
            CallbackInboxWorkflow.run, None, id=names.inbox_id(own_app), task_queue=live.queue
        )
        await _recording_sid(live)
        stray = event(live, 40, "f" * 32, app_id=own_app, notice_id="stray-1")
        for _ in range(2):
            await live.handle.signal(RecordingWorkflow.recorder_event, stray)
        view = await _until_inbox_has(inbox, 1)
        await live.handle.signal(RecordingWorkflow.request_stop, StopRequest())
        await inbox.terminate("test over")
    assert [e.event.sid for e in view.events] == ["f" * 32] and view.counts == {40: 1}


async def _until_inbox_has(inbox: Any, count: int) -> Any:
    for _ in range(50):
        view = await inbox.query(CallbackInboxWorkflow.view)
        if view.total >= count:
            await asyncio.sleep(0.5)
            return await inbox.query(CallbackInboxWorkflow.view)
        await asyncio.sleep(0.2)
    raise AssertionError("the inbox never got the callback")


async def test_ha_check_replaces_a_recorder_without_event_13_and_keeps_one_with_it(dev_client: Client):
    """With ha_check, a recorder with no event 13 in time is replaced on the backup uid; one that sent it stays."""
    async with fast_recording(dev_client, ha_check=True, max_duration=timedelta(seconds=15)) as live:
        first = (await poll(live.handle, lambda s: s.sid is not None)).sid
        replaced = await poll(live.handle, lambda s: s.failed_starts == 1 and s.sid not in (None, first), within=40)
        sid = replaced.sid or ""
        await live.handle.signal(RecordingWorkflow.recorder_event, event(live, 13, sid))
        kept = await poll(live.handle, lambda s: s.phase == "recording", within=40)
        manifest = await asyncio.wait_for(live.handle.result(), 60)
        assert not any(t["running"] for t in tasks_of(live.emulator, live.request.channel))
    assert manifest.segments[0].end_reason == "not_confirmed" and "event 13" in (manifest.segments[0].detail or "")
    assert kept.sid == sid and manifest.segments[-1].end_reason == "stopped"
