"""What operators need from the worker and the HTTP service: logs without secrets, health probes, optional tracing.

- `configure_logging`: LOG_LEVEL and LOG_FORMAT (`text`, or `json`: one JSON object a line, Temporal's core SDK logs
  included), with every secret of the settings (Agora's, the storage keys, the API tokens) replaced by `***` in every
  line, whatever logger wrote it.
- `ProbeServer`: `GET /healthz` (the process answers) and `GET /readyz` (it can do its work) on a small HTTP server
  inside the worker process (RECORDER_HEALTH_BIND); the HTTP service serves the same two paths itself.
- `runtime` and `tracing_interceptors`: the Temporal runtime (Prometheus metrics, core logs forwarded to Python
  logging) and, with RECORDER_TRACING=otlp or console, OpenTelemetry spans through the SDK's TracingInterceptor
  (`pip install 'agora-recording-orchestrator[otel]'`; off unless configured).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Interceptor
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from recorder.settings import Settings, SettingsError

MASK = "***"
MIN_SECRET_LENGTH = 6
# The standard attributes of a LogRecord; anything else on a record was passed with `extra=` and goes into JSON logs.
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
# Attributes other libraries set on their records that are no data of the event (uvicorn's ANSI-coloured copy of the
# message, the core SDK's raw log object).
_NOT_EXTRAS = frozenset({"color_message", "temporal_log"})
Probe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


class ScrubSecrets(logging.Filter):
    """Replaces every known secret in a record's message, arguments and traceback with ***."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so that a secret containing another is masked whole. A value too short to be a real secret
        # (a test's "s") would mask every occurrence of a letter: it is left alone.
        self._secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """`text` with every secret masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drops it."""
        if self._secrets:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):  # arguments that do not fit the format: logging reports that itself
                message = str(record.msg)
            record.msg = self.scrub(message)
            record.args = None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = self.scrub(record.exc_text)
            for key, value in list(record.__dict__.items()):
                if key not in _RECORD_FIELDS and isinstance(value, str):
                    setattr(record, key, self.scrub(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, the record's extras and any traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_") and key not in _NOT_EXTRAS:
                out[key] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def configure_logging(settings: Settings, *, stream: Any = None) -> logging.Handler:
    """Log every record to stderr (or `stream`) at LOG_LEVEL, as text or JSON, with the settings' secrets masked."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    # On the handler, so that it sees the records of every logger (a logger's own filter misses its children's).
    handler.addFilter(ScrubSecrets(settings.secrets()))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    return handler


def runtime(settings: Settings) -> Runtime:
    """The Temporal runtime: core SDK warnings forwarded to Python logging (so LOG_FORMAT and the secret filter apply
    to them) and, with RECORDER_METRICS_BIND, Prometheus metrics."""
    metrics = PrometheusConfig(bind_address=settings.metrics_bind) if settings.metrics_bind else None
    logs = LoggingConfig(
        filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
        forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
    )
    return Runtime(telemetry=TelemetryConfig(metrics=metrics, logging=logs))


def tracing_interceptors(settings: Settings, service_name: str) -> list[Interceptor]:
    """The SDK's TracingInterceptor with a tracer provider exporting spans (RECORDER_TRACING), or none when off."""
    if settings.tracing == "off":
        return []
    try:
        trace = importlib.import_module("opentelemetry.trace")
        sdk_trace = importlib.import_module("opentelemetry.sdk.trace")
        export = importlib.import_module("opentelemetry.sdk.trace.export")
        resources = importlib.import_module("opentelemetry.sdk.resources")
        interceptor = importlib.import_module("temporalio.contrib.opentelemetry")
        if settings.tracing == "otlp":
            exporter = importlib.import_module(
                "opentelemetry.exporter.otlp.proto.http.trace_exporter"
            ).OTLPSpanExporter()
        else:
            exporter = export.ConsoleSpanExporter()
    except ModuleNotFoundError as exc:
        raise SettingsError(
            f"settings: RECORDER_TRACING={settings.tracing} needs {exc.name}: pip install "
            "'agora-recording-orchestrator[otel]'"
        ) from None
    provider = sdk_trace.TracerProvider(resource=resources.Resource.create({"service.name": service_name}))
    provider.add_span_processor(export.BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return [interceptor.TracingInterceptor()]


class ProbeServer:
    """A small HTTP server for `GET /healthz` and `GET /readyz`, each answering JSON (200, or 503 when not ready)."""

    def __init__(self, host: str, port: int, *, ready: Probe, live: Probe | None = None) -> None:
        self.host = host
        self.port = port
        self._ready = ready
        self._live = live
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Bind and serve in the background (OSError when the address is taken)."""
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Stop serving."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            method, _, rest = request.decode("latin-1").partition(" ")
            path = rest.split(" ", 1)[0].split("?", 1)[0]
            status, body = await self._answer(method, path)
            payload = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
            head = (
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode() + (payload if method != "HEAD" else b""))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, method: str, path: str) -> tuple[int, Mapping[str, Any]]:
        if path not in ("/healthz", "/readyz"):
            return 404, {"error": f"no such path {path[:100]}: use /healthz or /readyz"}
        if method not in ("GET", "HEAD"):
            return 405, {"error": "use GET"}
        probe = self._ready if path == "/readyz" else self._live
        if probe is None:
            return 200, {"status": "ok"}
        try:
            ok, detail = await asyncio.wait_for(probe(), 5)
        except Exception as exc:  # a probe that fails says not ready, with why
            ok, detail = False, {"error": f"{type(exc).__name__}: {exc}"[:300]}
        return (200 if ok else 503), {"status": "ok" if ok else "unavailable", **detail}
