"""Serving the callback receiver on loopback, and signing callbacks as Agora's NCS does."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette

from emulator.testing import serving_app
from recorder.ncs import Receiver


def sign(body: bytes, secret: str, *, v2: bool = True, v1: bool = True) -> dict[str, str]:
    """The signature headers NCS sends with a body."""
    headers = {"Content-Type": "application/json"}
    if v2:
        headers["Agora-Signature-V2"] = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if v1:
        headers["Agora-Signature"] = hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return headers


def callback(event_type: int, cname: str, sid: str, *, notice_id: str | None = None, **details: Any) -> bytes:
    """A Cloud Recording callback body as NCS posts it."""
    envelope = {
        "noticeId": notice_id or uuid.uuid4().hex,
        "productId": 3,
        "eventType": event_type,
        "notifyMs": 1_700_000_000_000,
        "payload": {
            "cname": cname,
            "uid": "527841",
            "sid": sid,
            "sequence": 0,
            "sendts": 1_700_000_000_000,
            "serviceType": 0,
            "details": {"msgName": "test", **details},
        },
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


@asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[str]:
    """The receiver's route in an app of its own, served by uvicorn on a free loopback port; yields the URL."""
    async with serving_app(Starlette(routes=receiver.routes())) as url:
        yield f"{url}{receiver.path}"
