"""Record replay fixtures: run real scenarios and write every run's history as JSON.

Usage: `.venv/bin/python -m tests.replay.record_histories --tag TAG` (a few seconds). The scenarios run the product's
workers with the stock policy on Temporal's time-skipping server, against the emulator over HTTP: a crash and restart
on the backup uid, a failover duplicate, a 50x burst on start ending on the backup uid, a continue-as-new, an old
recorder that answers 404 past its failover window, and a start answered 400/53 by our own old recorder. Each history
is scanned for the workers' secrets before it is written; a leak aborts the run.

Fixtures are never replaced: each code generation keeps its own set (`<scenario>.json` from before any patch,
`<scenario>-<tag>.json` after), because recordings written by every earlier version may still be running when a new
worker is deployed. Record a new set with a new tag whenever the workflow gains a `workflow.patched` branch.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from emulator.testing import RunningEmulator, running_emulator
from recorder.processes import binary
from recorder.search_attributes import ensure_search_attributes as register_search_attributes
from recorder.worker import running_workers
from tests.conftest import fast_emulator_config, settings_for
from workflows.models import RecorderEvent, RecordingInput, RecordingManifest, RecordingRequest, StopRequest
from workflows.recording import RecordingWorkflow

HISTORIES = Path(__file__).resolve().parent / "histories"
TEACHER = "1001"
Handle = WorkflowHandle[RecordingWorkflow, RecordingManifest]
Scenario = Callable[[WorkflowEnvironment, RunningEmulator, str], Awaitable[Handle]]


def _request(name: str, **overrides: Any) -> RecordingRequest:
    values: dict[str, Any] = {
        "channel": f"replay-{name}-{uuid.uuid4().hex[:6]}",
        "uid": "527841",
        "backup_uid": "527842",
        "max_idle_time": 60,
        "check_interval": 30,
        "max_duration": timedelta(minutes=6),
    }
    values.update(overrides)
    return RecordingRequest(**values)


async def _start(env: WorkflowEnvironment, emu: RunningEmulator, queue: str, req: RecordingRequest) -> Handle:
    emu.join(req.channel, TEACHER)
    return await env.client.start_workflow(
        RecordingWorkflow.run, RecordingInput(request=req), id=f"replay-{req.channel}", task_queue=queue
    )


async def _recording_sid(env: WorkflowEnvironment, handle: Handle) -> str:
    for _ in range(30):
        await env.sleep(10)
        status = await handle.query(RecordingWorkflow.status)
        if status.phase == "recording" and status.sid:
            return status.sid
    raise RuntimeError("the recording never reached phase 'recording'")


async def crash_restart(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """The recorder crashes: 404 backoff, restart on the backup uid, failover probe, planned end."""
    handle = await _start(env, emu, queue, _request("crash"))
    emu.crash(await _recording_sid(env, handle))
    await handle.result()
    return handle


async def failover_duplicate(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """Agora's failover brings the old task back after the restart: it is stopped as a duplicate."""
    handle = await _start(env, emu, queue, _request("failover"))
    sid = await _recording_sid(env, handle)
    emu.failover(sid, downtime=60)
    for _ in range(12):
        await env.sleep(10)
        if (await handle.query(RecordingWorkflow.status)).restarts == 1:
            break
    emu.advance(61)
    manifest = await handle.result()
    assert manifest.segments[0].end_reason == "failover_duplicate", manifest
    return handle


