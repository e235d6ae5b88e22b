"""`recorder serve`: the Python API over HTTP, for backends that are not Python and requests that cannot wait 90 s.

    POST /v1/recordings                       start or join a channel's recording (?wait=true&timeout=30: until up)
    GET  /v1/recordings                       list (?phase=recording&channel=math-101&status=all&limit=100)
    GET  /v1/recordings/{channel}             the live status
    GET  /v1/recordings/{channel}/manifest    the manifest so far
    POST /v1/recordings/{channel}/stop        ask it to stop and answer at once (202), or ?wait=20: at most 20 s
    PUT  /v1/recordings/{channel}/layout      the mixed layout of the running recorder (mix mode)
    PUT  /v1/recordings/{channel}/subscription  whom the running recorder subscribes to
    GET  /healthz, /readyz                    the process answers / Temporal answers (no token)
    GET  /openapi.json, /docs                 the OpenAPI 3.1 schema and a page that reads it (no token)

Requests and answers are the Python API's pydantic models (`recorder.api`, `workflows.models`). Errors are
`application/problem+json` (RFC 9457) whose `errors` name each field. Every /v1 route asks for a bearer token from
RECORDER_API_TOKENS (`name:token:scope`, scope `read` or `write`; compared in constant time): 401 without a valid
one, 403 when its scope does not allow the operation. The check is per route, so routes mounted beside these
(`extra_routes`, such as Agora's signed callbacks at `POST /agora/ncs`) authenticate their own way.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import quote

import uvicorn
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.json_schema import models_json_schema
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from recorder import api
from recorder.connection import ConnectionError_, connect
from recorder.ncs import Receiver
from recorder.search_attributes import ensure_search_attributes
from recorder.service_ops import configure_logging, runtime, tracing_interceptors
from recorder.settings import ApiToken, Settings, SettingsError
from workflows import limits
from workflows.models import (
    LayoutUpdate,
    Phase,
    RecordingManifest,
    RecordingRequest,
    RecordingStatus,
    SubscriptionUpdate,
    UpdateResult,
)

log = logging.getLogger("recorder.service")

API = "/v1"
# Recording requests are small JSON documents; anything far larger is not one of them.
MAX_BODY_BYTES = 64 * 1024
# The longest a request may ask to wait: a web request should not hang longer.
MAX_WAIT_SECONDS = 60.0
DEFAULT_WAIT_SECONDS = 30.0
PROBLEM_JSON = "application/problem+json"
Scope = Literal["read", "write"]


# --- models ----------------------------------------------------------------------------------------------------------


class FieldError(BaseModel):
    """One problem with one field of a request."""

    field: str = Field(description="where: body.uid, query.wait, path.channel, header.authorization")
    message: str


class Problem(BaseModel):
    """An error answer (RFC 9457, application/problem+json)."""

    type: str = Field(description="urn:recorder:<kind>, e.g. urn:recorder:validation")
    title: str
    status: int
    detail: str
    errors: list[FieldError] = Field(default_factory=list)


class StartQuery(BaseModel):
    """Query parameters of POST /v1/recordings."""

    model_config = ConfigDict(extra="forbid")

    wait: bool = Field(default=False, description="answer once a recorder is confirmed or the recording has ended")
    timeout: float | None = Field(
        default=None,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description=f"with wait=true: give up waiting after this many seconds (default {DEFAULT_WAIT_SECONDS:g})",
    )

    @model_validator(mode="after")
    def _timeout_needs_wait(self) -> StartQuery:
        if self.timeout is not None and not self.wait:
            raise ValueError("timeout is only used with wait=true")
        return self


class StopQuery(BaseModel):
    """Query parameters of POST /v1/recordings/{channel}/stop."""

    model_config = ConfigDict(extra="forbid")

    wait: float | None = Field(
        default=None,
        gt=0,
        le=MAX_WAIT_SECONDS,
        description="wait at most this many seconds for the final manifest; without it, only ask the recording to stop",
    )


class ListQuery(BaseModel):
    """Query parameters of GET /v1/recordings."""

    model_config = ConfigDict(extra="forbid")

    phase: Phase | None = Field(default=None, description="only recordings in this phase")
    channel: str | None = Field(default=None, description="only this channel's recordings")
    status: Literal["running", "all"] = Field(default="running", description="all: recordings that ended too")
    limit: int = Field(default=100, ge=1, le=1000)

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return None if value is None else limits.check_cname(value, web=True)


class NoQuery(BaseModel):
    """No query parameters."""

    model_config = ConfigDict(extra="forbid")


class RecordingList(BaseModel):
    """GET /v1/recordings: the recordings, newest first."""

    recordings: list[api.RecordingSummary]


class Health(BaseModel):
    """GET /healthz and /readyz."""

    status: Literal["ok", "unavailable"]
    reason: str | None = None


# --- errors ----------------------------------------------------------------------------------------------------------


class Refusal(Exception):
    """An answer of the problem kind: status, kind, title and detail, with the fields at fault."""

    def __init__(
        self,
        status: int,
        kind: str,
        title: str,
        detail: str,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.problem = Problem(
            type=f"urn:recorder:{kind}", title=title, status=status, detail=detail, errors=list(errors)
        )
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        """The problem+json answer."""
        return problem_response(self.problem, self.headers)


def problem_response(problem: Problem, headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A Problem as application/problem+json."""
    return JSONResponse(
        problem.model_dump(mode="json"),
        status_code=problem.status,
        headers=dict(headers or {}),
        media_type=PROBLEM_JSON,
    )


