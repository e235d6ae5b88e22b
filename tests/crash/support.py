"""Helpers for crash tests: the product's worker's environment, and polling with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle

from emulator.testing import RunningEmulator
from recorder.processes import WorkerProcess, storage_env
from recorder.processes import worker_env as harness_worker_env
from workflows.models import RecordingManifest, RecordingStatus
from workflows.recording import RecordingWorkflow

T = TypeVar("T")


def worker_env(address: str, queue: str, emu: RunningEmulator) -> dict[str, str]:
    """The environment `python worker.py` needs to run on `queue` against `address` and the emulator."""
    return harness_worker_env(
        {
            "AGORA_REQUEST_TIMEOUT": "20",
            "AGORA_RATE_LIMIT": "1000",
            **storage_env("class-recordings", "AKIAEMULATORACCESS1", "emulator-storage-secret-key-1"),
        },
        address=address,
        queue=queue,
        agora=emu.agora_env(),
    )


async def wait_until(
    probe: Callable[[], Awaitable[T | None]],
    *,
    within: float,
    what: str,
    interval: float = 0.2,
    worker: WorkerProcess | None = None,
) -> tuple[T, float]:
    """Poll `probe` until it returns a value (not None); returns it and the seconds waited; fails after `within` s."""
    began = time.monotonic()
    last_error: BaseException | None = None
    while True:
        if worker is not None:
            worker.check_alive(tail_lines=15)  # a worker that died on its own fails the test at once, with its log
        try:
            value = await probe()
        except Exception as exc:  # the server or the worker may be down for a while: keep polling
            last_error = exc
            value = None
        if value is not None:
            return value, time.monotonic() - began
        if time.monotonic() - began > within:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise AssertionError(f"timed out after {within:g} s waiting for {what}{detail}")
        await asyncio.sleep(interval)


async def status_of(handle: WorkflowHandle[RecordingWorkflow, RecordingManifest]) -> RecordingStatus:
    """The workflow's status query, bounded so a dead worker cannot stall the test."""
    return await asyncio.wait_for(handle.query(RecordingWorkflow.status), timeout=5.0)


async def status_when(
    handle: WorkflowHandle[RecordingWorkflow, RecordingManifest],
    condition: Callable[[RecordingStatus], bool],
    *,
    within: float,
    what: str,
    worker: WorkerProcess | None = None,
) -> tuple[RecordingStatus, float]:
    """Poll the status query until `condition` holds; returns the status and the seconds waited."""

    async def probe() -> RecordingStatus | None:
        status = await status_of(handle)
        return status if condition(status) else None

    return await wait_until(probe, within=within, what=what, worker=worker)


def faults_fired(emu: RunningEmulator, kind: str) -> int:
    """How many times the emulator has applied a fault of `kind`."""
    counts: dict[str, Any] = emu.emulator.snapshot()["faultsInjected"]
    return int(counts.get(kind, 0))
