"""The emulator side of the Agora API audit: each test names its row (`../shared/reference/agora-api-audit.md`).

The product side is in tests/workflows/test_audit.py.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from emulator import ControlError
from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator
from tests.emulator.support import Api, serve, start_request

HOUR = 3600.0
EXPIRED = {"code": 433, "reason": "resource expired"}
EXITING = {"code": 501, "reason": "service exiting"}


def task(emu: RunningEmulator, sid: str) -> dict[str, Any]:
    return next(t for t in emu.tasks() if t["sid"] == sid)


def web_param(request: dict[str, Any]) -> dict[str, Any]:
    """The web_recorder_service serviceParam of a web start request."""
    param: dict[str, Any] = request["extensionServiceConfig"]["extensionServices"][0]["serviceParam"]
    return param


async def task_calls(api: Api, rid: str, sid: str, mode: str = "mix") -> list[tuple[int, Any]]:
    """Query, update, updateLayout and stop on one task: (HTTP status, body) of each."""
    update = {"streamSubscribe": {"audioUidList": {"subscribeAudioUids": ["#allstream#"]}}}
    answers = [
        await api.query(rid, sid, mode),
        await api.post(rid, sid, mode, "update", update),
        await api.post(rid, sid, mode, "updateLayout", {"mixedVideoLayout": 1}),
        await api.stop(rid, sid, mode),
    ]
    return [(a.status_code, a.json()) for a in answers]


# -- row 2: resourceExpiredHour ------------------------------------------------------------------------------


async def test_row2_task_calls_answer_433_once_resource_expired_hour_has_run_from_the_sid(
    api: Api, emu: RunningEmulator
) -> None:
    """resourceExpiredHour counts from the sid: then query/update/updateLayout/stop answer 433, the recorder goes on."""
    emu.join("room1", "100")
    rid = (await api.acquire("room1", "999", resourceExpiredHour=1)).json()["resourceId"]
    emu.advance(200.0)  # acquire to start: the hour counts from the sid, not from acquire
    sid = (await api.start(rid, "mix", "room1", "999", start_request("mix"))).json()["sid"]
    _, default_sid = await api.begin("mix", uid="998")
    emu.advance(HOUR - 1.0)
    assert (await api.query(rid, sid, "mix")).status_code == 200
    emu.advance(1.0)
    assert await task_calls(api, rid, sid) == [(400, EXPIRED)] * 4
    assert task(emu, sid)["running"] is True
    default_rid = task(emu, default_sid)["resourceId"]
    assert (await api.query(default_rid, default_sid, "mix")).status_code == 200  # 72 h by default
    # Stop cannot reach the expired recorder: it ends only when the channel goes idle.
    emu.leave("room1", "100")
    emu.advance(31.0)
    assert task(emu, sid)["endReason"] == "idle"
    assert (await api.query(rid, sid, "mix")).json() == EXPIRED


async def test_row2_default_resource_life_is_72_hours(api: Api, emu: RunningEmulator) -> None:
    """Without resourceExpiredHour the task calls answer 433 from 72 hours after the sid."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    emu.advance(72 * HOUR - 1.0)
    assert (await api.query(rid, sid, "mix")).status_code == 200
    emu.advance(1.0)
    assert (await api.query(rid, sid, "mix")).json() == EXPIRED


# -- row 13: required start fields ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["audioProfile", "videoWidth", "videoHeight", "maxRecordingHour"])
async def test_row13_web_service_param_fields_are_required(api: Api, field: str) -> None:
    """A web serviceParam without audioProfile, videoWidth, videoHeight or maxRecordingHour is refused naming it."""
    rid = (await api.acquire("room1", "999", scene=1)).json()["resourceId"]
    request = start_request("web")
    del web_param(request)[field]
    refused = await api.start(rid, "web", "room1", "999", request)
    assert refused.status_code == 400
    path = "clientRequest.extensionServiceConfig.extensionServices.serviceParam"
    assert refused.json() == {"code": 2, "reason": f"{path}.{field}: is required"}


