"""Fixtures: a fresh frozen-clock emulator per test and an authenticated raw HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from emulator.testing import RunningEmulator, running_emulator
from tests.emulator.support import Api, auth, fast_config


@pytest.fixture
async def emu() -> AsyncIterator[RunningEmulator]:
    async with running_emulator(fast_config()) as running:
        yield running


@pytest.fixture
async def client(emu: RunningEmulator) -> AsyncIterator[httpx.AsyncClient]:
    # Plain http on loopback: verify=False spares loading the CA certificates (0.1 s a client).
    async with httpx.AsyncClient(base_url=emu.base_url, auth=auth(emu.config), timeout=10, verify=False) as http:
        yield http


@pytest.fixture
def api(client: httpx.AsyncClient, emu: RunningEmulator) -> Api:
    return Api(client, emu.config)
