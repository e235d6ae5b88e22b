"""Agora Cloud Recording's documented limits and defaults, as constants and pure validators.

The one home of what Agora accepts. The workflow's request model validates with these inside Temporal's sandbox, so
this module imports nothing but the standard library; the REST client raises a broken one as its own
`RequestValidationError` (`agora.errors.refused_before_sending`). Each validator returns the (normalised) value or
raises `LimitError`, a `ValueError` whose message names the field, the value and what is allowed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

RecordingMode = Literal["individual", "mix", "web"]
RECORDING_MODES: tuple[RecordingMode, ...] = ("individual", "mix", "web")

UID_MIN = 1
UID_MAX = 2**32 - 1
MAX_IDLE_MIN = 5
MAX_IDLE_MAX = 2_592_000
# Agora's own default maxIdleTime, in seconds (start's recordingConfig).
AGORA_DEFAULT_MAX_IDLE_TIME = 30
RESOURCE_EXPIRED_HOUR_MIN = 1
RESOURCE_EXPIRED_HOUR_MAX = 720
# Agora's own default resourceExpiredHour (acquire).
AGORA_DEFAULT_RESOURCE_EXPIRED_HOUR = 72
MAX_SUBSCRIBE_UIDS = 32
# subscribeUidGroup (individual mode): Agora's estimate of the peak number of subscribed uids, as groups 0..5.
SUBSCRIBE_UID_GROUPS: tuple[tuple[int, int], ...] = ((1, 2), (3, 7), (8, 12), (13, 17), (18, 32), (33, 49))
MAX_LAYOUT_ENTRIES = 17
FILE_NAME_PREFIX_MAX = 128
# Agora: an RTC channel name is "less than 64 bytes", so 63 bytes is the longest accepted.
CNAME_MAX_BYTES = 64
# Web mode: the cname only labels the task; the current EN docs allow up to 1024 bytes (inclusive).
WEB_CNAME_MAX_BYTES = 1024
CAPTURE_INTERVAL_MIN = 5
CAPTURE_INTERVAL_MAX = 3600
MAX_RECORDING_HOUR_MIN = 1
MAX_RECORDING_HOUR_MAX = 720
ALL_STREAMS = "#allstream#"

# transcodingConfig (mix mode): Agora's documented defaults, and the largest canvas it accepts.
TRANSCODING_WIDTH = 360
TRANSCODING_HEIGHT = 640
TRANSCODING_FPS = 15
TRANSCODING_BITRATE = 500
TRANSCODING_LAYOUT: Literal[0] = 0
TRANSCODING_BACKGROUND = "#000000"
CANVAS_MAX = (1920, 1080)
# mixedVideoLayout: 0 float, 1 adaptive, 2 vertical (needs maxResolutionUid), 3 custom (needs layoutConfig).
VERTICAL_LAYOUT = 2
CUSTOM_LAYOUT = 3

CNAME_PUNCTUATION = " !#$%&()+-:;<=.>?@[]^_{}|~,"
_CNAME_RE = re.compile(r"[A-Za-z0-9" + re.escape(CNAME_PUNCTUATION) + r"]+")
_PREFIX_PART_RE = re.compile(r"[A-Za-z0-9]+")
_UID_RE = re.compile(r"[0-9]+")
_COLOUR_RE = re.compile(r"#[0-9A-Fa-f]{6}")

UID_ALLOWED = f"a recorder uid is a decimal string for an integer in {UID_MIN}..{UID_MAX}"


class LimitError(ValueError):
    """A value Agora does not accept: `field` had `value`, `allowed` says what is accepted."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(f"{field} {_shown(value)} is not allowed: {allowed}")
        self.field = field
        self.value = value
        self.allowed = allowed


def _shown(value: object) -> str:
    """Return a short printable form of a rejected value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def invalid(field: str, value: object, allowed: str) -> LimitError:
    """Build the standard 'field value is not allowed: allowed' error."""
    return LimitError(field, value, allowed)


def check_mode(value: str) -> RecordingMode:
    """Validate a recording mode."""
    for mode in RECORDING_MODES:
        if value == mode:
            return mode
    raise invalid("mode", value, "one of individual, mix, web")


def check_cname(value: str, *, web: bool = False) -> str:
    """Validate a channel name (web mode: a task label up to 1024 bytes)."""
    if not isinstance(value, str) or not value:
        raise invalid("cname", value, "a non-empty string")
    size = len(value.encode("utf-8"))
    if web:
        if size > WEB_CNAME_MAX_BYTES or not value.isprintable():
            raise invalid("cname", value, f"in web mode, printable text of at most {WEB_CNAME_MAX_BYTES} bytes")
        return value
    allowed = (
        f"a channel name shorter than {CNAME_MAX_BYTES} bytes using only a-z A-Z 0-9, space and "
        f"{' '.join(CNAME_PUNCTUATION.strip())}"
    )
    if size >= CNAME_MAX_BYTES or not _CNAME_RE.fullmatch(value):
        raise invalid("cname", value, allowed)
    return value


def check_uid(value: str | int, *, field: str = "uid") -> str:
    """Validate a recorder uid and return it as a normalised decimal string."""
    if isinstance(value, bool):
        raise invalid(field, value, UID_ALLOWED)
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _UID_RE.fullmatch(value) and value.isascii():
        number = int(value)
    else:
        raise invalid(field, value, UID_ALLOWED)
    if not UID_MIN <= number <= UID_MAX:
        raise invalid(field, value, UID_ALLOWED)
    return str(number)


def _check_int_range(field: str, value: int, low: int, high: int, unit: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(field, value, f"an integer in {low}..{high}{unit}")
    return value


def check_max_idle_time(value: int) -> int:
    """Validate recordingConfig.maxIdleTime (seconds)."""
    return _check_int_range("maxIdleTime", value, MAX_IDLE_MIN, MAX_IDLE_MAX, " seconds")


def check_resource_expired_hour(value: int) -> int:
    """Validate acquire's resourceExpiredHour."""
    return _check_int_range(
        "resourceExpiredHour", value, RESOURCE_EXPIRED_HOUR_MIN, RESOURCE_EXPIRED_HOUR_MAX, " hours"
    )


