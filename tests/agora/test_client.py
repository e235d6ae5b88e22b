"""AgoraClient against httpx.MockTransport handlers returning the bodies the reference documents."""

from __future__ import annotations

import base64
import inspect
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from agora import errors
from agora.client import ALTERNATE_BASE_URL, DEFAULT_BASE_URL, AgoraClient, domain_order
from agora.errors import RequestValidationError
from agora.models import (
    AcquireClientRequest,
    ExtensionService,
    ExtensionServiceConfig,
    LayoutConfig,
    RecordingConfig,
    RecordingFileConfig,
    SnapshotConfig,
    StartClientRequest,
    StorageConfig,
    StreamSubscribe,
    TranscodingConfig,
    UpdateClientRequest,
    UpdateLayoutClientRequest,
    VideoUidList,
    WebRecorderServiceParam,
)

APP_ID = "0123456789abcdef0123456789abcdef"
CUSTOMER_ID = "customer-id-1"
CUSTOMER_SECRET = "CUSTOMERSECRET42"
ACCESS_KEY = "AKIAACCESSKEY777"
SECRET_KEY = "STORAGESECRETKEY888"
TOKEN = "007eJxTOKENSTRINGVALUE"
CERT = "APPCERTIFICATE0123"
RESOURCE_ID = "JyvK8nXHuV1BE64GDkAaBGEscvtHW7v8BrQoRPCHxmeVxwY22-x-kv4GdPcjZeMzoCBUCOr9q-k6wBWMC7SaAk_4nO3"
SID = "38f8e3cfdc474cd56fc1ceba380d7e1a"
ALL_SECRETS = (CUSTOMER_SECRET, ACCESS_KEY, SECRET_KEY, TOKEN, CERT)
BASIC = base64.b64encode(f"{CUSTOMER_ID}:{CUSTOMER_SECRET}".encode()).decode()

Handler = Callable[[httpx.Request], httpx.Response]


