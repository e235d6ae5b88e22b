"""Classification of Agora's documented error bodies into the error tree."""

from __future__ import annotations

import json

import pytest

from agora import errors
from agora.errors import classify_response, scrub

GATEWAY_CASES = [
    ("acquire", 400, {"message": "appid is invalid"}, errors.InvalidAppId, False),
    ("acquire", 401, {"message": "Unauthorized"}, errors.Unauthorized, False),
    ("start", 401, {"message": "Invalid authentication credentials"}, errors.Unauthorized, False),
    ("query", 404, {"message": "no Route matched with those values"}, errors.RouteNotFound, False),
    ("acquire", 429, {"message": "API rate limit exceeded"}, errors.RateLimited, True),
    ("query", 502, {"message": "An invalid response was received"}, errors.GatewayServerError, True),
    ("query", 403, {"message": "Forbidden"}, errors.GatewayError, False),
]

SERVICE_CASES = [
    (
        "acquire",
        400,
        {"code": 2, "reason": "Acquire: invalid resourceExpiredHour value!"},
        errors.InvalidParameter,
    ),
    ("acquire", 400, {"code": 400, "reason": "invalid_appid"}, errors.InvalidParameter),
    ("acquire", 400, {"code": 401, "reason": "invalid_channel_name"}, errors.InvalidParameter),
    ("acquire", 400, {"code": 405, "reason": "no_active_status"}, errors.InvalidParameter),
    ("acquire", 400, {"code": 406, "reason": "vendor_over_load"}, errors.OverQuota),
    ("acquire", 500, {"code": 500, "reason": "internal_error"}, errors.ServerError),
    ("acquire", 500, {"code": 501, "reason": "no_worker_manager_available"}, errors.ServerError),
    ("acquire", 500, {"code": 504, "reason": "allocate_timeout"}, errors.ServerError),
    ("start", 201, {"code": 7, "reason": "already started"}, errors.AlreadyStarted),
    ("start", 206, {"code": 65, "reason": "request not completed"}, errors.RequestNotCompleted),
    ("stop", 206, {"code": 65, "reason": "request not completed"}, errors.RequestNotCompleted),
    ("start", 400, {"code": 53, "reason": "task conflict"}, errors.TaskConflict),
    ("start", 500, {"code": 502, "reason": "Failed to allocate worker"}, errors.WorkerAllocationFailed),
    ("query", 500, {"code": 502, "reason": "bad gateway"}, errors.ServerError),
    ("start", 500, {"code": 62, "reason": "request timeout"}, errors.RequestTimeout),
    ("query", 504, {"code": 62, "reason": "request timeout"}, errors.RequestTimeout),
    ("acquire", 400, {"code": 62, "reason": "recording not enabled"}, errors.InvalidParameter),
    ("query", 404, {"code": 404, "reason": "failed to find worker"}, errors.NotFound),
    ("stop", 206, {"code": 435, "reason": "no recorded data"}, errors.NoRecordedData),
    ("stop", 400, {"code": 49, "reason": "invalid operation"}, errors.InvalidOperation),
    ("start", 400, {"code": 433, "reason": "resource expired"}, errors.ResourceExpired),
    ("updateLayout", 400, {"code": 1028, "reason": "bad layout"}, errors.InvalidParameter),
    ("start", 400, {"code": 432, "reason": "mismatch"}, errors.InvalidParameter),
    ("start", 400, {"code": 109, "reason": "token expired"}, errors.InvalidParameter),
    ("start", 400, {"code": 9999, "reason": "new code"}, errors.InvalidParameter),
    ("start", 503, {"code": 9999, "reason": "new code"}, errors.ServerError),
    ("stop", 206, {"code": 50, "reason": "upload timeout"}, errors.UploadTimeout),
    ("stop", 500, {"code": 50, "reason": "upload timeout"}, errors.UploadTimeout),
    ("start", 400, {"code": 1001, "reason": "resourceId unparsable"}, errors.ResourceInvalid),
    ("query", 400, {"code": 501, "reason": "service exiting"}, errors.ServiceExiting),
    ("stop", 400, {"code": 501, "reason": "service exiting"}, errors.ServiceExiting),
    ("stop", 302, {"code": 9999, "reason": "odd"}, errors.ProtocolError),
]


