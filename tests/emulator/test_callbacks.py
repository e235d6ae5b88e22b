"""Agora's callbacks (NCS) as the emulator posts them: signatures, envelope, order, resends and every fault knob."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from emulator.callbacks import sign
from emulator.testing import RunningEmulator
from tests.emulator.support import Api, CallbackSink, Delivery, auth, callback_sink, fast_config, serve

SECRET = "ncs-secret-emulator-5Kd9"
# The reference's test vector (agora-ncs-callbacks.md): this exact body, no trailing newline, secret "secret".
VECTOR_BODY = (
    b'{"eventMs":1560408533119,"eventType":10,"noticeId":"4eb720f0-8da7-11e9-a43e-53f411c2761f",'
    b'"notifyMs":1560408533119,"payload":{"a":"1","b":2},"productId":1}'
)
FAST_RESENDS = {"callback_retry_gaps_seconds": (0.0, 0.05, 0.1), "callback_timeout_seconds": 0.5}


@asynccontextmanager
async def posting(**overrides: Any) -> AsyncIterator[tuple[RunningEmulator, Api, CallbackSink]]:
    """A frozen-clock emulator posting its callbacks to a fresh sink."""
    async with callback_sink() as sink, serve(**overrides) as (emu, api):
        emu.set_callbacks(sink.url, SECRET)
        yield emu, api, sink


async def recording(emu: RunningEmulator, api: Api, mode: str = "mix", **changes: Any) -> tuple[str, str]:
    """A teacher in room1 and a started recorder; returns (resourceId, sid)."""
    emu.join("room1", "1001")
    return await api.begin(mode, **changes)


def types(deliveries: list[Delivery], sid: str) -> list[int]:
    """Event types of `sid`'s deliveries in arrival order."""
    return [d.json["eventType"] for d in deliveries if d.json["payload"]["sid"] == sid]


def has(event_type: int, times: int = 1) -> Any:
    """A `wait_for` condition: `event_type` delivered at least `times` times."""
    return lambda deliveries: sum(d.json["eventType"] == event_type for d in deliveries) >= times


def verifies(delivery: Delivery, secret: str = SECRET) -> bool:
    """Both signature headers match the raw body."""
    return delivery.headers.get("agora-signature-v2") == sign(delivery.body, secret)["Agora-Signature-V2"] and (
        delivery.headers.get("agora-signature") == sign(delivery.body, secret)["Agora-Signature"]
    )


def test_the_signer_reproduces_the_reference_vector():
    """The emulator's signer gives the reference's HMAC-SHA256 and HMAC-SHA1 digests for its body and secret."""
    headers = sign(VECTOR_BODY, "secret")
    assert headers["Agora-Signature-V2"] == "6d3320c60b11101395b7fc8f9068748808a0aa1bfa064438e39d1bc2c7d74d99"
    assert headers["Agora-Signature"] == "033c62f40f687675f17f0f41f91a40c71c0f134c"
    assert sign(VECTOR_BODY + b" ", "secret")["Agora-Signature"] != headers["Agora-Signature"]


