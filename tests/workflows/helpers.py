"""Helpers for workflow tests: build requests, start recordings, read the emulator's records."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from emulator.testing import RunningEmulator
from workflows.models import RecordingInput, RecordingManifest, RecordingRequest
from workflows.recording import RecordingWorkflow

TEACHER = "1001"


def request(channel: str | None = None, **overrides: Any) -> RecordingRequest:
    """A typical class recording request on a fresh channel."""
    values: dict[str, Any] = {
        "channel": channel or f"class-{uuid.uuid4().hex[:10]}",
        "mode": "mix",
        "uid": "527841",
        "backup_uid": "527842",
        "max_idle_time": 60,
        "check_interval": 30,
        "max_duration": timedelta(minutes=10),
    }
    values.update(overrides)
    return RecordingRequest(**values)


async def start(
    client: Client, queue: str, req: RecordingRequest
) -> WorkflowHandle[RecordingWorkflow, RecordingManifest]:
    """Start a recording workflow with an execution timeout, so a broken test fails instead of hanging."""
    return await client.start_workflow(
        RecordingWorkflow.run,
        RecordingInput(request=req),
        id=f"rec-{req.channel}",
        task_queue=queue,
        execution_timeout=timedelta(days=3),
    )


def tasks_of(emu: RunningEmulator, channel: str) -> list[dict[str, Any]]:
    """The emulator's tasks for one channel, in start order."""
    return sorted((t for t in emu.tasks() if t["cname"] == channel), key=lambda t: t["startedAt"])


def requests_of(emu: RunningEmulator, channel: str, op: str) -> list[dict[str, Any]]:
    """Every request of one operation that the emulator's tasks of a channel received."""
    return [r for t in tasks_of(emu, channel) for r in t["requests"] if r["op"] == op]


async def confirmed_sid(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> str:
    """Let the workflow reach 'recording' (its recorder confirmed) and return the recorder's sid."""
    for _ in range(20):
        await env.sleep(10)
        status = await handle.query(RecordingWorkflow.status)
        if status.phase == "recording":
            assert status.sid is not None
            return str(status.sid)
    raise AssertionError(f"recording never confirmed: {status}")


async def confirming_sid(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> str:
    """The sid of the first recorder, as soon as the workflow has it (it is then being confirmed)."""
    for _ in range(20):
        status = await handle.query(RecordingWorkflow.status)
        if status.sid:
            break
        await env.sleep(1)
    assert status.sid is not None and status.phase == "confirming", status
    return str(status.sid)
