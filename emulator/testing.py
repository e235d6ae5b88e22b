"""Serve a fresh emulator inside the current event loop, for tests, the demo and benchmarks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from emulator.app import create_app
from emulator.config import EmulatorConfig
from emulator.state import Emulator

# In-flight answers get this long to finish when the emulator is stopped (hangs end at once).
_SHUTDOWN_GRACE_SECONDS = 5.0


@dataclass
class RunningEmulator:
    """A served emulator: its URL plus direct, synchronous access to its state and control actions."""

    base_url: str
    emulator: Emulator
    config: EmulatorConfig

    def join(self, cname: str, uid: str, role: str = "host") -> None:
        """A user joins `cname`."""
        self.emulator.join(cname, uid, role)

    def leave(self, cname: str, uid: str) -> None:
        """A user leaves `cname`."""
        self.emulator.leave(cname, uid)

    def crash(self, sid: str) -> None:
        """The recorder of `sid` exits abnormally."""
        self.emulator.crash(sid)

    def failover(self, sid: str, downtime: float | None = None) -> None:
        """Start a high-availability migration of `sid`."""
        self.emulator.failover(sid, downtime)

    def inject(self, endpoint: str, kind: str, count: int = 1, **options: Any) -> None:
        """Queue a scripted fault, as POST /_emulator/faults does."""
        self.emulator.inject({"endpoint": endpoint, "kind": kind, "count": count, **options})

    def snapshot(self, cname: str | None = None) -> dict[str, Any]:
        """The state snapshot as GET /_emulator/state returns it (tasks and channels of `cname` only, if given)."""
        return self.emulator.snapshot(cname)

    def tasks(self) -> list[dict[str, Any]]:
        """All tasks as the state snapshot shows them."""
        tasks: list[dict[str, Any]] = self.emulator.snapshot()["tasks"]
        return tasks

    def agora_env(self) -> dict[str, str]:
        """The AGORA_* variables a client process needs to reach this emulator with its credentials."""
        return self.config.client_env(self.base_url)

    def advance(self, seconds: float) -> None:
        """Move the emulated clock forward."""
        self.emulator.advance(seconds)

    def set_callbacks(self, url: str | None, secret: str | None = None) -> None:
        """Post Agora's callbacks to `url`, signed with `secret`; None turns them off."""
        self.emulator.set_callbacks(url, secret)

    def inject_callback_fault(self, kind: str, count: int = 1, **options: Any) -> None:
        """Queue a scripted callback fault, as POST /_emulator/callbacks/faults does."""
        self.emulator.inject_callback_fault({"kind": kind, "count": count, **options})

    def callbacks(self, cname: str | None = None) -> dict[str, Any]:
        """Where callbacks go, their counters and every callback's fate, as GET /_emulator/callbacks shows them."""
        return self.emulator.callbacks(cname)


@asynccontextmanager
async def serving_app(app: ASGIApp) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on 127.0.0.1:<free port> inside the current event loop; yields its base URL.

    The server is started and stopped by hand rather than via `serve()`: no signal handlers are taken over from the
    host program, and shutdown skips uvicorn's fixed 0.1 s pauses (tests start many of these).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Answers go out as header and body writes; without this, Nagle plus delayed ACK adds 40 ms each.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server_config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server_config.load()
    server = uvicorn.Server(server_config)
    server.lifespan = server_config.lifespan_class(server_config)
    await server.startup(sockets=[sock])
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await _shutdown(server)
        sock.close()


@asynccontextmanager
async def running_emulator(config: EmulatorConfig | None = None) -> AsyncIterator[RunningEmulator]:
    """Serve a fresh emulator with uvicorn on 127.0.0.1:<free port> inside the current event loop."""
    config = config or EmulatorConfig()
    app = create_app(config)
    emulator: Emulator = app.state.emulator
    async with serving_app(app) as url:
        # The app's lifespan is off (see serving_app), so the callbacks' background task is started and stopped here.
        await emulator.start_callbacks()
        try:
            yield RunningEmulator(url, emulator, config)
        finally:
            emulator.close()
            await emulator.stop_callbacks()


async def _shutdown(server: uvicorn.Server) -> None:
    """Stop accepting, close idle connections, let in-flight answers finish (briefly), then cancel."""
    for listener in server.servers:
        listener.close()
    for connection in list(server.server_state.connections):
        connection.shutdown()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _SHUTDOWN_GRACE_SECONDS
    # uvicorn offers no event for "all connections drained", so poll its state briefly.
    while (server.server_state.tasks or server.server_state.connections) and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    for task in list(server.server_state.tasks):
        task.cancel()
    for listener in server.servers:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(listener.wait_closed(), _SHUTDOWN_GRACE_SECONDS)