async def test_a_start_and_first_slice_post_the_documented_envelope_in_order():
    """Start then first slice: 3 (1, 2), 13, 3 (3), 40, 30, 3 (4), 42, 4 with the M3U8 name, 3 (5), signed both ways."""
    async with posting() as (emu, api, sink):
        _, sid = await recording(emu, api)
        emu.advance(3)
        await sink.wait_for(has(3, 4))
        emu.advance(15)
        got = await sink.wait_for(has(4))
        await sink.wait_for(lambda d: len(d) >= 10)
    got = sink.deliveries
    assert types(got, sid) == [3, 3, 13, 3, 40, 30, 3, 42, 4, 3]
    assert [d.json["payload"]["details"].get("status") for d in got if d.json["eventType"] == 3] == [1, 2, 3, 4, 5]
    assert [d.json["payload"]["sequence"] for d in got] == list(range(10))
    first = got[0].json
    assert list(first) == ["noticeId", "productId", "eventType", "notifyMs", "payload"]
    assert first["productId"] == 3 and isinstance(first["notifyMs"], int)
    payload = first["payload"]
    assert list(payload) == ["cname", "uid", "sid", "sequence", "sendts", "serviceType", "details"]
    assert (payload["cname"], payload["uid"], payload["sid"]) == ("room1", "999", sid)
    assert len({d.json["noticeId"] for d in got}) == 10
    assert all(verifies(d) for d in got)
    by_type = {d.json["eventType"]: d.json["payload"] for d in got}
    assert by_type[40]["serviceType"] == 1 and by_type[30]["serviceType"] == 2 and by_type[3]["serviceType"] == 0
    assert by_type[40]["details"] == {"msgName": "recorder_started", "status": 0}
    slice_start = by_type[42]["details"]
    assert slice_start["msgName"] == "recorder_slice_start" and slice_start["mixedAllUser"] is True
    assert by_type[4]["details"]["fileList"] == f"rec/day1/{sid}_room1.m3u8"
    sendts = [d.json["payload"]["sendts"] for d in got]
    assert sendts == sorted(sendts) and sendts[-1] - sendts[0] == 18_000 - 750


async def test_upload_progress_comes_about_once_a_minute_of_emulated_time():
    """While a recorder records, 33 uploading_progress arrives every 60 emulated seconds with progress in 0..10000."""
    async with posting() as (emu, api, sink):
        _, sid = await recording(emu, api)
        emu.advance(3 + 180 + 10)
        got = await sink.wait_for(has(33, 3))
    progress = [d.json["payload"] for d in got if d.json["eventType"] == 33]
    assert [p["sendts"] - progress[0]["sendts"] for p in progress] == [0, 60_000, 120_000]
    assert all(0 <= p["details"]["progress"] <= 10000 for p in progress)
    assert all(p["serviceType"] == 2 and p["sid"] == sid for p in progress)


async def test_a_stop_posts_leave_uploaded_with_the_stopped_files_and_a_normal_exit():
    """A stop: 41 (leaveCode 2), 3 (6), 3 (7), 31 with the stop's fileList, 3 (8), 11 with exitStatus 0, last."""
    async with posting() as (emu, api, sink):
        rid, sid = await recording(emu, api, recordingFileConfig={"avFileType": ["hls", "mp4"]})
        emu.advance(30)
        await sink.wait_for(has(4))
        stopped = await api.stop(rid, sid, "mix")
        got = await sink.wait_for(has(11))
    tail = [d.json for d in got if d.json["eventType"] in (41, 31, 32, 11) or d.json["payload"]["sequence"] > 10]
    assert [e["eventType"] for e in tail] == [41, 3, 3, 31, 3, 11]
    assert tail[0]["payload"]["details"]["leaveCode"] == 2
    assert [e["payload"]["details"]["status"] for e in tail if e["eventType"] == 3] == [6, 7, 8]
    stop_files = stopped.json()["serverResponse"]["fileList"]
    assert tail[3]["payload"]["details"]["fileList"] == stop_files
    assert [f["fileName"] for f in stop_files] == [f"rec/day1/{sid}_room1.m3u8", f"rec/day1/{sid}_room1_0.mp4"]
    assert tail[-1]["payload"]["details"] == {"msgName": "session_exit", "exitStatus": 0}
    assert got[-1].json["eventType"] == 11


async def test_a_stop_answered_backuped_posts_backuped_then_uploaded_once_delivered():
    """A stop answered backuped: 32 with the files, then 11, and 31 when Agora's backup has delivered them."""
    async with posting(callback_backup_delivery_seconds=120.0) as (emu, api, sink):
        rid, sid = await recording(emu, api)
        emu.advance(30)
        emu.inject("stop", "backuped")
        stopped = await api.stop(rid, sid, "mix")
        assert stopped.json()["serverResponse"]["uploadingStatus"] == "backuped"
        await sink.wait_for(has(11))
        assert 31 not in sink.events(sid)
        emu.advance(120)
        got = await sink.wait_for(has(31))
    ending = [e for e in types(got, sid) if e in (32, 31, 11)]
    assert ending == [32, 11, 31]
    backuped = next(d.json for d in got if d.json["eventType"] == 32)
    uploaded = next(d.json for d in got if d.json["eventType"] == 31)
    assert uploaded["payload"]["sendts"] - backuped["payload"]["sendts"] == 120_000
    assert uploaded["payload"]["details"]["fileList"] == backuped["payload"]["details"]["fileList"] != []


