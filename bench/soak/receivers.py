"""The soak's and the benchmarks' callback receivers: the product's `recorder.ncs.Receiver` served on loopback.

`Replicas` puts several receivers behind one URL, as a load balancer in front of several `recorder serve` replicas
would: a resend or a duplicate then often reaches another receiver than the first delivery did, so each receiver's
own short memory of noticeIds cannot hide a repeat and the workflows' must.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from emulator.testing import serving_app
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
    async with serving_app(app) as url:
        yield f"{url}{path}"
