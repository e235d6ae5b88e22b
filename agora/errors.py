"""Errors of the Agora Cloud Recording client, classified once at the HTTP boundary.

    AgoraError
    ├── RequestValidationError   bad request caught before sending (also a ValueError)
    ├── TransportError           no HTTP answer at all
    │   ├── AgoraTimeout
    │   └── AgoraConnectionError
    ├── ProtocolError            an answer we cannot read (not JSON, unexpected shape)
    ├── GatewayError             {"message": ...} from Agora's API gateway, no code
    │   ├── Unauthorized         401
    │   ├── RouteNotFound        404
    │   ├── InvalidAppId         400 "appid is invalid"
    │   ├── RateLimited          429
    │   └── GatewayServerError   5xx
    └── ServiceError             {"code", "reason"} (or the richer 404 shape) from the recording service
        ├── InvalidParameter     code 2 and every other "fix the request" code
        ├── ResourceInvalid      code 1001: the resourceId cannot be used; a new acquire is needed
        ├── AlreadyStarted       201 / code 7
        ├── RequestNotCompleted  206 / code 65
        ├── TaskConflict         code 53
        ├── NotFound             404 (task absent, exited, or failing over)
        ├── ResourceExpired      code 433
        ├── NoRecordedData       code 435
        ├── InvalidOperation     code 49
        ├── UploadTimeout        code 50 on a synchronous stop: stopped, the upload goes on
        ├── ServiceExiting       code 501 on query/update/stop: the recorder is on its way out
        ├── OverQuota            code 406 vendor_over_load
        └── ServerError          5xx
            ├── WorkerAllocationFailed   code 502 on start (not retryable: a new acquire is needed)
            └── RequestTimeout           code 62

`retryable` answers one question: can sending the SAME request again help? `kind` is the class name,
stable, and used by the activities as the Temporal `ApplicationError` type. Retrying is Temporal's job;
this module only classifies. A stop answered 206 without a code (some files went to Agora's backup, or the
recorder is still finishing) is not an error: the client reads it as the stop's answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from workflows import limits

__all__ = [
    "AgoraConnectionError",
    "AgoraError",
    "AgoraTimeout",
    "AlreadyStarted",
    "GatewayError",
    "GatewayServerError",
    "InvalidAppId",
    "InvalidOperation",
    "InvalidParameter",
    "NoRecordedData",
    "NotFound",
    "OverQuota",
    "ProtocolError",
    "RateLimited",
    "RequestNotCompleted",
    "RequestTimeout",
    "RequestValidationError",
    "ResourceExpired",
    "ResourceInvalid",
    "RouteNotFound",
    "ServerError",
    "ServiceError",
    "ServiceExiting",
    "TaskConflict",
    "TransportError",
    "Unauthorized",
    "UploadTimeout",
    "WorkerAllocationFailed",
    "classify_response",
    "invalid",
    "refused_before_sending",
    "scrub",
]

_MAX_REASON = 300
_BASIC_RE = re.compile(r"(Basic\s+)\S+", re.IGNORECASE)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret (4+ characters) and anything after "Basic " with "***"."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _BASIC_RE.sub(r"\1***", text)


class AgoraError(Exception):
    """Base of every error raised by the Agora client."""

    retryable: ClassVar[bool] = False
    kind: ClassVar[str] = "AgoraError"

    def __init_subclass__(cls, *, retryable: bool | None = None, **kwargs: Any) -> None:
        """Give each class its kind (its own name) and, where it differs from its parent's, its retryability."""
        super().__init_subclass__(**kwargs)
        # The class names are the contract: renaming a class renames a Temporal error type that workflows in flight
        # and their histories already carry.
        cls.kind = cls.__name__
        if retryable is not None:
            cls.retryable = retryable

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        http_status: int | None = None,
        code: int | None = None,
        reason: str = "",
        sid: str | None = None,
        resource_id: str | None = None,
        server_response: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.operation = operation
        self.http_status = http_status
        self.code = code
        self.reason = reason
        self.sid = sid
        self.resource_id = resource_id
        # The answer's serverResponse object, when it had one (a stop answered code 50 may list the files).
        self.server_response = server_response

    @property
    def message(self) -> str:
        """The (already scrubbed) message."""
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, operation={self.operation!r}, "
            f"http_status={self.http_status!r}, code={self.code!r})"
        )