async def test_an_idle_exit_posts_leave_code_4_uploaded_and_a_normal_exit():
    """The channel empty for maxIdleTime: 41 with leaveCode 4, 31 with the files, 11 with exitStatus 0."""
    async with posting() as (emu, api, sink):
        _, sid = await recording(emu, api)
        emu.advance(20)
        emu.leave("room1", "1001")
        emu.advance(31)
        got = await sink.wait_for(has(11))
    ending = [d.json["payload"]["details"] for d in got if d.json["eventType"] in (41, 31, 11)]
    assert [e["msgName"] for e in ending] == ["recorder_leave", "uploaded", "session_exit"]
    assert ending[0]["leaveCode"] == 4 and ending[2]["exitStatus"] == 0
    assert [f["fileName"] for f in ending[1]["fileList"]] == [f"rec/day1/{sid}_room1.m3u8"]


async def test_a_crash_posts_a_fatal_error_and_an_abnormal_exit():
    """A recorder crash: 1 with errorLevel 5, 3 (20), 11 with exitStatus 1; nothing about uploads."""
    async with posting() as (emu, api, sink):
        _, sid = await recording(emu, api)
        emu.advance(20)
        await sink.wait_for(has(4))
        emu.crash(sid)
        got = await sink.wait_for(has(11))
    tail = types(got, sid)[-3:]
    assert tail == [1, 3, 11]
    error = next(d.json["payload"] for d in got if d.json["eventType"] == 1)
    assert error["serviceType"] == 0 and error["details"]["errorLevel"] == 5
    assert got[-1].json["payload"]["details"]["exitStatus"] == 1
    assert not {31, 32} & set(types(got, sid))


async def test_a_failover_announces_the_new_uid_as_a_number_and_comes_back_under_it():
    """A migration: 12 with newUid (a number) at once; when back, 40 and 4 under the new uid with the bak0_ name."""
    async with posting() as (emu, api, sink):
        _, sid = await recording(emu, api)
        emu.advance(20)
        await sink.wait_for(has(4))
        emu.failover(sid, 30)
        announced = await sink.wait_for(has(12))
        emu.advance(30 + 15)
        got = await sink.wait_for(has(4, 2))
    new_uid = emu.snapshot()["tasks"][0]["currentUid"]
    failover = next(d.json["payload"] for d in announced if d.json["eventType"] == 12)
    assert failover["details"] == {"msgName": "session_failover", "newUid": int(new_uid)}
    assert failover["uid"] == "999"
    after = [d.json for d in got if d.json["payload"]["sequence"] > failover["sequence"]]
    assert [e["eventType"] for e in after if e["eventType"] != 33] == [40, 30, 42, 4]
    assert {e["payload"]["uid"] for e in after} == {new_uid}
    assert after[-1]["payload"]["details"]["fileList"] == f"rec/day1/bak0_{sid}_room1.m3u8"


async def test_a_uid_conflict_posts_leave_code_16_and_an_abnormal_exit():
    """A user joining with the recorder's uid kicks it out: 41 with leaveCode 16, 3 (20), 11 with exitStatus 1."""
    async with posting() as (emu, api, sink):
        _, sid = await recording(emu, api)
        emu.advance(5)
        emu.join("room1", "999")
        got = await sink.wait_for(has(11))
    assert types(got, sid)[-3:] == [41, 3, 11]
    leave = next(d.json["payload"]["details"] for d in got if d.json["eventType"] == 41)
    assert leave["leaveCode"] == 16
    assert got[-1].json["payload"]["details"]["exitStatus"] == 1


