"""The API gateway in front of the recording service: route, Basic auth, App ID, rate limit, then the JSON body.

Agora's gateway answers these checks itself (`{"message": ...}` bodies) before the service sees a call; the order of
the checks is the order a client observes, so it is kept in one method.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from emulator.answers import ApiResponse, gateway, service
from emulator.config import EmulatorConfig

_PREFIX = r"^/v1/apps/(?P<appid>[^/]+)/cloud_recording"
_START = r"/resourceid/(?P<resource_id>[^/]+)/mode/(?P<mode>[^/]+)/start$"
_TASK = r"/resourceid/(?P<resource_id>[^/]+)/sid/(?P<sid>[^/]+)/mode/(?P<mode>[^/]+)"
ROUTES: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("POST", "acquire", re.compile(_PREFIX + r"/acquire$")),
    ("POST", "start", re.compile(_PREFIX + _START)),
    ("GET", "query", re.compile(_PREFIX + _TASK + r"/query$")),
    ("POST", "update", re.compile(_PREFIX + _TASK + r"/update$")),
    ("POST", "updateLayout", re.compile(_PREFIX + _TASK + r"/updateLayout$")),
    ("POST", "stop", re.compile(_PREFIX + _TASK + r"/stop$")),
)
RATE_WINDOW_SECONDS = 1.0


class Refused(Exception):
    """The call was answered before it reached the service (gateway check or unreadable body)."""

    def __init__(self, response: ApiResponse) -> None:
        super().__init__(response.status)
        self.response = response


@dataclass(frozen=True)
class Call:
    """An admitted call: the operation and the parameters taken from its path."""

    op: str
    params: dict[str, str]


class Gateway:
    """The checks of one App ID's gateway; its rate-limit window is per instance."""

    def __init__(self, config: EmulatorConfig) -> None:
        self._app_id = config.app_id
        self._qps = config.rate_limit_qps
        self._expected_auth = "Basic " + base64.b64encode(
            f"{config.customer_id}:{config.customer_secret.get_secret_value()}".encode()
        ).decode("ascii")
        self._recent: deque[float] = deque()

    def admit(self, method: str, path: str, authorization: str | None) -> Call:
        """Route the call, then check auth, App ID and rate limit in that order; raises `Refused`."""
        for route_method, route_op, pattern in ROUTES:
            match = pattern.match(path)
            if match and method == route_method:
                op = route_op
                break
        else:
            raise Refused(gateway(404, "no Route matched with those values"))
        params = match.groupdict()
        if authorization is None:
            raise Refused(gateway(401, "Unauthorized"))
        if not hmac.compare_digest(authorization.encode(), self._expected_auth.encode()):
            raise Refused(gateway(401, "Invalid authentication credentials"))
        if params["appid"] != self._app_id:
            raise Refused(gateway(400, "appid is invalid"))
        if self._rate_limited():
            raise Refused(gateway(429, "API rate limit exceeded"))
        return Call(op, params)

    def _rate_limited(self) -> bool:
        """Whether this call exceeds the per-second limit; the limit counts real seconds, not emulated ones."""
        if self._qps <= 0:
            return False
        real = time.monotonic()
        while self._recent and real - self._recent[0] >= RATE_WINDOW_SECONDS:
            self._recent.popleft()
        if len(self._recent) >= self._qps:
            return True
        self._recent.append(real)
        return False


def read_payload(method: str, content_type: str | None, body: bytes) -> Any:
    """The JSON body of a POST (None for a GET); raises `Refused` with the service's code 8 when unreadable."""
    if method != "POST":
        return None
    if content_type is None or content_type.split(";")[0].strip().lower() != "application/json":
        raise Refused(service(400, 8, "Content-Type must be application/json"))
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(service(400, 8, "request body is not valid JSON")) from None
