"""Fixtures for the API and CLI tests: a real Temporal dev server, the emulator and the product's worker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from temporalio.client import Client

from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, running_emulator
from recorder.connection import connect
from recorder.devserver import DevServer
from tests.conftest import fast_emulator_config, worker_for

# The App ID every emulator of these tests serves: the emulator's own default, the one source of its credentials.
APP_ID = EmulatorConfig().app_id


@dataclass
class Rig:
    """A dev server, a client of it, the emulator and the task queue a worker polls."""

    server: DevServer
    client: Client
    emulator: RunningEmulator
    queue: str


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def rig() -> AsyncIterator[Rig]:
    """One dev server (with the search attributes), one emulator and one worker for the recorder tests."""
    async with DevServer() as server:
        client = await connect(target_host=server.address)
        async with running_emulator(fast_emulator_config()) as emu, worker_for(client, emu) as queue:
            yield Rig(server=server, client=client, emulator=emu, queue=queue)


@pytest.fixture
def cli_env(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Rig:
    """The environment a user of the CLI would set: Temporal's address, the App ID and the task queue."""
    for name in (
        "TEMPORAL_PROFILE",
        "TEMPORAL_CONFIG_FILE",
        "TEMPORAL_API_KEY",
        "TEMPORAL_NAMESPACE",
        "RECORDER_UID",
        "RECORDER_BACKUP_UID",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TEMPORAL_ADDRESS", rig.server.address)
    monkeypatch.setenv("AGORA_APP_ID", APP_ID)
    monkeypatch.setenv("RECORDER_TASK_QUEUE", rig.queue)
    return rig


def channel() -> str:
    """A fresh channel name."""
    return f"class-{uuid.uuid4().hex[:10]}"