async def test_web_recordings_post_the_web_recorder_events_and_no_slices():
    """A web page recorder posts 70 instead of 40, 71 instead of 41, no 42 or 4, and a 31 without fileList."""
    async with posting() as (emu, api, sink):
        rid, sid = await api.begin("web")
        emu.advance(30)
        await sink.wait_for(has(70))
        await api.stop(rid, sid, "web")
        got = await sink.wait_for(has(11))
    seen = types(got, sid)
    assert 70 in seen and 71 in seen and not {40, 41, 42, 4} & set(seen)
    uploaded = next(d.json["payload"] for d in got if d.json["eventType"] == 31)
    assert "fileList" not in uploaded["details"]
    stopped = next(d.json["payload"] for d in got if d.json["eventType"] == 71)
    assert stopped["serviceType"] == 6 and stopped["details"]["code"] == 0


async def test_individual_recordings_post_a_slice_start_per_uid_and_track():
    """Individual mode: one 42 per subscribed uid and track, one 4 per M3U8 file."""
    async with posting() as (emu, api, sink):
        _, sid = await recording(emu, api, "individual")
        emu.advance(20)
        got = await sink.wait_for(has(4, 2))
    slices = [d.json["payload"]["details"] for d in got if d.json["eventType"] == 42]
    assert sorted((s["streamUid"], s["trackType"], s["mixedAllUser"]) for s in slices) == [
        ("1001", "audio", False),
        ("1001", "video", False),
    ]
    names = sorted(d.json["payload"]["details"]["fileList"] for d in got if d.json["eventType"] == 4)
    assert names == [f"rec/day1/{sid}_room1__uid_s_1001__uid_e_{t}.m3u8" for t in ("audio", "video")]


async def test_a_refused_or_unanswered_callback_is_resent_with_its_notice_id():
    """500, then no answer within the timeout, then 200: three deliveries of one noticeId, the last one taken."""
    async with posting(**FAST_RESENDS) as (emu, api, sink):
        sink.script = [500, "hang"]
        emu.join("room1", "1001")
        await api.begin("mix")
        emu.advance(0.75)
        got = await sink.wait_for(lambda d: any(x.answered == 200 for x in d), within=5)
        # The sid's next callback goes out only once this one's delivery is over: then its fate is recorded.
        emu.advance(0.75)
        await sink.wait_for(lambda d: len(d) >= 3)
        snapshot = emu.snapshot()
        notice = emu.callbacks()["notices"][0]
    # The sink records a delivery once it has answered: the one it never answered is not in its list.
    assert [d.answered for d in got[:2]] == [500, 200] and got[0].body == got[1].body
    assert notice["noticeId"] == got[0].json["noticeId"]
    assert notice["answers"] == [500, "timeout", 200] and notice["delivered"] == 1
    assert all(verifies(d) for d in got)
    assert snapshot["callbacksResent"] == 2 and snapshot["callbacksFailed"] == 0 and snapshot["callbacksSent"] == 4


async def test_a_callback_never_answered_200_is_given_up_after_three_retries():
    """Four deliveries answered 503 and the callback is given up: counted in callbacksFailed, never posted again."""
    async with posting(**FAST_RESENDS) as (emu, api, sink):
        sink.script = [503] * 4
        emu.join("room1", "1001")
        await api.begin("mix")
        emu.advance(0.75)
        got = (await sink.wait_for(lambda d: len(d) >= 4))[:4]
        # The sid's next callback goes out only once this one's last delivery is over.
        emu.advance(0.75)
        await sink.wait_for(lambda d: len(d) >= 5)
        view = emu.callbacks()
    assert [d.answered for d in got] == [503] * 4 and len({d.json["noticeId"] for d in got}) == 1
    notifies = [d.json["notifyMs"] for d in got]
    assert notifies == sorted(notifies)
    assert view["callbacksFailed"] == 1 and view["callbacksSent"] == 5 and view["notices"][0]["givenUp"] == 1
    assert [d.json["noticeId"] for d in sink.deliveries].count(got[0].json["noticeId"]) == 4


