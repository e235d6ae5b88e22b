"""The security tests' dev server: histories, search attributes and memos as production stores them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from temporalio.client import Client

from recorder.connection import connect
from recorder.devserver import DevServer


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_client() -> AsyncIterator[Client]:
    """A client of a fresh dev server on a free loopback port, with the recording search attributes registered."""
    async with DevServer() as server:
        yield await connect(target_host=server.address)