class FakeAgora:
    """Records every request and answers with a handler."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler or (lambda request: httpx.Response(200, json={"resourceId": RESOURCE_ID}))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


# The fields start.mdx requires of a web recorder beside its url.
WEB_SIZE: dict[str, Any] = {"max_recording_hour": 3, "audio_profile": 0, "video_width": 1280, "video_height": 720}


def make_client(fake: FakeAgora, **kwargs: Any) -> AgoraClient:
    return AgoraClient(
        app_id=APP_ID,
        customer_id=CUSTOMER_ID,
        customer_secret=CUSTOMER_SECRET,
        transport=httpx.MockTransport(fake),
        extra_secrets=[CERT],
        **kwargs,
    )


def storage() -> StorageConfig:
    return StorageConfig(
        vendor=1,
        region=0,
        bucket="bucket",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        file_name_prefix=["rec"],
    )


def mix_start() -> StartClientRequest:
    return StartClientRequest(
        token=TOKEN,
        recording_config=RecordingConfig(channel_type=1, max_idle_time=300, transcoding_config=TranscodingConfig()),
        recording_file_config=RecordingFileConfig(av_file_type=["hls", "mp4"]),
        storage_config=storage(),
    )


def individual_start(
    *, uid_group: int | None = None, snapshot: bool = False, stream_types: int = 2, **lists: list[str]
) -> StartClientRequest:
    """An individual start: recording files, or screenshots only with `snapshot`."""
    return StartClientRequest(
        recording_config=RecordingConfig(stream_types=stream_types, subscribe_uid_group=uid_group, **lists),
        recording_file_config=None if snapshot else RecordingFileConfig(av_file_type=["hls"]),
        snapshot_config=SnapshotConfig() if snapshot else None,
        storage_config=storage(),
    )


def web_start() -> StartClientRequest:
    return StartClientRequest(
        recording_file_config=RecordingFileConfig(av_file_type=["hls"]),
        storage_config=storage(),
        extension_service_config=ExtensionServiceConfig(
            extension_services=[
                ExtensionService(
                    service_name="web_recorder_service",
                    service_param=WebRecorderServiceParam(url="https://example.com/class", **WEB_SIZE),
                )
            ]
        ),
    )


# -- bad requests: nothing is sent ------------------------------------------------------------------------

M = ValidationError
R = RequestValidationError
MANY = [str(i) for i in range(1, 34)]

BAD_REQUESTS: list[tuple[str, Callable[[AgoraClient], Any], type[Exception], str, str]] = [
    ("idle-low", lambda c: RecordingConfig(max_idle_time=4), M, "maxIdleTime", "5..2592000"),
    ("idle-high", lambda c: RecordingConfig(max_idle_time=2_592_001), M, "maxIdleTime", "5..2592000"),
    (
        "expire-low",
        lambda c: AcquireClientRequest(resource_expired_hour=0),
        M,
        "resourceExpiredHour",
        "1..720",
    ),
    (
        "expire-high",
        lambda c: AcquireClientRequest(resource_expired_hour=721),
        M,
        "resourceExpiredHour",
        "1..720",
    ),
    ("scene", lambda c: AcquireClientRequest(scene=3), M, "scene", "0 or 1"),
    ("scene-2", lambda c: AcquireClientRequest(scene=2), M, "scene", "0 or 1"),
    ("sub-33", lambda c: RecordingConfig(subscribe_audio_uids=MANY), M, "subscribeAudioUids", "at most 32"),
    (
        "sub-uid-0",
        lambda c: RecordingConfig(subscribe_video_uids=["0"]),
        M,
        "subscribeVideoUids",
        "1..4294967295",
    ),
    (
        "allow-and-deny",
        lambda c: RecordingConfig(subscribe_audio_uids=["1"], un_subscribe_audio_uids=["2"]),
        M,
        "unSubscribeAudioUids",
        "only one list per media type",
    ),
    (
        "audio-list-video-only",
        lambda c: RecordingConfig(stream_types=1, subscribe_audio_uids=["1"]),
        M,
        "subscribeAudioUids",
        "streamTypes is 1",
    ),
    (
        "video-list-audio-only",
        lambda c: RecordingConfig(stream_types=0, un_subscribe_video_uids=["1"]),
        M,
        "unSubscribeVideoUids",
        "streamTypes is 0",
    ),
    ("channel-type", lambda c: RecordingConfig(channel_type=2), M, "channel_type", "0 or 1"),
    (
        "uid-group",
        lambda c: RecordingConfig(subscribe_uid_group=6),
        M,
        "subscribe_uid_group",
        "less than or equal to 5",
    ),
    ("resolution", lambda c: TranscodingConfig(width=1920, height=1088), M, "width*height", "1920 × 1080"),
    (
        "layout-18",
        lambda c: TranscodingConfig(layout_config=[LayoutConfig(x_axis=0, y_axis=0, width=1, height=1)] * 18),
        M,
        "layout_config",
        "at most 17",
    ),
    ("colour", lambda c: TranscodingConfig(background_color="red"), M, "backgroundColor", "#RRGGBB"),
    (
        "x-axis",
        lambda c: LayoutConfig(x_axis=1.5, y_axis=0, width=1, height=1),
        M,
        "x_axis",
        "less than or equal to 1",
    ),
    (
        "vertical-no-uid",
        lambda c: UpdateLayoutClientRequest(mixed_video_layout=2),
        M,
        "maxResolutionUid",
        "is 2",
    ),
    ("mp4-alone", lambda c: RecordingFileConfig(av_file_type=["mp4"]), M, "avFileType", '["hls", "mp4"]'),
    ("capture", lambda c: SnapshotConfig(capture_interval=4), M, "captureInterval", "5..3600"),
    (
        "vendor",
        lambda c: StorageConfig(vendor=4, region=0, bucket="b", access_key="k", secret_key="s"),
        M,
        "vendor",
        "1, 2, 3, 5, 6, 7, 8 or 11",
    ),
    (
        "prefix-chars",
        lambda c: StorageConfig(
            vendor=1, region=0, bucket="b", access_key="k", secret_key="s", file_name_prefix=["a-b"]
        ),
        M,
        "fileNamePrefix",
        "A-Z a-z 0-9",
    ),
    (
        "prefix-long",
        lambda c: StorageConfig(
            vendor=1, region=0, bucket="b", access_key="k", secret_key="s", file_name_prefix=["a" * 129]
        ),
        M,
        "fileNamePrefix",
        "128",
    ),
    (
        "web-hours",
        lambda c: WebRecorderServiceParam(url="https://x", **{**WEB_SIZE, "max_recording_hour": 0}),
        M,
        "maxRecordingHour",
        "1..720",
    ),
    (
        "web-fps",
        lambda c: WebRecorderServiceParam(url="https://x", **WEB_SIZE, video_fps=61),
        M,
        "video_fps",
        "less than or equal to 60",
    ),
    ("extra-field", lambda c: RecordingConfig.model_validate({"maxIdle": 5}), M, "maxIdle", "Extra inputs"),
    ("empty-update", lambda c: UpdateClientRequest(), M, "clientRequest", "at least one of"),
    ("uid-list-neither", lambda c: VideoUidList(), M, "videoUidList", "exactly one of"),
    ("cname-chars", lambda c: c.acquire("bad/name", "1"), R, "cname", "a-z A-Z 0-9"),
    ("cname-64", lambda c: c.acquire("a" * 64, "1"), R, "cname", "shorter than 64 bytes"),
    ("cname-empty", lambda c: c.acquire("", "1"), R, "cname", "non-empty"),
    (
        "web-cname-1025",
        lambda c: c.acquire("a" * 1025, "1", AcquireClientRequest(scene=1)),
        R,
        "cname",
        "1024",
    ),
    ("uid-0", lambda c: c.acquire("room", "0"), R, "uid", "1..4294967295"),
    ("uid-text", lambda c: c.acquire("room", "abc"), R, "uid", "1..4294967295"),
    ("uid-2^32", lambda c: c.acquire("room", str(2**32)), R, "uid", "1..4294967295"),
    ("rid-empty", lambda c: c.start("", "mix", "room", "1", mix_start()), R, "resource_id", "non-empty"),
    ("rid-slash", lambda c: c.start("a/b", "mix", "room", "1", mix_start()), R, "resource_id", "A-Z a-z 0-9"),
    (
        "mode",
        lambda c: c.start(RESOURCE_ID, "audio", "room", "1", mix_start()),  # type: ignore[arg-type]
        R,
        "mode",
        "individual, mix, web",
    ),
    (
        "mp4-individual",
        lambda c: c.start(RESOURCE_ID, "individual", "room", "1", mix_start()),
        R,
        "avFileType",
        "mp4 only in mix and web",
    ),
    (
        "mix-no-recording-config",
        lambda c: c.start(RESOURCE_ID, "mix", "room", "1", StartClientRequest(storage_config=storage())),
        R,
        "recordingConfig",
        "required in individual and mix",
    ),
    (
        "web-no-extension",
        lambda c: c.start(RESOURCE_ID, "web", "room", "1", StartClientRequest(storage_config=storage())),
        R,
        "extensionServiceConfig",
        "required in web mode",
    ),
    (
        "snapshot-mix",
        lambda c: c.start(
            RESOURCE_ID,
            "mix",
            "room",
            "1",
            StartClientRequest(
                recording_config=RecordingConfig(), snapshot_config=SnapshotConfig(), storage_config=storage()
            ),
        ),
        R,
        "snapshotConfig",
        "only in individual",
    ),
    (
        "extension-in-mix",
        lambda c: c.start(
            RESOURCE_ID,
            "mix",
            "room",
            "1",
            StartClientRequest(
                recording_config=RecordingConfig(),
                extension_service_config=web_start().extension_service_config,
                storage_config=storage(),
            ),
        ),
        R,
        "extensionServiceConfig",
        "only in web",
    ),
    # Audit row 13: what start.mdx requires is refused before sending, as Agora refuses it (code 2).
    (
        "individual-no-uid-group",
        lambda c: c.start(RESOURCE_ID, "individual", "room", "1", individual_start()),
        R,
        "subscribeUidGroup",
        "0..5 in individual mode",
    ),
    (
        "no-file-config",
        lambda c: c.start(
            RESOURCE_ID,
            "mix",
            "room",
            "1",
            StartClientRequest(recording_config=RecordingConfig(), storage_config=storage()),
        ),
        R,
        "recordingFileConfig",
        "unless the task takes screenshots only",
    ),
    (
        "snapshot-audio-only",
        lambda c: c.start(
            RESOURCE_ID, "individual", "room", "1", individual_start(stream_types=0, snapshot=True, uid_group=0)
        ),
        R,
        "streamTypes",
        "1 or 2 when taking screenshots",
    ),
    (
        "snapshot-audio-list-alone",
        lambda c: c.start(
            RESOURCE_ID,
            "individual",
            "room",
            "1",
            individual_start(snapshot=True, uid_group=0, subscribe_audio_uids=["1001"]),
        ),
        R,
        "subscribeVideoUids",
        "required with subscribeAudioUids",
    ),
    ("sid-dotdot", lambda c: c.query(RESOURCE_ID, "..", "mix"), R, "sid", "non-empty id"),
    ("sid-empty", lambda c: c.query(RESOURCE_ID, "", "mix"), R, "sid", "non-empty id"),
    (
        "layout-not-mix",
        lambda c: c.update_layout(RESOURCE_ID, SID, "individual", "room", "1", UpdateLayoutClientRequest()),
        R,
        "mode",
        "only in mix mode",
    ),
    (
        "subscribe-web",
        lambda c: c.update(
            RESOURCE_ID,
            SID,
            "web",
            "room",
            "1",
            UpdateClientRequest(
                stream_subscribe=StreamSubscribe(video_uid_list=VideoUidList(subscribe_video_uids=["1"]))
            ),
        ),
        R,
        "streamSubscribe",
        "only in individual and mix",
    ),
    ("stop-uid", lambda c: c.stop(RESOURCE_ID, SID, "mix", "room", "-1"), R, "uid", "1..4294967295"),
]


@pytest.mark.parametrize(("case", "call", "exc", "field", "allowed"), BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
async def test_bad_requests_are_refused_before_sending(case, call, exc, field, allowed):
    """Each bad request raises its error type naming the field and what is allowed, and sends nothing."""
    fake = FakeAgora()
    async with make_client(fake) as client:
        with pytest.raises(exc) as info:
            result = call(client)
            if inspect.isawaitable(result):
                await result
    message = str(info.value)
    assert field in message
    assert allowed in message
    if isinstance(info.value, RequestValidationError):
        assert info.value.field == field
        assert info.value.allowed and allowed in info.value.allowed
        assert info.value.operation in {"acquire", "start", "query", "update", "updateLayout", "stop"}
    assert fake.requests == []


def test_bad_request_table_is_large_enough():
    """The table holds at least 25 distinct bad requests."""
    assert len({b[0] for b in BAD_REQUESTS}) >= 25


# -- happy paths ----------------------------------------------------------------------------------------


async def test_acquire_sends_documented_request():
    """acquire POSTs to the documented path with Basic auth, the JSON content type and the body shape."""
    fake = FakeAgora(lambda r: httpx.Response(200, json={"resourceId": RESOURCE_ID}))
    async with make_client(fake) as client:
        result = await client.acquire("room 1", 527841, AcquireClientRequest(resource_expired_hour=24))  # type: ignore[arg-type]
    assert result.resource_id == RESOURCE_ID
    assert result.cname is None
    (request,) = fake.requests
    assert request.method == "POST"
    assert str(request.url) == f"{DEFAULT_BASE_URL}/v1/apps/{APP_ID}/cloud_recording/acquire"
    assert request.headers["Authorization"] == f"Basic {BASIC}"
    assert request.headers["Content-Type"] == "application/json;charset=utf-8"
    assert fake.body() == {
        "cname": "room 1",
        "uid": "527841",
        "clientRequest": {"scene": 0, "resourceExpiredHour": 24},
    }


async def test_start_wire_body_carries_keys_and_token():
    """start sends the storage keys and the token in clear (Agora needs them) and returns the sid."""
    fake = FakeAgora(
        lambda r: httpx.Response(200, json={"cname": "room", "uid": "1", "resourceId": RESOURCE_ID, "sid": SID})
    )
    async with make_client(fake) as client:
        result = await client.start(RESOURCE_ID, "mix", "room", "1", mix_start())
    assert result.sid == SID
    assert result.uid == "1"
    assert fake.requests[0].url.path == f"/v1/apps/{APP_ID}/cloud_recording/resourceid/{RESOURCE_ID}/mode/mix/start"
    client_request = fake.body()["clientRequest"]
    assert client_request["token"] == TOKEN
    assert client_request["storageConfig"]["accessKey"] == ACCESS_KEY
    assert client_request["storageConfig"]["secretKey"] == SECRET_KEY
    assert client_request["recordingFileConfig"] == {"avFileType": ["hls", "mp4"]}
    assert client_request["recordingConfig"]["maxIdleTime"] == 300


async def test_web_start_body():
    """A web start sends extensionServiceConfig with camelCase service params and no recordingConfig."""
    fake = FakeAgora(lambda r: httpx.Response(200, json={"resourceId": RESOURCE_ID, "sid": SID}))
    async with make_client(fake) as client:
        await client.start(RESOURCE_ID, "web", "https://example.com/class?x=1", "1", web_start())
    client_request = fake.body()["clientRequest"]
    assert "recordingConfig" not in client_request
    service = client_request["extensionServiceConfig"]["extensionServices"][0]
    assert service == {
        "serviceName": "web_recorder_service",
        "serviceParam": {
            "url": "https://example.com/class",
            "maxRecordingHour": 3,
            "audioProfile": 0,
            "videoWidth": 1280,
            "videoHeight": 720,
        },
    }


def test_a_web_recorder_without_its_required_fields_is_refused_when_built():
    """Row 13: audioProfile, videoWidth and videoHeight are required beside url and maxRecordingHour."""
    wire = {"audio_profile": "audioProfile", "video_width": "videoWidth", "video_height": "videoHeight"}
    for missing in (*wire, "max_recording_hour"):
        fields = {k: v for k, v in WEB_SIZE.items() if k != missing}
        with pytest.raises(ValidationError, match=wire.get(missing, "maxRecordingHour")):
            WebRecorderServiceParam(url="https://example.com/class", **fields)


async def test_query_is_a_get_without_body():
    """query GETs the documented path with no body and no content type, and parses the file list."""
    body = {
        "resourceId": RESOURCE_ID,
        "sid": SID,
        "serverResponse": {"status": 5, "fileListMode": "string", "fileList": f"{SID}_room.m3u8"},
    }
    fake = FakeAgora(lambda r: httpx.Response(200, json=body))
    async with make_client(fake) as client:
        result = await client.query(RESOURCE_ID, SID, "mix")
    (request,) = fake.requests
    assert request.method == "GET"
    assert request.content == b""
    assert "Content-Type" not in request.headers
    assert request.url.path.endswith(f"/resourceid/{RESOURCE_ID}/sid/{SID}/mode/mix/query")
    assert result.server_response.status == 5
    assert [f.file_name for f in result.server_response.file_list] == [f"{SID}_room.m3u8"]


async def test_update_layout_and_update_bodies():
    """updateLayout and update send their clientRequest under the documented paths."""
    fake = FakeAgora(lambda r: httpx.Response(200, json={"resourceId": RESOURCE_ID, "sid": SID}))
    layout = UpdateLayoutClientRequest(
        mixed_video_layout=3,
        layout_config=[LayoutConfig(uid="5", x_axis=0.1, y_axis=0, width=0.5, height=0.5)],
    )
    update = UpdateClientRequest(
        stream_subscribe=StreamSubscribe(video_uid_list=VideoUidList(un_subscribe_video_uids=["9"]))
    )
    async with make_client(fake) as client:
        await client.update_layout(RESOURCE_ID, SID, "mix", "room", "1", layout)
        result = await client.update(RESOURCE_ID, SID, "mix", "room", "1", update)
    assert result.sid == SID
    assert fake.requests[0].url.path.endswith("/mode/mix/updateLayout")
    assert fake.body(0)["clientRequest"] == {
        "mixedVideoLayout": 3,
        "layoutConfig": [{"uid": "5", "x_axis": 0.1, "y_axis": 0.0, "width": 0.5, "height": 0.5}],
    }
    assert fake.requests[1].url.path.endswith("/mode/mix/update")
    assert fake.body(1)["clientRequest"] == {"streamSubscribe": {"videoUidList": {"unSubscribeVideoUids": ["9"]}}}


@pytest.mark.parametrize("async_stop", [False, True])
async def test_stop_sends_async_stop(async_stop):
    """stop sends clientRequest.async_stop and parses the uploading status and files."""
    body = {
        "resourceId": RESOURCE_ID,
        "sid": SID,
        "serverResponse": {
            "fileListMode": "string",
            "fileList": f"{SID}_room.m3u8",
            "uploadingStatus": "uploaded",
        },
    }
    fake = FakeAgora(lambda r: httpx.Response(200, json=body))
    async with make_client(fake) as client:
        result = await client.stop(RESOURCE_ID, SID, "mix", "room", "1", async_stop=async_stop)
    assert fake.body() == {"cname": "room", "uid": "1", "clientRequest": {"async_stop": async_stop}}
    assert result.server_response.uploading_status == "uploaded"
    assert fake.requests[0].extensions["timeout"]["read"] == (10.0 if async_stop else 30.0)


# -- error answers ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "content"),
    [
        (200, b"<html>ok</html>"),
        (200, b'{"resourceId": "r"}'),
        (200, b'{"resourceId": "r", "sid": ""}'),
        (200, b"[]"),
    ],
)
async def test_start_200_without_usable_sid_is_protocol_error(status, content):
    """A 200 to start that is not JSON or lacks a non-empty sid raises a retryable ProtocolError."""
    fake = FakeAgora(lambda r: httpx.Response(status, content=content))
    async with make_client(fake) as client:
        with pytest.raises(errors.ProtocolError) as info:
            await client.start(RESOURCE_ID, "mix", "room", "1", mix_start())
    assert info.value.retryable is True
    assert info.value.operation == "start"
    assert TOKEN not in str(info.value)


async def test_start_500_code_15_is_server_error():
    """The real start 500 with sid "" and code 15 raises a retryable ServerError."""
    fake = FakeAgora(lambda r: httpx.Response(500, json={"resourceId": RESOURCE_ID, "sid": "", "code": 15}))
    async with make_client(fake) as client:
        with pytest.raises(errors.ServerError) as info:
            await client.start(RESOURCE_ID, "mix", "room", "1", mix_start())
    assert info.value.retryable is True
    assert info.value.code == 15
    assert info.value.sid is None
    assert len(fake.requests) == 1


async def test_start_201_already_started_carries_sid():
    """A 201 code 7 raises AlreadyStarted with the sid from the body."""
    fake = FakeAgora(lambda r: httpx.Response(201, json={"code": 7, "reason": "already started", "sid": SID}))
    async with make_client(fake) as client:
        with pytest.raises(errors.AlreadyStarted) as info:
            await client.start(RESOURCE_ID, "mix", "room", "1", mix_start())
    assert info.value.sid == SID
    assert info.value.retryable is False


async def test_query_404_is_not_found():
    """query's documented 404 raises a retryable NotFound (task gone or failing over)."""
    fake = FakeAgora(lambda r: httpx.Response(404, json={"code": 404, "reason": "failed to find worker"}))
    async with make_client(fake) as client:
        with pytest.raises(errors.NotFound) as info:
            await client.query(RESOURCE_ID, SID, "individual")
    assert info.value.retryable is True
    assert info.value.reason == "failed to find worker"