async def test_row13_individual_mode_requires_subscribe_uid_group(api: Api) -> None:
    """Individual mode without recordingConfig.subscribeUidGroup is refused with code 2; mix mode does not need it."""
    rid = (await api.acquire("room1", "999")).json()["resourceId"]
    request = start_request("individual")
    del request["recordingConfig"]["subscribeUidGroup"]
    refused = await api.start(rid, "individual", "room1", "999", request)
    assert refused.status_code == 400 and refused.json()["code"] == 2
    assert refused.json()["reason"].startswith("clientRequest.recordingConfig.subscribeUidGroup: is required")
    assert (await api.start(rid, "mix", "room1", "999", start_request("mix"))).status_code == 200


@pytest.mark.parametrize("mode", ["individual", "mix", "web"])
async def test_row13_recording_file_config_is_required_unless_screenshots_only(api: Api, mode: str) -> None:
    """Every mode needs recordingFileConfig, except an individual task that takes screenshots only."""
    rid = (await api.acquire("room1", "999", scene=1 if mode == "web" else 0)).json()["resourceId"]
    refused = await api.start(rid, mode, "room1", "999", start_request(mode, recordingFileConfig=None))
    assert refused.status_code == 400 and refused.json()["code"] == 2
    assert refused.json()["reason"].startswith("clientRequest.recordingFileConfig: is required")


@pytest.mark.parametrize(
    ("recording", "field"),
    [
        ({"streamTypes": 0}, "clientRequest.recordingConfig.streamTypes"),
        ({"subscribeAudioUids": ["100"]}, "clientRequest.recordingConfig.subscribeVideoUids"),
    ],
)
async def test_row13_screenshots_need_video_and_both_lists(api: Api, recording: dict[str, Any], field: str) -> None:
    """With snapshotConfig, streamTypes must be 1 or 2 and a subscribeAudioUids list needs a subscribeVideoUids list."""
    rid = (await api.acquire("room1", "999")).json()["resourceId"]
    changes: dict[str, Any] = {
        "recordingConfig": {"subscribeUidGroup": 0, **recording},
        "snapshotConfig": {"fileType": ["jpg"]},
        "recordingFileConfig": None,
    }
    refused = await api.start(rid, "individual", "room1", "999", start_request("individual", **changes))
    assert refused.status_code == 400 and refused.json()["code"] == 2
    assert refused.json()["reason"].startswith(field)
    changes["recordingConfig"] = {"subscribeUidGroup": 0, "streamTypes": 1, "subscribeVideoUids": ["100"]}
    accepted = await api.start(rid, "individual", "room1", "999", start_request("individual", **changes))
    assert accepted.status_code == 200


async def test_row13_web_max_recording_hour_must_not_exceed_the_resources_life(api: Api) -> None:
    """A web maxRecordingHour above the resource's resourceExpiredHour is refused; equal to it is accepted."""
    request = start_request("web")
    web_param(request)["maxRecordingHour"] = 25
    rid = (await api.acquire("room1", "999", scene=1, resourceExpiredHour=24)).json()["resourceId"]
    refused = await api.start(rid, "web", "room1", "999", request)
    assert refused.status_code == 400 and refused.json()["code"] == 2
    assert refused.json()["reason"].endswith("maxRecordingHour: must not exceed resourceExpiredHour (24)")
    web_param(request)["maxRecordingHour"] = 24
    assert (await api.start(rid, "web", "room1", "999", request)).status_code == 200