@pytest.mark.parametrize(("operation", "status", "body", "cls", "retryable"), GATEWAY_CASES)
def test_gateway_bodies(operation, status, body, cls, retryable):
    """Each documented gateway body maps to its class, with the message as reason and no code."""
    error = classify_response(operation, status, json.dumps(body).encode())
    assert isinstance(error, errors.GatewayError)
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.reason == body["message"]
    assert error.code is None
    assert error.http_status == status
    assert error.operation == operation


@pytest.mark.parametrize(("operation", "status", "body", "cls"), SERVICE_CASES)
def test_service_bodies(operation, status, body, cls: type[errors.AgoraError]):
    """Each documented service body maps to its class with code, reason and the class's retryability."""
    error = classify_response(operation, status, json.dumps(body).encode())
    assert error is not None
    assert type(error) is cls
    assert error.code == body["code"]
    assert error.reason == body["reason"]
    assert error.retryable is cls.retryable
    assert error.kind == cls.__name__
    assert f"HTTP {status}" in str(error)


@pytest.mark.parametrize(
    ("cls", "retryable"),
    [
        (errors.InvalidParameter, False),
        (errors.AlreadyStarted, False),
        (errors.RequestNotCompleted, True),
        (errors.TaskConflict, False),
        (errors.NotFound, True),
        (errors.ResourceExpired, False),
        (errors.NoRecordedData, False),
        (errors.InvalidOperation, False),
        (errors.OverQuota, True),
        (errors.ServerError, True),
        (errors.WorkerAllocationFailed, False),
        (errors.ResourceInvalid, False),
        (errors.UploadTimeout, False),
        (errors.ServiceExiting, False),
        (errors.RequestTimeout, True),
        (errors.RequestValidationError, False),
        (errors.TransportError, True),
        (errors.AgoraTimeout, True),
        (errors.AgoraConnectionError, True),
        (errors.ProtocolError, True),
    ],
)
def test_retryable_flags_follow_the_contract(cls, retryable):
    """Every class states whether resending the same request can help, as the contract says."""
    assert cls.retryable is retryable


def test_kind_is_the_class_name_everywhere():
    """Every class in the tree has kind equal to its own name (the Temporal error type)."""
    seen = []
    stack = [errors.AgoraError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        assert cls.__dict__.get("kind") == cls.__name__, cls
        stack.extend(cls.__subclasses__())
    assert len(seen) >= 24


def test_the_kinds_are_pinned():
    """The kinds are Temporal error types that histories of recordings in flight carry: renaming a class fails here."""
    kinds = {cls.kind for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.AgoraError)}
    assert kinds == {
        "AgoraError",
        "RequestValidationError",
        "TransportError",
        "AgoraTimeout",
        "AgoraConnectionError",
        "ProtocolError",
        "GatewayError",
        "Unauthorized",
        "RouteNotFound",
        "InvalidAppId",
        "RateLimited",
        "GatewayServerError",
        "ServiceError",
        "InvalidParameter",
        "ResourceInvalid",
        "AlreadyStarted",
        "RequestNotCompleted",
        "TaskConflict",
        "NotFound",
        "ResourceExpired",
        "NoRecordedData",
        "InvalidOperation",
        "UploadTimeout",
        "ServiceExiting",
        "OverQuota",
        "ServerError",
        "WorkerAllocationFailed",
        "RequestTimeout",
    }


def test_stop_206_without_a_code_is_the_stops_answer():
    """A stop answered 206 with a normal stop body (files partly in Agora's backup) is no error; with a code it is."""
    body = {"sid": "s1", "serverResponse": {"uploadingStatus": "backuped", "fileList": "s1_room.m3u8"}}
    assert classify_response("stop", 206, json.dumps(body).encode()) is None
    assert classify_response("query", 206, json.dumps(body).encode()) is not None
    assert isinstance(
        classify_response("stop", 206, b'{"code": 435, "reason": "no recorded data"}'), errors.NoRecordedData
    )


