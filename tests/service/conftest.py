"""Fixtures of the HTTP service tests: a dev server, the emulator, a worker, and `recorder serve`'s app on a port."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest_asyncio
import uvicorn
from starlette.routing import BaseRoute
from temporalio.client import Client

from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, running_emulator
from recorder.processes import free_port
from recorder.service import create_app
from recorder.settings import Settings
from tests.conftest import fast_emulator_config, worker_for

APP_ID = EmulatorConfig().app_id
WRITE_TOKEN = "backend-" + secrets.token_hex(16)
READ_TOKEN = "dashboard-" + secrets.token_hex(16)


def service_settings(queue: str, **overrides: object) -> Settings:
    """The service's settings: the emulator's App ID, the worker's queue, a write token and a read-only one."""
    values: dict[str, object] = {
        "app_id": APP_ID,
        "RECORDER_TASK_QUEUE": queue,
        "RECORDER_API_TOKENS": f"backend:{WRITE_TOKEN}:write,dashboard:{READ_TOKEN}:read",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def serving(client: Client, settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> AsyncIterator[str]:
    """create_app served by uvicorn on a free loopback port in this process; yields its base URL."""
    port = free_port()
    app = create_app(client, settings, extra_routes=extra_routes)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Service:
    """The service under test, the emulator behind its worker, and HTTP clients holding each kind of token."""

    url: str
    client: Client
    emulator: RunningEmulator
    queue: str
    writer: httpx.AsyncClient
    reader: httpx.AsyncClient
    anonymous: httpx.AsyncClient


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(dev_client: Client) -> AsyncIterator[Service]:
    """One worker (against a fast emulator) and one service over the session's dev server, for a module."""
    async with (
        running_emulator(fast_emulator_config()) as emu,
        worker_for(dev_client, emu) as queue,
        serving(dev_client, service_settings(queue)) as url,
        httpx.AsyncClient(base_url=url, timeout=90, headers={"Authorization": f"Bearer {WRITE_TOKEN}"}) as writer,
        httpx.AsyncClient(base_url=url, timeout=90, headers={"Authorization": f"Bearer {READ_TOKEN}"}) as reader,
        httpx.AsyncClient(base_url=url, timeout=90) as anonymous,
    ):
        yield Service(url, dev_client, emu, queue, writer, reader, anonymous)
