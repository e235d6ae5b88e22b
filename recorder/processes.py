"""Child processes of the product's tools (the demo, the benchmarks, the soak and the tests): one harness for all.

A child runs in its own session (so a terminal's Ctrl-C reaches only its parent), appends its output to one log file
across restarts, is waited for until it is ready (an HTTP health URL answers, a line appears in its log, or a probe
says so) and is stopped or killed by its PID. `worker_env` builds a worker's environment from nothing but what it is
given; `EmulatorProcess` runs the Agora emulator and hands out the AGORA_* variables that reach it, its credentials
being the emulator's own defaults (`emulator.config.EmulatorConfig`).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

from emulator.config import EmulatorConfig
from recorder.worker import READY_LINE

PROJECT = Path(__file__).resolve().parents[1]
# What a child must not inherit from this shell: the product's settings and Temporal's connection are given to it.
PRODUCT_PREFIXES = ("AGORA_", "TEMPORAL_", "RECORDER_")
PRODUCT_NAMES = frozenset({"LOG_LEVEL"})


class ChildExited(RuntimeError):
    """The child exited before it was ready, or while it was expected to run."""


class ChildNotReady(RuntimeError):
    """The child runs but did not become ready in time."""


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str, *, install: str = "run `make test` to install it") -> str:
    """A binary installed by the project's pip packages next to this Python (temporal, temporal-test-server), or on
    PATH; RuntimeError saying how to `install` it when it is in neither."""
    path = Path(sys.executable).parent / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed next to {sys.executable} nor on PATH: {install}")
    return found


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without the product's settings (AGORA_*, TEMPORAL_*, RECORDER_*, LOG_LEVEL),
    unbuffered, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(PRODUCT_PREFIXES) and k not in PRODUCT_NAMES}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def storage_env(bucket: str, access_key: str, secret_key: str, *, vendor: int = 1, region: int = 0) -> dict[str, str]:
    """The AGORA_STORAGE_* variables of the storage profile named "default"."""
    return {
        "AGORA_STORAGE_VENDOR": str(vendor),
        "AGORA_STORAGE_REGION": str(region),
        "AGORA_STORAGE_BUCKET": bucket,
        "AGORA_STORAGE_ACCESS_KEY": access_key,
        "AGORA_STORAGE_SECRET_KEY": secret_key,
    }


def worker_env(
    settings: Mapping[str, str] | None = None,
    *,
    address: str | None = None,
    queue: str | None = None,
    agora: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """A worker's environment: `child_env` plus Temporal's `address`, the task `queue`, the `agora` variables (e.g.
    `EmulatorProcess.agora_env()`) and any other `settings` variables."""
    given: dict[str, str] = {}
    if address is not None:
        given["TEMPORAL_ADDRESS"] = address
    if queue is not None:
        given["RECORDER_TASK_QUEUE"] = queue
    given.update(agora or {})
    given.update(settings or {})
    return child_env(given)


class ChildProcess:
    """A command run as a child in its own session, appending its output to one log file across restarts.

    Ready when `ready_url` answers 200, `ready_line` appears in the log after the latest start, or `ready_probe`
    returns True (whichever is given; with none, as soon as it runs).
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        name: str | None = None,
        log_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready_url: str | None = None,
        ready_line: str | None = None,
        ready_probe: Callable[[], Awaitable[bool]] | None = None,
    ) -> None:
        self.command = list(command)
        self.name = name or Path(self.command[0]).name
        self.log_file = log_file
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.ready_url = ready_url
        self.ready_line = ready_line
        self.ready_probe = ready_probe
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._log_offset = 0

    @property
    def pid(self) -> int | None:
        """The running child's process id."""
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once the child has exited on its own."""
        return self.process.poll() if self.process is not None else None

    def start(self) -> int:
        """Start the command (again); returns its PID."""
        assert not self.alive, f"the {self.name} is already running"
        self.starts += 1
        out: int | IO[bytes] = subprocess.DEVNULL
        log = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_file.open("ab")
            self._log_offset = log.tell()
            log.write(f"--- start {self.starts}: pid follows ---\n".encode())
            log.flush()
            out = log
        try:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            if log is not None:
                log.close()
        return self.process.pid

    async def start_ready(self, within: float = 30.0) -> int:
        """Start the command and wait until it is ready; returns its PID."""
        pid = self.start()
        await self.wait_ready(within)
        return pid

    async def wait_ready(self, within: float = 30.0, interval: float = 0.2) -> None:
        """Wait until the child is ready: ChildExited if it exits first, ChildNotReady after `within` seconds."""
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2.0) as http:
            while True:
                self.check_alive()
                if await self._ready(http):
                    return
                if time.monotonic() > deadline:
                    raise ChildNotReady(f"the {self.name} {self._awaited()} within {within:g} s{self._see_log()}")
                await asyncio.sleep(interval)

    async def _ready(self, http: httpx.AsyncClient) -> bool:
        if self.ready_url is not None:
            try:
                return (await http.get(self.ready_url)).status_code == 200
            except httpx.HTTPError:
                return False
        if self.ready_line is not None:
            return self.ready_line in self.log(since_start=True)
        if self.ready_probe is not None:
            return await self.ready_probe()
        return True

    def _awaited(self) -> str:
        if self.ready_url is not None:
            return f"did not answer on {self.ready_url}"
        if self.ready_line is not None:
            return f"did not log {self.ready_line!r}"
        return "was not ready"

    def _see_log(self) -> str:
        return f"; see {self.log_file}" if self.log_file is not None else ""

    def check_alive(self, tail_lines: int = 0) -> None:
        """ChildExited (with the last `tail_lines` of its log) when the child has exited; nothing while it runs."""
        code = self.returncode
        if self.process is None or code is None:
            return
        message = f"the {self.name} exited with code {code}{self._see_log()}"
        if tail_lines:
            message += ":\n" + "\n".join(self.log(since_start=True).splitlines()[-tail_lines:])
        raise ChildExited(message)

    def kill(self) -> None:
        """SIGKILL the child by its PID (what a crash looks like) and reap it."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        self.process = None

    async def stop(self, grace: float = 15.0) -> None:
        """SIGTERM the child by its PID, then SIGKILL if it has not exited within `grace` seconds."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            self.process = None
            return
        os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - polling a child process
            await asyncio.sleep(0.1)
        self.kill()

    def log(self, *, since_start: bool = False) -> str:
        """Everything the child printed so far, across restarts (or since its latest start)."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        with self.log_file.open("rb") as f:
            if since_start:
                f.seek(self._log_offset)
            return f.read().decode(errors="replace")