async def test_notify_ms_is_taken_at_each_delivery():
    """A resend after the emulated clock moved carries a later notifyMs than the first delivery, same noticeId."""
    async with posting(callback_retry_gaps_seconds=(0.3,)) as (emu, api, sink):
        sink.script = [500]
        emu.join("room1", "1001")
        await api.begin("mix")
        emu.advance(0.75)
        await sink.wait_for(lambda d: len(d) >= 1)
        emu.advance(7)
        first = sink.deliveries[0].json
        got = await sink.wait_for(
            lambda d: any(x.json["noticeId"] == first["noticeId"] and x.answered == 200 for x in d)
        )
    again = next(d.json for d in got if d.json["noticeId"] == first["noticeId"] and d.answered == 200)
    assert again["notifyMs"] - first["notifyMs"] >= 7000 and again["payload"] == first["payload"]


async def test_a_duplicated_callback_arrives_twice_with_one_notice_id():
    """The duplicate knob delivers the same callback (same noticeId and payload) twice, and counts it."""
    async with posting() as (emu, api, sink):
        emu.inject_callback_fault("duplicate", eventType=13)
        await recording(emu, api)
        emu.advance(3)
        got = await sink.wait_for(has(13, 2))
    twice = [d.json for d in got if d.json["eventType"] == 13]
    assert twice[0]["noticeId"] == twice[1]["noticeId"] and twice[0]["payload"] == twice[1]["payload"]
    assert emu.snapshot()["callbackFaults"]["duplicate"] == 1


async def test_a_reordered_callback_arrives_after_the_next_one_of_its_sid():
    """The reorder knob holds a callback back until the sid's next one has gone: sequence 1 arrives before 0."""
    async with posting() as (emu, api, sink):
        emu.inject_callback_fault("reorder")
        await recording(emu, api)
        emu.advance(1.5)
        got = await sink.wait_for(lambda d: len(d) >= 2)
    assert [d.json["payload"]["sequence"] for d in got[:2]] == [1, 0]
    assert emu.snapshot()["callbackFaults"]["reorder"] == 1


async def test_a_reordered_callback_without_a_successor_goes_out_on_its_own():
    """A held callback is released after callback_reorder_seconds when its sid posts nothing more."""
    async with posting(callback_reorder_seconds=0.3) as (emu, api, sink):
        emu.inject_callback_fault("reorder")
        await recording(emu, api)
        emu.advance(0.75)
        got = await sink.wait_for(lambda d: len(d) >= 1)
    assert got[0].json["payload"]["sequence"] == 0


async def test_a_delayed_callback_arrives_late():
    """The delay knob holds a callback back for its delay: later callbacks of other kinds overtake it."""
    async with posting() as (emu, api, sink):
        emu.inject_callback_fault("delay", eventType=13, delay=0.5)
        await recording(emu, api)
        loop = asyncio.get_running_loop()
        began = loop.time()
        emu.advance(3)
        got = await sink.wait_for(has(13), within=3)
        waited = loop.time() - began
    assert got[-1].json["eventType"] == 13 and waited >= 0.5
    assert emu.snapshot()["callbackFaults"]["delay"] == 1


async def test_a_dropped_callback_never_arrives():
    """The drop knob loses a callback: the sid's other callbacks arrive, that sequence number never does."""
    async with posting() as (emu, api, sink):
        emu.inject_callback_fault("drop", eventType=40)
        _, sid = await recording(emu, api)
        emu.advance(3)
        got = await sink.wait_for(has(3, 4))
    assert 40 not in types(got, sid)
    assert sorted(d.json["payload"]["sequence"] for d in got) == [0, 1, 2, 3, 5, 6]
    assert emu.snapshot()["callbackFaults"]["drop"] == 1
    assert next(n for n in emu.callbacks()["notices"] if n["eventType"] == 40)["dropped"] is True