def check_capture_interval(value: int) -> int:
    """Validate snapshotConfig.captureInterval (seconds)."""
    return _check_int_range("captureInterval", value, CAPTURE_INTERVAL_MIN, CAPTURE_INTERVAL_MAX, " seconds")


def check_max_recording_hour(value: int) -> int:
    """Validate the web recorder's maxRecordingHour."""
    return _check_int_range("maxRecordingHour", value, MAX_RECORDING_HOUR_MIN, MAX_RECORDING_HOUR_MAX, " hours")


def check_file_name_prefix(parts: Sequence[str]) -> list[str]:
    """Validate storageConfig.fileNamePrefix: [A-Za-z0-9] parts, at most 128 characters joined with '/'."""
    allowed = (
        "a list of non-empty parts made of A-Z a-z 0-9 only, at most "
        f"{FILE_NAME_PREFIX_MAX} characters when joined with '/'"
    )
    if isinstance(parts, str):
        raise invalid("fileNamePrefix", parts, allowed)
    result = list(parts)
    for part in result:
        if not isinstance(part, str) or not _PREFIX_PART_RE.fullmatch(part) or not part.isascii():
            raise invalid("fileNamePrefix", part, allowed)
    if len("/".join(result)) > FILE_NAME_PREFIX_MAX:
        raise invalid("fileNamePrefix", "/".join(result), allowed)
    return result


def check_uid_list(field: str, values: Sequence[str]) -> list[str]:
    """Validate a subscription list: at most 32 uids, or ["#allstream#"] for everyone."""
    allowed = f'at most {MAX_SUBSCRIBE_UIDS} uids (decimal strings in {UID_MIN}..{UID_MAX}) or ["{ALL_STREAMS}"]'
    result = list(values)
    if not result or len(result) > MAX_SUBSCRIBE_UIDS:
        raise invalid(field, result, allowed)
    if ALL_STREAMS in result:
        if result != [ALL_STREAMS]:
            raise invalid(field, result, allowed)
        return result
    try:
        return [check_uid(v, field=field) for v in result]
    except LimitError:
        raise invalid(field, result, allowed) from None


def uid_group_for(count: int) -> int:
    """The subscribeUidGroup for a peak of `count` subscribed uids."""
    for group, (_, high) in enumerate(SUBSCRIBE_UID_GROUPS):
        if count <= high:
            return group
    raise invalid("subscribeUidGroup", count, f"a peak of at most {SUBSCRIBE_UID_GROUPS[-1][1]} subscribed uids")


def check_colour(value: str, *, field: str = "backgroundColor") -> str:
    """Validate a colour "#RRGGBB"."""
    if not isinstance(value, str) or not _COLOUR_RE.fullmatch(value):
        raise invalid(field, value, 'a colour "#RRGGBB" in hexadecimal')
    return value


def check_canvas(width: int, height: int) -> None:
    """Validate a mix canvas: width × height at most 1920 × 1080."""
    if width * height > CANVAS_MAX[0] * CANVAS_MAX[1]:
        raise invalid(
            "transcodingConfig.width*height",
            f"{width}x{height}",
            f"a resolution with width × height ≤ {CANVAS_MAX[0]} × {CANVAS_MAX[1]}",
        )


def check_layout(mixed_video_layout: int | None, max_resolution_uid: str | None, layout: object = None) -> None:
    """Validate the fields a mix layout needs: vertical needs maxResolutionUid, custom needs layoutConfig."""
    if mixed_video_layout == VERTICAL_LAYOUT and max_resolution_uid is None:
        raise invalid("maxResolutionUid", None, "a uid, required when mixedVideoLayout is 2 (vertical)")
    if mixed_video_layout == CUSTOM_LAYOUT and not layout:
        raise invalid("layoutConfig", layout, "1..17 entries, required when mixedVideoLayout is 3 (custom)")