class WorkerProcess(ChildProcess):
    """`python worker.py` as a child process, ready once it logs that its workers poll.

    That line is logged at INFO: a worker run with LOG_LEVEL=WARNING or above never says it, so do not wait for it.
    """

    def __init__(self, env: Mapping[str, str], log_file: Path) -> None:
        super().__init__(
            [sys.executable, "worker.py"],
            name="recording worker",
            log_file=log_file,
            env=env,
            cwd=PROJECT,
            ready_line=READY_LINE,
        )


# EmulatorConfig fields that `python -m emulator` takes as flags; its credentials go by the environment instead, so
# that they do not show in the process list.
_EMULATOR_FLAGS = {
    "speed": "--speed",
    "startup_seconds": "--startup-seconds",
    "rate_limit_qps": "--rate-limit",
    "max_concurrent": "--max-concurrent",
    "seed": "--seed",
}
_EMULATOR_CREDENTIALS = frozenset({"app_id", "customer_id", "customer_secret"})


class EmulatorProcess(ChildProcess):
    """`python -m emulator` as a child process on a free loopback port, ready once its health URL answers."""

    def __init__(
        self, config: EmulatorConfig | None = None, *, log_file: Path | None = None, port: int | None = None
    ) -> None:
        self.config = config or EmulatorConfig()
        others = self.config.model_fields_set - set(_EMULATOR_FLAGS) - _EMULATOR_CREDENTIALS
        if others:
            raise ValueError(f"python -m emulator takes no flag for {', '.join(sorted(others))}")
        self.port = port or free_port()
        command = [sys.executable, "-m", "emulator", "--port", str(self.port)]
        for field, flag in _EMULATOR_FLAGS.items():
            value = getattr(self.config, field)
            if value is not None:
                command += [flag, str(value)]
        super().__init__(
            command,
            name="Agora emulator",
            log_file=log_file,
            env=child_env({k: v for k, v in self.agora_env().items() if k != "AGORA_BASE_URL"}),
            cwd=PROJECT,
            ready_url=f"{self.url}/_emulator/health",
        )

    @property
    def url(self) -> str:
        """The emulator's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def agora_env(self) -> dict[str, str]:
        """The AGORA_* variables a client process needs to reach this emulator with its credentials."""
        return self.config.client_env(self.url)
