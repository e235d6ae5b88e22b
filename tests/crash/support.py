"""Helpers for crash tests: the product's worker as a child process, and polling with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle

from emulator.testing import RunningEmulator
from recorder import processes
from workflows.models import RecordingManifest, RecordingStatus
from workflows.recording import RecordingWorkflow

T = TypeVar("T")


def worker_env(address: str, queue: str, emu: RunningEmulator) -> dict[str, str]:
    """The environment `python worker.py` needs to run on `queue` against `address` and the emulator."""
    return processes.worker_env(
        {
            "TEMPORAL_ADDRESS": address,
            "RECORDER_TASK_QUEUE": queue,
            **emu.agora_env(),
            "AGORA_REQUEST_TIMEOUT": "20",
            "AGORA_STORAGE_VENDOR": "1",
            "AGORA_STORAGE_REGION": "0",
            "AGORA_STORAGE_BUCKET": "class-recordings",
            "AGORA_STORAGE_ACCESS_KEY": "AKIAEMULATORACCESS1",
            "AGORA_STORAGE_SECRET_KEY": "emulator-storage-secret-key-1",
            "AGORA_RATE_LIMIT": "1000",
        }
    )


class WorkerProcess(processes.WorkerProcess):
    """The worker process, failing a test at once (with its log) when it has died on its own."""

    def assert_alive(self) -> None:
        """Fail at once, with the end of its log, when the worker process has exited on its own."""
        if self.process is not None and self.process.poll() is not None:
            tail = "\n".join(self.log().splitlines()[-15:])
            raise AssertionError(f"the worker exited with code {self.process.returncode}:\n{tail}")


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
            worker.assert_alive()
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
