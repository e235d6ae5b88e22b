"""Each best-practice rule of RecordingWorkflow, proven on the time-skipping server against the emulator over HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from emulator.testing import RunningEmulator, running_emulator
from recorder.processes import binary
from recorder.search_attributes import ensure_search_attributes as register_search_attributes
from tests.conftest import fast_emulator_config, worker_for
from tests.workflows.helpers import TEACHER, confirmed_sid, request, requests_of, start, tasks_of
from workflows import policy
from workflows.models import StopRequest
from workflows.recording import RecordingWorkflow


async def _activity_attempts(handle: Any, activity_name: str) -> list[int]:
    """Attempt numbers of every started activity of one type, in history order."""
    history = await handle.fetch_history()
    scheduled: dict[int, str] = {}
    attempts: list[int] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            attrs = event.activity_task_started_event_attributes
            if scheduled.get(attrs.scheduled_event_id) == activity_name:
                attempts.append(attrs.attempt)
    return attempts


# --- rule 1: start ------------------------------------------------------------------------------------------


async def test_rule1_start_40x_fails_at_once_and_starts_nothing(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """A 400/2 on start fails the workflow with Agora's reason, on the first attempt, with no recorder started."""
    req = request()
    emulator.inject("start", "custom", status=400, body={"code": 2, "reason": "storageConfig: bucket not found"})
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert "bucket not found" in str(failure.value.cause)
    assert await _activity_attempts(handle, "start_recorder") == [1]
    assert tasks_of(emulator, req.channel) == []
    assert requests_of(emulator, req.channel, "stop") == []


