"""Helpers for workflow tests: build requests, start recordings, read the emulator's records."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

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
