"""Recordings survive crashes: a SIGKILLed worker and a SIGKILLed Temporal dev server, on real processes.

Each test runs the dev server on its own SQLite file, the emulator in this process, and `python worker.py` as a child
process on a fresh task queue. Times are real: the emulator runs at speed 1 and the workflow checks every 5 s.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import PendingWorkflowTaskState
from temporalio.client import Client, WorkflowHandle

from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, running_emulator
from recorder.connection import connect
from recorder.devserver import DevServer
from recorder.processes import WorkerProcess
from tests.crash.support import faults_fired, status_of, status_when, wait_until, worker_env
from tests.workflows.helpers import TEACHER, request, requests_of, start, tasks_of
from workflows import names
from workflows.models import RecordingManifest, RecordingRequest, RecordingStatus, StopRequest
from workflows.recording import RecordingWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

CHECK_INTERVAL = 5
# A killed worker's in-flight start is retried only after its start-to-close timeout (30 s) plus the first retry
# interval (3 s); a query in flight (a local activity) after the workflow task's 10 s timeout. These deadlines leave
# room for that and for a loaded machine.
IN_FLIGHT_RETRY_DEADLINE = 60.0

Handle = WorkflowHandle[RecordingWorkflow, RecordingManifest]


@dataclass
class Rig:
    """One test's world: dev server, emulator, the test's client, and the worker process."""

    server: DevServer
    emu: RunningEmulator
    client: Client
    worker: WorkerProcess
    queue: str
    tmp: Path


@pytest_asyncio.fixture(loop_scope="session")
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A dev server on a fresh database file, a real-time emulator and a worker process on a fresh task queue."""
    config = EmulatorConfig(speed=1.0, startup_seconds=1.0, slice_seconds=3, upload_seconds=0, rate_limit_qps=0)
    server = DevServer(db_file=tmp_path / "temporal.db", log_file=tmp_path / "devserver.log")
    worker: WorkerProcess | None = None
    the_rig: Rig | None = None
    try:
        await server.start()
        async with running_emulator(config) as emu:
            client = await connect(target_host=server.address)
            queue = f"crash-{uuid.uuid4()}"
            worker = WorkerProcess(worker_env(server.address, queue, emu), tmp_path / "worker.log")
            worker.start()
            the_rig = Rig(server, emu, client, worker, queue, tmp_path)
            yield the_rig
            worker.kill()  # before the emulator goes away
    finally:
        if worker is not None:
            worker.kill()
        # A test may have replaced the server (restart on the same database file): stop whichever runs now.
        await (the_rig.server if the_rig is not None else server).stop()
        await server.stop()


def crash_request() -> RecordingRequest:
    """A mix recording polled every 5 s with a 30 s idle timeout, on a fresh channel."""
    return request(max_idle_time=30, check_interval=CHECK_INTERVAL, max_duration=timedelta(minutes=10))


async def recording_started(rig: Rig, req: RecordingRequest) -> tuple[Handle, RecordingStatus]:
    """Join the teacher, start the workflow and wait until its recorder is confirmed and checked once."""
    rig.emu.join(req.channel, TEACHER)
    handle = await start(rig.client, rig.queue, req)
    status, _ = await status_when(
        handle,
        lambda s: s.phase == "recording" and s.checks >= 1,
        within=45.0,
        what="the first health check of a confirmed recorder",
        worker=rig.worker,
    )
    assert status.sid is not None and status.segments == 1
    return handle, status


async def next_check(rig: Rig, handle: Handle, req: RecordingRequest, checks: int, within: float, what: str) -> float:
    """Wait until a query newer than the last one reached Agora and the workflow counted a check after `checks`.

    Returns the seconds until that query reached the emulator.
    """
    began = time.monotonic()
    seen = queries_of(rig.emu, req.channel)
    _, waited = await wait_until(
        lambda: _true_when(queries_of(rig.emu, req.channel) > seen),
        within=within,
        what=what,
        interval=0.05,
        worker=rig.worker,
    )
    await status_when(
        handle,
        lambda s: s.checks >= checks + 1 and s.phase == "recording",
        within=max(5.0, within - (time.monotonic() - began)),
        what=what,
        worker=rig.worker,
    )
    return waited


