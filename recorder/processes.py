"""Child processes started by the product's tools (dev server, worker): own session, own log, stopped by PID."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

PROJECT = Path(__file__).resolve().parents[1]


class ChildProcess:
    """A command run as a child in its own session, appending its output to one log file across restarts."""

    def __init__(
        self,
        command: Sequence[str],
        *,
        log_file: Path | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.command = list(command)
        self.log_file = log_file
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

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
        assert not self.alive, f"{self.command[0]} is already running"
        self.starts += 1
        out: int | IO[bytes] = subprocess.DEVNULL
        log = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            log = self.log_file.open("ab")
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

    def log(self) -> str:
        """Everything the child printed so far, across restarts."""
        if self.log_file is None or not self.log_file.exists():
            return ""
        return self.log_file.read_text(errors="replace")


class WorkerProcess(ChildProcess):
    """`python worker.py` as a child process."""

    def __init__(self, env: Mapping[str, str], log_file: Path) -> None:
        super().__init__([sys.executable, "worker.py"], log_file=log_file, env=env, cwd=PROJECT)


def worker_env(settings: Mapping[str, str]) -> dict[str, str]:
    """The worker's environment: this process's, without its AGORA_/TEMPORAL_/RECORDER_ variables, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AGORA_", "TEMPORAL_", "RECORDER_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env