class RequestValidationError(AgoraError, ValueError):
    """The request was refused before sending: `field` had `value`, `allowed` says what is accepted."""

    def __init__(self, message: str, *, field: str, value: object, allowed: str, operation: str | None = None) -> None:
        super().__init__(message, operation=operation)
        self.field = field
        self.value = value
        self.allowed = allowed


def invalid(field: str, value: object, allowed: str, operation: str | None = None) -> RequestValidationError:
    """The client's 'field value is not allowed: allowed' error, worded as Agora's limits word theirs."""
    rule = limits.invalid(field, value, allowed)
    return RequestValidationError(str(rule), field=field, value=value, allowed=allowed, operation=operation)


@contextmanager
def refused_before_sending(operation: str | None = None) -> Iterator[None]:
    """Turn a broken Agora limit (`workflows.limits.LimitError`) into this client's RequestValidationError, and stamp
    the operation on one raised without it."""
    try:
        yield
    except limits.LimitError as err:
        raise invalid(err.field, err.value, err.allowed, operation) from None
    except AgoraError as err:
        if err.operation is None:
            err.operation = operation
        raise


class TransportError(AgoraError, retryable=True):
    """No HTTP answer was received (on the primary nor on the fallback host)."""


class AgoraTimeout(TransportError):
    """The request timed out."""


class AgoraConnectionError(TransportError):
    """The connection failed or broke."""


class ProtocolError(AgoraError, retryable=True):
    """The answer could not be read: not JSON, or not the documented shape."""


class GatewayError(AgoraError):
    """Agora's API gateway refused the request with {"message": ...} and no code."""


class Unauthorized(GatewayError):
    """401: missing or wrong customer id/secret, or the RESTful service is not enabled."""


class RouteNotFound(GatewayError):
    """404 from the gateway: wrong path or method."""


class InvalidAppId(GatewayError):
    """400 "appid is invalid"."""


class RateLimited(GatewayError, retryable=True):
    """429: the per-App-ID QPS limit was exceeded; retry later with backoff."""


class GatewayServerError(GatewayError, retryable=True):
    """A 5xx answer in the gateway's {"message": ...} shape."""


class ServiceError(AgoraError):
    """The recording service answered with {"code", "reason"} (or the richer 404 shape)."""


class InvalidParameter(ServiceError):
    """Code 2 and the other "fix the request" codes; sending it again cannot help."""


class ResourceInvalid(ServiceError):
    """Code 1001: the resourceId cannot be parsed or used; a new acquire is needed, not the same request again."""


class AlreadyStarted(ServiceError):
    """201 / code 7: start was already called with this resourceId."""


class RequestNotCompleted(ServiceError, retryable=True):
    """206 / code 65: the request reached the backend but the reply timed out; resend as is."""


class TaskConflict(ServiceError):
    """Code 53: a task with the same cname and uid already exists."""


class NotFound(ServiceError, retryable=True):
    """404 from the service: the task is absent or has exited, or a failover is under way."""


class ResourceExpired(ServiceError):
    """Code 433: the resourceId has expired; a new acquire is needed."""


class NoRecordedData(ServiceError):
    """206 / code 435: nobody published, so there are no files."""


class InvalidOperation(ServiceError):
    """Code 49: the task is already exiting (duplicate stop, kicked, idle)."""


class UploadTimeout(ServiceError):
    """Code 50: a synchronous stop's upload took longer than Agora waits (about 20 s); the recorder has stopped and
    the upload goes on, so the same stop must not be sent again."""


class ServiceExiting(ServiceError):
    """Code 501 on query, update or stop: the recorder has been told to stop and is uploading its last files."""


class OverQuota(ServiceError, retryable=True):
    """Code 406 vendor_over_load: the concurrency quota is reached; retry later with backoff."""


class ServerError(ServiceError, retryable=True):
    """A 5xx from the recording service."""


class WorkerAllocationFailed(ServerError, retryable=False):
    """Code 502 on start ("failed to allocate worker"): the same start cannot help; a new acquire + start is."""


class RequestTimeout(ServerError):
    """Code 62 with a 5xx: the backend timed out."""


# Codes that mean "fix the request" (current status-codes page and the older error lists).
_INVALID_PARAMETER_CODES = frozenset({2, 8, 109, 110, 400, 401, 405, 432, 1003, 1013, 1028})
_BY_CODE: dict[int, type[ServiceError]] = {
    7: AlreadyStarted,
    49: InvalidOperation,
    50: UploadTimeout,
    53: TaskConflict,
    65: RequestNotCompleted,
    404: NotFound,
    406: OverQuota,
    433: ResourceExpired,
    435: NoRecordedData,
    1001: ResourceInvalid,
}