def queries_of(emu: RunningEmulator, channel: str) -> int:
    """How many query calls Agora received for the channel's recorders."""
    return len(requests_of(emu, channel, "query"))


async def pending_activities(handle: Handle) -> list[str]:
    """The activity types the server holds as scheduled or running for the workflow."""
    description = await handle.describe()
    return [p.activity_type.name for p in description.raw_description.pending_activities]


async def workflow_task_running(handle: Handle) -> bool:
    """True when a worker holds one of the workflow's tasks (e.g. while a local activity runs)."""
    description = await handle.describe()
    pending = description.raw_description.pending_workflow_task
    return bool(pending.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED)


async def asleep_between_checks(rig: Rig, handle: Handle) -> RecordingStatus:
    """Wait until a check's answer is in and no activity is pending: the workflow sleeps on its check timer."""

    async def probe() -> RecordingStatus | None:
        status = await status_of(handle)
        if status.phase != "recording" or status.checks < 1 or await pending_activities(handle):
            return None
        # The status must still be the one seen before the server said nothing is pending.
        return status if (await status_of(handle)).checks == status.checks else None

    status, _ = await wait_until(probe, within=20.0, what="the workflow asleep between checks", worker=rig.worker)
    return status


def assert_same_recording(status: RecordingStatus, sid: str, req: RecordingRequest) -> None:
    """The workflow still holds the one segment it started, on the first uid, with no restart."""
    assert status.sid == sid
    assert status.segments == 1
    assert status.uid == req.uid
    assert status.restarts == 0 and status.failed_starts == 0


async def stop_and_assert_clean(rig: Rig, handle: Handle, req: RecordingRequest, sid: str) -> RecordingManifest:
    """Stop through the update and check that Agora ran exactly one recorder, now stopped, and the manifest says so."""
    manifest = await handle.execute_update(RecordingWorkflow.stop, StopRequest())
    assert manifest.phase == "stopped" and manifest.stop_trigger == "requested"
    assert [s.sid for s in manifest.segments] == [sid]
    seg = manifest.segments[0]
    assert seg.end_reason == "stopped" and seg.uid == req.uid and seg.confirmed_at is not None
    tasks = tasks_of(rig.emu, req.channel)
    assert [t["sid"] for t in tasks] == [sid], "a second recorder was started for the channel"
    assert [t["uid"] for t in tasks] == [req.uid]
    assert not tasks[0]["running"] and tasks[0]["endReason"] == "stopped"
    assert not any(t["running"] for t in rig.emu.tasks())
    return manifest


async def test_worker_sigkill_between_checks_and_mid_query(rig: Rig) -> None:
    """Workers SIGKILLed while the workflow sleeps and while a query is in flight leave one recorder, checked on."""
    began = time.monotonic()
    timings: dict[str, float] = {}
    req = crash_request()
    handle, status = await recording_started(rig, req)
    sid = status.sid
    assert sid is not None

    # 1. Kill while the workflow sleeps on its check timer: the check's answer is in and no activity is pending.
    status = await asleep_between_checks(rig, handle)
    rig.worker.kill()
    rig.worker.start()
    timings["worker kill while sleeping -> next query at Agora"] = await next_check(
        rig, handle, req, status.checks, within=30.0, what="a check run by the second worker"
    )
    assert_same_recording(await status_of(handle), sid, req)

    # 2. Kill while a query is in flight: Agora answers it 8 s late, and the worker dies before the answer.
    before = await asleep_between_checks(rig, handle)
    fired = faults_fired(rig.emu, "delay")
    rig.emu.inject("query", "delay", delay=8.0, cname=req.channel)
    await wait_until(
        lambda: _true_when(faults_fired(rig.emu, "delay") > fired),
        within=20.0,
        what="a delayed query to reach the emulator",
        interval=0.05,
        worker=rig.worker,
    )
    # The query in flight is a local activity: it runs inside a workflow task that the worker holds open, and it was
    # counted as check before.checks + 1 when it began (a status query now would wait for that task to finish).
    assert await workflow_task_running(handle)
    assert await pending_activities(handle) == []
    rig.worker.kill()
    rig.worker.start()
    # Once the workflow task times out, the new worker replays the check and sends the lost query again; the check
    # after it is before.checks + 2.
    timings["worker kill mid-query -> retried query at Agora"] = await next_check(
        rig, handle, req, before.checks + 1, within=IN_FLIGHT_RETRY_DEADLINE, what="the lost query's retry"
    )
    assert_same_recording(await status_of(handle), sid, req)
    assert rig.worker.starts == 3

    await stop_and_assert_clean(rig, handle, req, sid)
    timings["test 1 total"] = time.monotonic() - began
    print(_report(timings))