def test_upload_timeout_keeps_the_file_list_it_was_answered_with():
    """A stop answered code 50 keeps the answer's serverResponse, so the files it lists are not lost."""
    body = {"code": 50, "reason": "upload timeout", "serverResponse": {"fileList": "s1_room.m3u8"}}
    error = classify_response("stop", 206, json.dumps(body).encode())
    assert isinstance(error, errors.UploadTimeout) and not error.retryable
    assert error.server_response == {"fileList": "s1_room.m3u8"}


def test_rich_404_shape_from_stop():
    """The captured 404 body without reason yields NotFound with the payload message, sid and resourceId."""
    body = {
        "cname": "class1",
        "uid": "527841",
        "resourceId": "res-abc",
        "sid": "38f8e3cfdc474cd56fc1ceba380d7e1a",
        "code": 404,
        "serverResponse": {
            "command": "StopCloudRecorder",
            "payload": {"message": "failed to find worker"},
            "subscribeModeBitmask": 1,
            "vid": "1209",
        },
    }
    error = classify_response("stop", 404, json.dumps(body).encode())
    assert type(error) is errors.NotFound
    assert error.retryable is True
    assert error.reason == "failed to find worker"
    assert error.sid == "38f8e3cfdc474cd56fc1ceba380d7e1a"
    assert error.resource_id == "res-abc"


def test_500_with_empty_sid_and_code_15():
    """The real start 500 {resourceId, sid: "", code: 15} is a retryable ServerError without a sid."""
    body = b'{"resourceId":"res-1","sid":"","code":15}'
    error = classify_response("start", 500, body)
    assert type(error) is errors.ServerError
    assert error.retryable is True
    assert error.code == 15
    assert error.sid is None
    assert error.resource_id == "res-1"


def test_already_started_keeps_sid_when_present():
    """A 201 code 7 body that carries a sid exposes it on AlreadyStarted."""
    body = b'{"code":7,"reason":"already started","sid":"sid-1","resourceId":"r"}'
    error = classify_response("start", 201, body)
    assert isinstance(error, errors.AlreadyStarted)
    assert error.sid == "sid-1"
    assert error.retryable is False


@pytest.mark.parametrize("body", [b"<html>502 Bad Gateway</html>", b"", b"[1,2]", b'{"unexpected": 1}'])
def test_unreadable_error_bodies_are_protocol_errors(body):
    """A non-200 whose body is not JSON or has neither code nor message is a retryable ProtocolError."""
    error = classify_response("query", 502, body)
    assert type(error) is errors.ProtocolError
    assert error.retryable is True
    assert error.http_status == 502


def test_200_is_not_an_error():
    """A 200 classifies as None: the caller parses the body."""
    assert classify_response("query", 200, b"not even json") is None


def test_reason_is_scrubbed_of_secrets():
    """A reason echoing a secret or a Basic credential is scrubbed in reason, str and repr."""
    body = json.dumps({"code": 2, "reason": "bad key SUPERSECRETKEY with Basic Y3VzdDpzZWNyZXQ="}).encode()
    error = classify_response("start", 400, body, secrets=["SUPERSECRETKEY"])
    assert error is not None
    for text in (error.reason, str(error), repr(error)):
        assert "SUPERSECRETKEY" not in text
        assert "Y3VzdDpzZWNyZXQ=" not in text
        assert "***" in text


def test_scrub_ignores_short_secrets_and_masks_basic():
    """scrub replaces secrets of 4+ characters and the token after "Basic ", leaving short strings alone."""
    assert scrub("abc key1234 Basic dXNlcjpwYXNz tail", ["abc", "key1234"]) == "abc *** Basic *** tail"


def test_request_validation_error_is_a_value_error():
    """RequestValidationError is both an AgoraError and a ValueError, never retryable."""
    error = errors.RequestValidationError("uid '0' is not allowed: x", field="uid", value="0", allowed="x")
    assert isinstance(error, ValueError)
    assert isinstance(error, errors.AgoraError)
    assert error.retryable is False
    assert (error.field, error.value, error.allowed) == ("uid", "0", "x")