# -- secrets ----------------------------------------------------------------------------------------------


def test_model_and_client_reprs_hide_secrets():
    """repr and str of requests (and of the client) never show the token, keys or customer secret."""
    fake = FakeAgora()
    client = make_client(fake)
    for text in (
        repr(mix_start()),
        str(mix_start()),
        repr(storage()),
        repr(client),
        str(mix_start().model_dump()),
    ):
        for secret in ALL_SECRETS:
            assert secret not in text


async def test_failing_call_leaks_no_secret_into_errors_or_logs(caplog):
    """An error echoing every secret is scrubbed in str/repr/reason, and the DEBUG log holds none of them."""
    echo = " ".join(ALL_SECRETS) + f" Authorization: Basic {BASIC}"
    fake = FakeAgora(lambda r: httpx.Response(400, json={"code": 2, "reason": echo}))
    caplog.set_level(logging.DEBUG)
    async with make_client(fake) as client:
        with pytest.raises(errors.InvalidParameter) as info:
            await client.start(RESOURCE_ID, "mix", "room", "1", mix_start())
    error = info.value
    texts = [str(error), repr(error), error.reason, caplog.text]
    for text in texts:
        for secret in (*ALL_SECRETS, BASIC):
            assert secret not in text
    assert any(
        r.name == "agora.client" and "start" in r.getMessage() and "400" in r.getMessage() for r in caplog.records
    )