async def test_dev_server_restart_on_same_database(rig: Rig) -> None:
    """A dev server SIGKILLed mid-recording and restarted on the same database resumes the same recording."""
    began = time.monotonic()
    timings: dict[str, float] = {}
    req = crash_request()
    handle, status = await recording_started(rig, req)
    sid = status.sid
    assert sid is not None
    status = await asleep_between_checks(rig, handle)

    old = rig.server
    old.kill()
    killed_at = time.monotonic()
    rig.server = DevServer(db_file=old.db_file, port=old.port, log_file=rig.tmp / "devserver-2.log")
    await rig.server.start()
    timings["dev server restart (kill -> serving)"] = time.monotonic() - killed_at

    # The worker process was not touched: it must reconnect by itself.
    await next_check(rig, handle, req, status.checks, within=40.0, what="a check after the server restart")
    timings["dev server kill -> next query at Agora"] = time.monotonic() - killed_at
    assert rig.worker.alive and rig.worker.starts == 1
    assert_same_recording(await status_of(handle), sid, req)

    await stop_and_assert_clean(rig, handle, req, sid)
    timings["test 2 total"] = time.monotonic() - began
    print(_report(timings))


async def test_worker_sigkill_while_start_in_flight_recovers_the_sid(rig: Rig) -> None:
    """A worker SIGKILLed after Agora accepted a start but before its answer arrived: the retry adopts that sid."""
    began = time.monotonic()
    timings: dict[str, float] = {}
    req = crash_request()
    rig.emu.join(req.channel, TEACHER)
    rig.emu.inject("start", "delay", delay=8.0, cname=req.channel)
    handle = await start(rig.client, rig.queue, req)

    async def started_task() -> str | None:
        tasks = tasks_of(rig.emu, req.channel)
        return str(tasks[0]["sid"]) if tasks else None

    sid, _ = await wait_until(
        started_task, within=30.0, what="Agora to accept the start", interval=0.05, worker=rig.worker
    )
    assert await pending_activities(handle) == [names.START]
    rig.worker.kill()
    killed_at = time.monotonic()
    rig.worker.start()
    status, _ = await status_when(
        handle,
        lambda s: s.phase == "recording",
        within=IN_FLIGHT_RETRY_DEADLINE,
        what="the start retry and a confirmed recorder",
        worker=rig.worker,
    )
    timings["worker kill mid-start -> recorder confirmed"] = time.monotonic() - killed_at
    assert_same_recording(status, sid, req)

    manifest = await stop_and_assert_clean(rig, handle, req, sid)
    assert manifest.segments[0].sid_recovered is True
    timings["test 3 total"] = time.monotonic() - began
    print(_report(timings))


async def _true_when(condition: bool) -> bool | None:
    return True if condition else None


def _report(timings: dict[str, float]) -> str:
    return "\n" + "\n".join(f"  {name}: {seconds:.1f} s" for name, seconds in timings.items())
