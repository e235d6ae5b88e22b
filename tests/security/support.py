"""Shared by the security tests and the replay-fixture recorder: distinctive secrets, a secret scan over everything
Temporal stores (history, search attributes, memo, user metadata), a log capture, and a faster policy for real time.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.json_format import MessageToJson
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from emulator.config import EmulatorConfig
from emulator.state import ApiResponse, Emulator
from recorder.settings import Settings
from workflows import policy

# Distinctive values: long enough that a hit can only be a leak.
APP_ID = "a1b2c3d4e5f60718293a4b5c6d7e8f90"  # with a certificate, Agora App IDs are 32 hex digits
CUSTOMER_ID = "sec-customer-4471"
CUSTOMER_SECRET = "CustSecret-q8Zr2LmX9v"
APP_CERTIFICATE = "c0ffee00deadbeef5ecc0ffee00dbeef"  # 32 hex digits, as Agora's
STORAGE_ACCESS_KEY = "AKIASTORAGEACCESS7QX"
STORAGE_SECRET_KEY = "StorageSecretKey-Wd3pN8kL"
BASIC_VALUE = base64.b64encode(f"{CUSTOMER_ID}:{CUSTOMER_SECRET}".encode()).decode("ascii")

STATIC_SECRETS: dict[str, str] = {
    "customer secret": CUSTOMER_SECRET,
    "app certificate": APP_CERTIFICATE,
    "storage access key": STORAGE_ACCESS_KEY,
    "storage secret key": STORAGE_SECRET_KEY,
    "basic auth value": BASIC_VALUE,
}


def emulator_config(speed: float = 20.0) -> EmulatorConfig:
    """An emulator that checks these credentials and, with an app certificate set, requires a token on start."""
    return EmulatorConfig(
        app_id=APP_ID,
        customer_id=CUSTOMER_ID,
        customer_secret=CUSTOMER_SECRET,
        app_certificate=APP_CERTIFICATE,
        speed=speed,
        startup_seconds=2.0,
        upload_seconds=0.0,
        rate_limit_qps=0,
        max_concurrent=1000,
    )


def worker_settings(base_url: str, app_id: str) -> Settings:
    """Worker settings holding every secret above."""
    return Settings(
        _env_file=None,
        app_id=app_id,
        customer_id=CUSTOMER_ID,
        customer_secret=CUSTOMER_SECRET,
        app_certificate=APP_CERTIFICATE,
        base_url=base_url,
        request_timeout=5.0,
        storage_vendor=1,
        storage_region=0,
        storage_bucket="class-recordings",
        storage_access_key=STORAGE_ACCESS_KEY,
        storage_secret_key=STORAGE_SECRET_KEY,
        rate_limit=1000.0,
    )


# --- what Agora received --------------------------------------------------------------------------------------


@dataclass
class Received:
    """One request as the emulator received it."""

    method: str
    path: str
    authorization: str | None
    body: bytes


@dataclass
class Wiretap:
    """Every request the emulator received, and the responses it can be told to rewrite."""

    requests: list[Received] = field(default_factory=list)
    # cname -> a function building the answer to a start on that channel from the request (echo faults)
    start_answers: dict[str, Callable[[Received, dict[str, Any]], ApiResponse]] = field(default_factory=dict)

    def tokens(self) -> list[str]:
        """Every RTC token sent in a start body."""
        out = []
        for r in self.requests:
            if r.path.endswith("/start") and r.body:
                token = json.loads(r.body).get("clientRequest", {}).get("token")
                if isinstance(token, str) and token:
                    out.append(token)
        return out

    def secrets(self) -> dict[str, str]:
        """The static secrets plus every token that was actually built and sent."""
        found = dict(STATIC_SECRETS)
        for i, token in enumerate(sorted(set(self.tokens()))):
            found[f"rtc token {i}"] = token
        return found


def tap(emulator: Emulator) -> Wiretap:
    """Record every API request the emulator answers (the emulator itself keeps no token nor storage key)."""
    wire = Wiretap()
    original = emulator.handle

    def handle(method: str, path: str, authorization: str | None, content_type: str | None, body: bytes) -> ApiResponse:
        received = Received(method, path, authorization, body)
        wire.requests.append(received)
        if path.endswith("/start") and body:
            payload = json.loads(body)
            answer = wire.start_answers.get(str(payload.get("cname")))
            if answer is not None:
                return answer(received, payload)
        return original(method, path, authorization, content_type, body)

    emulator.handle = handle  # type: ignore[method-assign]
    return wire


def echo_start_secrets(received: Received, payload: dict[str, Any]) -> ApiResponse:
    """A 400 whose reason echoes the token, storage keys and the Authorization header the start carried."""
    cr = payload.get("clientRequest", {})
    storage = cr.get("storageConfig", {})
    reason = (
        f"invalid token {cr.get('token')} for accessKey {storage.get('accessKey')} "
        f"secretKey {storage.get('secretKey')} (auth {received.authorization})"
    )
    return ApiResponse(400, {"code": 2, "reason": reason})


# --- what Temporal stored ---------------------------------------------------------------------------------------


def _decoded_payloads(node: Any, out: list[str]) -> None:
    """Append the decoded data and metadata of every payload in a proto-JSON tree."""
    if isinstance(node, dict):
        if "data" in node and isinstance(node["data"], str):
            out.append(_b64(node["data"]))
        if isinstance(node.get("metadata"), dict):
            out.extend(_b64(v) for v in node["metadata"].values() if isinstance(v, str))
        for value in node.values():
            _decoded_payloads(value, out)
    elif isinstance(node, list):
        for item in node:
            _decoded_payloads(item, out)


def _b64(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return text


def proto_texts(message: Any) -> list[str]:
    """A proto as JSON text plus every payload inside it decoded (failure messages, stack traces, details)."""
    raw = MessageToJson(message)
    out = [raw]
    _decoded_payloads(json.loads(raw), out)
    return out


async def stored_texts(client: Client, workflow_id: str) -> dict[str, list[str]]:
    """Every event of every run of a workflow, its description (search attributes, memo, metadata), as text."""
    found: dict[str, list[str]] = {}
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        history = await handle.fetch_history()
        assert history.events, f"no history for {workflow_id}/{execution.run_id}"
        texts = [t for event in history.events for t in proto_texts(event)]
        texts.append(history.to_json())
        found[f"history {workflow_id}/{execution.run_id}"] = texts
        desc = await handle.describe()
        memo = await desc.memo()
        found[f"describe {workflow_id}/{execution.run_id}"] = [
            *proto_texts(desc.raw_description),
            repr(memo),
            repr(desc.typed_search_attributes),
            repr(desc.static_summary),
            repr(desc.static_details),
        ]
    return found


def leaks(texts: dict[str, list[str]], secrets: dict[str, str]) -> list[str]:
    """ "<secret name> in <where>" for each secret found in any text (empty when nothing leaked)."""
    hits = []
    for where, items in texts.items():
        for name, value in secrets.items():
            if any(value in text for text in items):
                hits.append(f"{name} in {where}")
    return hits


# --- the worker's log ---------------------------------------------------------------------------------------------


class CapturingHandler(logging.Handler):
    """Keeps every record it sees, formatted with its traceback and its extra attributes."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        extras = {k: v for k, v in vars(record).items() if k not in _PLAIN_RECORD}
        with self._lock:
            self.lines.append(f"{text} {extras!r}")


