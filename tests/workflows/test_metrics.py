"""Worker metrics in Prometheus format: the SDK's, plus Agora calls by outcome and the recording counters."""

from __future__ import annotations

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.testing import WorkflowEnvironment

from emulator.testing import running_emulator
from recorder.processes import free_port
from tests.conftest import fast_emulator_config, worker_for
from tests.workflows.helpers import TEACHER, request, start
from workflows.models import StopRequest
from workflows.recording import RecordingWorkflow


def _value(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples whose labels include the given ones."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


async def test_metrics_count_agora_calls_restarts_and_404_backoffs(ts_env: WorkflowEnvironment):
    """A recording whose recorder crashes shows its Agora calls by outcome, the 404 backoffs and the restart."""
    bind = f"127.0.0.1:{free_port()}"
    runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=bind)))
    client = await Client.connect(
        ts_env.client.service_client.config.target_host, data_converter=pydantic_data_converter, runtime=runtime
    )
    req = request()
    # The clock is frozen: without exit_visible_seconds=0 the crashed task would show status 20 forever, not 404.
    async with running_emulator(fast_emulator_config(speed=0, startup_seconds=0, exit_visible_seconds=0)) as emu:
        emu.join(req.channel, TEACHER)
        emu.inject("start", "server_error", count=1)
        # The worker reports through the metrics runtime; the handle is the environment's, so time skips for it.
        async with worker_for(client, emu) as queue:
            handle = await start(ts_env.client, queue, req)
            for _ in range(20):
                await ts_env.sleep(10)
                status = await handle.query(RecordingWorkflow.status)
                if status.phase == "recording":
                    break
            emu.crash(status.sid)
            for _ in range(30):
                await ts_env.sleep(10)
                status = await handle.query(RecordingWorkflow.status)
                if status.restarts == 1 and status.phase == "recording":
                    break
            # A stop signal, then the result: time skips while the stop path waits out the failover window.
            await handle.signal(RecordingWorkflow.request_stop, StopRequest())
            manifest = await handle.result()
            async with httpx.AsyncClient() as http:
                text = (await http.get(f"http://{bind}/metrics")).text
    assert manifest.restarts == 1
    assert _value(text, "agora_requests", operation="start", outcome="ServerError") == 1
    assert _value(text, "agora_requests", operation="start", outcome="ok") == 2
    assert _value(text, "agora_requests", operation="stop", outcome="ok") >= 1
    assert _value(text, "recording_restarts") == 1
    assert _value(text, "recording_not_found_backoffs") == 3
    assert _value(text, "temporal_activity_execution_latency_count") > 0
