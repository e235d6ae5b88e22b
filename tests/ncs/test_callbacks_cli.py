"""`recorder callbacks` and `api.unowned_callbacks`: the App ID's inbox of callbacks nobody owns, read from a shell;
and `recorder serve --ncs-path` refusing a bad route."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from emulator.testing import RunningEmulator
from recorder import api, cli
from recorder.ncs import Receiver
from recorder.processes import free_port
from tests.conftest import worker_for
from tests.ncs.support import callback, serving, sign
from workflows import names
from workflows.inbox import CallbackInboxWorkflow

SECRET = "ncs-secret-cli-5Tz8qWv1"
SID = "f" * 32
OTHER_SID = "0123456789abcdef" * 2


@dataclass
class App:
    """The App ID of a test and the task queue its worker polls."""

    app_id: str
    queue: str


@pytest_asyncio.fixture(loop_scope="session")
async def cli_app(dev_client: Client, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[App]:
    """A fresh App ID (so an inbox of its own), a worker on a fresh queue, and the CLI's environment pointing at them;
    the inbox is terminated afterwards."""
    app_id = f"app-{uuid.uuid4().hex[:10]}"
    async with worker_for(dev_client, emulator) as queue:
        for name in ("TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE", "TEMPORAL_API_KEY", "TEMPORAL_NAMESPACE"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("TEMPORAL_ADDRESS", dev_client.service_client.config.target_host)
        monkeypatch.setenv("AGORA_APP_ID", app_id)
        monkeypatch.setenv("RECORDER_TASK_QUEUE", queue)
        try:
            yield App(app_id, queue)
        finally:
            try:
                await dev_client.get_workflow_handle(names.inbox_id(app_id)).terminate("test over")
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:  # not found: no callback came, so no inbox was started
                    raise


async def _inbox_total(client: Client, app_id: str, at_least: int) -> None:
    """Wait until the inbox has taken `at_least` callbacks (signals are applied by the worker a moment later)."""
    handle = client.get_workflow_handle_for(CallbackInboxWorkflow.run, names.inbox_id(app_id))
    for _ in range(100):
        if (await handle.query(CallbackInboxWorkflow.view)).total >= at_least:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the inbox never took {at_least} callbacks")


@pytest.mark.devserver
async def test_callbacks_lists_unowned_ones_with_counts_and_says_when_nothing_came(
    dev_client: Client, cli_app: App, capsys: pytest.CaptureFixture[str]
):
    """Before any callback `recorder callbacks` says in one line that nothing was received; after three distinct
    callbacks (one resent) about channels nobody records it lists each with channel, sid, uid, event type and name and
    times, counts them per type, and --json and --limit give the same data."""
    app_id = cli_app.app_id
    assert await cli.run(["callbacks"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"no unowned callbacks: nothing about a channel without a recording has reached App ID {app_id}'s callback "
        f"inbox (agora-callbacks:{app_id}) yet"
    ]
    assert await cli.run(["callbacks", "--json"]) == 0
    empty = json.loads(capsys.readouterr().out)
    assert (empty["exists"], empty["total"], empty["callbacks"]) == (False, 0, [])

    receiver = Receiver(dev_client, app_id=app_id, secrets=[SECRET], task_queue=cli_app.queue)
    bodies = [
        callback(40, "stray-class", SID, notice_id="n-40"),
        callback(33, "stray-class", SID, notice_id="n-33", progress=2500),
        callback(40, "other-stray", OTHER_SID, notice_id="n-40-other"),
    ]
    async with serving(receiver) as url, httpx.AsyncClient(timeout=10) as http:
        for body in [*bodies, bodies[0]]:  # the first one is resent: kept once
            assert (await http.post(url, content=body, headers=sign(body, SECRET))).status_code == 200
    await _inbox_total(dev_client, app_id, 3)

    inbox = await api.unowned_callbacks(dev_client, app_id=app_id)
    assert inbox.exists and inbox.total == 3
    assert [(c.event_type, c.event_name, c.count) for c in inbox.counts] == [
        (40, "recorder_started", 2),
        (33, "uploading_progress", 1),
    ]
    assert [(c.channel, c.sid, c.uid, c.event_type, c.notice_id) for c in inbox.callbacks] == [
        ("stray-class", SID, "527841", 40, "n-40"),
        ("stray-class", SID, "527841", 33, "n-33"),
        ("other-stray", OTHER_SID, "527841", 40, "n-40-other"),
    ]
    assert all(c.event_time is not None and c.event_time.year == 2023 for c in inbox.callbacks)

    assert await cli.run(["callbacks"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"3 unowned callback(s) in agora-callbacks:{app_id}: ")
    assert lines[1] == "by type: 40 recorder_started ×2, 33 uploading_progress ×1"
    assert lines[2].split() == ["RECEIVED", "EVENT", "TIME", "CHANNEL", "SID", "UID", "EVENT"]
    rows = [line.split() for line in lines[3:]]
    assert [row[2:] for row in rows] == [
        ["stray-class", SID, "527841", "40", "recorder_started"],
        ["stray-class", SID, "527841", "33", "uploading_progress"],
        ["other-stray", OTHER_SID, "527841", "40", "recorder_started"],
    ]
    assert rows[0][1] == "2023-11-14T22:13:20+00:00"  # payload.sendts of the test callbacks

    assert await cli.run(["callbacks", "--json", "--limit", "1"]) == 0
    latest = json.loads(capsys.readouterr().out)
    assert (latest["exists"], latest["total"], len(latest["counts"])) == (True, 3, 2)
    assert [(c["channel"], c["event_type"], c["event_name"]) for c in latest["callbacks"]] == [
        ("other-stray", 40, "recorder_started")
    ]
    assert await cli.run(["callbacks", "--limit", "2"]) == 0
    assert "the latest 2, oldest first:" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["callbacks", "--limit", "0"], {}, "argument --limit: '0' is not a whole number of 1 or more"),
        (["callbacks"], {"AGORA_APP_ID": ""}, "AGORA_APP_ID is not set"),
        (
            ["serve", "--ncs-path", "agora/ncs"],
            {},
            "--ncs-path must be an absolute URL path such as /agora/ncs, got 'agora/ncs'",
        ),
        (
            ["serve", "--ncs-path", "/agora/ncs?token=1"],
            {},
            "--ncs-path must be an absolute URL path such as /agora/ncs, got '/agora/ncs?token=1'",
        ),
        (
            ["serve"],
            {"RECORDER_NCS_PATH": "/agora/ncs/"},
            "RECORDER_NCS_PATH must be an absolute URL path such as /agora/ncs, got '/agora/ncs/'",
        ),
    ],
    ids=["limit-0", "no-app-id", "ncs-path-relative", "ncs-path-query", "env-ncs-path-trailing-slash"],
)
async def test_bad_callback_options_exit_2_with_one_line(
    argv: list[str],
    env: dict[str, str],
    expected: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    """A bad --limit, a missing App ID, a bad --ncs-path or RECORDER_NCS_PATH exit 2 with one stderr line naming it,
    before any connection or port is opened."""
    monkeypatch.setenv("AGORA_APP_ID", "app-bad-options")
    monkeypatch.setenv("AGORA_NCS_SECRET", SECRET)
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")  # never reached
    monkeypatch.delenv("RECORDER_NCS_PATH", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert await cli.run(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert "Traceback" not in captured.err and len(lines) == 1, lines
    assert lines[0].startswith("recorder: ") and expected in lines[0]
    assert SECRET not in captured.err and captured.out == ""