def invalid(where: str, err: ValidationError) -> Refusal:
    """422 naming each field pydantic refused (`where` is body, query or path)."""
    errors = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        message = " ".join(str(e["msg"]).removeprefix("Value error, ").split())
        errors.append(FieldError(field=f"{where}.{loc}" if loc else where, message=message))
    detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
    return Refusal(422, "validation", "The request is not valid", detail, errors)


# --- authentication ----------------------------------------------------------------------------------------------


class Tokens:
    """The bearer tokens of RECORDER_API_TOKENS, held as SHA-256 digests and compared in constant time."""

    def __init__(self, tokens: Sequence[ApiToken]) -> None:
        self._entries = [(t.name, _digest(t.token.get_secret_value()), t.scope) for t in tokens]

    def check(self, authorization: str | None, needs: Scope) -> str:
        """The name of the token holder allowed `needs`; a 401 or 403 Refusal otherwise."""
        challenge = {"WWW-Authenticate": 'Bearer realm="recorder"'}
        scheme, _, presented = (authorization or "").strip().partition(" ")
        if not authorization or scheme.lower() != "bearer" or not presented.strip():
            raise Refusal(
                401,
                "unauthenticated",
                "A bearer token is required",
                "send Authorization: Bearer <token>, a token of RECORDER_API_TOKENS",
                [FieldError(field="header.authorization", message="missing or not a bearer token")],
                challenge,
            )
        digest = _digest(presented.strip())
        holder: tuple[str, Scope] | None = None
        for name, expected, scope in self._entries:  # every entry is compared: the time says nothing of which matched
            if hmac.compare_digest(digest, expected) and holder is None:
                holder = (name, scope)
        if holder is None:
            raise Refusal(
                401,
                "unauthenticated",
                "The bearer token is not valid",
                "the token is not one of RECORDER_API_TOKENS",
                [FieldError(field="header.authorization", message="unknown token")],
                {"WWW-Authenticate": 'Bearer realm="recorder", error="invalid_token"'},
            )
        name, scope = holder
        if needs == "write" and scope != "write":
            raise Refusal(
                403,
                "forbidden",
                "The token may not do this",
                f"token {name!r} has scope {scope}: this operation needs a token of scope write",
                [FieldError(field="header.authorization", message=f"scope {scope}, needs write")],
            )
        return name


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


# --- operations --------------------------------------------------------------------------------------------------


@dataclass
class Call:
    """One request, parsed: who made it, the channel of its path, its query and its body."""

    request: Request
    client: Client
    settings: Settings
    holder: str | None
    channel: str
    query: Any
    body: Any


Handler = Callable[[Call], Awaitable[Response]]


@dataclass(frozen=True)
class Operation:
    """One operation: its route, who may call it, what it takes and what it answers (for routing and OpenAPI)."""

    method: str
    path: str
    name: str
    summary: str
    handler: Handler
    scope: Scope | None = "read"
    query: type[BaseModel] = NoQuery
    body: type[BaseModel] | None = None
    answers: Mapping[int, tuple[str, type[BaseModel] | None]] = field(default_factory=dict)


def _json(model: BaseModel, status: int = 200, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=status, headers=dict(headers or {}))


def _location(channel: str) -> dict[str, str]:
    return {"Location": f"{API}/recordings/{quote(channel, safe='')}"}


