"""The callback receiver end to end: signatures, bad deliveries, routing, exactly once, and Temporal going away."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from recorder.connection import connect
from recorder.devserver import DevServer
from recorder.ncs import Receiver, signature_matches
from tests.ncs.support import callback, serving, sign
from tests.workflows.realtime import Live, fast_recording, poll
from workflows import names
from workflows.inbox import CallbackInboxWorkflow
from workflows.models import StopRequest
from workflows.recording import RecordingWorkflow

SECRET = "ncs-secret-7Qx2pLm9"
OLD_SECRET = "ncs-secret-old-4Hf8"
# The reference's test vector: this exact body, no trailing newline, signed with the secret "secret".
VECTOR_BODY = (
    b'{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f",'
    b'"notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}'
)


def test_the_documented_signature_vector_verifies_both_ways():
    """The reference's body and secret give its SHA1 and SHA256 digests; a one-byte change fails both."""
    v1 = "033c62f40f687675f17f0f41f91a40c71c0f134c"
    v2 = "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99"
    assert hmac.new(b"secret", VECTOR_BODY, hashlib.sha1).hexdigest() == v1
    assert signature_matches(VECTOR_BODY, {"agora-signature-v2": v2}, ["secret"])
    assert signature_matches(VECTOR_BODY, {"agora-signature": v1}, ["secret"])
    assert signature_matches(VECTOR_BODY, {"agora-signature-v2": v2.upper()}, ["other", "secret"])
    assert not signature_matches(VECTOR_BODY + b" ", {"agora-signature-v2": v2, "agora-signature": v1}, ["secret"])
    # V2 present and wrong: a right V1 beside it does not rescue it.
    assert not signature_matches(VECTOR_BODY, {"agora-signature-v2": "0" * 64, "agora-signature": v1}, ["secret"])
    assert not signature_matches(VECTOR_BODY, {}, ["secret"])


def _receiver(client: Client, live: Live) -> Receiver:
    return Receiver(client, app_id=live.emulator.config.app_id, secrets=[SECRET, OLD_SECRET], task_queue=live.queue)


async def _sid(live: Live) -> str:
    status = await poll(live.handle, lambda s: s.phase == "recording" and s.sid is not None)
    return status.sid or ""


async def test_bad_deliveries_get_their_4xx_and_change_nothing(dev_client: Client):
    """Unsigned, wrongly signed, oversized and malformed deliveries are refused; the recording takes none of them."""
    async with fast_recording(dev_client) as live:
        sid = await _sid(live)
        receiver = _receiver(dev_client, live)
        body = callback(33, live.request.channel, sid, progress=5000)
        cases: list[tuple[bytes, dict[str, str], int]] = [
            (body, {"Content-Type": "application/json"}, 401),
            (body, sign(body, "not-the-secret"), 401),
            (body, sign(body, SECRET, v2=False) | {"Agora-Signature": "0" * 40}, 401),
            (body, sign(body + b"x", SECRET), 401),
            (b"not json", sign(b"not json", SECRET), 400),
            (b"[1, 2]", sign(b"[1, 2]", SECRET), 400),
        ]
        for missing in ("noticeId", "eventType", "payload"):
            partial = json.loads(body)
            del partial[missing]
            raw = json.dumps(partial).encode()
            cases.append((raw, sign(raw, SECRET), 400))
        big = callback(33, live.request.channel, sid, padding="x" * 70_000)
        cases.append((big, sign(big, SECRET), 413))
        async with serving(receiver) as url, httpx.AsyncClient(timeout=10) as http:
            for raw, headers, status in cases:
                answer = await http.post(url, content=raw, headers=headers)
                assert answer.status_code == status, (answer.status_code, answer.text)
                assert answer.headers["content-type"].startswith("application/json")
                assert "Traceback" not in answer.text and SECRET not in answer.text
        await asyncio.sleep(1)
        assert (await live.handle.query(RecordingWorkflow.status)).callbacks == 0
        await live.handle.signal(RecordingWorkflow.request_stop, StopRequest())
    assert (
        receiver.counts["bad_signature"] == 4 and receiver.counts["bad_body"] == 5 and receiver.counts["too_large"] == 1
    )


