"""The receiver of Agora's signed callbacks (NCS) for Cloud Recording: `POST /agora/ncs` in `recorder serve`.

Each callback is verified before its JSON is read: `Agora-Signature-V2` (HMAC-SHA256 of the raw body) or, when it is
absent, `Agora-Signature` (HMAC-SHA1), against every configured secret (several during a rotation), in constant time.
A Cloud Recording callback (productId 3) then reaches its channel's recording (`recording:<app id>:<cname>`) as a
`recorder_event` signal carrying only what the workflow needs; the workflow acts on each noticeId once, so a resend or
a redundant delivery that gets past this receiver's own short memory never acts twice, whatever receiver took it. A
callback for a channel with no running recording goes to the App ID's callback inbox, where an operator sees it.

Answers, as NCS expects: 200 with a JSON body for every valid callback (repeats and unknown event types included),
401 for a missing or wrong signature (nothing acted on), 400 for a body that is not JSON or lacks noticeId, eventType
or payload, 413 above the size limit, and 503 while Temporal cannot be reached, so that NCS sends it again. No answer
carries a traceback, and no log line a secret or a signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode

from recorder.api import workflow_id
from recorder.settings import DEFAULT_NCS_PATH
from workflows import names
from workflows.inbox import CallbackInboxWorkflow
from workflows.models import RecorderEvent

log = logging.getLogger("recorder.ncs")

# Agora's callbacks are small JSON documents (a file list at most); anything far larger is not one of them.
MAX_BODY_BYTES = 64 * 1024
CLOUD_RECORDING = 3
# noticeIds this receiver has delivered lately: a resend it has already signalled is answered without a new signal
# (the workflows' own memory is what makes it exactly once; this only spares them the repeat).
RECENT_NOTICES = 10_000
# Temporal answers these when it cannot be reached or is overloaded: NCS should try again.
_TRY_AGAIN = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.UNKNOWN,
    }
)
_GONE = frozenset({RPCStatusCode.NOT_FOUND})


def signature_matches(body: bytes, headers: dict[str, str], secrets: Sequence[str]) -> bool:
    """True when the body carries a valid signature of one of `secrets` (V2 when present, else V1)."""
    v2 = headers.get("agora-signature-v2")
    given, digest = (v2, hashlib.sha256) if v2 is not None else (headers.get("agora-signature"), hashlib.sha1)
    if not given:
        return False
    given_bytes = given.strip().lower().encode()
    matched = False
    for secret in secrets:
        expected = hmac.new(secret.encode(), body, digest).hexdigest().encode()
        # Every secret is compared, so the time taken says nothing about which one (if any) matched.
        matched |= hmac.compare_digest(expected, given_bytes)
    return matched


class _Payload(BaseModel):
    """payload of a Cloud Recording callback; lenient, as Agora adds fields over time."""

    model_config = ConfigDict(extra="ignore")

    cname: str = ""
    uid: str | int | None = None
    sid: str = ""
    sequence: int | None = None
    sendts: int | None = None
    details: dict[str, Any] = Field(default_factory=dict)


class Envelope(BaseModel):
    """A callback's envelope: noticeId, productId, eventType, notifyMs and the payload."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    notice_id: str = Field(alias="noticeId", min_length=1)
    product_id: int = Field(default=CLOUD_RECORDING, alias="productId")
    event_type: int = Field(alias="eventType")
    notify_ms: int | None = Field(default=None, alias="notifyMs")
    payload: dict[str, Any]


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _file_names(details: dict[str, Any]) -> list[str]:
    """fileList as the events send it: a string, or a list of {fileName|filename, ...}."""
    raw = details.get("fileList")
    if isinstance(raw, str):
        return [raw] if raw else []
    out: list[str] = []
    for item in raw if isinstance(raw, list) else []:
        name = item.get("fileName", item.get("filename")) if isinstance(item, dict) else item
        if isinstance(name, str) and name:
            out.append(name)
    return out


def to_event(envelope: Envelope, app_id: str) -> RecorderEvent:
    """The workflow's view of one Cloud Recording callback: type, sid, uid, order, time and the documented details."""
    payload = _Payload.model_validate(envelope.payload)
    details = payload.details
    sent = payload.sendts
    new_uid = details.get("newUid")
    return RecorderEvent(
        notice_id=envelope.notice_id,
        event_type=envelope.event_type,
        app_id=app_id,
        cname=payload.cname,
        sid=payload.sid,
        uid=None if payload.uid is None else str(payload.uid),
        sequence=payload.sequence,
        happened_at=datetime.fromtimestamp(sent / 1000, UTC) if sent else None,
        status=_int(details.get("status")),
        exit_status=_int(details.get("exitStatus")),
        leave_code=_int(details.get("leaveCode")),
        error_level=_int(details.get("errorLevel")),
        error_code=_int(details.get("errorCode")),
        progress=_int(details.get("progress")),
        new_uid=None if new_uid is None else str(new_uid),
        file_names=_file_names(details),
    )


