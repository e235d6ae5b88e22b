"""What operators get: JSON logs without secrets, health and readiness probes, tracing, the version, token settings."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from recorder import cli, service_ops
from recorder.processes import PROJECT, WorkerProcess, free_port, storage_env, worker_env
from recorder.service_ops import JsonFormatter, ProbeServer, ScrubSecrets, configure_logging
from recorder.settings import Settings, SettingsError, load_settings

SECRET = "Very-Secret-Customer-Key-42"
TOKEN = "tok-" + "x7" * 12


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_json_logs_mask_every_secret_in_messages_extras_and_tracebacks():
    """With LOG_FORMAT=json each line is a JSON object, and a secret or API token in a message, an argument, an extra
    or a traceback is masked, whatever logger wrote it."""
    settings = _settings(
        customer_secret=SECRET, RECORDER_API_TOKENS=f"ci:{TOKEN}:write", LOG_FORMAT="json", LOG_LEVEL="DEBUG"
    )
    out = io.StringIO()
    handler = configure_logging(settings, stream=out)
    try:
        logging.getLogger("agora.client").warning("Agora said %s", f"bad secret {SECRET}", extra={"token": TOKEN})
        try:
            raise RuntimeError(f"boom with {SECRET}")
        except RuntimeError:
            logging.getLogger("deep.child.logger").exception("failed with %d", 3)
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(entry["level"], entry["logger"]) for entry in lines] == [
        ("WARNING", "agora.client"),
        ("ERROR", "deep.child.logger"),
    ]
    assert lines[0]["message"] == "Agora said bad secret ***" and lines[0]["token"] == "***"
    assert lines[1]["message"] == "failed with 3" and "RuntimeError: boom with ***" in lines[1]["exception"]
    assert SECRET not in out.getvalue() and TOKEN not in out.getvalue()


def test_text_logs_are_masked_too_and_short_values_are_left_alone():
    """The text format masks secrets the same way; a value too short to be a secret is not treated as one."""
    scrub = ScrubSecrets([SECRET, "s"])
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "key %s and s", (SECRET,), None)
    scrub.filter(record)
    assert logging.Formatter("%(message)s").format(record) == "key *** and s"
    assert json.loads(JsonFormatter().format(record))["message"] == "key *** and s"
    record.color_message = "\x1b[36mkey\x1b[0m"  # uvicorn's coloured copy is no data of the event
    assert "color_message" not in json.loads(JsonFormatter().format(record))


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RECORDER_API_TOKENS", "ci:short:write", "entry 1 ('ci'): the token must be at least 16 characters"),
        ("RECORDER_API_TOKENS", f"ci:{TOKEN}:admin", "entry 1 ('ci'): the scope must be read or write"),
        ("RECORDER_API_TOKENS", TOKEN, "entry 1 is not name:token:scope"),
        ("RECORDER_API_TOKENS", f"ci:{TOKEN}:read,ci:{TOKEN}x:write", "entry 2 ('ci'): the name 'ci' is used twice"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT must be one of text, json, got 'xml'"),
        ("RECORDER_TRACING", "zipkin", "RECORDER_TRACING must be one of off, otlp, console"),
        ("RECORDER_HEALTH_BIND", "8081", "RECORDER_HEALTH_BIND must be host:port"),
        ("RECORDER_SERVICE_BIND", "localhost:99999", "RECORDER_SERVICE_BIND must be host:port"),
    ],
)
def test_bad_operator_settings_are_one_line_that_never_shows_a_token(
    variable: str, value: str, expected: str, monkeypatch: pytest.MonkeyPatch
):
    """A bad token list, log format, tracing choice or address is refused naming the variable, never echoing a token."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as exc:
        load_settings(require=(), _env_file=None)
    assert expected in str(exc.value) and TOKEN not in str(exc.value)


def test_api_tokens_and_addresses_are_read():
    """RECORDER_API_TOKENS gives named tokens with their scope; the service binds to loopback unless told otherwise."""
    s = _settings(RECORDER_API_TOKENS=f" ci:{TOKEN}:write , dash:{TOKEN}y:READ ")
    assert [(t.name, t.scope) for t in s.api_tokens] == [("ci", "write"), ("dash", "read")]
    assert TOKEN not in repr(s) and TOKEN in s.secrets()
    assert s.bind("service") == ("127.0.0.1", 8080) and s.bind("health") is None
    assert _settings(RECORDER_HEALTH_BIND="127.0.0.1:9000").bind("health") == ("127.0.0.1", 9000)


async def test_probe_server_answers_health_and_readiness():
    """/healthz answers 200, /readyz follows its probe (503 with the reason, then 200), other paths 404, POST 405."""
    ready = {"ok": False}

    async def probe() -> tuple[bool, dict[str, object]]:
        return ready["ok"], {} if ready["ok"] else {"reason": "starting"}

    server = ProbeServer("127.0.0.1", 0, ready=probe)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            first = await http.get("/readyz")
            assert (first.status_code, first.json()) == (503, {"status": "unavailable", "reason": "starting"})
            ready["ok"] = True
            assert (await http.get("/readyz")).status_code == 200
            assert (await http.get("/metrics")).status_code == 404
            assert (await http.post("/healthz")).status_code == 405
    finally:
        await server.close()


