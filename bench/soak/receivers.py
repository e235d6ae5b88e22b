"""The soak's and the benchmarks' callback receivers: the product's `recorder.ncs.Receiver` served on loopback.

`Replicas` puts several receivers behind one URL, as a load balancer in front of several `recorder serve` replicas
would: a resend or a duplicate then often reaches another receiver than the first delivery did, so each receiver's
own short memory of noticeIds cannot hide a repeat and the workflows' must.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from recorder.ncs import Receiver


class Replicas:
    """An ASGI app that hands each request to the next of several apps in turn (round robin)."""

    def __init__(self, apps: Sequence[ASGIApp]) -> None:
        self.apps = list(apps)
        self._next = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = self.apps[self._next % len(self.apps)]
        if scope["type"] == "http":
            self._next += 1
        await app(scope, receive, send)


def receiver_app(receiver: Receiver) -> Starlette:
    """One receiver's route in an app of its own."""
    return Starlette(routes=receiver.routes())


@asynccontextmanager
async def serving(app: ASGIApp, path: str) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port in this event loop; yields the URL of `path`."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Answers go out as header and body writes; without this, Nagle plus delayed ACK adds 40 ms to each callback.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")
    config.load()
    server = uvicorn.Server(config)
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])
    try:
        yield f"http://127.0.0.1:{port}{path}"
    finally:
        await server.shutdown(sockets=[sock])
        sock.close()
