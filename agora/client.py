"""Async client of the Agora Cloud Recording REST API.

One call, one answer: every request is validated before it is sent, every non-200 answer is classified
into `agora.errors`, and nothing is retried here (retries live in Temporal). Which of Agora's domains a call
goes to follows Agora's "switch domain" guidance, by the caller's attempt number: the same domain first and
once more, then the other global domain, then the region's own host (`domain_order`); the backoff between
the tries is the caller's retry schedule.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from agora.errors import (
    AgoraConnectionError,
    AgoraTimeout,
    ProtocolError,
    TransportError,
    classify_response,
    invalid,
    refused_before_sending,
    scrub,
)
from agora.models import (
    AcquireClientRequest,
    AcquireResponse,
    QueryResponse,
    RecordingMode,
    StartClientRequest,
    StartResponse,
    StopResponse,
    UpdateClientRequest,
    UpdateLayoutClientRequest,
    UpdateResponse,
    secret_values,
)
from workflows import limits

__all__ = ["ALTERNATE_BASE_URL", "DEFAULT_BASE_URL", "REGIONS", "AgoraClient", "domain_order"]

# Agora's two global domains: api.agora.io is the primary one outside mainland China, api.sd-rtn.com inside it.
DEFAULT_BASE_URL = "https://api.agora.io"
ALTERNATE_BASE_URL = "https://api.sd-rtn.com"
# Regions with a host of their own (`api-<region>.<domain>`), the last resort of the switch-domain order.
REGIONS = (
    "us-west-1",
    "us-east-1",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "cn-east-1",
    "cn-north-1",
)
CONTENT_TYPE = "application/json;charset=utf-8"
# A synchronous stop answers only after the upload: Agora allows it about 20 s before replying with code 50.
SYNC_STOP_READ_TIMEOUT = 30.0

logger = logging.getLogger("agora.client")

_R = TypeVar("_R", bound=BaseModel)
# resourceIds are long base64url-like strings and sids hex; both go into the URL path unescaped.
_PATH_ID_RE = re.compile(r"[A-Za-z0-9_\-.~=]{1,4096}")


def domain_order(region: str | None = None) -> list[str]:
    """Agora's domains in "switch domain" order: the primary global domain, the other one, then the region's host.

    In a mainland China region (`cn-…`) api.sd-rtn.com comes first; elsewhere api.agora.io.
    """
    if region is not None and region not in REGIONS:
        raise invalid("region", region, f"one of {', '.join(REGIONS)}")
    china = region is not None and region.startswith("cn-")
    first, second = (ALTERNATE_BASE_URL, DEFAULT_BASE_URL) if china else (DEFAULT_BASE_URL, ALTERNATE_BASE_URL)
    order = [first, second]
    if region is not None:
        order.append(first.replace("://api.", f"://api-{region}.", 1))
    return order


class AgoraClient:
    """Cloud Recording calls for one App ID, authenticated with a RESTful customer id and secret."""

    def __init__(
        self,
        *,
        app_id: str,
        customer_id: str,
        customer_secret: str | SecretStr,
        base_url: str | None = None,
        fallback_base_url: str | None = None,
        region: str | None = None,
        timeout: float | httpx.Timeout = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        extra_secrets: Iterable[str] = (),
    ) -> None:
        if not app_id or not _PATH_ID_RE.fullmatch(app_id):
            raise invalid("app_id", app_id, "a non-empty App ID of URL-safe characters")
        if not customer_id:
            raise invalid("customer_id", customer_id, "the non-empty RESTful customer id")
        secret = customer_secret.get_secret_value() if isinstance(customer_secret, SecretStr) else customer_secret
        if not secret:
            raise invalid("customer_secret", "", "the non-empty RESTful customer secret")
        self._app_id = app_id
        agora = domain_order(region)
        base = (base_url or agora[0]).rstrip("/")
        if base in agora:
            # One of Agora's own domains: the switch-domain order, starting from the one asked for.
            self._base_urls = [base, *(d for d in agora if d != base)]
        else:
            self._base_urls = [base]
            if fallback_base_url is not None and fallback_base_url.rstrip("/") != base:
                self._base_urls.append(fallback_base_url.rstrip("/"))
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        auth = httpx.BasicAuth(customer_id, secret)
        self._secrets = [secret, *extra_secrets]
        self._http = httpx.AsyncClient(auth=auth, timeout=self._timeout, transport=transport, follow_redirects=False)

    def __repr__(self) -> str:
        return f"AgoraClient(app_id={self._app_id!r}, base_urls={self._base_urls!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the underlying HTTP connections."""
        await self._http.aclose()

    # -- the six calls ------------------------------------------------------------------------------------

    async def acquire(
        self, cname: str, uid: str, request: AcquireClientRequest | None = None, *, attempt: int = 1
    ) -> AcquireResponse:
        """Reserve a recording resource for (cname, uid); the resourceId is valid for 5 minutes."""
        op = "acquire"
        request = request or AcquireClientRequest()
        web = request.scene == 1
        with refused_before_sending(op):
            cname = limits.check_cname(cname, web=web)
            uid = limits.check_uid(uid)
        body = _body(cname, uid, request.to_wire())
        data = await self._call(op, "POST", "/acquire", body, secret_values(request), attempt)
        return self._parse(op, AcquireResponse, data)

    async def start(
        self,
        resource_id: str,
        mode: RecordingMode,
        cname: str,
        uid: str,
        request: StartClientRequest,
        *,
        attempt: int = 1,
    ) -> StartResponse:
        """Start recording; a 200 means accepted, not running (check with query)."""
        op = "start"
        with refused_before_sending(op):
            limits.check_mode(mode)
            resource_id = _check_path_id("resource_id", resource_id)
            cname = limits.check_cname(cname, web=mode == "web")
            uid = limits.check_uid(uid)
            request.check_for_mode(mode)
        path = f"/resourceid/{resource_id}/mode/{mode}/start"
        body = _body(cname, uid, request.to_wire())
        data = await self._call(op, "POST", path, body, secret_values(request), attempt)
        return self._parse(op, StartResponse, data)

    async def query(self, resource_id: str, sid: str, mode: RecordingMode, *, attempt: int = 1) -> QueryResponse:
        """Read the status and file list of a running session (404 once it has ended)."""
        op = "query"
        with refused_before_sending(op):
            path = _task_path(resource_id, sid, mode, op)
        data = await self._call(op, "GET", path, None, [], attempt)
        return self._parse(op, QueryResponse, data)

    async def update(
        self,
        resource_id: str,
        sid: str,
        mode: RecordingMode,
        cname: str,
        uid: str,
        request: UpdateClientRequest,
        *,
        attempt: int = 1,
    ) -> UpdateResponse:
        """Change subscriptions, pause/resume a web recording, change CDN output or refresh storage keys."""
        return await self._change("update", resource_id, sid, mode, cname, uid, request, attempt)

    async def update_layout(
        self,
        resource_id: str,
        sid: str,
        mode: RecordingMode,
        cname: str,
        uid: str,
        request: UpdateLayoutClientRequest,
        *,
        attempt: int = 1,
    ) -> UpdateResponse:
        """Replace the whole mix layout (fields left out return to their defaults)."""
        return await self._change("updateLayout", resource_id, sid, mode, cname, uid, request, attempt)

    async def _change(
        self,
        op: str,
        resource_id: str,
        sid: str,
        mode: RecordingMode,
        cname: str,
        uid: str,
        request: UpdateClientRequest | UpdateLayoutClientRequest,
        attempt: int,
    ) -> UpdateResponse:
        """update or updateLayout: one running task's recording changed, each checked for the mode first."""
        with refused_before_sending(op):
            path = _task_path(resource_id, sid, mode, op)
            if isinstance(request, UpdateClientRequest):
                request.check_for_mode(mode)
            elif mode != "mix":
                raise invalid("mode", mode, "mix (updateLayout exists only in mix mode)")
            body = _body(cname, uid, request.to_wire(), mode)
        data = await self._call(op, "POST", path, body, secret_values(request), attempt)
        return self._parse(op, UpdateResponse, data)

    async def stop(
        self,
        resource_id: str,
        sid: str,
        mode: RecordingMode,
        cname: str,
        uid: str,
        *,
        async_stop: bool = False,
        attempt: int = 1,
    ) -> StopResponse:
        """Stop recording; synchronous by default (the answer waits for the upload and lists the files)."""
        op = "stop"
        with refused_before_sending(op):
            path = _task_path(resource_id, sid, mode, op)
            body = _body(cname, uid, {"async_stop": async_stop}, mode)
        timeout = None
        if not async_stop and (self._timeout.read or 0) < SYNC_STOP_READ_TIMEOUT:
            t = self._timeout
            timeout = httpx.Timeout(connect=t.connect, read=SYNC_STOP_READ_TIMEOUT, write=t.write, pool=t.pool)
        data = await self._call(op, "POST", path, body, [], attempt, http_timeout=timeout)
        return self._parse(op, StopResponse, data)

    # -- plumbing -----------------------------------------------------------------------------------------

    def base_url_for(self, attempt: int) -> str:
        """The domain of a call's `attempt`-th try: the first domain twice (Agora: retry the same domain), then each
        next one in turn."""
        return self._base_urls[max(0, attempt - 2) % len(self._base_urls)]

    async def _call(
        self,
        operation: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        request_secrets: list[str],
        attempt: int,
        *,
        http_timeout: httpx.Timeout | None = None,
    ) -> Any:
        """Send one request to the attempt's domain and return the JSON of its answer (200, or a stop's 206)."""
        secrets = [*self._secrets, *request_secrets]
        content = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        headers = {"Content-Type": CONTENT_TYPE} if body is not None else {}
        base = self.base_url_for(attempt)
        host = httpx.URL(base).host
        url = f"{base}/v1/apps/{self._app_id}/cloud_recording{path}"
        started = time.monotonic()
        try:
            response = await self._http.request(
                method, url, content=content, headers=headers, timeout=http_timeout or self._timeout
            )
        except httpx.TransportError as exc:
            elapsed = time.monotonic() - started
            logger.debug("agora %s via %s failed: %s after %.3fs", operation, host, type(exc).__name__, elapsed)
            cls: type[TransportError] = (
                AgoraTimeout if isinstance(exc, httpx.TimeoutException) else AgoraConnectionError
            )
            message = scrub(f"{operation}: no answer from Agora ({host}: {type(exc).__name__})", secrets)
            raise cls(message, operation=operation) from None
        elapsed = time.monotonic() - started
        logger.debug("agora %s via %s: HTTP %d in %.3fs", operation, host, response.status_code, elapsed)
        error = classify_response(operation, response.status_code, response.content, secrets=secrets)
        if error is not None:
            raise error
        try:
            return json.loads(response.content)
        except ValueError:
            raise ProtocolError(
                f"{operation} answered HTTP {response.status_code} with a body that is not JSON (ProtocolError, "
                "retryable)",
                operation=operation,
                http_status=response.status_code,
            ) from None

    @staticmethod
    def _parse(operation: str, model: type[_R], data: Any) -> _R:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False, include_context=False)
            )
            raise ProtocolError(
                f"{operation} answered HTTP 200 without the expected fields ({problems}) (ProtocolError, retryable)",
                operation=operation,
                http_status=200,
            ) from None


def _body(cname: str, uid: str, client_request: dict[str, Any], mode: str | None = None) -> dict[str, Any]:
    """A POST body; with `mode`, cname and uid are validated as that mode requires (acquire checks them itself)."""
    if mode is not None:
        cname = limits.check_cname(cname, web=mode == "web")
        uid = limits.check_uid(uid)
    return {"cname": cname, "uid": uid, "clientRequest": client_request}


def _task_path(resource_id: str, sid: str, mode: str, operation: str) -> str:
    """The validated path of a call on one running task (query, update, updateLayout, stop)."""
    limits.check_mode(mode)
    resource_id = _check_path_id("resource_id", resource_id)
    sid = _check_path_id("sid", sid)
    return f"/resourceid/{resource_id}/sid/{sid}/mode/{mode}/{operation}"


def _check_path_id(field: str, value: str) -> str:
    if not isinstance(value, str) or value in (".", "..") or not _PATH_ID_RE.fullmatch(value):
        raise invalid(field, value, "a non-empty id of A-Z a-z 0-9 - _ . ~ = characters")
    return value
