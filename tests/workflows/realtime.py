"""Recordings on the real dev server with the best-practice schedules shrunk, for rules that race timers.

Two lines of recorders, or callbacks arriving while a timer runs, race in ways the time-skipping test server mishandles
(it refuses a workflow task that cancels a timer which fired meanwhile, temporalio/sdk-java#3088): such tests run on
the dev server in real time, with tests/security/support.fast_policy keeping them to seconds.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle

from emulator.testing import RunningEmulator, running_emulator
from recorder.api import workflow_id
from recorder.worker import running_workers
from tests.security import support
from tests.workflows.helpers import TEACHER, request
from workflows.models import RecordingInput, RecordingManifest, RecordingRequest, RecordingStatus
from workflows.recording import RecordingWorkflow

Handle = WorkflowHandle[RecordingWorkflow, RecordingManifest]


@dataclass
class Live:
    """A recording under way: its handle, the emulator it records on, its request and its worker's task queue."""

    handle: Handle
    emulator: RunningEmulator
    request: RecordingRequest
    queue: str


@asynccontextmanager
async def fast_recording(client: Client, **overrides: Any) -> AsyncIterator[Live]:
    """A class with a teacher in it, recorded on a worker of its own, with the fast policy (checks every 2 s)."""
    with support.fast_policy():
        values: dict[str, Any] = {"check_interval": 2, "max_idle_time": 30, "max_duration": timedelta(seconds=40)}
        req = request(**{**values, **overrides})
        async with running_emulator(support.emulator_config(speed=20)) as emu:
            emu.join(req.channel, TEACHER)
            queue = f"tq-{uuid.uuid4()}"
            async with running_workers(client, support.worker_settings(emu.base_url, emu.config.app_id), queue=queue):
                # The recording's id as the product names it, so the callback receiver finds it by its channel.
                handle = await client.start_workflow(
                    RecordingWorkflow.run,
                    RecordingInput(request=req),
                    id=workflow_id(emu.config.app_id, req.channel),
                    task_queue=queue,
                    execution_timeout=timedelta(minutes=10),
                )
                yield Live(handle, emu, req, queue)


async def poll(handle: Handle, ok: Callable[[RecordingStatus], bool], within: float = 60.0) -> RecordingStatus:
    """Query the status every 0.2 s until `ok` holds."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        status = await handle.query(RecordingWorkflow.status)
        if ok(status):
            return status
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never reached: {status}")
        await asyncio.sleep(0.2)
