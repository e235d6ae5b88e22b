"""Secrets never reach Temporal or the logs, even when Agora echoes them back and recordings fail and restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from emulator.testing import RunningEmulator, running_emulator
from recorder import api
from recorder.worker import running_workers
from tests.security import support
from workflows.models import RecordingManifest, RecordingRequest, RecordingStatus, StopRequest
from workflows.recording import RecordingWorkflow

pytestmark = [pytest.mark.devserver, pytest.mark.slow]

TEACHER = "1001"
Handle = WorkflowHandle[RecordingWorkflow, RecordingManifest]


def _request(channel: str) -> RecordingRequest:
    return RecordingRequest(
        channel=channel,
        uid="527841",
        backup_uid="527842",
        max_idle_time=5,
        check_interval=1,
        max_duration=timedelta(minutes=3),
    )


async def _until(
    handle: Handle, condition: Callable[[RecordingStatus], bool], what: str, within: float = 20.0
) -> RecordingStatus:
    """Poll the status query until `condition` holds."""
    deadline = time.monotonic() + within
    while True:
        status = await handle.query(RecordingWorkflow.status)
        if condition(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {status}")
        await asyncio.sleep(0.2)


async def _start(client: Client, emu: RunningEmulator, queue: str, channel: str) -> Handle:
    emu.join(channel, TEACHER)
    outcome = await api.start_recording(client, _request(channel), app_id=emu.config.app_id, task_queue=queue)
    return client.get_workflow_handle_for(RecordingWorkflow.run, outcome.workflow_id)


async def _failure_of(handle: Handle) -> str:
    with pytest.raises(WorkflowFailureError) as failure:
        await asyncio.wait_for(handle.result(), timeout=30)
    return str(failure.value.cause)


async def _drive(client: Client, emu: RunningEmulator, wire: support.Wiretap) -> tuple[list[Handle], list[str]]:
    """Run every scenario; returns the handles and every query answer given along the way."""
    queue = f"tq-sec-{uuid.uuid4().hex[:8]}"
    settings = support.worker_settings(emu.base_url, emu.config.app_id)
    tag = uuid.uuid4().hex[:6]
    static_40x, echo_40x, crash, burst, fault = (f"sec-{tag}-{n}" for n in ("s40x", "echo", "crash", "burst", "fault"))
    answers: list[str] = []

    async def record(call: Awaitable[RecordingStatus | RecordingManifest]) -> None:
        answers.append((await call).model_dump_json())

    # A 40x whose reason echoes the worker's secrets, one scripted and one echoing the start body the worker sent.
    emu.inject(
        "start",
        "custom",
        cname=static_40x,
        status=400,
        body={
            "code": 2,
            "reason": f"storageConfig rejected: accessKey={support.STORAGE_ACCESS_KEY} "
            f"secretKey={support.STORAGE_SECRET_KEY} customer={support.CUSTOMER_SECRET} "
            f"certificate={support.APP_CERTIFICATE}",
        },
    )
    wire.start_answers[echo_40x] = support.echo_start_secrets
    emu.inject("start", "server_error", count=4, cname=burst)  # a 50x burst: 3 retries, then the backup uid

    async with running_workers(client, settings, queue=queue):
        handles = {c: await _start(client, emu, queue, c) for c in (static_40x, echo_40x, crash, burst, fault)}
        assert "accessKey=***" in await _failure_of(handles[static_40x])
        assert "invalid token ***" in await _failure_of(handles[echo_40x])
        for channel in (crash, burst, fault):
            await record(_until(handles[channel], lambda s: s.phase == "recording", f"{channel} recording"))
        # The recorder crashes: 404s, then a new recorder on the other uid.
        status = await handles[crash].query(RecordingWorkflow.status)
        assert status.sid is not None
        emu.crash(status.sid)
        await record(
            _until(handles[crash], lambda s: s.restarts == 1 and s.phase == "recording", "restart after the crash")
        )
        # A persistent 40x on query whose reason carries secrets: phase fault, the reason shown (scrubbed).
        emu.inject(
            "query",
            "custom",
            count=10_000,
            cname=fault,
            status=400,
            body={"code": 2, "reason": f"invalid sid for {support.CUSTOMER_SECRET} / {support.APP_CERTIFICATE}"},
        )
        faulted = await _until(handles[fault], lambda s: s.phase == "fault", "phase fault")
        assert faulted.last_error is not None and "invalid sid for ***" in faulted.last_error
        answers.append(faulted.model_dump_json())
    # The worker stops and a new one takes over the running recordings.
    async with running_workers(client, settings, queue=queue):
        for channel in (burst, crash):
            await record(handles[channel].execute_update(RecordingWorkflow.stop, StopRequest()))
        await handles[fault].signal(RecordingWorkflow.request_stop, StopRequest(reason="end of class"))
        await asyncio.wait_for(handles[fault].result(), timeout=30)
        for handle in handles.values():
            await record(handle.query(RecordingWorkflow.status))
            await record(handle.query(RecordingWorkflow.manifest))
    return list(handles.values()), answers


async def test_no_secret_in_history_search_attributes_queries_or_logs(dev_client: Client):
    """Across failing, restarted and stopped recordings no secret, token or auth header is stored or logged anywhere."""
    with support.fast_policy(), support.captured_logs() as log:
        async with running_emulator(support.emulator_config()) as emu:
            wire = support.tap(emu.emulator)
            handles, answers = await _drive(dev_client, emu, wire)
            tasks = emu.tasks()
    secrets = wire.secrets()

    # Not vacuous: every secret reached Agora, tokens were built, and the scenarios happened.
    assert {r.authorization for r in wire.requests} == {f"Basic {support.BASIC_VALUE}"}
    starts = b"".join(r.body for r in wire.requests if r.path.endswith("/start"))
    assert support.STORAGE_ACCESS_KEY.encode() in starts and support.STORAGE_SECRET_KEY.encode() in starts
    tokens = wire.tokens()
    assert tokens and all(t.startswith("007") for t in tokens)
    manifests = [RecordingManifest.model_validate_json(a) for a in answers if '"gaps"' in a]
    assert any(m.restarts == 1 for m in manifests)
    assert any(m.failed_starts == 1 for m in manifests)
    assert tasks and not any(t["running"] for t in tasks)
    assert len(log.lines) > 100 and any("temporalio" in line for line in log.lines)

    stored: dict[str, list[str]] = {}
    for handle in handles:
        stored.update(await support.stored_texts(dev_client, handle.id))
    assert len(stored) == 2 * len(handles)
    stored["query answers"] = answers
    stored["worker log"] = log.lines
    assert support.leaks(stored, secrets) == []
