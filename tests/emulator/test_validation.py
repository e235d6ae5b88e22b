"""Every documented parameter check of acquire and start, as a table."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from emulator.testing import running_emulator
from tests.emulator.support import Api, auth, fast_config, start_request

ACQUIRE_CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("bad/chars", "1", {}, 401, "invalid_channel_name"),
    ("x" * 64, "1", {}, 401, "invalid_channel_name"),
    ("", "1", {}, 401, "invalid_channel_name"),
    ("room", "0", {}, 2, "uid"),
    ("room", "abc", {}, 2, "uid"),
    ("room", "4294967296", {}, 2, "uid"),
    ("room", "1", {"resourceExpiredHour": 0}, 2, "Acquire: invalid resourceExpiredHour value!"),
    ("room", "1", {"resourceExpiredHour": 721}, 2, "Acquire: invalid resourceExpiredHour value!"),
    ("room", "1", {"scene": 3}, 2, "clientRequest.scene"),
    ("room", "1", {"region": "MARS"}, 2, "clientRequest.region"),
]


@pytest.mark.parametrize(("cname", "uid", "cr", "code", "reason"), ACQUIRE_CASES)
async def test_acquire_rejects_bad_parameters(
    api: Api, cname: str, uid: str, cr: dict[str, Any], code: int, reason: str
) -> None:
    """Acquire answers 400 with code 401 for channel names and code 2 naming the field otherwise."""
    response = await api.acquire(cname, uid, **cr)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["reason"].startswith(reason)


async def test_acquire_accepts_documented_edge_values(api: Api) -> None:
    """A 63-byte cname with allowed symbols, uid 4294967295 and a 1000-byte web label are accepted."""
    assert (await api.acquire("a" * 50 + " !#$%&()+-:;<", "4294967295")).status_code == 200
    assert (await api.acquire("w" * 1000, "5", scene=1)).status_code == 200


def rc(**fields: Any) -> dict[str, Any]:
    """A recordingConfig with the given fields."""
    return {"channelType": 0, "streamTypes": 2, **fields}


START_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("mix", {"recordingConfig": None}, "clientRequest.recordingConfig: is required"),
    ("mix", {"recordingConfig": rc(maxIdleTime=4)}, "clientRequest.recordingConfig.maxIdleTime"),
    ("mix", {"recordingConfig": rc(maxIdleTime=2592001)}, "clientRequest.recordingConfig.maxIdleTime"),
    ("mix", {"recordingConfig": rc(channelType=2)}, "clientRequest.recordingConfig.channelType"),
    ("mix", {"recordingConfig": rc(streamTypes=3)}, "clientRequest.recordingConfig.streamTypes"),
    ("mix", {"recordingConfig": rc(streamTypes=True)}, "clientRequest.recordingConfig.streamTypes"),
    (
        "mix",
        {"recordingConfig": rc(subscribeAudioUids=[str(i) for i in range(1, 34)])},
        "clientRequest.recordingConfig.subscribeAudioUids",
    ),
    (
        "mix",
        {"recordingConfig": rc(subscribeAudioUids=["1"], unSubscribeAudioUids=["2"])},
        "clientRequest.recordingConfig.subscribeAudioUids",
    ),
    (
        "mix",
        {"recordingConfig": rc(streamTypes=1, subscribeAudioUids=["1"])},
        "clientRequest.recordingConfig.subscribeAudioUids",
    ),
    (
        "mix",
        {"recordingConfig": rc(streamTypes=0, unSubscribeVideoUids=["1"])},
        "clientRequest.recordingConfig.subscribeVideoUids",
    ),
    ("mix", {"storageConfig": None}, "clientRequest.storageConfig: is required"),
    ("mix", {"storageConfig": {"vendor": 4, "region": 0}}, "clientRequest.storageConfig.vendor"),
    (
        "mix",
        {"storageConfig": {"vendor": 1, "region": 0, "bucket": "", "accessKey": "a", "secretKey": "s"}},
        "clientRequest.storageConfig.bucket",
    ),
    (
        "mix",
        {
            "storageConfig": {
                "vendor": 1,
                "region": 0,
                "bucket": "b",
                "accessKey": "a",
                "secretKey": "s",
                "fileNamePrefix": ["bad-part"],
            }
        },
        "clientRequest.storageConfig.fileNamePrefix",
    ),
    (
        "mix",
        {
            "storageConfig": {
                "vendor": 1,
                "region": 0,
                "bucket": "b",
                "accessKey": "a",
                "secretKey": "s",
                "fileNamePrefix": ["a" * 100, "b" * 28],
            }
        },
        "clientRequest.storageConfig.fileNamePrefix",
    ),
    ("mix", {"recordingFileConfig": {"avFileType": ["mp4"]}}, "clientRequest.recordingFileConfig.avFileType"),
    (
        "individual",
        {"recordingFileConfig": {"avFileType": ["hls", "mp4"]}},
        "clientRequest.recordingFileConfig.avFileType",
    ),
    (
        "mix",
        {"recordingConfig": rc(transcodingConfig={"width": 1920, "height": 1088})},
        "clientRequest.recordingConfig.transcodingConfig.width",
    ),
    ("mix", {"snapshotConfig": {"captureInterval": 5}}, "clientRequest.snapshotConfig"),
    ("web", {"extensionServiceConfig": None}, "clientRequest.extensionServiceConfig: is required"),
]


@pytest.mark.parametrize(("mode", "changes", "reason"), START_CASES)
async def test_start_rejects_bad_parameters_with_code_2(
    api: Api, mode: str, changes: dict[str, Any], reason: str
) -> None:
    """Start answers 400 {"code":2} with a reason that names the offending field."""
    scene = 1 if mode == "web" else 0
    rid = (await api.acquire("room1", "999", scene=scene)).json()["resourceId"]
    response = await api.start(rid, mode, "room1", "999", start_request(mode, **changes))
    assert response.status_code == 400
    assert response.json()["code"] == 2
    assert response.json()["reason"].startswith(reason), response.json()


async def test_web_max_recording_hour_is_checked(api: Api) -> None:
    """Web mode needs maxRecordingHour within [1, 720]."""
    rid = (await api.acquire("room1", "999", scene=1)).json()["resourceId"]
    request = start_request("web")
    request["extensionServiceConfig"]["extensionServices"][0]["serviceParam"]["maxRecordingHour"] = 0
    response = await api.start(rid, "web", "room1", "999", request)
    assert response.status_code == 400 and "maxRecordingHour" in response.json()["reason"]


async def test_token_is_required_when_a_certificate_is_configured() -> None:
    """With an app certificate set, a start without token answers code 2 "token required"."""
    config = fast_config(app_certificate="0123456789abcdef0123456789abcdef")
    async with running_emulator(config) as emu, httpx.AsyncClient(base_url=emu.base_url, auth=auth(config)) as http:
        api = Api(http, config)
        rid = (await api.acquire("room1", "999")).json()["resourceId"]
        missing = await api.start(rid, "mix", "room1", "999", start_request("mix"))
        assert missing.json() == {"code": 2, "reason": "token required"}
        ok = await api.start(rid, "mix", "room1", "999", start_request("mix", token="007abc"))
        assert ok.status_code == 200