async def _start(call: Call) -> Response:
    query: StartQuery = call.query
    request: RecordingRequest = call.body
    within = timedelta(seconds=query.timeout if query.timeout is not None else DEFAULT_WAIT_SECONDS)
    outcome = await api.start_recording(
        call.client,
        request,
        app_id=call.settings.app_id,
        task_queue=call.settings.task_queue,
        wait_until_up=query.wait,
        within=within if query.wait else None,
    )
    verb = "started" if outcome.started else "joined"
    log.info("%s the recording of %s (workflow %s) for %s", verb, request.channel, outcome.workflow_id, call.holder)
    return _json(outcome, 201 if outcome.started else 200, _location(request.channel))


async def _list(call: Call) -> Response:
    query: ListQuery = call.query
    rows = await api.list_recordings(
        call.client,
        app_id=call.settings.app_id,
        phase=query.phase,
        channel=query.channel,
        running_only=query.status == "running",
        limit=query.limit,
    )
    return _json(RecordingList(recordings=rows))


async def _status(call: Call) -> Response:
    return _json(await api.describe_recording(call.client, call.channel, app_id=call.settings.app_id))


async def _manifest(call: Call) -> Response:
    return _json(await api.recording_manifest(call.client, call.channel, app_id=call.settings.app_id))


async def _stop(call: Call) -> Response:
    query: StopQuery = call.query
    if query.wait is None:
        outcome = await api.request_stop(call.client, call.channel, app_id=call.settings.app_id)
    else:
        outcome = await api.stop_within(
            call.client, call.channel, app_id=call.settings.app_id, within=timedelta(seconds=query.wait)
        )
    log.info("stop of %s asked for %s: %s", call.channel, call.holder, "ended" if outcome.finished else "stopping")
    return _json(outcome, 200 if outcome.finished else 202, _location(call.channel))


async def _layout(call: Call) -> Response:
    return _json(await api.update_layout(call.client, call.channel, call.body, app_id=call.settings.app_id))


async def _subscription(call: Call) -> Response:
    return _json(await api.update_subscription(call.client, call.channel, call.body, app_id=call.settings.app_id))


_PROBLEMS: dict[int, tuple[str, type[BaseModel] | None]] = {
    401: ("no valid bearer token", Problem),
    422: ("a field of the request is not valid", Problem),
    503: ("Temporal or the workers do not answer: try again", Problem),
}
_CHANNEL = {404: ("no recording for the channel", Problem)}

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "POST",
        f"{API}/recordings",
        "start_recording",
        "Start a channel's recording, or join the one running (never a second recorder)",
        _start,
        scope="write",
        query=StartQuery,
        body=RecordingRequest,
        answers={
            201: ("started by this call", api.StartOutcome),
            200: ("the channel was already recording: joined", api.StartOutcome),
            403: ("the token may not write", Problem),
            **_PROBLEMS,
        },
    ),
    Operation(
        "GET",
        f"{API}/recordings",
        "list_recordings",
        "List recordings, newest first",
        _list,
        query=ListQuery,
        answers={200: ("the recordings", RecordingList), **_PROBLEMS},
    ),
    Operation(
        "GET",
        f"{API}/recordings/{{channel}}",
        "describe_recording",
        "The live status of a channel's recording",
        _status,
        answers={200: ("the status", RecordingStatus), **_CHANNEL, **_PROBLEMS},
    ),
    Operation(
        "GET",
        f"{API}/recordings/{{channel}}/manifest",
        "recording_manifest",
        "The manifest of a channel's recording so far",
        _manifest,
        answers={200: ("the manifest", RecordingManifest), **_CHANNEL, **_PROBLEMS},
    ),
    Operation(
        "POST",
        f"{API}/recordings/{{channel}}/stop",
        "stop_recording",
        "Stop a channel's recording: answer at once, or wait at most ?wait seconds for the final manifest",
        _stop,
        scope="write",
        query=StopQuery,
        answers={
            200: ("the recording has ended: the final manifest", api.StopOutcome),
            202: ("the stop goes on: what it still waits for, and the manifest so far", api.StopOutcome),
            403: ("the token may not write", Problem),
            **_CHANNEL,
            **_PROBLEMS,
        },
    ),
    Operation(
        "PUT",
        f"{API}/recordings/{{channel}}/layout",
        "update_layout",
        "Replace the mixed layout of the running recorder (mix mode)",
        _layout,
        scope="write",
        body=LayoutUpdate,
        answers={
            200: ("Agora took the update", UpdateResult),
            403: ("the token may not write", Problem),
            409: ("no confirmed recorder runs now, or not mix mode", Problem),
            **_CHANNEL,
            **_PROBLEMS,
        },
    ),
    Operation(
        "PUT",
        f"{API}/recordings/{{channel}}/subscription",
        "update_subscription",
        "Replace the subscription lists of the running recorder",
        _subscription,
        scope="write",
        body=SubscriptionUpdate,
        answers={
            200: ("Agora took the update", UpdateResult),
            403: ("the token may not write", Problem),
            409: ("no confirmed recorder runs now", Problem),
            **_CHANNEL,
            **_PROBLEMS,
        },
    ),
)