async def test_a_forged_callback_comes_beside_the_genuine_one_and_fails_verification():
    """The forge knob sends an extra callback with a fresh noticeId whose signature does not verify; posted once."""
    async with posting(**FAST_RESENDS) as (emu, api, sink):
        emu.inject_callback_fault("forge", count=3, eventType=3)
        await recording(emu, api)
        emu.advance(2.25)
        got = await sink.wait_for(lambda d: len(d) >= 7)
        await asyncio.sleep(0.3)
    forged_ids = {n["noticeId"] for n in emu.callbacks()["notices"] if n["forged"]}
    forged = [d for d in got if d.json["noticeId"] in forged_ids]
    genuine = [d for d in got if d.json["noticeId"] not in forged_ids]
    assert len(forged) == 3 and len(genuine) == 4
    assert not any(verifies(d) for d in forged) and all(verifies(d) for d in genuine)
    assert {n["forged"] for n in emu.callbacks()["notices"] if n["forged"]} <= {"wrong_secret", "tampered", "unsigned"}
    assert emu.snapshot()["callbackFaults"]["forge"] == 3


async def test_profile_rates_apply_the_callback_faults_and_count_them():
    """`callback.<kind>` rates in the profile drop, duplicate and forge callbacks at random, each counted."""
    async with posting() as (emu, api, sink):
        emu.emulator.set_profile(3, {"callback.drop": 0.3, "callback.duplicate": 0.3, "callback.forge": 0.3})
        emu.join("room1", "1001")
        for n in range(4):
            await api.begin("mix", cname="room1", uid=str(900 + n))
        emu.advance(20)
        await sink.wait_for(lambda d: len(d) >= 1)  # every callback of these 20 s is queued in one round
        notices = emu.callbacks()["notices"]
        expected = sum(n["copies"] for n in notices if not n["dropped"])
        await sink.wait_for(lambda d: len(d) >= expected)
        snapshot = emu.snapshot()
        view = emu.callbacks()
    faults = snapshot["callbackFaults"]
    assert faults["drop"] > 0 and faults["duplicate"] > 0 and faults["forge"] > 0
    notices = view["notices"]
    assert sum(n["dropped"] for n in notices) == faults["drop"]
    assert sum(n["copies"] == 2 for n in notices) == faults["duplicate"]
    assert sum(n["forged"] is not None for n in notices) == faults["forge"]
    assert len(sink.deliveries) == snapshot["callbacksSent"] == expected


async def test_the_control_api_sets_the_target_and_never_shows_the_secret(
    client: httpx.AsyncClient, emu: RunningEmulator, caplog: pytest.LogCaptureFixture
):
    """POST /_emulator/callbacks turns them on and off; the secret is in no answer, snapshot or log line."""
    caplog.set_level(logging.DEBUG)
    async with callback_sink() as sink:
        assert (await client.get("/_emulator/callbacks")).json()["enabled"] is False
        refused = await client.post("/_emulator/callbacks", json={"url": sink.url})
        assert refused.status_code == 400 and "secret" in refused.json()["error"]
        on = await client.post("/_emulator/callbacks", json={"url": sink.url, "secret": SECRET})
        assert on.json() == {"ok": True, "enabled": True, "url": sink.url}
        sink.script = [500]
        emu.join("room1", "1001")
        api = Api(client, emu.config)
        await api.begin("mix")
        emu.advance(3)
        await sink.wait_for(has(30))
        view = (await client.get("/_emulator/callbacks")).text
        state = (await client.get("/_emulator/state")).text
        off = await client.post("/_emulator/callbacks", json={"url": None})
        assert off.json()["enabled"] is False
        emu.advance(20)
        await asyncio.sleep(0.3)
    assert 4 not in sink.events()
    for text in (on.text, view, state, off.text, caplog.text):
        assert SECRET not in text
    assert json.loads(state)["callbacksSent"] >= 7