_PLAIN_RECORD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
CAPTURED_LOGGERS = ("", "temporalio", "httpx", "httpcore", "agora", "activities", "worker", "recorder", "emulator")


@contextmanager
def captured_logs() -> Iterator[CapturingHandler]:
    """Capture every record at DEBUG from the root logger down (temporalio, httpx, the product) for the block."""
    handler = CapturingHandler()
    loggers = [logging.getLogger(name) for name in CAPTURED_LOGGERS]
    levels = [lg.level for lg in loggers]
    root = logging.getLogger()
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# --- real time, compressed -----------------------------------------------------------------------------------------

# The best-practice schedules, shrunk so a scenario with a crash, a restart and a failover runs in seconds of real
# time on a dev server. Only the delays change; every schedule keeps its length, so the workflow takes the same path.
FAST_POLICY: dict[tuple[Any, str], Any] = {
    (policy, "START_SERVER_ERROR_DELAYS"): (0.3, 0.3, 0.3),
    (policy, "REQUEST_NOT_COMPLETED_DELAYS"): (0.3, 0.3),
    (policy, "NOT_FOUND_DELAYS"): (0.5, 0.5, 0.5),
    (policy, "QUERY_SERVER_ERROR_DELAYS"): (0.3, 0.3, 0.3, 0.3),
    (policy, "CONFIRM_FIRST_QUERY"): 0.5,
    (policy, "CONFIRM_DELAYS"): (0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5),
    (policy, "FAILOVER_WINDOW"): 5.0,
    (policy, "M3U8_QUERY_AFTER"): {"mix": 1.0, "web": 1.0, "individual": 2.0},
    (policy, "M3U8_RETRY_AFTER"): 2.0,
    (policy, "MIN_CHECK_INTERVAL"): 1,
    (policy, "TRANSPORT_DELAYS"): (0.3, 0.3, 0.3),
    (policy, "HA_REGISTER_WITHIN"): 3.0,
}


# The sandbox re-imports `workflows.policy` for each workflow run; passing the policy module through makes the
# workflow see the patched schedules (the module is constants and pure functions, so sharing it is safe).
PATCHED_RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows.policy", "workflows.models")
)


class _FastWorker(Worker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("workflows"):
            kwargs.setdefault("workflow_runner", PATCHED_RUNNER)
        super().__init__(*args, **kwargs)


@contextmanager
def fast_policy(extra: Iterable[tuple[tuple[Any, str], Any]] = ()) -> Iterator[None]:
    """Apply FAST_POLICY (plus `extra`) to the policy modules and make the product's workers see it, then restore."""
    from recorder import worker

    patches = {**FAST_POLICY, **dict(extra), (worker, "Worker"): _FastWorker}
    saved = {key: getattr(key[0], key[1]) for key in patches}
    for (module, name), value in patches.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for (module, name), value in saved.items():
            setattr(module, name, value)
