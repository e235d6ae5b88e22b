"""Acquire → start → query → stop in every mode, driven by the emulated clock."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from emulator.testing import RunningEmulator, running_emulator
from tests.emulator.support import Api, auth, fast_config, start_request


async def test_mix_hls_status_climbs_and_m3u8_appears_after_first_slice(api: Api, emu: RunningEmulator) -> None:
    """Mix/HLS: status 0→4 over start-up, 5 with the prefixed M3U8 name after one slice, then a sync stop."""
    emu.join("room1", "100")
    acquired = await api.acquire("room1", "999")
    assert acquired.status_code == 200
    rid = acquired.json()["resourceId"]
    assert acquired.json()["cname"] == "room1" and acquired.json()["uid"] == "999"
    assert len(rid) > 100 and re.fullmatch(r"[A-Za-z0-9_-]+", rid)
    started = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert started.status_code == 200
    sid = started.json()["sid"]
    assert re.fullmatch(r"[0-9a-f]{32}", sid)
    assert started.json() == {"cname": "room1", "uid": "999", "resourceId": rid, "sid": sid}

    seen = []
    for _ in range(5):
        body = (await api.query(rid, sid, "mix")).json()
        seen.append(body["serverResponse"]["status"])
        assert body["serverResponse"]["fileListMode"] == "string"
        assert body["serverResponse"]["fileList"] == ""
        emu.advance(0.75)
    assert seen == [0, 1, 2, 3, 4]
    emu.advance(15.0)
    body = (await api.query(rid, sid, "mix")).json()
    server = body["serverResponse"]
    assert server["status"] == 5
    assert server["fileList"] == f"rec/day1/{sid}_room1.m3u8"
    assert "sliceStartTime" not in server  # query.mdx: the top-level sliceStartTime is individual mode's only

    stopped = await api.stop(rid, sid, "mix", async_stop=False)
    assert stopped.status_code == 200
    assert stopped.json()["serverResponse"] == {
        "fileListMode": "string",
        "fileList": f"rec/day1/{sid}_room1.m3u8",
        "uploadingStatus": "uploaded",
    }
    assert (await api.query(rid, sid, "mix")).json()["serverResponse"]["status"] == 8
    emu.advance(10.0)
    assert (await api.query(rid, sid, "mix")).status_code == 404
    task = emu.tasks()[0]
    assert [s for _, s in task["statusHistory"]] == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert task["endReason"] == "stopped" and task["running"] is False


async def test_mix_hls_mp4_lists_json_entries_for_all_users(api: Api, emu: RunningEmulator) -> None:
    """Mix with hls+mp4 reports a json fileList of mixed-all-user entries."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix", recordingFileConfig={"avFileType": ["hls", "mp4"]})
    emu.advance(18.0)
    server = (await api.query(rid, sid, "mix")).json()["serverResponse"]
    assert server["fileListMode"] == "json"
    names = [(f["fileName"], f["trackType"], f["uid"], f["mixedAllUser"]) for f in server["fileList"]]
    assert names == [
        (f"rec/day1/{sid}_room1.m3u8", "audio_and_video", "0", True),
        (f"rec/day1/{sid}_room1_0.mp4", "audio_and_video", "0", True),
    ]


async def test_individual_lists_one_file_per_subscribed_uid_and_track(api: Api, emu: RunningEmulator) -> None:
    """Individual mode names each track `<sid>_<cname>__uid_s_<uid>__uid_e_<type>.m3u8`, honouring the lists."""
    emu.join("room1", "100")
    emu.join("room1", "200")
    recording = {"channelType": 0, "streamTypes": 2, "subscribeUidGroup": 0, "subscribeAudioUids": ["100", "200"]}
    recording["unsubscribeVideoUids"] = ["200"]  # the lower-case spelling is accepted too
    rid, sid = await api.begin("individual", recordingConfig=recording)
    emu.advance(3.0)
    early = (await api.query(rid, sid, "individual")).json()["serverResponse"]
    assert early["status"] == 4 and early["fileList"] == [] and early["fileListMode"] == "json"
    emu.advance(15.0)
    server = (await api.query(rid, sid, "individual")).json()["serverResponse"]
    files = {(f["uid"], f["trackType"]): f["fileName"] for f in server["fileList"]}
    base = f"rec/day1/{sid}_room1__uid_s_"
    assert files == {
        ("100", "audio"): f"{base}100__uid_e_audio.m3u8",
        ("100", "video"): f"{base}100__uid_e_video.m3u8",
        ("200", "audio"): f"{base}200__uid_e_audio.m3u8",
    }
    assert all(f["mixedAllUser"] is False and f["isPlayable"] is True for f in server["fileList"])
    assert server["sliceStartTime"] == int((emu.tasks()[0]["startedAt"] + 3.0) * 1000)


async def test_individual_snapshot_reports_only_status_and_slice_time(api: Api, emu: RunningEmulator) -> None:
    """Individual mode with snapshotConfig: query has only status and sliceStartTime, stop only uploadingStatus."""
    emu.join("room1", "100")
    changes: dict[str, Any] = {
        "snapshotConfig": {"captureInterval": 5, "fileType": ["jpg"]},
        "recordingFileConfig": None,
    }
    rid, sid = await api.begin("individual", **changes)
    emu.advance(20.0)
    server = (await api.query(rid, sid, "individual")).json()["serverResponse"]
    assert set(server) == {"status", "sliceStartTime"} and server["status"] == 5
    stopped = await api.stop(rid, sid, "individual")
    assert stopped.json()["serverResponse"] == {"uploadingStatus": "uploaded"}