async def test_worker_process_serves_readiness_and_logs_json(dev_client: Client, tmp_path: Path):
    """A worker with RECORDER_HEALTH_BIND and LOG_FORMAT=json answers /readyz once it polls, counts itself as the
    fleet, and writes only JSON lines, core SDK warnings included."""
    port = free_port()
    env = worker_env(
        {
            "RECORDER_HEALTH_BIND": f"127.0.0.1:{port}",
            "LOG_FORMAT": "json",
            **storage_env("bucket", "AKIAOPSTESTACCESS001", "ops-test-storage-secret"),
        },
        address=dev_client.service_client.config.target_host,
        queue=f"tq-{uuid.uuid4()}",
        agora={"AGORA_APP_ID": "a", "AGORA_CUSTOMER_ID": "c", "AGORA_CUSTOMER_SECRET": "ops-test-customer-secret"},
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        await worker.start_ready(within=60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            for _ in range(50):
                ready = await http.get("/readyz")
                if ready.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert ready.json() == {"status": "ok"}
            assert (await http.get("/healthz")).status_code == 200
    finally:
        await worker.stop()
    lines = [line for line in worker.log().splitlines() if line.strip() and not line.startswith("---")]
    entries = [json.loads(line) for line in lines]
    messages = [e["message"] for e in entries]
    assert any("1 worker(s) poll task queue" in m for m in messages)
    assert any(m.startswith("worker running on task queue") for m in messages)
    assert "ops-test-customer-secret" not in worker.log() and "ops-test-storage-secret" not in worker.log()


def test_tracing_is_off_unless_configured_and_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    """RECORDER_TRACING=off adds no interceptor; console adds the SDK's TracingInterceptor; without the extra
    installed the setting fails with one line naming what to install."""
    from temporalio.contrib.opentelemetry import TracingInterceptor

    assert service_ops.tracing_interceptors(_settings(), "test") == []
    interceptors = service_ops.tracing_interceptors(_settings(RECORDER_TRACING="console"), "test")
    assert [type(i) for i in interceptors] == [TracingInterceptor]
    real = service_ops.importlib.import_module

    def missing(name: str) -> object:
        if name.startswith("opentelemetry.exporter"):
            raise ModuleNotFoundError(name=name)
        return real(name)

    monkeypatch.setattr(service_ops.importlib, "import_module", missing)
    with pytest.raises(SettingsError, match=r"RECORDER_TRACING=otlp needs opentelemetry.exporter.*\[otel\]"):
        service_ops.tracing_interceptors(_settings(RECORDER_TRACING="otlp"), "test")


def test_version_is_the_installed_one(capsys: pytest.CaptureFixture[str]):
    """`recorder --version` prints the installed distribution's version and exits 0."""
    from importlib.metadata import version

    proc = subprocess.run(
        [sys.executable, "-m", "recorder.cli", "--version"], capture_output=True, text=True, cwd=PROJECT, timeout=60
    )
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"recorder {version(cli.DISTRIBUTION)}"


async def test_serve_refuses_to_start_without_tokens_or_an_ncs_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`recorder serve` with neither RECORDER_API_TOKENS nor AGORA_NCS_SECRET (empty counts as unset) exits 2 with
    one line saying how to set either, before it reaches Temporal."""
    monkeypatch.setenv("AGORA_APP_ID", "app")
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")  # never reached
    monkeypatch.delenv("RECORDER_API_TOKENS", raising=False)
    for ncs_secret in (None, "", " , "):
        if ncs_secret is None:
            monkeypatch.delenv("AGORA_NCS_SECRET", raising=False)
        else:
            monkeypatch.setenv("AGORA_NCS_SECRET", ncs_secret)
        assert await cli.run(["serve", "--port", str(free_port())]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith("recorder: settings: RECORDER_API_TOKENS and AGORA_NCS_SECRET are both missing")
        assert "RECORDER_API_TOKENS to name:token:scope" in err[0] and "and/or AGORA_NCS_SECRET" in err[0]


@pytest.mark.devserver
async def test_a_traced_start_links_the_client_and_the_workflow_spans(dev_client: Client, emulator):
    """With the SDK's TracingInterceptor on the client (as RECORDER_TRACING sets it), a start-or-join through the API
    produces the client's update-with-start span and the worker's workflow and update spans in one trace."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from temporalio.contrib.opentelemetry import TracingInterceptor

    from recorder import api
    from recorder.connection import connect
    from tests.conftest import worker_for
    from tests.workflows.helpers import TEACHER, request

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    traced = await connect(
        target_host=dev_client.service_client.config.target_host,
        interceptors=[TracingInterceptor(provider.get_tracer("test"))],
    )
    req = request()
    emulator.join(req.channel, TEACHER)
    async with worker_for(traced, emulator) as queue:
        outcome = await api.start_recording(traced, req, app_id="traced-app", task_queue=queue, wait_until_up=True)
        assert outcome.waited == "up"
        await api.stop_recording(traced, req.channel, app_id="traced-app")
    spans = exporter.get_finished_spans()
    names = {s.name for s in spans}
    assert "StartUpdateWithStartWorkflow:RecordingWorkflow" in names
    assert "RunWorkflow:RecordingWorkflow" in names and "HandleUpdate:join" in names
    start = next(s for s in spans if s.name == "StartUpdateWithStartWorkflow:RecordingWorkflow")
    run = next(s for s in spans if s.name == "RunWorkflow:RecordingWorkflow")
    assert run.context.trace_id == start.context.trace_id
