"""Shared test fixtures: Temporal's time-skipping server, the emulator, and a worker wired to both."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, running_emulator
from recorder.connection import connect
from recorder.devserver import DevServer
from recorder.processes import binary
from recorder.search_attributes import ensure_search_attributes
from recorder.settings import Settings
from recorder.worker import running_workers


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ts_env() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the session, with the recording search attributes registered."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    await ensure_search_attributes(env.client)
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_client() -> AsyncIterator[Client]:
    """A client of one real dev server for the session (free loopback port, recording search attributes registered):
    histories, search attributes and memos as production stores them, timers in real time."""
    async with DevServer() as server:
        yield await connect(target_host=server.address)


# Emulated time runs this much faster than real time in workflow tests, so recorder start-up and slices happen
# while the time-skipping server jumps over the workflow's timers.
FAST = 200.0


def fast_emulator_config(**overrides: Any) -> EmulatorConfig:
    """An emulator whose recorders come up in a few emulated seconds at high speed, with Agora's limits lifted."""
    values: dict[str, Any] = {
        "speed": FAST,
        "startup_seconds": 2.0,
        "upload_seconds": 0.0,
        "rate_limit_qps": 0,
        "max_concurrent": 1000,
    }
    values.update(overrides)
    return EmulatorConfig(**values)


@pytest_asyncio.fixture(loop_scope="session")
async def emulator() -> AsyncIterator[RunningEmulator]:
    """A fresh fast emulator served over real HTTP on a free loopback port."""
    async with running_emulator(fast_emulator_config()) as emu:
        yield emu


def settings_for(emu: RunningEmulator, **overrides: Any) -> Settings:
    """Worker settings pointing at an emulator, with one storage profile named "default"."""
    values: dict[str, Any] = {
        "app_id": emu.config.app_id,
        "customer_id": emu.config.customer_id,
        "customer_secret": emu.config.customer_secret.get_secret_value(),
        "base_url": emu.base_url,
        "request_timeout": 5.0,
        "storage_vendor": 1,
        "storage_region": 0,
        "storage_bucket": "class-recordings",
        "storage_access_key": "AKIAEMULATORACCESS1",
        "storage_secret_key": "emulator-storage-secret-key-1",
        "rate_limit": 1000.0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@asynccontextmanager
async def worker_for(client: Client, emu: RunningEmulator, **overrides: Any) -> AsyncIterator[str]:
    """Run the product's workers against the emulator on a fresh task queue; yields the task queue."""
    queue = f"tq-{uuid.uuid4()}"
    async with running_workers(client, settings_for(emu, **overrides), queue=queue):
        yield queue


# Guard against the SDK's occasional crash at interpreter exit (sdk-python#300) while keeping pytest's exit code.
_exit: dict[str, int] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _exit["rc"] = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    if "rc" in _exit:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit["rc"])