async def test_row13_web_recorder_stops_by_itself_after_max_recording_hour(api: Api, emu: RunningEmulator) -> None:
    """A web page recorder leaves by itself maxRecordingHour after its start (statuses 6, 7, 8), so it never outlives
    its resource."""
    rid, sid = await api.begin("web")  # maxRecordingHour 2
    emu.advance(2 * HOUR - 1.0)
    assert task(emu, sid)["running"] is True
    emu.advance(1.0)
    view = task(emu, sid)
    assert view["endReason"] == "max_recording_hour" and view["endedAt"] == view["startedAt"] + 2 * HOUR
    assert [s for _, s in view["statusHistory"]][-3:] == [6, 7, 8]
    stop = await api.stop(rid, sid, "web")
    assert stop.status_code == 400 and stop.json()["code"] == 49


# -- row 14: around an exit ----------------------------------------------------------------------------------


async def test_row14_query_shows_the_final_status_for_exit_visible_seconds_then_404() -> None:
    """After a stop's upload, query answers status 8 with the files for exit_visible_seconds, then 404."""
    async with serve(exit_visible_seconds=3.0) as (emu, api):
        emu.join("room1", "100")
        rid, sid = await api.begin("mix")
        emu.advance(20.0)
        assert (await api.stop(rid, sid, "mix")).status_code == 200
        emu.advance(2.9)
        gone = (await api.query(rid, sid, "mix")).json()["serverResponse"]
        assert gone == {"status": 8, "fileListMode": "string", "fileList": f"rec/day1/{sid}_room1.m3u8"}
        update = await api.post(rid, sid, "mix", "update", {"webRecordingConfig": {"onhold": True}})
        assert update.status_code == 404  # only query still sees the exited task
        emu.advance(0.1)
        assert (await api.query(rid, sid, "mix")).status_code == 404


async def test_row14_query_shows_status_20_after_a_crash(api: Api, emu: RunningEmulator) -> None:
    """After a crash query answers status 20 (web: state exit) for exit_visible_seconds (default 10), then 404."""
    rid, sid = await api.begin("web")
    emu.advance(20.0)
    emu.crash(sid)
    emu.advance(9.9)
    server = (await api.query(rid, sid, "web")).json()["serverResponse"]
    assert server["status"] == 20 and server["extensionServiceState"][0]["payload"]["state"] == "exit"
    emu.advance(0.1)
    assert (await api.query(rid, sid, "web")).status_code == 404


async def test_row14_query_and_updates_answer_501_while_a_stopped_task_uploads() -> None:
    """Between a stop and the end of its upload, query/update/updateLayout answer 400 code 501 and stop answers 49."""
    async with serve(upload_seconds=12.0) as (emu, api):
        emu.join("room1", "100")
        rid, sid = await api.begin("mix")
        emu.advance(20.0)
        assert (await api.stop(rid, sid, "mix")).json()["serverResponse"]["uploadingStatus"] == "uploaded"
        emu.advance(11.9)  # past exit_grace_seconds: a stop during the upload is still a duplicate stop
        calls = await task_calls(api, rid, sid)
        assert calls[:3] == [(400, EXITING)] * 3
        assert calls[3] == (400, {"code": 49, "reason": "invalid operation"})
        emu.advance(0.1)
        assert (await api.query(rid, sid, "mix")).json()["serverResponse"]["status"] == 8


async def test_row14_sync_stop_past_agoras_wait_answers_206_code_50_still_uploading() -> None:
    """A sync stop whose upload outlasts sync_stop_wait_seconds answers 206 code 50 with the files, "uploading"."""
    async with serve(upload_seconds=30.0) as (emu, api):
        emu.join("room1", "100")
        rid, sid = await api.begin("mix")
        emu.advance(20.0)
        stopped = await api.stop(rid, sid, "mix")
        assert stopped.status_code == 206
        assert stopped.json() == {
            "code": 50,
            "reason": "upload timeout",
            "serverResponse": {
                "fileListMode": "string",
                "fileList": f"rec/day1/{sid}_room1.m3u8",
                "uploadingStatus": "uploading",
            },
        }
        assert task(emu, sid)["endReason"] == "stopped"
        assert (await api.query(rid, sid, "mix")).json() == EXITING
        web_rid, web_sid = await api.begin("web", uid="998")
        web = (await api.stop(web_rid, web_sid, "web", uid="998")).json()["serverResponse"]
        states = {s["serviceName"]: s["payload"] for s in web["extensionServiceState"]}
        assert states["upload_service"] == {"uploadingStatus": "uploading"}
        async_rid, async_sid = await api.begin("mix", uid="997")
        async_stop = await api.stop(async_rid, async_sid, "mix", uid="997", async_stop=True)
        assert async_stop.status_code == 200 and async_stop.json()["serverResponse"]["uploadingStatus"] == "unknown"