def _described(event: RecorderEvent) -> tuple[str, int, str, str]:
    return event.notice_id, event.event_type, event.cname, event.sid


def _answer(status: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)


class Receiver:
    """Verifies, deduplicates and routes Agora's callbacks for one App ID; counts what it did."""

    def __init__(
        self,
        client: Client,
        *,
        app_id: str,
        secrets: Sequence[str],
        task_queue: str,
        path: str = DEFAULT_NCS_PATH,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if not [s for s in secrets if s]:
            raise ValueError("the callback receiver needs at least one NCS secret (AGORA_NCS_SECRET)")
        self._client = client
        self._app_id = app_id
        self._secrets = [s for s in secrets if s]
        self._task_queue = task_queue
        self.path = path
        self._max_body = max_body_bytes
        self._recent: OrderedDict[str, None] = OrderedDict()
        self.counts: Counter[str] = Counter()

    def routes(self) -> list[Route]:
        """The callback route, for `recorder serve`'s app (authenticated by signature, not by API token)."""
        return [Route(self.path, self.receive, methods=["POST"], name="agora-ncs")]

    async def receive(self, request: Request) -> JSONResponse:
        """Answer one delivery of a callback."""
        started = time.monotonic()
        answer = await self._receive(request)
        log.debug("callback answered %d in %.1f ms", answer.status_code, (time.monotonic() - started) * 1000)
        return answer

    async def _receive(self, request: Request) -> JSONResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body:
            return self._refuse(413, "too_large", f"a callback is at most {self._max_body} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > self._max_body:
                return self._refuse(413, "too_large", f"a callback is at most {self._max_body} bytes")
        if not signature_matches(body, {k.lower(): v for k, v in request.headers.items()}, self._secrets):
            return self._refuse(401, "bad_signature", "missing or wrong Agora-Signature-V2 / Agora-Signature")
        try:
            envelope = Envelope.model_validate(json.loads(body))
        except (ValueError, ValidationError):
            return self._refuse(400, "bad_body", "the body is not a JSON callback with noticeId, eventType and payload")
        if envelope.notice_id in self._recent:
            self.counts["repeat"] += 1
            return _answer(200, ok=True, noticeId=envelope.notice_id, repeat=True)
        if envelope.product_id != CLOUD_RECORDING:
            self.counts["other_product"] += 1
            return _answer(200, ok=True, noticeId=envelope.notice_id, ignored="not a Cloud Recording callback")
        try:
            event = to_event(envelope, self._app_id)
        except ValidationError:
            return self._refuse(400, "bad_body", "the payload of a Cloud Recording callback is not as documented")
        try:
            routed = await self._deliver(event)
        except RPCError as err:
            if err.status in _TRY_AGAIN:
                self.counts["temporal_unavailable"] += 1
                log.warning("callback %s not delivered: Temporal unavailable (%s)", event.notice_id, err.status.name)
                return _answer(503, ok=False, error="temporal_unavailable", detail="try again later")
            raise
        self._remember(event.notice_id)
        self.counts[routed] += 1
        log.info(
            "callback %s event %d channel %s sid %s: %s",
            event.notice_id,
            event.event_type,
            event.cname,
            event.sid,
            routed,
        )
        return _answer(200, ok=True, noticeId=event.notice_id)

    def _refuse(self, status: int, kind: str, detail: str) -> JSONResponse:
        self.counts[kind] += 1
        log.warning("callback refused with %d: %s", status, kind)
        return _answer(status, ok=False, error=kind, detail=detail)

    def _remember(self, notice_id: str) -> None:
        self._recent[notice_id] = None
        while len(self._recent) > RECENT_NOTICES:
            self._recent.popitem(last=False)

    async def _deliver(self, event: RecorderEvent) -> str:
        """Signal the channel's recording; when none runs, the App ID's inbox (started if need be)."""
        if event.cname:
            handle = self._client.get_workflow_handle(workflow_id(self._app_id, event.cname))
            try:
                await handle.signal(names.EVENT_SIGNAL, event)
                return "signalled"
            except RPCError as err:
                if err.status not in _GONE:
                    raise
        await self._client.start_workflow(
            CallbackInboxWorkflow.run,
            None,
            id=names.inbox_id(self._app_id),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            start_signal=names.INBOX_SIGNAL,
            start_signal_args=[event],
        )
        return "unowned"