# -- failover ---------------------------------------------------------------------------------------------


async def test_attempts_follow_agoras_switch_domain_order():
    """Attempts 1 and 2 of a call go to api.agora.io, attempt 3 to api.sd-rtn.com, attempt 4 to the region's host."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    fake = FakeAgora(handler)
    async with make_client(fake, region="eu-west-1") as client:
        for attempt in (1, 2, 3, 4, 5):
            with pytest.raises(errors.AgoraConnectionError) as info:
                await client.start(RESOURCE_ID, "mix", "room", "1", mix_start(), attempt=attempt)
            assert fake.requests[-1].url.host in str(info.value)
    assert [r.url.host for r in fake.requests] == [
        "api.agora.io",
        "api.agora.io",
        "api.sd-rtn.com",
        "api-eu-west-1.agora.io",
        "api.agora.io",
    ]
    assert fake.body(2) == fake.body(0) and fake.requests[2].url.path == fake.requests[0].url.path


def test_a_mainland_china_region_starts_with_api_sd_rtn_com():
    """In a cn- region the order is api.sd-rtn.com, api.agora.io, then the region's sd-rtn.com host."""
    assert domain_order("cn-east-1") == [
        "https://api.sd-rtn.com",
        "https://api.agora.io",
        "https://api-cn-east-1.sd-rtn.com",
    ]
    assert (
        domain_order() == [DEFAULT_BASE_URL, ALTERNATE_BASE_URL] == ["https://api.agora.io", "https://api.sd-rtn.com"]
    )
    with pytest.raises(errors.RequestValidationError, match="region"):
        domain_order("mars-1")