async def test_web_mode_reports_extension_service_state(api: Api, emu: RunningEmulator) -> None:
    """Web mode: query shows web_recorder_service with filename entries; stop adds upload_service."""
    rid, sid = await api.begin("web", cname="page:one")
    emu.advance(1.0)
    early = (await api.query(rid, sid, "web")).json()["serverResponse"]
    assert early["extensionServiceState"][0]["payload"]["state"] == "init"
    emu.advance(17.0)
    server = (await api.query(rid, sid, "web")).json()["serverResponse"]
    assert server["status"] == 5
    service = server["extensionServiceState"][0]
    assert service["serviceName"] == "web_recorder_service"
    assert service["payload"]["state"] == "inProgress" and service["payload"]["onhold"] is False
    assert [f["filename"] for f in service["payload"]["fileList"]] == [f"rec/day1/{sid}_page-one.m3u8"]
    stopped = await api.stop(rid, sid, "web", cname="page:one")
    states = {s["serviceName"]: s["payload"] for s in stopped.json()["serverResponse"]["extensionServiceState"]}
    assert states["upload_service"] == {"uploadingStatus": "uploaded"}
    assert states["web_recorder_service"]["state"] == "exit"


async def test_stop_without_any_publisher_gives_435(api: Api, emu: RunningEmulator) -> None:
    """Stopping a task nobody published to answers 206 with code 435."""
    rid, sid = await api.begin("mix")
    emu.advance(4.0)
    stopped = await api.stop(rid, sid, "mix")
    assert stopped.status_code == 206
    assert stopped.json() == {"code": 435, "reason": "no recorded data"}


async def test_second_stop_gives_49_then_404_once_long_gone(api: Api, emu: RunningEmulator) -> None:
    """A second stop right away is 400/49; long after the exit it is a 404 "failed to find worker"."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    emu.advance(20.0)
    assert (await api.stop(rid, sid, "mix")).status_code == 200
    again = await api.stop(rid, sid, "mix")
    assert again.status_code == 400 and again.json() == {"code": 49, "reason": "invalid operation"}
    emu.advance(60.0)
    gone = await api.stop(rid, sid, "mix")
    assert gone.status_code == 404
    assert gone.json()["serverResponse"]["payload"]["message"] == "failed to find worker"
    assert gone.json()["code"] == 404 and gone.json()["sid"] == sid


async def test_async_stop_answers_at_once_with_unknown_upload(api: Api, emu: RunningEmulator) -> None:
    """async_stop true answers immediately with uploadingStatus "unknown"."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    emu.advance(20.0)
    stopped = await api.stop(rid, sid, "mix", async_stop=True)
    assert stopped.status_code == 200
    assert stopped.json()["serverResponse"]["uploadingStatus"] == "unknown"


async def test_sync_stop_waits_the_upload_time_in_real_seconds() -> None:
    """At speed 1 a synchronous stop answers only after upload_seconds of real time."""
    config = fast_config(speed=1.0, upload_seconds=0.3, startup_seconds=0.0, slice_seconds=0.01)
    async with running_emulator(config) as emu:
        async with httpx.AsyncClient(base_url=emu.base_url, auth=auth(config)) as http:
            api = Api(http, config)
            emu.join("room1", "100")
            rid, sid = await api.begin("mix")
            began = time.monotonic()
            stopped = await api.stop(rid, sid, "mix")
            elapsed = time.monotonic() - began
    assert stopped.status_code == 200
    assert elapsed >= 0.3


async def test_update_and_update_layout_are_validated_applied_and_recorded(api: Api, emu: RunningEmulator) -> None:
    """update replaces the subscription lists, updateLayout is mix-only with code 1028 for bad layouts."""
    emu.join("room1", "100")
    emu.join("room1", "200")
    rid, sid = await api.begin("individual")
    update = {"streamSubscribe": {"audioUidList": {"subscribeAudioUids": ["100"]}}}
    assert (await api.post(rid, sid, "individual", "update", update)).status_code == 200
    emu.advance(20.0)
    files = (await api.query(rid, sid, "individual")).json()["serverResponse"]["fileList"]
    assert [(f["uid"], f["trackType"]) for f in files] == [("100", "audio")]
    wrong_mode = await api.post(rid, sid, "individual", "updateLayout", {"mixedVideoLayout": 1})
    assert wrong_mode.status_code == 400 and wrong_mode.json()["code"] == 2

    rid2, sid2 = await api.begin("mix", uid="998")
    layout = {"mixedVideoLayout": 3, "layoutConfig": [{"uid": "100", "x_axis": 0.0, "width": 0.5}]}
    ok = await api.post(rid2, sid2, "mix", "updateLayout", layout, uid="998")
    assert ok.status_code == 200 and ok.json()["sid"] == sid2
    bad = await api.post(rid2, sid2, "mix", "updateLayout", {"mixedVideoLayout": 9}, uid="998")
    assert bad.status_code == 400 and bad.json()["code"] == 1028
    tasks = {t["sid"]: t for t in emu.tasks()}
    assert tasks[sid]["updates"] == 1 and tasks[sid2]["updates"] == 1
    assert [r["op"] for r in tasks[sid2]["requests"]] == ["start", "updateLayout", "updateLayout"]
    await api.stop(rid2, sid2, "mix", uid="998")
    emu.advance(30.0)
    gone = await api.post(rid2, sid2, "mix", "update", update, uid="998")
    assert gone.status_code == 404