async def test_rule1_start_50x_retried_3_6_9_then_other_uid(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """Start 50x is retried three times with the same resource, then a new acquire+start runs on the backup uid."""
    req = request()
    emulator.join(req.channel, TEACHER)
    emulator.inject("start", "server_error", count=4)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    # history keeps the last attempt of each activity: attempt 4 failed on the primary uid, then a fresh start
    assert await _activity_attempts(handle, "start_recorder") == [4, 1]
    assert await _activity_attempts(handle, "acquire_resource") == [1, 1]
    assert manifest.failed_starts == 1
    assert [s.uid for s in manifest.segments] == [req.backup_uid]
    assert [t["uid"] for t in tasks_of(emulator, req.channel)] == [req.backup_uid]


async def test_rule1_request_not_completed_retried_twice(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """206/65 on start is retried after 3 and 6 s with the same parameters and then succeeds on the same uid."""
    req = request()
    emulator.join(req.channel, TEACHER)
    emulator.inject("start", "request_not_completed", count=2)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    assert await _activity_attempts(handle, "start_recorder") == [3]
    assert [s.uid for s in manifest.segments] == [req.uid]
    assert manifest.failed_starts == 0


async def test_rule1_accepted_start_with_lost_answer_recovers_the_sid(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator
):
    """A start Agora accepted but whose answer was lost is recovered from the duplicate-start answer: no orphan."""
    req = request()
    emulator.join(req.channel, TEACHER)
    emulator.inject("start", "accepted_then_fail", count=1)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    tasks = tasks_of(emulator, req.channel)
    assert len(tasks) == 1 and not tasks[0]["running"] and tasks[0]["endReason"] == "stopped"
    assert [(s.sid, s.sid_recovered) for s in manifest.segments] == [(tasks[0]["sid"], True)]


async def test_rule1_resource_used_by_a_lost_attempt_moves_to_the_other_uid(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator
):
    """A 400 on a start retry (an attempt whose answer was lost used the resource) re-acquires on the backup uid."""
    req = request()
    emulator.join(req.channel, TEACHER)
    emulator.inject("start", "server_error", count=1)
    emulator.inject("start", "custom", status=400, body={"code": 2, "reason": "resourceId already used by a task"})
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    assert manifest.phase == "stopped" and manifest.failed_starts == 1
    assert [s.uid for s in manifest.segments] == [req.backup_uid]


async def test_rule1_rate_limit_and_quota_do_not_burn_the_uid(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """429 and 406 back off and retry on the same uid: the primary uid records and no start counts as failed."""
    req = request()
    emulator.join(req.channel, TEACHER)
    emulator.inject("acquire", "rate_limited", count=2)
    emulator.inject("acquire", "over_quota", count=6)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    assert [s.uid for s in manifest.segments] == [req.uid]
    assert manifest.failed_starts == 0
    # 2 x 429 and 3 x 406 use up the first acquire's schedule; the workflow waits and a second acquire on the
    # same uid meets the 3 remaining 406s before it succeeds
    assert await _activity_attempts(handle, "acquire_resource") == [5, 4]


async def test_rule1_expired_resource_gets_a_new_resource_on_the_same_uid(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator
):
    """433 (resourceId expired) makes a new acquire for the same uid instead of switching uid."""
    req = request()
    emulator.join(req.channel, TEACHER)
    emulator.inject("start", "custom", status=433, body={"code": 433, "reason": "resource expired"})
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    assert await _activity_attempts(handle, "acquire_resource") == [1, 1]
    assert [s.uid for s in manifest.segments] == [req.uid]


async def test_rule1_task_conflict_moves_to_the_other_uid(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """400/53 (a task with the same channel and uid exists) moves the start to the backup uid."""
    req = request()
    emulator.join(req.channel, TEACHER)
    auth = (emulator.config.customer_id, emulator.config.customer_secret.get_secret_value())
    base = f"{emulator.base_url}/v1/apps/{emulator.config.app_id}/cloud_recording"
    async with httpx.AsyncClient(auth=auth) as http:
        acquired = await http.post(f"{base}/acquire", json={"cname": req.channel, "uid": req.uid, "clientRequest": {}})
        body = {
            "cname": req.channel,
            "uid": req.uid,
            "clientRequest": {
                "recordingConfig": {"maxIdleTime": 60},
                "recordingFileConfig": {"avFileType": ["hls"]},
                "storageConfig": {"vendor": 1, "region": 0, "bucket": "b", "accessKey": "k", "secretKey": "s"},
            },
        }
        rid = acquired.json()["resourceId"]
        started = await http.post(f"{base}/resourceid/{rid}/mode/mix/start", json=body)
        assert started.status_code == 200, started.text
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    assert [s.uid for s in manifest.segments] == [req.backup_uid]
    assert manifest.failed_starts == 1


# --- rule 2: confirm ----------------------------------------------------------------------------------------


async def test_rule2_recorder_not_up_in_90s_is_stopped_and_restarted_on_other_uid(ts_env: WorkflowEnvironment):
    """A recorder that never reaches status 4/5 within 90 s is stopped and the next start uses the other uid."""
    req = request(max_duration=timedelta(minutes=4))
    async with running_emulator(fast_emulator_config(speed=0, startup_seconds=1e6)) as emu:
        emu.join(req.channel, TEACHER)
        async with worker_for(ts_env.client, emu) as queue:
            handle = await start(ts_env.client, queue, req)
            manifest = await handle.result()
        tasks = tasks_of(emu, req.channel)
    first = manifest.segments[0]
    assert first.end_reason == "not_confirmed" and first.uid == req.uid
    assert manifest.segments[1].uid == req.backup_uid
    assert (first.ended_at - first.started_at).total_seconds() >= policy.CONFIRM_WINDOW
    assert all(not t["running"] for t in tasks)
    assert {t["endReason"] for t in tasks} == {"stopped"}


# --- rules 3, 4, 5: monitor, restart on the other uid, failover --------------------------------------------------


def _overlaps(tasks: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Pairs of tasks with the same uid whose running times overlapped."""
    out = []
    for i, a in enumerate(tasks):
        for b in tasks[i + 1 :]:
            if a["uid"] != b["uid"]:
                continue
            a_end = a["endedAt"] if a["endedAt"] is not None else float("inf")
            b_end = b["endedAt"] if b["endedAt"] is not None else float("inf")
            if a["startedAt"] < b_end and b["startedAt"] < a_end:
                out.append((a["sid"], b["sid"]))
    return out


async def test_rule4_crashed_recorder_is_restarted_on_the_other_uid(ts_env: WorkflowEnvironment):
    """After a crash, query 404s are retried at 5/10/15 s, then a new recorder starts on the other uid."""
    req = request(max_duration=timedelta(minutes=8))
    # The clock is frozen: without exit_visible_seconds=0 the crashed task would show status 20 forever, not 404.
    async with running_emulator(fast_emulator_config(speed=0, startup_seconds=0, exit_visible_seconds=0)) as emu:
        emu.join(req.channel, TEACHER)
        async with worker_for(ts_env.client, emu) as queue:
            handle = await start(ts_env.client, queue, req)
            sid = await confirmed_sid(ts_env, handle)
            emu.crash(sid)
            manifest = await handle.result()
        tasks = tasks_of(emu, req.channel)
    assert [s.uid for s in manifest.segments] == [req.uid, req.backup_uid]
    assert manifest.segments[0].end_reason == "recorder_exited" and manifest.restarts == 1
    crashed = next(t for t in tasks if t["sid"] == sid)
    queries_after_crash = [r for r in crashed["requests"] if r["op"] == "query" and r["status"] == 404]
    # one check and three backoff re-checks; then the failover probe, which also backs off 5/10/15 s on 404
    assert len(queries_after_crash) == 2 * (1 + len(policy.NOT_FOUND_DELAYS))
    assert _overlaps(tasks) == []
    assert {t["maxIdleTime"] for t in tasks} == {req.max_idle_time}  # rule 7: on every start
    assert all(not t["running"] for t in tasks)


async def test_rule4_query_50x_keeps_checking_without_restart(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """50x on query is retried with backoff and never restarts the recorder."""
    req = request()
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        await confirmed_sid(ts_env, handle)
        emulator.inject("query", "server_error", count=6)
        manifest = await handle.result()
    assert len(manifest.segments) == 1 and manifest.restarts == 0
    assert len(tasks_of(emulator, req.channel)) == 1


async def test_rule4_persistent_40x_on_query_is_surfaced_as_fault(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator
):
    """A query that keeps answering 400 puts the workflow in phase 'fault' with Agora's reason visible."""
    req = request()
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        await confirmed_sid(ts_env, handle)
        emulator.inject("query", "custom", count=1000, status=400, body={"code": 2, "reason": "invalid sid"})
        await ts_env.sleep(req.effective_check_interval * 2)
        status = await handle.query(RecordingWorkflow.status)
        assert status.phase == "fault"
        assert status.last_error is not None and "invalid sid" in status.last_error
        manifest = await handle.execute_update(RecordingWorkflow.stop, StopRequest())
    assert manifest.phase == "stopped" and manifest.segments[0].end_reason == "stopped"


async def test_rule5_failover_duplicate_is_stopped_and_both_segments_kept(ts_env: WorkflowEnvironment):
    """A task that comes back from Agora's failover after the restart is stopped; both segments stay in the manifest."""
    req = request(max_duration=timedelta(minutes=8))
    async with running_emulator(fast_emulator_config(speed=0, startup_seconds=0)) as emu:
        emu.join(req.channel, TEACHER)
        async with worker_for(ts_env.client, emu) as queue:
            handle = await start(ts_env.client, queue, req)
            sid = await confirmed_sid(ts_env, handle)
            emu.failover(sid, downtime=60)
            for _ in range(12):
                await ts_env.sleep(10)
                if (await handle.query(RecordingWorkflow.status)).restarts == 1:
                    break
            emu.advance(61)  # the old task comes back with a new uid and bak0_ files
            manifest = await handle.result()
        tasks = tasks_of(emu, req.channel)
    old = manifest.segments[0]
    returned = next(t for t in tasks if t["sid"] == sid)
    assert old.end_reason == "failover_duplicate"
    assert returned["currentUid"] != req.uid and returned["endReason"] == "stopped"
    assert any(n.startswith("bak0_") or "/bak0_" in n for n in old.m3u8_names)
    assert manifest.segments[1].uid == req.backup_uid
    assert all(not t["running"] for t in tasks)


# --- rule 6: M3U8 ---------------------------------------------------------------------------------------------


async def test_rule6_m3u8_names_spliced_and_confirmed_per_mode(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """Mix names are spliced from the sid and confirmed by query; individual names come per uid and track."""
    mix = request()
    ind = request(mode="individual", subscribe_audio_uids=[TEACHER], subscribe_video_uids=[TEACHER])
    for r in (mix, ind):
        emulator.join(r.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        handles = [await start(ts_env.client, queue, r) for r in (mix, ind)]
        mix_m, ind_m = [await h.result() for h in handles]
    seg = mix_m.segments[0]
    assert seg.m3u8_names == [f"{seg.sid}_{mix.channel}.m3u8"] and seg.m3u8_confirmed
    iseg = ind_m.segments[0]
    assert iseg.m3u8_confirmed
    assert sorted(iseg.m3u8_names) == sorted(
        f"{iseg.sid}_{ind.channel}__uid_s_{TEACHER}__uid_e_{t}.m3u8" for t in ("audio", "video")
    )


# --- rule 8: stop ----------------------------------------------------------------------------------------------


async def test_rule8_stop_update_returns_the_final_manifest(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """The stop update stops the recorder, waits for the upload status and returns the final manifest."""
    req = request(max_duration=None)
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        await confirmed_sid(ts_env, handle)
        manifest = await handle.execute_update(RecordingWorkflow.stop, StopRequest())
        assert await handle.result() == manifest
    assert manifest.stop_trigger == "requested" and manifest.segments[0].uploading_status == "uploaded"
    assert all(not t["running"] for t in tasks_of(emulator, req.channel))


@pytest.mark.parametrize("how", ["signal", "cancel"])
async def test_rule8_signal_and_cancel_stop_the_recorder(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator, how: str
):
    """The stop signal and workflow cancellation both stop the recorder and complete with a manifest."""
    req = request(max_duration=None)
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        await confirmed_sid(ts_env, handle)
        if how == "signal":
            await handle.signal(RecordingWorkflow.request_stop, StopRequest())
        else:
            await handle.cancel()
        manifest = await handle.result()
    assert manifest.stop_trigger == ("requested" if how == "signal" else "cancelled")
    tasks = tasks_of(emulator, req.channel)
    assert len(tasks) == 1 and tasks[0]["endReason"] == "stopped"


async def test_rule8_cancel_during_acquire_stops_cleanly(emulator: RunningEmulator):
    """A cancellation that lands while acquire is in flight completes the workflow as stopped, with no recorder."""
    # The abandoned acquire completes after the workflow has closed; the time-skipping server then keeps time locked
    # for good, so this test has a server of its own.
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    try:
        await register_search_attributes(env.client)
        req = request(max_duration=None)
        emulator.join(req.channel, TEACHER)
        emulator.inject("acquire", "delay", delay=3.0)
        async with worker_for(env.client, emulator) as queue:
            handle = await start(env.client, queue, req)
            for _ in range(100):
                if emulator.emulator.snapshot()["requestCount"] >= 1:
                    break
                await asyncio.sleep(0.05)
            await handle.cancel()
            manifest = await handle.result()
    finally:
        await env.shutdown()
    assert manifest.phase == "stopped" and manifest.stop_trigger == "cancelled"
    assert all(not t["running"] for t in tasks_of(emulator, req.channel))


# --- rules 9 and 10: long classes, queries ---------------------------------------------------------------------


async def test_rule9_long_class_continues_as_new_with_small_histories(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator
):
    """A long class continues-as-new, carrying its segment, and every run's history stays far below 10,240 events."""
    req = request(max_idle_time=60, check_interval=30, max_duration=timedelta(hours=6))
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    assert len(manifest.segments) == 1 and manifest.segments[0].end_reason == "stopped"
    assert manifest.runs >= 2
    run_id = handle.first_execution_run_id
    sizes = []
    while run_id:
        history = await ts_env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        sizes.append(len(history.events))
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    assert len(sizes) == manifest.runs
    assert max(sizes) < 8000
    assert len(tasks_of(emulator, req.channel)) == 1


async def test_rule10_status_query_reports_the_live_recording(ts_env: WorkflowEnvironment, emulator: RunningEmulator):
    """The status query answers phase, uid, sid, resource, restarts and M3U8 names while recording."""
    req = request()
    emulator.join(req.channel, TEACHER)
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        sid = await confirmed_sid(ts_env, handle)
        status = await handle.query(RecordingWorkflow.status)
        await handle.execute_update(RecordingWorkflow.stop, StopRequest())
    task = tasks_of(emulator, req.channel)[0]
    assert (status.phase, status.uid, status.sid, status.resource_id) == ("recording", req.uid, sid, task["resourceId"])
    assert status.restarts == 0 and status.m3u8_names == [f"{sid}_{req.channel}.m3u8"]
