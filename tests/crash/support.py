"""Helpers for crash tests: the product's worker as a child process, and polling with a deadline."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle

from emulator.testing import RunningEmulator
from workflows.models import RecordingManifest, RecordingStatus
from workflows.recording import RecordingWorkflow

PROJECT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def worker_env(address: str, queue: str, emu: RunningEmulator) -> dict[str, str]:
    """The environment `python worker.py` needs to run on `queue` against `address` and the emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGORA_", "TEMPORAL_", "RECORDER_"))}
    env.update(
        {
            "TEMPORAL_ADDRESS": address,
            "RECORDER_TASK_QUEUE": queue,
            "AGORA_APP_ID": emu.config.app_id,
            "AGORA_CUSTOMER_ID": emu.config.customer_id,
            "AGORA_CUSTOMER_SECRET": emu.config.customer_secret.get_secret_value(),
            "AGORA_BASE_URL": emu.base_url,
            "AGORA_REQUEST_TIMEOUT": "20",
            "AGORA_STORAGE_VENDOR": "1",
            "AGORA_STORAGE_REGION": "0",
            "AGORA_STORAGE_BUCKET": "class-recordings",
            "AGORA_STORAGE_ACCESS_KEY": "AKIAEMULATORACCESS1",
            "AGORA_STORAGE_SECRET_KEY": "emulator-storage-secret-key-1",
            "AGORA_RATE_LIMIT": "1000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


class WorkerProcess:
    """`python worker.py` as a child process, stopped or killed by its PID; each start appends to one log file."""

    def __init__(self, env: dict[str, str], log_file: Path) -> None:
        self.env = env
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> int:
        """Start a new worker process; returns its PID."""
        assert self.process is None or self.process.poll() is not None, "a worker is already running"
        self.starts += 1
        with self.log_file.open("ab") as log:
            log.write(f"--- worker start {self.starts} ---\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                [sys.executable, "worker.py"],
                cwd=PROJECT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the worker by its PID (a crash: no graceful shutdown) and reap it."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        self.process = None

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the worker by its PID, then SIGKILL if it has not exited within `grace` seconds."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            self.process = None
            return
        os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a child process
            await asyncio.sleep(0.1)
        self.kill()

    def assert_alive(self) -> None:
        """Fail at once, with the end of its log, when the worker process has exited on its own."""
        if self.process is not None and self.process.poll() is not None:
            tail = "\n".join(self.log().splitlines()[-15:])
            raise AssertionError(f"the worker exited with code {self.process.returncode}:\n{tail}")

    @property
    def alive(self) -> bool:
        """True while the current worker process runs."""
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        """Everything the worker processes printed so far."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


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