async def test_row14_code_50_comes_after_agoras_wait_in_real_time() -> None:
    """The code-50 answer comes after sync_stop_wait_seconds scaled by speed, not after the whole upload."""
    async with serve(speed=10.0, startup_seconds=0.0, upload_seconds=60.0, sync_stop_wait_seconds=2.0) as (emu, api):
        emu.join("room1", "100")
        rid, sid = await api.begin("mix")
        began = time.monotonic()
        stopped = await api.stop(rid, sid, "mix")
        elapsed = time.monotonic() - began
    assert stopped.status_code == 206 and stopped.json()["code"] == 50
    assert 0.2 <= elapsed < 3.0


async def test_row14_backuped_fault_stops_and_says_backuped(api: Api, emu: RunningEmulator) -> None:
    """The backuped fault lets the stop happen and answers 200 with uploadingStatus "backuped" (web: upload_service)."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    web_rid, web_sid = await api.begin("web", uid="998")
    emu.advance(20.0)
    emu.inject("stop", "backuped", count=2)
    stopped = await api.stop(rid, sid, "mix")
    assert stopped.status_code == 200
    assert stopped.json()["serverResponse"] == {
        "fileListMode": "string",
        "fileList": f"rec/day1/{sid}_room1.m3u8",
        "uploadingStatus": "backuped",
    }
    assert task(emu, sid)["endReason"] == "stopped"
    web = (await api.stop(web_rid, web_sid, "web", uid="998")).json()["serverResponse"]
    assert web["extensionServiceState"][0] == {
        "serviceName": "upload_service",
        "payload": {"uploadingStatus": "backuped"},
    }
    assert emu.emulator.faults_injected == {"backuped": 2}


async def test_row14_partial_stop_fault_answers_206_with_the_normal_stop_body(api: Api, emu: RunningEmulator) -> None:
    """The partial_stop fault answers 206 with the whole stop body and no code, uploadingStatus "backuped"."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    emu.advance(20.0)
    emu.inject("stop", "partial_stop")
    stopped = await api.stop(rid, sid, "mix")
    assert stopped.status_code == 206
    assert stopped.json() == {
        "cname": "room1",
        "uid": "999",
        "resourceId": rid,
        "sid": sid,
        "serverResponse": {
            "fileListMode": "string",
            "fileList": f"rec/day1/{sid}_room1.m3u8",
            "uploadingStatus": "backuped",
        },
    }
    assert task(emu, sid)["endReason"] == "stopped"


@pytest.mark.parametrize("kind", ["backuped", "partial_stop"])
async def test_row14_stop_faults_work_from_the_profile_and_only_on_stop(emu: RunningEmulator, kind: str) -> None:
    """`stop.<kind>` is a profile key; the kind is refused on other endpoints, scripted or in the profile."""
    emu.emulator.set_profile(1, {f"stop.{kind}": 1.0})
    for bad in ({"endpoint": "query", "kind": kind}, {"endpoint": "*", "kind": kind}):
        with pytest.raises(ControlError, match="applies to the stop endpoint only"):
            emu.emulator.inject(bad)
    with pytest.raises(ControlError, match="applies to stop only"):
        emu.emulator.set_profile(1, {f"any.{kind}": 0.5})


# -- row 15: web concurrency ---------------------------------------------------------------------------------


