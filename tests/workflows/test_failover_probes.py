"""Rule 5 under faults the soak found: probes keep their own time, and a 404ing old recorder still gets stopped.

All on the time-skipping server against the emulator over HTTP, with the emulator's clock frozen (speed 0) so that a
recorder is up at once and stays up unless the test ends it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from emulator.testing import RunningEmulator, running_emulator
from tests.conftest import fast_emulator_config, worker_for
from tests.workflows.helpers import TEACHER, request, start, tasks_of
from workflows.models import RecordingManifest, RecordingRequest, RecordingStatus, StopRequest
from workflows.recording import RecordingWorkflow


async def _wait_for(ts_env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any], what: str, test: Any) -> Any:
    """Advance time in 2 s steps until the status passes `test`; returns that status."""
    for _ in range(150):
        status = await handle.query(RecordingWorkflow.status)
        if test(status):
            return status
        await ts_env.sleep(2)
    raise AssertionError(f"never reached: {what} (last status {status})")


@dataclass
class Hidden:
    """A recording whose first recorder answers 404 to every query while it keeps running, and has been replaced."""

    req: RecordingRequest
    emu: RunningEmulator
    handle: WorkflowHandle[RecordingWorkflow, RecordingManifest]
    first: RecordingStatus  # the status while the first recorder was confirmed
    second: RecordingStatus  # the status once its successor is confirmed


@asynccontextmanager
async def hidden_recorder(ts_env: WorkflowEnvironment) -> AsyncIterator[Hidden]:
    """Record with 10 s checks until the first recorder is hidden by 404s and a successor runs on the backup uid."""
    req = request(check_interval=10, max_duration=timedelta(minutes=8))
    async with running_emulator(fast_emulator_config(speed=0, startup_seconds=0)) as emu:
        emu.join(req.channel, TEACHER)
        async with worker_for(ts_env.client, emu) as queue:
            handle = await start(ts_env.client, queue, req)
            first = await _wait_for(ts_env, handle, "recording", lambda s: s.phase == "recording")
            emu.inject("query", "not_found", count=1000, sid=first.sid)
            second = await _wait_for(ts_env, handle, "a restart", lambda s: s.restarts == 1 and s.phase == "recording")
            assert second.sid != first.sid
            yield Hidden(req, emu, handle, first, second)


async def test_probe_runs_beside_checks_and_stops_an_old_sid_that_only_answers_404(ts_env: WorkflowEnvironment):
    """An old recorder whose queries answer 404 past its failover window is stopped; checks go on meanwhile.

    Query and stop are answered per task. A task whose queries keep failing with 404 while it still records (here a
    scripted fault on that sid's queries only) was taken for gone after the probe's 404 backoff and recorded beside
    its successor. The probe now ends with a stop, which finds it running. While the probe backs off (30 s), the new
    recorder's checks keep their 10 s interval.
    """
    async with hidden_recorder(ts_env) as h:
        req, emu, handle, first = h.req, h.emu, h.handle, h.first
        # The new recorder is confirmed 30 s (404 backoff) + 5 s (first confirm query) after the first 404; the
        # probe is due 90 s after that 404, i.e. about 55 s from here, and backs off 5/10/15 s until about 85 s.
        await ts_env.sleep(58)
        during = await handle.query(RecordingWorkflow.status)
        await ts_env.sleep(20)
        later = await handle.query(RecordingWorkflow.status)
        assert later.checks - during.checks >= 1, "the new recorder was not checked while the probe backed off"
        await ts_env.sleep(30)
        old_task = next(t for t in tasks_of(emu, req.channel) if t["sid"] == first.sid)
        assert not old_task["running"], "the old recorder was still running after its failover window"
        manifest: RecordingManifest = await handle.execute_update(RecordingWorkflow.stop, StopRequest())
    old = manifest.segments[0]
    assert old.sid == first.sid and old.end_reason == "failover_duplicate"
    assert old.detail is not None and "404" in old.detail
    assert old_task["endReason"] == "stopped"
    assert [s.uid for s in manifest.segments] == [req.uid, req.backup_uid]


async def test_task_conflict_on_start_stops_our_own_old_recorder(ts_env: WorkflowEnvironment):
    """A start answered 400/53 on a uid whose old recorder was taken for gone stops that recorder at once.

    Recorder A (primary uid) answers 404 to queries while it keeps recording; the workflow restarts on the backup
    uid (B). B then crashes, and the next start, on the primary uid again, meets code 53 because A still runs. That
    answer is proof that A is alive: the workflow stops it as a duplicate there and then, before A's probe is due.
    """
    async with hidden_recorder(ts_env) as h:
        assert h.second.sid is not None
        h.emu.crash(h.second.sid)
        await _wait_for(ts_env, h.handle, "a second restart", lambda s: s.restarts == 2 and s.phase == "recording")
        # A stop signal, then the result: time skips while the stop path waits out the failover window.
        await h.handle.signal(RecordingWorkflow.request_stop, StopRequest())
        manifest: RecordingManifest = await h.handle.result()
        tasks = tasks_of(h.emu, h.req.channel)
    first = h.first
    old = manifest.segments[0]
    assert old.sid == first.sid and old.end_reason == "failover_duplicate"
    assert old.detail is not None and "53" in old.detail
    assert manifest.failed_starts >= 1
    assert next(t for t in tasks if t["sid"] == first.sid)["endReason"] == "stopped"
    assert all(not t["running"] for t in tasks)
