"""What the emulated service sends back: the answer record and the error bodies Agora uses.

The gateway, the task lifecycle and fault injection all answer with these shapes, so they live in one place.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

# The recorder command each operation names in a 404 body (reference §4).
_COMMANDS = {
    "query": "QueryCloudRecorder",
    "update": "UpdateCloudRecorder",
    "updateLayout": "UpdateCloudRecorderLayout",
    "stop": "StopCloudRecorder",
}


@dataclass
class ApiResponse:
    """What the HTTP layer should send, and how long to wait before sending it (real seconds)."""

    status: int
    body: Any = None
    raw: bytes | None = None
    media_type: str = "application/json"
    delay: float = 0.0
    hang: bool = False

    def content(self) -> bytes:
        """The encoded body."""
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, separators=(",", ":")).encode()


def gateway(status: int, message: str) -> ApiResponse:
    """A gateway error body `{"message": ...}`."""
    return ApiResponse(status, {"message": message})


def service(status: int, code: int, reason: str) -> ApiResponse:
    """A service error body `{"code", "reason"}`."""
    return ApiResponse(status, {"code": code, "reason": reason})


def not_found(op: str, params: dict[str, str], cname: str, uid: str) -> ApiResponse:
    """The 404 body captured from the real service when no recorder answers (reference §4)."""
    return ApiResponse(
        404,
        {
            "cname": cname,
            "uid": uid,
            "resourceId": params.get("resource_id", ""),
            "sid": params.get("sid", ""),
            "code": 404,
            "serverResponse": {
                "command": _COMMANDS.get(op, op),
                "payload": {"message": "failed to find worker"},
                "subscribeModeBitmask": 1,
                "vid": "1209",
            },
        },
    )


def with_uploading_status(body: Any, uploading: str) -> Any:
    """A copy of a stop's answer body whose uploadingStatus (top level, or the web upload_service's) is `uploading`."""
    changed = copy.deepcopy(body)
    server = changed.get("serverResponse") if isinstance(changed, dict) else None
    if not isinstance(server, dict):
        return changed
    if "uploadingStatus" in server:
        server["uploadingStatus"] = uploading
    for state in server.get("extensionServiceState", []):
        if state.get("serviceName") == "upload_service":
            state["payload"]["uploadingStatus"] = uploading
    return changed
