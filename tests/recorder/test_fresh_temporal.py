"""A fresh Temporal is no trap: starting a recording where no worker has registered the search attributes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from emulator.testing import RunningEmulator, running_emulator
from recorder import api, cli
from recorder.connection import connect
from recorder.devserver import DevServer
from tests.conftest import fast_emulator_config, worker_for
from tests.recorder.conftest import APP_ID
from tests.service.conftest import WRITE_TOKEN, service_settings, serving
from tests.workflows.helpers import TEACHER, request
from workflows import names

pytestmark = [pytest.mark.devserver]

UIDS = ["--uid", "527841", "--backup-uid", "527842"]


@dataclass
class Fresh:
    """A dev server started without the recording search attributes, the emulator, and a worker that does not add
    them (running_workers, not the worker process, which registers them at start-up)."""

    server: DevServer
    client: Client
    emulator: RunningEmulator
    queue: str


@pytest_asyncio.fixture(loop_scope="session")
async def fresh() -> AsyncIterator[Fresh]:
    """A fresh dev server for one test."""
    async with DevServer(search_attributes=()) as server:
        client = await connect(target_host=server.address)
        async with running_emulator(fast_emulator_config()) as emu, worker_for(client, emu) as queue:
            yield Fresh(server, client, emu, queue)


async def _registered(client: Client) -> set[str]:
    listed = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace="default"))
    return set(listed.custom_attributes)


async def _stop(fresh: Fresh, channel: str) -> None:
    assert (await api.stop_recording(fresh.client, channel, app_id=APP_ID)).phase == "stopped"


async def test_python_start_registers_the_search_attributes(fresh: Fresh):
    """start_recording on a server without AgoraChannel registers every recording attribute and starts the recording."""
    assert names.CHANNEL.name not in await _registered(fresh.client)
    req = request()
    fresh.emulator.join(req.channel, TEACHER)
    outcome = await api.start_recording(fresh.client, req, app_id=APP_ID, task_queue=fresh.queue, wait_until_up=True)
    assert outcome.started and outcome.waited == "up"
    assert {k.name for k in names.SEARCH_ATTRIBUTES} <= await _registered(fresh.client)
    await _stop(fresh, req.channel)


async def test_cli_start_registers_the_search_attributes(
    fresh: Fresh, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`recorder start` on a fresh server registers the attributes and starts; `list --phase` then works too."""
    monkeypatch.setenv("TEMPORAL_ADDRESS", fresh.server.address)
    monkeypatch.setenv("AGORA_APP_ID", APP_ID)
    monkeypatch.setenv("RECORDER_TASK_QUEUE", fresh.queue)
    ch = f"fresh-{uuid.uuid4().hex[:8]}"
    fresh.emulator.join(ch, TEACHER)
    assert await cli.run(["start", ch, *UIDS, "--max-idle", "1m", "--check-interval", "30s", "--wait"]) == 0
    assert f"started recording {ch}" in capsys.readouterr().out
    assert await cli.run(["list", "--phase", "recording", "--json"]) == 0
    await _stop(fresh, ch)


async def test_http_start_registers_the_search_attributes(fresh: Fresh):
    """POST /v1/recordings on a fresh server registers the attributes and answers 201."""
    ch = f"fresh-{uuid.uuid4().hex[:8]}"
    fresh.emulator.join(ch, TEACHER)
    payload = {"channel": ch, "uid": "527841", "backup_uid": "527842", "max_idle_time": 60, "check_interval": 30}
    async with (
        serving(fresh.client, service_settings(fresh.queue)) as url,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {WRITE_TOKEN}"}, timeout=60) as http,
    ):
        answer = await http.post("/v1/recordings", json=payload)
    assert answer.status_code == 201, answer.text
    assert names.PHASE.name in await _registered(fresh.client)
    await _stop(fresh, ch)


async def test_a_server_that_refuses_registration_gets_one_line_saying_what_to_run(
    fresh: Fresh, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Where the client may not add search attributes (Temporal Cloud), start exits 1 with the command to run."""

    async def refused(client: Client) -> list[str]:
        raise RPCError("Request unauthorized.", RPCStatusCode.PERMISSION_DENIED, b"")

    monkeypatch.setattr(api, "ensure_search_attributes", refused)
    monkeypatch.setenv("TEMPORAL_ADDRESS", fresh.server.address)
    monkeypatch.setenv("AGORA_APP_ID", APP_ID)
    monkeypatch.setenv("RECORDER_TASK_QUEUE", fresh.queue)
    assert await cli.run(["start", "never-started", *UIDS]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("recorder: namespace default lacks the recording search attributes")
    assert "PERMISSION_DENIED" in lines[0]
    assert (
        "temporal operator search-attribute create --namespace default --name AgoraChannel --type Keyword" in lines[0]
    )
    assert "tcld namespace search-attributes add" in lines[0]