# --- parsing and answering ---------------------------------------------------------------------------------------


def _query(model: type[BaseModel], request: Request) -> BaseModel:
    values: dict[str, str] = {}
    for key in request.query_params:
        given = request.query_params.getlist(key)
        if len(given) > 1:
            raise Refusal(
                422,
                "validation",
                "The request is not valid",
                f"query.{key}: given {len(given)} times, give it once",
                [FieldError(field=f"query.{key}", message="given more than once")],
            )
        values[key] = given[0]
    try:
        return model.model_validate(values)
    except ValidationError as err:
        raise invalid("query", err) from None


async def _body(model: type[BaseModel], request: Request) -> BaseModel:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise Refusal(
            415,
            "unsupported-media-type",
            "The body must be JSON",
            f"send Content-Type: application/json, got {kind or 'none'}",
            [FieldError(field="header.content-type", message="must be application/json")],
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_BODY_BYTES:
            raise _too_large()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise Refusal(
            400,
            "malformed-json",
            "The body is not JSON",
            f"the body is not valid JSON{where}",
            [FieldError(field="body", message="not valid JSON")],
        ) from None
    if not isinstance(data, dict):
        raise Refusal(
            422,
            "validation",
            "The request is not valid",
            f"body: must be a JSON object, got {type(data).__name__}",
            [FieldError(field="body", message="must be a JSON object")],
        )
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise invalid("body", err) from None


def _too_large() -> Refusal:
    return Refusal(
        413,
        "too-large",
        "The body is too large",
        f"the body is over {MAX_BODY_BYTES} bytes",
        [FieldError(field="body", message=f"over {MAX_BODY_BYTES} bytes")],
    )


def _channel(request: Request) -> str:
    value = request.path_params.get("channel")
    if value is None:
        return ""
    try:
        return limits.check_cname(value, web=True)
    except ValueError as exc:
        raise Refusal(
            422,
            "validation",
            "The request is not valid",
            f"path.channel: {exc}",
            [FieldError(field="path.channel", message=str(exc))],
        ) from None


def _failure(exc: BaseException, settings: Settings) -> Refusal:
    """The answer to an error of the Python API or of Temporal (never a traceback)."""
    if isinstance(exc, api.RecordingNotFound):
        return Refusal(404, "recording-not-found", "No such recording", str(exc))
    if isinstance(exc, api.RecordingConflict):
        return Refusal(409, "conflict", "The recording cannot take this now", str(exc))
    if isinstance(exc, api.UpdateRefused):
        return Refusal(422, "agora-refused", "Agora refused the update", str(exc))
    if isinstance(exc, api.NoWorker):
        return Refusal(503, "no-worker", "No worker answered", str(exc), headers={"Retry-After": "5"})
    if isinstance(exc, api.SearchAttributesMissing):
        return Refusal(503, "search-attributes", "Temporal lacks the search attributes", str(exc))
    if isinstance(exc, ConnectionError_):
        return Refusal(503, "temporal-unavailable", "Temporal does not answer", str(exc), headers={"Retry-After": "5"})
    if isinstance(exc, RPCError):
        if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
            queue = settings.task_queue
            detail = f"Temporal or the workers did not answer in time (is a worker polling task queue {queue}?)"
            return Refusal(
                503, "temporal-unavailable", "Temporal does not answer", detail, headers={"Retry-After": "5"}
            )
        return Refusal(502, "temporal-refused", "Temporal refused the request", exc.message.splitlines()[0][:300])
    log.error("unexpected error answering a request: %s", exc, exc_info=exc)
    return Refusal(500, "internal", "Internal error", f"{type(exc).__name__}: see the service's log")


def _endpoint(
    op: Operation, client: Client, settings: Settings, tokens: Tokens
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            holder = tokens.check(request.headers.get("authorization"), op.scope) if op.scope else None
            channel = _channel(request)
            query = _query(op.query, request)
            body = await _body(op.body, request) if op.body is not None else None
            call = Call(request, client, settings, holder, channel, query, body)
            try:
                return await op.handler(call)
            except Refusal:
                raise
            except Exception as exc:  # every failure of the call becomes a problem answer
                raise _failure(exc, settings) from None
        except Refusal as refusal:
            return refusal.response()

    endpoint.__name__ = op.name
    return endpoint


# --- OpenAPI and docs --------------------------------------------------------------------------------------------


def openapi(title: str = "Durable Agora Cloud Recording", version: str = "1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of the operations, with the pydantic models as components."""
    models: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = []
    for op in OPERATIONS:
        if op.body is not None:
            models.append((op.body, "validation"))
        models += [(m, "serialization") for _, m in op.answers.values() if m is not None]
    models.append((Health, "serialization"))
    refs, schema = models_json_schema(list(dict.fromkeys(models)), ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        parameters: list[dict[str, Any]] = []
        if "{channel}" in op.path:
            parameters.append(
                {
                    "name": "channel",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                    "description": "the channel",
                }
            )
        query_schema = op.query.model_json_schema()
        for name, prop in query_schema.get("properties", {}).items():
            parameters.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in query_schema.get("required", []),
                    "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
                    "description": prop.get("description", ""),
                }
            )
        entry: dict[str, Any] = {
            "operationId": op.name,
            "summary": op.summary,
            "parameters": parameters,
            "responses": {
                str(status): {
                    "description": text,
                    "content": {
                        (PROBLEM_JSON if model is Problem else "application/json"): {
                            "schema": refs[(model, "serialization")]
                        }
                    },
                }
                if model is not None
                else {"description": text}
                for status, (text, model) in sorted(op.answers.items())
            },
        }
        if op.scope is not None:
            entry["security"] = [{"bearer": []}]
            entry["x-scope"] = op.scope
        if op.body is not None:
            entry["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(op.body, "validation")]}},
            }
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    health = {
        "200": {"description": "ok", "content": {"application/json": {"schema": refs[(Health, "serialization")]}}}
    }
    paths["/healthz"] = {"get": {"operationId": "healthz", "summary": "The process answers", "responses": health}}
    paths["/readyz"] = {
        "get": {
            "operationId": "readyz",
            "summary": "Temporal answers: the service can do its work",
            "responses": {**health, "503": {"description": "Temporal does not answer"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Bearer tokens come from RECORDER_API_TOKENS (name:token:scope, scope read or write). "
            "Errors are application/problem+json naming the field.",
        },
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def docs_page(document: Mapping[str, Any]) -> str:
    """A self-contained HTML page of the operations and models (no script, nothing fetched from elsewhere)."""
    esc = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Recorder API</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}code,pre{background:#f4f4f4}"
        "pre{padding:.5em;overflow:auto}h3{margin-top:2em}</style></head><body>",
        f"<h1>{esc(document['info']['title'])}</h1><p>{esc(document['info']['description'])}</p>",
        "<p>Machine-readable: <a href='/openapi.json'>/openapi.json</a> (OpenAPI 3.1).</p>",
    ]
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            scope = op.get("x-scope")
            parts.append(f"<h3><code>{method.upper()} {esc(path)}</code></h3><p>{esc(op['summary'])}")
            parts.append(f" (token scope: {esc(scope)})</p>" if scope else " (no token)</p>")
            if op.get("parameters"):
                parts.append("<ul>")
                for p in op["parameters"]:
                    parts.append(
                        f"<li><code>{esc(p['name'])}</code> ({esc(p['in'])}"
                        f"{', required' if p.get('required') else ''}): {esc(p.get('description', ''))}</li>"
                    )
                parts.append("</ul>")
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                parts.append(f"<p>Body: <a href='#{esc(ref)}'>{esc(ref)}</a></p>")
            parts.append("<ul>")
            for status, answer in op["responses"].items():
                parts.append(f"<li>{esc(status)}: {esc(answer['description'])}</li>")
            parts.append("</ul>")
    parts.append("<h2>Models</h2>")
    for name, model_schema in document["components"]["schemas"].items():
        parts.append(f"<h3 id='{esc(name)}'>{esc(name)}</h3><pre>{esc(json.dumps(model_schema, indent=2))}</pre>")
    parts.append("</body></html>")
    return "".join(parts)


# --- the application ---------------------------------------------------------------------------------------------


def create_app(client: Client, settings: Settings, *, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The HTTP API over `client` for settings.app_id, plus `extra_routes` (which authenticate their own way)."""
    if not settings.app_id:
        raise SettingsError("settings: AGORA_APP_ID is missing: the service serves one App ID's recordings")
    tokens = Tokens(settings.api_tokens)
    document = openapi()
    page = docs_page(document)

    async def healthz(request: Request) -> Response:
        return _json(Health(status="ok"))

    async def readyz(request: Request) -> Response:
        try:
            await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=3))
        except (RPCError, RuntimeError) as err:  # RuntimeError: a lazy client that cannot connect at all
            reason = f"Temporal does not answer: {str(err).splitlines()[0][:300]}"
            return _json(Health(status="unavailable", reason=reason), 503)
        return _json(Health(status="ok"))

    async def schema(request: Request) -> Response:
        return JSONResponse(document)

    async def docs(request: Request) -> Response:
        return HTMLResponse(page)

    routes: list[BaseRoute] = [
        Route(op.path, _endpoint(op, client, settings, tokens), methods=[op.method], name=op.name) for op in OPERATIONS
    ]
    routes += [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", schema, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
        *extra_routes,
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kinds = {404: ("not-found", "No such path"), 405: ("method-not-allowed", "Method not allowed")}
        kind, title = kinds.get(exc.status_code, ("http", "HTTP error"))
        detail = (
            f"{request.method} is not allowed on {request.url.path}"
            if exc.status_code == 405
            else f"no route {request.url.path}: see /docs"
            if exc.status_code == 404
            else str(exc.detail)
        )
        problem = Problem(type=f"urn:recorder:{kind}", title=title, status=exc.status_code, detail=detail)
        return problem_response(problem, exc.headers)

    return Starlette(routes=routes, exception_handlers={HTTPException: http_error})


async def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    extra_routes: Sequence[BaseRoute] = (),
) -> int:
    """Run the HTTP API until SIGTERM or Ctrl-C (RECORDER_SERVICE_BIND unless `host`/`port`); the exit code."""
    if not settings.app_id:
        raise SettingsError("settings: AGORA_APP_ID is missing: the service serves one App ID's recordings")
    if not settings.api_tokens and not settings.ncs_secrets:
        raise SettingsError(
            "settings: RECORDER_API_TOKENS and AGORA_NCS_SECRET are both missing: the service answers only requests "
            "with a bearer token and callbacks signed by Agora; set RECORDER_API_TOKENS to name:token:scope entries "
            "separated by commas (scope read or write), e.g. backend:<24+ random chars>:write, and/or AGORA_NCS_SECRET "
            "to the secret of Agora's Notification Center Service"
        )
    configure_logging(settings)
    bind = settings.bind("service")
    assert bind is not None  # service_bind has a default
    host, port = host or bind[0], port or bind[1]
    client = await connect(runtime=runtime(settings), interceptors=tracing_interceptors(settings, "recorder-service"))
    try:
        added = await ensure_search_attributes(client)
        if added:
            log.info("registered search attributes: %s", ", ".join(added))
    except RPCError as err:
        log.warning("could not register the search attributes (%s): starts will say what to run", err.message)
    routes = list(extra_routes)
    if settings.ncs_secrets:
        receiver = Receiver(
            client,
            app_id=settings.app_id,
            secrets=[s.get_secret_value() for s in settings.ncs_secrets],
            task_queue=settings.task_queue,
            path=settings.ncs_path,
        )
        routes += receiver.routes()
        count = len(settings.ncs_secrets)
        log.info("taking Agora's signed callbacks at POST %s (%d secret(s))", settings.ncs_path, count)
    else:
        log.info("AGORA_NCS_SECRET is not set: no callback route; recordings learn by polling alone")
    if not settings.api_tokens:
        log.warning("RECORDER_API_TOKENS is not set: every API request is refused with 401; only callbacks are served")
    app = create_app(client, settings, extra_routes=routes)
    config = uvicorn.Config(app, host=host, port=port, log_config=None, lifespan="off", server_header=False)
    server = uvicorn.Server(config)
    log.info("serving the recording API at http://%s:%d (docs at /docs)", host, port)
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits when it cannot bind
        print(f"recorder: cannot serve on {host}:{port} (see the log above)", file=sys.stderr)
        return int(exc.code) if isinstance(exc.code, int) else 1
    return 0


__all__ = ["OPERATIONS", "Problem", "create_app", "docs_page", "openapi", "serve"]