async def start_50x_backup_uid(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """Four 50x on start: retried at 3/6/9 s, then a new acquire+start on the backup uid; stopped by update."""
    emu.inject("start", "server_error", count=4)
    handle = await _start(env, emu, queue, _request("start50x", max_duration=None))
    await _recording_sid(env, handle)
    await handle.execute_update(RecordingWorkflow.stop, StopRequest())
    return handle


async def probe_stops_404ing_old_sid(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """The old recorder's queries answer 404 for good while it runs: restart, probe backoff, closing stop."""
    handle = await _start(env, emu, queue, _request("probe404", check_interval=10))
    emu.inject("query", "not_found", count=1000, sid=await _recording_sid(env, handle))
    manifest = await handle.result()
    assert manifest.segments[0].end_reason == "failover_duplicate", manifest
    return handle


async def task_conflict_stops_old(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """The backup recorder crashes while the 404ing old one still runs: 400/53 on its uid stops the old one."""
    handle = await _start(env, emu, queue, _request("conflict", check_interval=10))
    first = await _recording_sid(env, handle)
    emu.inject("query", "not_found", count=1000, sid=first)
    for _ in range(60):
        await env.sleep(2)
        status = await handle.query(RecordingWorkflow.status)
        if status.restarts == 1 and status.phase == "recording" and status.sid:
            emu.crash(status.sid)
            break
    manifest = await handle.result()
    assert "53" in (manifest.segments[0].detail or ""), manifest
    return handle


async def confirm_404_backup_uid(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """The recorder is gone right after its start: confirm meets 404 through the backoff and moves to the backup uid."""
    handle = await _start(env, emu, queue, _request("confirm404"))
    for _ in range(20):
        status = await handle.query(RecordingWorkflow.status)
        if status.sid:
            emu.crash(status.sid)
            break
        await env.sleep(1)
    manifest = await handle.result()
    assert manifest.segments[0].end_reason == "not_confirmed", manifest
    return handle


async def start_502_reacquires(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """A start answered 500/502 "failed to allocate worker": a new resource for the same uid, then recording."""
    emu.inject("start", "custom", status=500, body={"code": 502, "reason": "Failed to allocate worker"})
    handle = await _start(env, emu, queue, _request("start502"))
    manifest = await handle.result()
    assert [s.uid for s in manifest.segments] == ["527841"] and manifest.failed_starts == 0, manifest
    return handle


async def migration_while_confirming(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """A migration starts while the recorder is confirmed: 404 to query and stop, the backup uid, and the old sid
    probed after the failover window and stopped when it has come back."""
    handle = await _start(env, emu, queue, _request("migconfirm", max_duration=timedelta(minutes=5)))
    for _ in range(20):
        status = await handle.query(RecordingWorkflow.status)
        if status.sid:
            emu.failover(status.sid, downtime=60)
            break
        await env.sleep(1)
    await _recording_sid(env, handle)
    emu.advance(61)
    manifest = await handle.result()
    assert manifest.segments[0].end_reason == "failover_duplicate", manifest
    return handle


async def callbacks_heal_a_crash(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """Agora's callbacks: a repeated progress, a failover announced, then a crash healed on its session-exit event."""
    handle = await _start(env, emu, queue, _request("callbacks", check_interval=50))
    sid = await _recording_sid(env, handle)

    def event(event_type: int, notice: str, **fields: Any) -> RecorderEvent:
        return RecorderEvent(notice_id=notice, event_type=event_type, cname="c", sid=sid, **fields)

    for notice in ("p1", "p1"):
        await handle.signal(RecordingWorkflow.recorder_event, event(33, notice, progress=2500))
    await handle.signal(RecordingWorkflow.recorder_event, event(12, "f1", new_uid="1234567890"))
    emu.crash(sid)
    await handle.signal(RecordingWorkflow.recorder_event, event(11, "x1", exit_status=1))
    manifest = await handle.result()
    assert manifest.restarts == 1 and manifest.segments[0].failovers_announced == 1, manifest
    return handle


async def continue_as_new(env: WorkflowEnvironment, emu: RunningEmulator, queue: str) -> Handle:
    """A recording that continues-as-new twice (3 checks a run) and ends at its planned end."""
    handle = await _start(env, emu, queue, _request("can", checks_per_run=3, max_duration=timedelta(minutes=4)))
    manifest = await handle.result()
    assert manifest.runs >= 3, manifest
    return handle


SCENARIOS: dict[str, Scenario] = {
    "crash_restart": crash_restart,
    "failover_duplicate": failover_duplicate,
    "start_50x_backup_uid": start_50x_backup_uid,
    "continue_as_new": continue_as_new,
    "probe_stops_404ing_old_sid": probe_stops_404ing_old_sid,
    "task_conflict_stops_old": task_conflict_stops_old,
    "confirm_404_backup_uid": confirm_404_backup_uid,
    "start_502_reacquires": start_502_reacquires,
    "callbacks_heal_a_crash": callbacks_heal_a_crash,
    "migration_while_confirming": migration_while_confirming,
}
# The fixture sets, oldest first ("" is the set recorded before any tag). Each set holds every scenario that existed
# when it was recorded.
GENERATIONS = ("", "local-queries", "confirm-404", "reacquire-502", "callbacks", "unconfirmed-probe")
# Scenarios added after the first set: the generation they first appear in.
NEW_IN = {
    "probe_stops_404ing_old_sid": "local-queries",
    "task_conflict_stops_old": "local-queries",
    "confirm_404_backup_uid": "confirm-404",
    "start_502_reacquires": "reacquire-502",
    "callbacks_heal_a_crash": "callbacks",
    "migration_while_confirming": "unconfirmed-probe",
}


def generations_of(name: str) -> tuple[str, ...]:
    """The fixture sets that must hold scenario `name`."""
    first = GENERATIONS.index(NEW_IN.get(name, ""))
    return GENERATIONS[first:]


async def _runs(client: Client, handle: Handle) -> list[tuple[str, str]]:
    """Every run of a workflow, first to last, as (run id, history JSON)."""
    out = []
    run_id: str | None = handle.first_execution_run_id or handle.result_run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        out.append((run_id, history.to_json()))
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    return out


def fixture_path(out: Path, name: str, tag: str, run: int) -> Path:
    """Where run `run` (1-based) of scenario `name` recorded under `tag` is kept."""
    stem = f"{name}-{tag}" if tag else name
    return out / (f"{stem}.json" if run == 1 else f"{stem}_run{run}.json")


async def record(tag: str, out: Path = HISTORIES) -> list[Path]:
    """Run every scenario and write one JSON file per run; returns the files written. Refuses to overwrite."""
    taken = [p for name in SCENARIOS if (p := fixture_path(out, name, tag, 1)).exists()]
    if taken:
        raise SystemExit(f"fixtures for tag {tag!r} exist ({taken[0].name}): pick a new tag; old sets are kept")
    written: list[Path] = []
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    try:
        await register_search_attributes(env.client)
        for name, scenario in SCENARIOS.items():
            async with running_emulator(fast_emulator_config(speed=0, startup_seconds=0)) as emu:
                settings = settings_for(emu)
                secrets = settings.secrets()
                queue = f"replay-{uuid.uuid4()}"
                async with running_workers(env.client, settings, queue=queue):
                    handle = await scenario(env, emu, queue)
                for i, (_, text) in enumerate(await _runs(env.client, handle), start=1):
                    leaked = [s for s in secrets if s in text]
                    if leaked:
                        raise RuntimeError(f"{name}: the history holds a worker secret; not writing it")
                    path = fixture_path(out, name, tag, i)
                    path.write_text(json.dumps(json.loads(text), indent=1) + "\n")
                    written.append(path)
    finally:
        await env.shutdown()
    return written


def main() -> None:
    """Record every scenario into tests/replay/histories/ under the tag given on the command line."""
    parser = argparse.ArgumentParser(prog="python -m tests.replay.record_histories")
    parser.add_argument("--tag", required=True, help="name of this code generation, e.g. the newest patch")
    args = parser.parse_args()
    if not args.tag.replace("-", "").isalnum():
        parser.error("--tag takes letters, digits and dashes")
    HISTORIES.mkdir(parents=True, exist_ok=True)
    paths = asyncio.run(record(args.tag))
    for path in paths:
        print(f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