async def test_row15_web_mode_has_its_own_concurrency_quota() -> None:
    """Web tasks count against max_concurrent_web (default 200), the other modes against max_concurrent (50)."""
    assert (EmulatorConfig().max_concurrent, EmulatorConfig().max_concurrent_web) == (50, 200)
    async with serve(max_concurrent=1, max_concurrent_web=2) as (_, api):
        await api.begin("mix")
        assert (await api.acquire("room2", "1")).json() == {"code": 406, "reason": "vendor_over_load"}
        await api.begin("web", uid="998")
        await api.begin("web", uid="997")
        assert (await api.acquire("room3", "1", scene=1)).json() == {"code": 406, "reason": "vendor_over_load"}


# -- row 16: fault answers as Agora gives them -----------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["acquire", "start", "query", "update", "updateLayout", "stop"])
async def test_row16_server_error_is_500_internal_error_everywhere(
    api: Api, emu: RunningEmulator, endpoint: str
) -> None:
    """server_error answers HTTP 500 {"code": 500, "reason": "internal_error"} on every call."""
    rid, sid = await api.begin("mix")
    emu.inject(endpoint, "server_error")
    if endpoint == "acquire":
        answer = await api.acquire("room2", "1")
    elif endpoint == "start":
        answer = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    elif endpoint == "query":
        answer = await api.query(rid, sid, "mix")
    else:
        answer = await api.post(rid, sid, "mix", endpoint, {})
    assert (answer.status_code, answer.json()) == (500, {"code": 500, "reason": "internal_error"})


async def test_row16_request_timeout_is_500_on_start_and_504_elsewhere(api: Api, emu: RunningEmulator) -> None:
    """request_timeout answers code 62 with HTTP 500 on start and 504 on the other calls."""
    rid, sid = await api.begin("mix")
    emu.inject("start", "request_timeout")
    emu.inject("query", "request_timeout")
    start = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    query = await api.query(rid, sid, "mix")
    assert (start.status_code, start.json()) == (500, {"code": 62, "reason": "request timeout"})
    assert (query.status_code, query.json()) == (504, {"code": 62, "reason": "request timeout"})


async def test_row16_worker_allocation_fails_the_start_with_code_502(api: Api, emu: RunningEmulator) -> None:
    """worker_allocation answers start 500 {"code": 502, "reason": "Failed to allocate worker"} and starts nothing."""
    rid = (await api.acquire("room1", "999")).json()["resourceId"]
    emu.inject("start", "worker_allocation")
    failed = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert (failed.status_code, failed.json()) == (500, {"code": 502, "reason": "Failed to allocate worker"})
    assert emu.tasks() == []
    with pytest.raises(ControlError, match="applies to the start endpoint only"):
        emu.emulator.inject({"endpoint": "acquire", "kind": "worker_allocation"})


@pytest.mark.parametrize("kind", ["no_worker_manager_available", "allocate_timeout"])
async def test_row16_acquire_only_server_faults(emu: RunningEmulator, kind: str) -> None:
    """The acquire-side 500 codes 501 and 504 are faults of acquire only."""
    with pytest.raises(ControlError, match="applies to the acquire endpoint only"):
        emu.emulator.inject({"endpoint": "start", "kind": kind})
    emu.emulator.set_profile(1, {f"acquire.{kind}": 0.5})


# -- rows 18 to 20 -------------------------------------------------------------------------------------------


async def test_row18_task_calls_check_the_resource_and_its_sid(api: Api, emu: RunningEmulator) -> None:
    """An unknown resourceId answers 1001; a known one with a sid it does not hold (or none yet) answers 1003."""
    rid, sid = await api.begin("mix")
    other_rid, other_sid = await api.begin("mix", uid="998")
    unstarted = (await api.acquire("room1", "997")).json()["resourceId"]
    unparsable = {"code": 1001, "reason": "resourceId unparsable"}
    mismatch = {"code": 1003, "reason": "appid or sid does not match the resourceId"}
    assert await task_calls(api, "nope", sid) == [(400, unparsable)] * 4
    assert await task_calls(api, rid, other_sid) == [(400, mismatch)] * 4
    assert await task_calls(api, unstarted, sid) == [(400, mismatch)] * 4
    assert (await api.query(other_rid, other_sid, "mix")).status_code == 200