async def test_callbacks_are_off_until_set_and_then_start_from_now():
    """Before a URL is set nothing is posted; events from then on are, their sequence counting the earlier ones."""
    async with callback_sink() as sink, serve() as (emu, api):
        await recording(emu, api)
        emu.advance(2)
        await asyncio.sleep(0.2)
        assert sink.deliveries == []
        enabled_ms = round(emu.emulator.clock.now() * 1000)
        emu.set_callbacks(sink.url, SECRET)
        emu.advance(1)
        got = await sink.wait_for(has(30))
    first = got[0].json["payload"]
    # 3 (1), 3 (2) and 13 happened while callbacks were off: never posted, but numbered.
    assert (got[0].json["eventType"], first["details"]["status"], first["sequence"]) == (3, 3, 3)
    assert all(d.json["payload"]["sendts"] >= enabled_ms for d in got)


async def test_control_api_rejects_bad_callback_settings_and_faults(client: httpx.AsyncClient):
    """A URL that is not http(s), a missing url, an unknown fault kind or field: 400 with the reason."""
    bad = [
        ("/_emulator/callbacks", {"url": "ftp://127.0.0.1/x", "secret": "s"}),
        ("/_emulator/callbacks", {"secret": "s"}),
        ("/_emulator/callbacks/faults", {"kind": "explode"}),
        ("/_emulator/callbacks/faults", {"kind": "drop", "count": 0}),
        ("/_emulator/callbacks/faults", {"kind": "drop", "delay": 1}),
        ("/_emulator/callbacks/faults", {"kind": "drop", "when": "now"}),
        ("/_emulator/profile", {"seed": 1, "rates": {"callback.explode": 0.1}}),
        ("/_emulator/profile", {"seed": 1, "rates": {"callback.drop": 2}}),
    ]
    for path, body in bad:
        answer = await client.post(path, json=body)
        assert answer.status_code == 400, (path, body, answer.text)
    assert (await client.post("/_emulator/callbacks/faults", json={"kind": "drop", "cname": "c"})).status_code == 200
    pending = (await client.get("/_emulator/callbacks")).json()["pendingFaults"]
    assert pending == [{"kind": "drop", "remaining": 1, "cname": "c", "eventType": None}]
    await client.delete("/_emulator/faults")
    assert (await client.get("/_emulator/callbacks")).json()["pendingFaults"] == []


async def test_reset_forgets_callbacks_but_keeps_the_target():
    """After a reset the log and counters are empty and new tasks' callbacks still go to the same URL."""
    async with posting() as (emu, api, sink):
        await recording(emu, api)
        emu.advance(3)
        await sink.wait_for(has(30))
        emu.emulator.reset()
        assert emu.snapshot()["callbacksSent"] == 0 and emu.callbacks()["notices"] == []
        _, sid = await recording(emu, api)
        emu.advance(3)
        got = await sink.wait_for(lambda d: 30 in types(d, sid))
    assert types(got, sid)[0] == 3 and got[-1].json["payload"]["sid"] == sid


async def test_python_m_emulator_posts_callbacks_from_its_flags():
    """`python -m emulator --callback-url --callback-secret` posts signed callbacks while it runs (its lifespan)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = fast_config()
    async with callback_sink() as sink:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "-m", "emulator", "--port", str(port), "--rate-limit", "0", "--startup-seconds"]
        command += ["0.2", "--callback-url", sink.url, "--callback-secret", SECRET]
        child = await asyncio.create_subprocess_exec(
            *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        try:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, auth=auth(config), timeout=5) as http:
                for _ in range(100):
                    try:
                        if (await http.get("/_emulator/health")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        await asyncio.sleep(0.05)
                await http.post("/_emulator/channels/room1/users", json={"uid": "1001"})
                _, sid = await Api(http, config).begin("mix")
                got = await sink.wait_for(has(30), within=10)
        finally:
            os.kill(child.pid, signal.SIGTERM)
            _, err = await child.communicate()
    assert types(got, sid)[:3] == [3, 3, 13] and all(verifies(d) for d in got)
    assert SECRET.encode() not in err