def _service_class(operation: str, status: int, code: int | None) -> type[AgoraError]:
    if status == 201:
        return AlreadyStarted
    if status == 404:
        return NotFound
    if code is not None:
        if code in _BY_CODE:
            return _BY_CODE[code]
        if code in _INVALID_PARAMETER_CODES:
            return InvalidParameter
        if code == 501 and operation in ("query", "update", "updateLayout", "stop"):
            return ServiceExiting
        if code == 502 and operation == "start" and status >= 500:
            return WorkerAllocationFailed
        if code == 62:
            # Code 62 on a 4xx is the older "recording not enabled" meaning: fix the setup, not retry.
            return RequestTimeout if status >= 500 else InvalidParameter
    if 400 <= status < 500:
        return InvalidParameter
    if status >= 500:
        return ServerError
    if status == 206:
        return ServiceError
    return ProtocolError


def _gateway_class(status: int, message: str) -> type[AgoraError]:
    if status == 401:
        return Unauthorized
    if status == 404:
        return RouteNotFound
    if status == 429:
        return RateLimited
    if status == 400 and "appid" in message.lower():
        return InvalidAppId
    if status >= 500:
        return GatewayServerError
    if 400 <= status < 500:
        return GatewayError
    return ProtocolError


def _opt_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _payload_message(data: dict[str, Any]) -> str:
    """The reason carried by the richer 404 shape: serverResponse.payload.message."""
    server_response = data.get("serverResponse")
    payload = server_response.get("payload") if isinstance(server_response, dict) else None
    message = payload.get("message") if isinstance(payload, dict) else None
    return message if isinstance(message, str) else ""


def _describe(cls: type[AgoraError], operation: str, status: int, code: int | None, reason: str) -> str:
    code_part = f" code {code}" if code is not None else ""
    reason_part = f": {reason}" if reason else ""
    retry = "retryable" if cls.retryable else "not retryable"
    return f"{operation} failed with HTTP {status}{code_part}{reason_part} ({cls.kind}, {retry})"


def classify_response(
    operation: str, http_status: int, body: bytes, *, secrets: Iterable[str] = ()
) -> AgoraError | None:
    """Turn a non-200 answer into the matching error; None for a 200 (whose body the caller parses)."""
    if http_status == 200:
        return None
    secrets = list(secrets)
    try:
        data: Any = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        data = None
    if http_status == 206 and operation == "stop" and isinstance(data, dict) and not {"code", "message"} & set(data):
        return None  # stopped; some files went to Agora's backup, or the recorder is still finishing
    if not isinstance(data, dict):
        snippet = scrub(body[:120].decode("utf-8", "replace"), secrets)
        cls: type[AgoraError] = ProtocolError
        return cls(
            f"{operation} failed with HTTP {http_status} and an unreadable body: {snippet!r} "
            f"(ProtocolError, retryable)",
            operation=operation,
            http_status=http_status,
            reason=snippet,
        )
    sid = _opt_str(data.get("sid"))
    resource_id = _opt_str(data.get("resourceId"))
    raw_code = data.get("code")
    if "code" in data and isinstance(raw_code, int) and not isinstance(raw_code, bool):
        code: int | None = raw_code
        reason = data.get("reason")
        if not isinstance(reason, str):
            reason = _payload_message(data)
        cls = _service_class(operation, http_status, code)
    elif isinstance(data.get("message"), str):
        code = None
        reason = data["message"]
        cls = _gateway_class(http_status, reason)
    elif http_status == 201:
        code, reason, cls = None, "", AlreadyStarted
    else:
        code, reason, cls = None, "", ProtocolError
    reason = scrub(reason, secrets)[:_MAX_REASON]
    server_response = data.get("serverResponse")
    if isinstance(server_response, dict):
        server_response = json.loads(scrub(json.dumps(server_response), secrets))
    return cls(
        _describe(cls, operation, http_status, code, reason),
        operation=operation,
        http_status=http_status,
        code=code,
        reason=reason,
        sid=sid,
        resource_id=resource_id,
        server_response=server_response if isinstance(server_response, dict) else None,
    )