async def test_row19_only_individual_mode_queries_carry_the_top_level_slice_start_time(
    api: Api, emu: RunningEmulator
) -> None:
    """Query carries the top-level sliceStartTime in individual mode only; mix json entries keep their own."""
    emu.join("room1", "100")
    hls_rid, hls_sid = await api.begin("mix")
    mp4_rid, mp4_sid = await api.begin("mix", uid="998", recordingFileConfig={"avFileType": ["hls", "mp4"]})
    ind_rid, ind_sid = await api.begin("individual", uid="997")
    emu.advance(20.0)
    hls = (await api.query(hls_rid, hls_sid, "mix")).json()["serverResponse"]
    mp4 = (await api.query(mp4_rid, mp4_sid, "mix")).json()["serverResponse"]
    individual = (await api.query(ind_rid, ind_sid, "individual")).json()["serverResponse"]
    assert hls["fileListMode"] == "string" and "sliceStartTime" not in hls
    assert "sliceStartTime" not in mp4 and all("sliceStartTime" in f for f in mp4["fileList"])
    assert individual["sliceStartTime"] > 0


@pytest.mark.parametrize(
    ("region", "accepted"),
    [
        ({"region": "EU"}, True),
        ({"regionAffinity": 3}, True),
        ({"region": "EU", "regionAffinity": 0}, True),
        ({"region": 3}, False),
        ({"regionAffinity": 5}, False),
    ],
)
async def test_row20_acquire_accepts_region_and_region_affinity(
    api: Api, region: dict[str, Any], accepted: bool
) -> None:
    """Acquire accepts region (CN/AP/EU/NA) and regionAffinity (0..4); other values answer code 2 naming the field."""
    answer = await api.acquire("room1", "999", **region)
    if accepted:
        assert answer.status_code == 200
    else:
        assert answer.status_code == 400 and answer.json()["code"] == 2
        assert answer.json()["reason"].startswith(f"clientRequest.{next(iter(region))}")


@pytest.mark.parametrize("spelling", ["unSubscribe", "unsubscribe"])
async def test_row20_both_deny_list_spellings_are_honoured(api: Api, emu: RunningEmulator, spelling: str) -> None:
    """A deny list spelt unSubscribe… or unsubscribe… keeps the denied uid out, in start and in update alike."""
    emu.join("room1", "100")
    emu.join("room1", "200")
    recording = {"subscribeUidGroup": 0, f"{spelling}AudioUids": ["200"], "subscribeVideoUids": ["100"]}
    rid, sid = await api.begin("individual", recordingConfig=recording)
    emu.advance(20.0)
    listed = (await api.query(rid, sid, "individual")).json()["serverResponse"]["fileList"]
    assert sorted((f["uid"], f["trackType"]) for f in listed) == [("100", "audio"), ("100", "video")]
    audio = {f"{spelling}AudioUids": ["100", "200"]}
    deny_all = {"streamSubscribe": {"audioUidList": audio, "videoUidList": {"subscribeVideoUids": ["100"]}}}
    assert (await api.post(rid, sid, "individual", "update", deny_all)).status_code == 200
    listed = (await api.query(rid, sid, "individual")).json()["serverResponse"]["fileList"]
    assert [(f["uid"], f["trackType"]) for f in listed] == [("100", "video")]
    both = {"streamSubscribe": {"audioUidList": {"unSubscribeAudioUids": ["1"], "unsubscribeAudioUids": ["1"]}}}
    refused = await api.post(rid, sid, "individual", "update", both)
    assert refused.status_code == 400 and "both spellings" in refused.json()["reason"]