async def test_callbacks_reach_their_recording_once_across_resends_and_a_receiver_restart(dev_client: Client):
    """A callback signed with either secret acts once, resent or not, even when a fresh receiver takes the resend;
    an unknown event type is answered 200 too."""
    async with fast_recording(dev_client) as live:
        sid = await _sid(live)
        progress = callback(33, live.request.channel, sid, notice_id="n-progress", progress=4000)
        unknown = callback(999, live.request.channel, sid)
        async with httpx.AsyncClient(timeout=10) as http:
            async with serving(_receiver(dev_client, live)) as url:
                for headers in (sign(progress, SECRET), sign(progress, OLD_SECRET, v2=False)):
                    assert (await http.post(url, content=progress, headers=headers)).status_code == 200
                assert (await http.post(url, content=unknown, headers=sign(unknown, SECRET))).status_code == 200
            async with serving(_receiver(dev_client, live)) as url:  # a restarted receiver remembers nothing
                answer = await http.post(url, content=progress, headers=sign(progress, SECRET))
                assert answer.status_code == 200 and answer.json()["ok"] is True
        status = await poll(live.handle, lambda s: s.callbacks >= 2)
        await asyncio.sleep(1)
        manifest = await live.handle.query(RecordingWorkflow.manifest)
        assert (await live.handle.query(RecordingWorkflow.status)).callbacks == status.callbacks == 2
        await live.handle.signal(RecordingWorkflow.request_stop, StopRequest())
    assert manifest.segments[0].delivery == "uploading" and manifest.segments[0].upload_progress == 40.0


async def test_a_callback_for_a_channel_with_no_recording_lands_in_the_inbox(dev_client: Client):
    """A callback about a channel nobody records is kept, once, in the App ID's inbox with its channel and sid."""
    async with fast_recording(dev_client) as live:
        app_id = f"app-{uuid.uuid4().hex[:8]}"  # an inbox of this test's own
        receiver = Receiver(dev_client, app_id=app_id, secrets=[SECRET], task_queue=live.queue)
        body = callback(40, "nobody-records-this", "e" * 32, notice_id="stray")
        async with serving(receiver) as url, httpx.AsyncClient(timeout=10) as http:
            for _ in range(2):
                assert (await http.post(url, content=body, headers=sign(body, SECRET))).status_code == 200
        inbox = dev_client.get_workflow_handle(names.inbox_id(app_id))
        view = None
        for _ in range(50):
            view = await inbox.query(CallbackInboxWorkflow.view)
            if view.total:
                break
            await asyncio.sleep(0.2)
        await inbox.terminate("test over")
        await live.handle.signal(RecordingWorkflow.request_stop, StopRequest())
    assert view is not None and view.total == 1
    assert (view.events[0].event.cname, view.events[0].event.sid) == ("nobody-records-this", "e" * 32)


async def test_temporal_down_answers_503_and_the_resend_succeeds_once_it_is_back(tmp_path: Path):
    """While Temporal is unreachable a callback gets 503 (NCS resends it); once the server is back the resend is 200."""
    server = DevServer(db_file=tmp_path / "ncs.db")
    await server.start()
    try:
        client = await connect(target_host=server.address)
        receiver = Receiver(client, app_id="app-down", secrets=[SECRET], task_queue="tq-ncs-down")
        body = callback(40, "class-down", "d" * 32)
        async with serving(receiver) as url, httpx.AsyncClient(timeout=30) as http:
            await server.stop()
            down = await http.post(url, content=body, headers=sign(body, SECRET))
            await server.start()
            back = await http.post(url, content=body, headers=sign(body, SECRET))
    finally:
        await server.stop()
    assert down.status_code == 503 and down.json()["error"] == "temporal_unavailable"
    assert back.status_code == 200


async def test_no_log_line_holds_a_secret_or_a_signature(dev_client: Client, caplog: pytest.LogCaptureFixture):
    """The receiver's logs name the notice, event, channel and outcome, never a secret nor a signature."""
    caplog.set_level(logging.DEBUG)
    async with fast_recording(dev_client) as live:
        sid = await _sid(live)
        body = callback(40, live.request.channel, sid)
        good, forged = sign(body, SECRET), sign(body, "forger")
        async with serving(_receiver(dev_client, live)) as url, httpx.AsyncClient(timeout=10) as http:
            await http.post(url, content=body, headers=good)
            await http.post(url, content=body, headers=forged)
        await live.handle.signal(RecordingWorkflow.request_stop, StopRequest())
    text = caplog.text
    assert "recorder.ncs" in text
    for secret in (SECRET, OLD_SECRET, *good.values(), *forged.values()):
        if secret != "application/json":
            assert secret not in text
