"""Agora's limits as the REST client applies them: the rules of `workflows.limits`, failing as this client's errors.

The rules live once, in `workflows.limits` (pure, standard library only, so the workflow's request model can use them
inside Temporal's sandbox). Here each check raises `RequestValidationError`, the client's own error for a request
refused before it was sent.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from agora.errors import RequestValidationError
from workflows import limits as rules
from workflows.limits import (
    AGORA_DEFAULT_MAX_IDLE_TIME,
    AGORA_DEFAULT_RESOURCE_EXPIRED_HOUR,
    ALL_STREAMS,
    CNAME_MAX_BYTES,
    CNAME_PUNCTUATION,
    MAX_LAYOUT_ENTRIES,
    MAX_SUBSCRIBE_UIDS,
    RECORDING_MODES,
    TRANSCODING_BACKGROUND,
    TRANSCODING_BITRATE,
    TRANSCODING_FPS,
    TRANSCODING_HEIGHT,
    TRANSCODING_LAYOUT,
    TRANSCODING_WIDTH,
    UID_MAX,
    UID_MIN,
    WEB_CNAME_MAX_BYTES,
    RecordingMode,
)

__all__ = [
    "AGORA_DEFAULT_MAX_IDLE_TIME",
    "AGORA_DEFAULT_RESOURCE_EXPIRED_HOUR",
    "ALL_STREAMS",
    "CNAME_MAX_BYTES",
    "CNAME_PUNCTUATION",
    "MAX_LAYOUT_ENTRIES",
    "MAX_SUBSCRIBE_UIDS",
    "RECORDING_MODES",
    "TRANSCODING_BACKGROUND",
    "TRANSCODING_BITRATE",
    "TRANSCODING_FPS",
    "TRANSCODING_HEIGHT",
    "TRANSCODING_LAYOUT",
    "TRANSCODING_WIDTH",
    "UID_MAX",
    "UID_MIN",
    "WEB_CNAME_MAX_BYTES",
    "RecordingMode",
    "check_canvas",
    "check_capture_interval",
    "check_cname",
    "check_colour",
    "check_file_name_prefix",
    "check_layout",
    "check_max_idle_time",
    "check_max_recording_hour",
    "check_mode",
    "check_resource_expired_hour",
    "check_uid",
    "check_uid_list",
    "invalid",
]

P = ParamSpec("P")
R = TypeVar("R")


def invalid(field: str, value: object, allowed: str) -> RequestValidationError:
    """Build the standard 'field value is not allowed: allowed' error."""
    return _as_request_error(rules.invalid(field, value, allowed))


def _as_request_error(err: rules.LimitError) -> RequestValidationError:
    return RequestValidationError(str(err), field=err.field, value=err.value, allowed=err.allowed)


def _client_check(check: Callable[P, R]) -> Callable[P, R]:
    """The same check, raising RequestValidationError instead of LimitError."""

    @wraps(check)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return check(*args, **kwargs)
        except rules.LimitError as err:
            raise _as_request_error(err) from None

    return checked


check_mode = _client_check(rules.check_mode)
check_cname = _client_check(rules.check_cname)
check_uid = _client_check(rules.check_uid)
check_max_idle_time = _client_check(rules.check_max_idle_time)
check_resource_expired_hour = _client_check(rules.check_resource_expired_hour)
check_capture_interval = _client_check(rules.check_capture_interval)
check_max_recording_hour = _client_check(rules.check_max_recording_hour)
check_file_name_prefix = _client_check(rules.check_file_name_prefix)
check_uid_list = _client_check(rules.check_uid_list)
check_colour = _client_check(rules.check_colour)
check_canvas = _client_check(rules.check_canvas)
check_layout = _client_check(rules.check_layout)