async def test_one_attempt_sends_one_request_whatever_the_answer():
    """A 503 or a timeout is answered at once: the client never sends a second request itself (Temporal retries)."""
    fake = FakeAgora(lambda r: httpx.Response(503, json={"code": 503, "reason": "busy"}))
    async with make_client(fake) as client:
        with pytest.raises(errors.ServerError):
            await client.query(RESOURCE_ID, SID, "mix")
    assert [r.url.host for r in fake.requests] == ["api.agora.io"]

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    slow = FakeAgora(timeout)
    async with make_client(slow) as client:
        with pytest.raises(errors.AgoraTimeout) as info:
            await client.start(RESOURCE_ID, "mix", "room", "1", mix_start())
    assert info.value.retryable is True
    assert len(slow.requests) == 1


async def test_custom_base_url_has_no_other_domain():
    """A base_url of one's own (an emulator) is the only domain unless a fallback is named."""
    fake = FakeAgora(lambda r: httpx.Response(200, json={"resourceId": RESOURCE_ID}))
    async with make_client(fake, base_url="http://127.0.0.1:1") as client:
        for attempt in (1, 3, 4):
            await client.acquire("room", "1", attempt=attempt)
    assert [r.url.host for r in fake.requests] == ["127.0.0.1"] * 3
    with_fallback = make_client(fake, base_url="http://127.0.0.1:1", fallback_base_url="http://127.0.0.2:1")
    assert [with_fallback.base_url_for(a) for a in (1, 2, 3)] == [
        "http://127.0.0.1:1",
        "http://127.0.0.1:1",
        "http://127.0.0.2:1",
    ]


async def test_stop_answered_206_with_a_body_is_the_stops_answer():
    """A stop answered 206 without a code returns the stop's body (upload status backuped, the file list)."""
    body = {
        "sid": SID,
        "serverResponse": {"fileListMode": "string", "fileList": "a.m3u8", "uploadingStatus": "backuped"},
    }
    fake = FakeAgora(lambda r: httpx.Response(206, json=body))
    async with make_client(fake) as client:
        answer = await client.stop(RESOURCE_ID, SID, "mix", "room", "1")
    assert answer.server_response.uploading_status == "backuped"
    assert [f.file_name for f in answer.server_response.file_list] == ["a.m3u8"]


def test_limits_import_stays_free_of_httpx_and_pydantic():
    """Importing workflows.limits (Agora's rules, used inside the workflow sandbox) loads neither httpx nor pydantic."""
    import subprocess
    import sys

    code = "import workflows.limits, sys; print('httpx' in sys.modules, 'pydantic' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False False"
