"""AgoraClient against the emulator over real loopback HTTP: every call, mode, file-list shape and error class."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from agora import errors
from agora.client import AgoraClient
from agora.files import expected_m3u8_names, file_names, m3u8_names
from agora.models import (
    AcquireClientRequest,
    AudioUidList,
    BackgroundConfig,
    ExtensionService,
    ExtensionServiceConfig,
    LayoutConfig,
    RecordingConfig,
    RecordingFileConfig,
    RecordingMode,
    SnapshotConfig,
    StartClientRequest,
    StorageConfig,
    StreamSubscribe,
    TranscodingConfig,
    UpdateClientRequest,
    UpdateLayoutClientRequest,
    VideoUidList,
    WebRecorderServiceParam,
    WebRecordingConfig,
)
from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, running_emulator
from workflows.limits import CNAME_PUNCTUATION

CUSTOMER_ID = "integration-customer"
CUSTOMER_SECRET = "IntegrationCustomerSecret77"
ACCESS_KEY = "AKIAINTEGRATIONACCESS9"
SECRET_KEY = "integration-storage-secret-key-5"
TOKEN = "007eJxINTEGRATIONTOKENVALUE0001"
SECRETS = (CUSTOMER_SECRET, ACCESS_KEY, SECRET_KEY, TOKEN)
PREFIX = ["rec", "day1"]
STARTUP = 2.0
SLICE = 15.0
RECORDER_UID = "527841"
PUBLISHERS = ("1001", "1002")


def emulator_config(**overrides: Any) -> EmulatorConfig:
    """A frozen-clock emulator (only explicit advances move time) with instant uploads and no rate limit."""
    values: dict[str, Any] = {
        "customer_id": CUSTOMER_ID,
        "customer_secret": CUSTOMER_SECRET,
        "speed": 0.0,
        "startup_seconds": STARTUP,
        "slice_seconds": SLICE,
        "upload_seconds": 0.0,
        "rate_limit_qps": 0.0,
        "seed": 11,
    }
    values.update(overrides)
    return EmulatorConfig(**values)


class RecordingTransport(httpx.AsyncBaseTransport):
    """Real HTTP transport that keeps every raw answer body, to see the wire shapes the emulator sent."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        self.bodies.append(content)
        return httpx.Response(response.status_code, headers=response.headers, content=content)

    async def aclose(self) -> None:
        await self._inner.aclose()

    def last_json(self) -> Any:
        """The last answer body, decoded."""
        return json.loads(self.bodies[-1])


def make_client(emu: RunningEmulator, **overrides: Any) -> AgoraClient:
    """A client for the emulator's App ID; overrides replace any constructor argument."""
    values: dict[str, Any] = {
        "app_id": emu.config.app_id,
        "customer_id": CUSTOMER_ID,
        "customer_secret": CUSTOMER_SECRET,
        "base_url": emu.base_url,
        "timeout": 5.0,
    }
    values.update(overrides)
    return AgoraClient(**values)


@dataclass
class Env:
    """One emulator plus a client whose transport records the raw answers."""

    emu: RunningEmulator
    client: AgoraClient
    wire: RecordingTransport


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async with running_emulator(emulator_config()) as emu:
        wire = RecordingTransport()
        async with make_client(emu, transport=wire) as client:
            yield Env(emu, client, wire)


def storage() -> StorageConfig:
    return StorageConfig(
        vendor=1, region=0, bucket="bucket", access_key=ACCESS_KEY, secret_key=SECRET_KEY, file_name_prefix=PREFIX
    )


def web_services() -> ExtensionServiceConfig:
    param = WebRecorderServiceParam(
        url="https://example.invalid/class", max_recording_hour=2, audio_profile=0, video_width=1280, video_height=720
    )
    service = ExtensionService(service_name="web_recorder_service", service_param=param)
    return ExtensionServiceConfig(extension_services=[service])


# name -> (mode, start clientRequest)
SCENARIOS: dict[str, tuple[RecordingMode, StartClientRequest]] = {
    "mix-hls": (
        "mix",
        StartClientRequest(
            token=TOKEN,
            recording_config=RecordingConfig(transcoding_config=TranscodingConfig()),
            recording_file_config=RecordingFileConfig(av_file_type=["hls"]),
            storage_config=storage(),
        ),
    ),
    "mix-hls-mp4": (
        "mix",
        StartClientRequest(
            recording_config=RecordingConfig(transcoding_config=TranscodingConfig(mixed_video_layout=1)),
            recording_file_config=RecordingFileConfig(av_file_type=["hls", "mp4"]),
            storage_config=storage(),
        ),
    ),
    "individual": (
        "individual",
        StartClientRequest(
            recording_config=RecordingConfig(subscribe_uid_group=0),
            recording_file_config=RecordingFileConfig(),
            storage_config=storage(),
        ),
    ),
    "individual-snapshots": (
        "individual",
        StartClientRequest(
            recording_config=RecordingConfig(stream_types=1, subscribe_uid_group=0),
            snapshot_config=SnapshotConfig(capture_interval=5),
            storage_config=storage(),
        ),
    ),
    "web": (
        "web",
        StartClientRequest(
            extension_service_config=web_services(),
            recording_file_config=RecordingFileConfig(av_file_type=["hls", "mp4"]),
            storage_config=storage(),
        ),
    ),
}


def update_for(mode: RecordingMode, stream_types: int = 2) -> UpdateClientRequest:
    """A mode-appropriate update that keeps every stream subscribed (web: pause the page)."""
    if mode == "web":
        return UpdateClientRequest(web_recording_config=WebRecordingConfig(onhold=True))
    everyone = ["#allstream#"]
    audio = AudioUidList(subscribe_audio_uids=everyone) if stream_types != 1 else None
    video = VideoUidList(subscribe_video_uids=everyone) if stream_types != 0 else None
    return UpdateClientRequest(stream_subscribe=StreamSubscribe(audio_uid_list=audio, video_uid_list=video))


async def begin(
    env: Env, mode: RecordingMode, request: StartClientRequest, cname: str = "room1", uid: str = RECORDER_UID
) -> tuple[str, str]:
    """Acquire and start through the client; returns (resourceId, sid)."""
    acquired = await env.client.acquire(cname, uid, AcquireClientRequest(scene=1 if mode == "web" else 0))
    started = await env.client.start(acquired.resource_id, mode, cname, uid, request)
    return started.resource_id, started.sid


def assert_clean(exc: BaseException) -> None:
    """No secret appears in the error's message, repr or reason."""
    texts = [str(exc), repr(exc), getattr(exc, "reason", "")]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


# -- every endpoint in every mode --------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_full_lifecycle_in_every_mode(env: Env, scenario: str) -> None:
    """acquire, start, query, update, updateLayout (mix) and stop parse into typed answers whose files match."""
    mode, request = SCENARIOS[scenario]
    cname = "web room_1" if mode == "web" else "room1"
    for uid in PUBLISHERS:
        env.emu.join("room1", uid)

    acquired = await env.client.acquire(cname, RECORDER_UID, AcquireClientRequest(scene=1 if mode == "web" else 0))
    assert acquired.resource_id and acquired.cname == cname and acquired.uid == RECORDER_UID
    started = await env.client.start(acquired.resource_id, mode, cname, RECORDER_UID, request)
    assert started.resource_id == acquired.resource_id
    assert len(started.sid) == 32 and started.cname == cname and started.uid == RECORDER_UID
    sid = started.sid
    stream_types = request.recording_config.stream_types if request.recording_config else 2

    early = await env.client.query(started.resource_id, sid, mode)
    assert early.sid == sid and early.server_response.status == 0
    assert m3u8_names(early.server_response) == []

    env.emu.advance(STARTUP + SLICE + 1)
    queried = await env.client.query(started.resource_id, sid, mode)
    server = queried.server_response
    assert server.status == 5
    snapshots = request.snapshot_config is not None
    if mode == "individual":
        expected = expected_m3u8_names(
            sid=sid, cname=cname, mode=mode, uids=PUBLISHERS, stream_types=2, file_name_prefix=PREFIX
        )
    else:
        expected = expected_m3u8_names(sid=sid, cname=cname, mode=mode, file_name_prefix=PREFIX)
    if snapshots:
        assert server.file_list == [] and server.slice_start_time
    else:
        assert m3u8_names(server) == expected
        first_slice_ms = int((STARTUP + env.emu.tasks()[0]["startedAt"]) * 1000)
        if server.file_list_mode != "string":
            assert {f.slice_start_time for f in server.file_list} == {first_slice_ms}
        # query.mdx: the top-level sliceStartTime is individual mode's only.
        assert server.slice_start_time == (first_slice_ms if mode == "individual" else None)

    updated = await env.client.update(
        started.resource_id, sid, mode, cname, RECORDER_UID, update_for(mode, stream_types)
    )
    assert updated.sid == sid and updated.resource_id == started.resource_id
    if mode == "mix":
        layout = UpdateLayoutClientRequest(
            mixed_video_layout=3, layout_config=[LayoutConfig(uid="1001", x_axis=0, y_axis=0, width=1, height=1)]
        )
        laid_out = await env.client.update_layout(started.resource_id, sid, mode, cname, RECORDER_UID, layout)
        assert laid_out.sid == sid
    task = env.emu.tasks()[0]
    assert task["updates"] == (2 if mode == "mix" else 1)
    assert [r["op"] for r in task["requests"]][:4] == ["start", "query", "query", "update"]

    stopped = await env.client.stop(started.resource_id, sid, mode, cname, RECORDER_UID)
    assert stopped.sid == sid
    assert stopped.server_response.uploading_status == "uploaded"
    if snapshots:
        assert file_names(stopped.server_response) == []
    else:
        assert m3u8_names(stopped.server_response) == expected
        names = file_names(stopped.server_response)
        mp4 = request.recording_file_config is not None and "mp4" in request.recording_file_config.av_file_type
        assert any(n.endswith("_0.mp4") for n in names) == mp4
    assert env.emu.tasks()[0]["endReason"] == "stopped"


async def test_async_stop_answers_unknown_upload_status(env: Env) -> None:
    """An async stop answers uploadingStatus "unknown" and lists the mix file even before its first slice."""
    env.emu.join("room1", "1001")
    resource_id, sid = await begin(env, *SCENARIOS["mix-hls"])
    # Recording has begun but the first slice is not done: the stop still flushes the started file.
    env.emu.advance(STARTUP + 1)
    assert m3u8_names((await env.client.query(resource_id, sid, "mix")).server_response) == []
    stopped = await env.client.stop(resource_id, sid, "mix", "room1", RECORDER_UID, async_stop=True)
    assert stopped.server_response.uploading_status == "unknown"
    assert m3u8_names(stopped.server_response) == [f"rec/day1/{sid}_room1.m3u8"]


# -- fileList shapes on the wire ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "shape"),
    [("mix-hls", "string"), ("mix-hls-mp4", "list"), ("individual", "list"), ("web", "web")],
)
async def test_file_list_wire_shapes_are_parsed(env: Env, scenario: str, shape: str) -> None:
    """The emulator sends fileList as a string (mix hls), a list (otherwise) or web `filename` entries; all parse."""
    mode, request = SCENARIOS[scenario]
    env.emu.join("room1", "1001")
    resource_id, sid = await begin(env, mode, request)
    env.emu.advance(STARTUP + SLICE + 1)
    queried = await env.client.query(resource_id, sid, mode)
    raw = env.wire.last_json()["serverResponse"]
    if shape == "string":
        assert raw["fileListMode"] == "string" and isinstance(raw["fileList"], str)
        assert [f.file_name for f in queried.server_response.file_list] == [raw["fileList"]]
    elif shape == "list":
        assert raw["fileListMode"] == "json" and isinstance(raw["fileList"], list)
        assert [f.file_name for f in queried.server_response.file_list] == [e["fileName"] for e in raw["fileList"]]
        assert all(isinstance(f.uid, str) for f in queried.server_response.file_list)
    else:
        entries = raw["extensionServiceState"][0]["payload"]["fileList"]
        assert entries and all("filename" in e and "fileName" not in e for e in entries)
        assert file_names(queried.server_response) == [e["filename"] for e in entries]


# -- errors the emulator really produces --------------------------------------------------------------------


async def test_wrong_credentials_is_unauthorized() -> None:
    """A wrong customer secret gets 401, classified Unauthorized and not retryable, without the secret."""
    async with running_emulator(emulator_config()) as emu:
        async with make_client(emu, customer_secret="WrongSecretValue123") as client:
            with pytest.raises(errors.Unauthorized) as caught:
                await client.acquire("room1", RECORDER_UID)
    assert caught.value.http_status == 401 and not caught.value.retryable
    assert "WrongSecretValue123" not in str(caught.value)
    assert_clean(caught.value)


async def test_unknown_app_id_is_invalid_app_id(env: Env) -> None:
    """An App ID the emulator does not serve gets 400 "appid is invalid", classified InvalidAppId."""
    async with make_client(env.emu, app_id="someotherappid") as client:
        with pytest.raises(errors.InvalidAppId) as caught:
            await client.acquire("room1", RECORDER_UID)
    assert caught.value.http_status == 400 and caught.value.code is None and not caught.value.retryable


async def test_wrong_path_is_route_not_found(env: Env) -> None:
    """A base URL with an extra path segment reaches no route: 404 gateway answer, RouteNotFound."""
    async with make_client(env.emu, base_url=env.emu.base_url + "/wrong") as client:
        with pytest.raises(errors.RouteNotFound) as caught:
            await client.acquire("room1", RECORDER_UID)
    assert caught.value.http_status == 404 and not caught.value.retryable
    assert "no Route matched" in caught.value.reason


async def test_duplicate_start_is_already_started_with_sid(env: Env) -> None:
    """A second start on the same resourceId answers 201 code 7 carrying the running task's sid."""
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    with pytest.raises(errors.AlreadyStarted) as caught:
        await env.client.start(resource_id, mode, "room1", RECORDER_UID, request)
    exc = caught.value
    assert (exc.http_status, exc.code, exc.sid, exc.resource_id) == (201, 7, sid, resource_id)
    assert not exc.retryable
    assert_clean(exc)


async def test_same_cname_and_uid_is_task_conflict(env: Env) -> None:
    """Starting a second task with the cname and uid of a running one gives 400 code 53, TaskConflict."""
    mode, request = SCENARIOS["mix-hls"]
    await begin(env, mode, request)
    with pytest.raises(errors.TaskConflict) as caught:
        await begin(env, mode, request)
    assert (caught.value.http_status, caught.value.code, caught.value.retryable) == (400, 53, False)
    assert len(env.emu.tasks()) == 1
    assert_clean(caught.value)


async def test_expired_resource_is_resource_expired(env: Env) -> None:
    """A start more than 5 emulated minutes after acquire gets code 433, ResourceExpired, not retryable."""
    mode, request = SCENARIOS["mix-hls"]
    acquired = await env.client.acquire("room1", RECORDER_UID)
    env.emu.advance(301)
    with pytest.raises(errors.ResourceExpired) as caught:
        await env.client.start(acquired.resource_id, mode, "room1", RECORDER_UID, request)
    assert caught.value.code == 433 and not caught.value.retryable
    assert env.emu.tasks() == []


async def test_start_not_matching_acquire_is_invalid_parameter(env: Env) -> None:
    """Starting with a cname other than the acquired one is refused by the service as InvalidParameter."""
    mode, request = SCENARIOS["mix-hls"]
    acquired = await env.client.acquire("room1", RECORDER_UID)
    with pytest.raises(errors.InvalidParameter) as caught:
        await env.client.start(acquired.resource_id, mode, "room2", RECORDER_UID, request)
    assert caught.value.http_status == 400 and caught.value.code == 432 and not caught.value.retryable
    assert_clean(caught.value)


async def test_stop_twice_is_invalid_operation(env: Env) -> None:
    """A second stop right after the first answers 400 code 49, InvalidOperation, not retryable."""
    env.emu.join("room1", "1001")
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    await env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID)
    with pytest.raises(errors.InvalidOperation) as caught:
        await env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID)
    assert (caught.value.http_status, caught.value.code, caught.value.retryable) == (400, 49, False)


async def test_stop_without_publisher_is_no_recorded_data(env: Env) -> None:
    """Stopping a task nobody published to answers 206 code 435, NoRecordedData, not retryable."""
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    with pytest.raises(errors.NoRecordedData) as caught:
        await env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID)
    assert (caught.value.http_status, caught.value.code, caught.value.retryable) == (206, 435, False)
    assert env.emu.tasks()[0]["endReason"] == "stopped"


async def test_query_after_exit_is_not_found(env: Env) -> None:
    """Querying a stopped task shows status 8 a short while, then the real 404 shape, NotFound (retryable)."""
    env.emu.join("room1", "1001")
    mode, request = SCENARIOS["individual"]
    resource_id, sid = await begin(env, mode, request)
    await env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID)
    assert (await env.client.query(resource_id, sid, mode)).server_response.status == 8
    env.emu.advance(env.emu.config.exit_visible_seconds)
    with pytest.raises(errors.NotFound) as caught:
        await env.client.query(resource_id, sid, mode)
    exc = caught.value
    assert (exc.http_status, exc.code, exc.sid, exc.retryable) == (404, 404, sid, True)
    assert exc.reason == "failed to find worker"


async def test_stop_long_after_exit_is_not_found(env: Env) -> None:
    """A stop after the exit grace period answers 404, classified NotFound."""
    env.emu.join("room1", "1001")
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    await env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID)
    env.emu.advance(60)
    with pytest.raises(errors.NotFound):
        await env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID)


async def test_qps_limit_is_rate_limited() -> None:
    """Going over the per-App-ID QPS answers 429, RateLimited, retryable."""
    async with running_emulator(emulator_config(rate_limit_qps=1)) as emu:
        async with make_client(emu) as client:
            await client.acquire("room1", RECORDER_UID)
            with pytest.raises(errors.RateLimited) as caught:
                await client.acquire("room1", RECORDER_UID)
    assert caught.value.http_status == 429 and caught.value.retryable


async def test_concurrency_quota_is_over_quota() -> None:
    """With the concurrency quota used up, acquire answers code 406 vendor_over_load, OverQuota, retryable."""
    async with running_emulator(emulator_config(max_concurrent=1)) as emu:
        async with make_client(emu) as client:
            mode, request = SCENARIOS["mix-hls"]
            acquired = await client.acquire("room1", RECORDER_UID)
            await client.start(acquired.resource_id, mode, "room1", RECORDER_UID, request)
            with pytest.raises(errors.OverQuota) as caught:
                await client.acquire("room2", RECORDER_UID)
    assert (caught.value.code, caught.value.reason, caught.value.retryable) == (406, "vendor_over_load", True)


async def test_unreachable_host_is_connection_error() -> None:
    """A port nobody listens on raises AgoraConnectionError, retryable, naming no secret."""
    client = AgoraClient(app_id="app", customer_id=CUSTOMER_ID, customer_secret=CUSTOMER_SECRET, base_url=dead_url())
    async with client:
        with pytest.raises(errors.AgoraConnectionError) as caught:
            await client.acquire("room1", RECORDER_UID)
    assert caught.value.retryable
    assert_clean(caught.value)


# -- injected faults ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "cls", "status", "code", "retryable"),
    [
        ("server_error", errors.ServerError, 500, 500, True),
        ("request_not_completed", errors.RequestNotCompleted, 206, 65, True),
        ("request_timeout", errors.RequestTimeout, 504, 62, True),
        ("bad_gateway", errors.ProtocolError, 502, None, True),
        ("malformed", errors.ProtocolError, 200, None, True),
        ("not_found", errors.NotFound, 404, 404, True),
        ("rate_limited", errors.RateLimited, 429, None, True),
        ("over_quota", errors.OverQuota, 400, 406, True),
    ],
)
async def test_injected_fault_on_query_is_classified(
    env: Env, kind: str, cls: type[errors.AgoraError], status: int, code: int | None, retryable: bool
) -> None:
    """Each scripted fault kind on query becomes the documented error class with the right retryable flag."""
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    env.emu.inject("query", kind)
    with pytest.raises(errors.AgoraError) as caught:
        await env.client.query(resource_id, sid, mode)
    exc = caught.value
    assert type(exc) is cls
    assert (exc.http_status, exc.code, exc.retryable, exc.operation) == (status, code, retryable, "query")
    assert env.emu.emulator.faults_injected == {kind: 1}
    assert_clean(exc)
    # The fault served one call only: the next query is answered normally.
    assert (await env.client.query(resource_id, sid, mode)).sid == sid


async def test_empty_sid_on_start_is_server_error(env: Env) -> None:
    """The captured 500 {"sid": "", "code": 15} on start is a retryable ServerError with no sid."""
    mode, request = SCENARIOS["mix-hls"]
    acquired = await env.client.acquire("room1", RECORDER_UID)
    env.emu.inject("start", "empty_sid")
    with pytest.raises(errors.ServerError) as caught:
        await env.client.start(acquired.resource_id, mode, "room1", RECORDER_UID, request)
    exc = caught.value
    assert type(exc) is errors.ServerError
    assert (exc.http_status, exc.code, exc.sid, exc.resource_id) == (500, 15, None, acquired.resource_id)
    assert exc.retryable
    assert env.emu.tasks() == []


async def test_accepted_then_failed_start_then_duplicate_reveals_sid(env: Env) -> None:
    """A start whose answer was lost is a retryable ServerError; resending it gets AlreadyStarted with the sid."""
    mode, request = SCENARIOS["mix-hls"]
    acquired = await env.client.acquire("room1", RECORDER_UID)
    env.emu.inject("start", "accepted_then_fail")
    with pytest.raises(errors.ServerError) as first:
        await env.client.start(acquired.resource_id, mode, "room1", RECORDER_UID, request)
    assert first.value.retryable
    with pytest.raises(errors.AlreadyStarted) as second:
        await env.client.start(acquired.resource_id, mode, "room1", RECORDER_UID, request)
    assert second.value.sid == env.emu.tasks()[0]["sid"]


async def test_worker_allocation_failure_on_start(env: Env) -> None:
    """A 500 code 502 on start is WorkerAllocationFailed, a ServerError that resending cannot cure (new acquire)."""
    mode, request = SCENARIOS["mix-hls"]
    acquired = await env.client.acquire("room1", RECORDER_UID)
    env.emu.inject("start", "worker_allocation")
    with pytest.raises(errors.WorkerAllocationFailed) as caught:
        await env.client.start(acquired.resource_id, mode, "room1", RECORDER_UID, request)
    assert not caught.value.retryable and (caught.value.http_status, caught.value.code) == (500, 502)


async def test_duplicate_start_without_sid_is_already_started(env: Env) -> None:
    """A 201/7 answer that omits the sid is still AlreadyStarted, with sid None for the caller to query by."""
    mode, request = SCENARIOS["mix-hls"]
    resource_id, _ = await begin(env, mode, request)
    env.emu.inject("start", "omit_sid_on_duplicate")
    with pytest.raises(errors.AlreadyStarted) as caught:
        await env.client.start(resource_id, mode, "room1", RECORDER_UID, request)
    assert (caught.value.http_status, caught.value.code, caught.value.sid) == (201, 7, None)


async def test_unknown_service_code_on_206_is_plain_service_error(env: Env) -> None:
    """A 206 with an undocumented code is a ServiceError that is neither a subclass nor retryable."""
    env.emu.inject("acquire", "custom", status=206, body={"code": 99, "reason": "something new"})
    with pytest.raises(errors.ServiceError) as caught:
        await env.client.acquire("room1", RECORDER_UID)
    assert type(caught.value) is errors.ServiceError and not caught.value.retryable
    assert (caught.value.code, caught.value.reason) == (99, "something new")


async def test_uid_is_sent_normalised(env: Env) -> None:
    """A uid with leading zeros is sent as its plain decimal form, which the service accepts and echoes."""
    acquired = await env.client.acquire("room1", "000042")
    assert acquired.uid == "42"
    started = await env.client.start(acquired.resource_id, "mix", "room1", "0042", SCENARIOS["mix-hls"][1])
    assert started.uid == "42" and env.emu.tasks()[0]["uid"] == "42"


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [(503, errors.GatewayServerError, True), (403, errors.GatewayError, False)],
)
async def test_gateway_shaped_custom_answers(
    env: Env, status: int, cls: type[errors.AgoraError], retryable: bool
) -> None:
    """A {"message": ...} answer without code is a gateway error: 5xx retryable, other 4xx not."""
    env.emu.inject("acquire", "custom", status=status, body={"message": "gateway says no"})
    with pytest.raises(errors.GatewayError) as caught:
        await env.client.acquire("room1", RECORDER_UID)
    assert type(caught.value) is cls and caught.value.retryable is retryable
    assert caught.value.reason == "gateway says no"


async def test_hang_is_agora_timeout(env: Env) -> None:
    """A call that gets no answer raises AgoraTimeout (retryable) once the client's short timeout passes."""
    async with make_client(env.emu, timeout=0.3) as client:
        env.emu.inject("acquire", "hang")
        with pytest.raises(errors.AgoraTimeout) as caught:
            await client.acquire("room1", RECORDER_UID)
    assert caught.value.retryable and caught.value.operation == "acquire"
    assert_clean(caught.value)


async def test_secrets_echoed_by_the_service_are_scrubbed(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """Secrets echoed in an error body (customer secret, storage keys, token, Basic header) reach no error or log."""
    caplog.set_level(logging.DEBUG)
    mode, request = SCENARIOS["mix-hls"]
    acquired = await env.client.acquire("room1", RECORDER_UID)
    reason = f"bad {CUSTOMER_SECRET} {ACCESS_KEY} {SECRET_KEY} {TOKEN} Authorization: Basic aW50ZWdyYXRpb24="
    env.emu.inject("start", "custom", status=400, body={"code": 2, "reason": reason})
    with pytest.raises(errors.InvalidParameter) as caught:
        await env.client.start(acquired.resource_id, mode, "room1", RECORDER_UID, request)
    assert_clean(caught.value)
    assert "aW50ZWdyYXRpb24=" not in str(caught.value)
    assert caught.value.reason.startswith("bad ***")
    assert caplog.records and not any(secret in caplog.text for secret in SECRETS)


async def test_secrets_in_unreadable_body_are_scrubbed(env: Env) -> None:
    """A non-JSON error body quoting the storage secret is a ProtocolError whose message hides it."""
    mode, request = SCENARIOS["mix-hls"]
    acquired = await env.client.acquire("room1", RECORDER_UID)
    env.emu.inject("start", "custom", status=500, body=f"oops secretKey={SECRET_KEY}")
    with pytest.raises(errors.ProtocolError) as caught:
        await env.client.start(acquired.resource_id, mode, "room1", RECORDER_UID, request)
    assert caught.value.http_status == 500
    assert_clean(caught.value)


# -- strict validation before sending -----------------------------------------------------------------------


async def test_bad_requests_are_refused_before_sending(env: Env) -> None:
    """Invalid arguments raise RequestValidationError and the emulator's request count does not move."""
    resource_id, sid = await begin(env, *SCENARIOS["individual"])
    before = env.emu.emulator.request_count
    mix = SCENARIOS["mix-hls"][1]
    update = update_for("individual")
    layout = UpdateLayoutClientRequest(mixed_video_layout=1)
    snapshot_in_mix = StartClientRequest(
        recording_config=RecordingConfig(),
        snapshot_config=SnapshotConfig(),
        storage_config=storage(),
    )
    calls = [
        env.client.acquire("room1", "0"),
        env.client.acquire("room/1", RECORDER_UID),
        env.client.acquire("room1", "4294967296"),
        env.client.start(resource_id, "audio", "room1", RECORDER_UID, mix),  # type: ignore[arg-type]
        env.client.start("bad/id", "mix", "room1", RECORDER_UID, mix),
        env.client.start(resource_id, "mix", "room1", RECORDER_UID, snapshot_in_mix),
        env.client.start(resource_id, "web", "room1", RECORDER_UID, mix),
        env.client.query(resource_id, "..", "individual"),
        env.client.update(resource_id, sid, "web", "room1", RECORDER_UID, update),
        env.client.update_layout(resource_id, sid, "individual", "room1", RECORDER_UID, layout),
        env.client.stop(resource_id, sid, "individual", "x" * 64, RECORDER_UID),
    ]
    for call in calls:
        with pytest.raises(errors.RequestValidationError) as caught:
            await call
        assert not caught.value.retryable and caught.value.operation is not None
    assert env.emu.emulator.request_count == before
    assert env.emu.tasks()[0]["running"]


def test_invalid_models_are_refused_at_construction() -> None:
    """Request models reject out-of-range values locally, before any client call exists."""
    with pytest.raises(ValueError):
        RecordingFileConfig(av_file_type=["mp4"])
    with pytest.raises(ValueError):
        RecordingConfig(max_idle_time=2)
    with pytest.raises(ValueError):
        TranscodingConfig(width=3840, height=2160)


# -- the client's limits and the service's agree ------------------------------------------------------------


def edge_storage() -> StorageConfig:
    # Nine parts of 13 characters, one of 2 and 9 slashes: exactly the 128-character limit.
    parts = [f"p{i}" + "x" * 11 for i in range(9)] + ["ab"]
    assert len("/".join(parts)) == 128
    return StorageConfig(
        vendor=11,
        region=0,
        bucket="bucket",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        sts_token="StsTokenValue123",
        sts_expiration=3600,
        file_name_prefix=parts,
        extension_params={"endpoint": "https://s3.example.invalid", "sse": "aes256"},
    )


async def test_documented_edge_values_pass_client_and_service(env: Env) -> None:
    """Values at the documented limits pass the client's checks and are accepted by the emulator too."""
    cname = "a" + CNAME_PUNCTUATION + "z" * (62 - len(CNAME_PUNCTUATION))
    assert len(cname.encode()) == 63
    uids = [str(4_294_967_295 - i) for i in range(32)]
    individual = StartClientRequest(
        token=TOKEN,
        recording_config=RecordingConfig(
            channel_type=1,
            max_idle_time=2_592_000,
            subscribe_video_uids=uids,
            un_subscribe_audio_uids=["1002"],
            subscribe_uid_group=5,
            stream_mode="standard",
            decryption_mode=8,
            secret="DecryptSecret99",
            salt="DecryptSalt99",
        ),
        recording_file_config=RecordingFileConfig(),
        storage_config=edge_storage(),
    )
    acquire = AcquireClientRequest(resource_expired_hour=720, region="EU")
    acquired = await env.client.acquire(cname, "4294967295", acquire)
    started = await env.client.start(acquired.resource_id, "individual", cname, "4294967295", individual)
    assert started.cname == cname

    layout = [LayoutConfig(uid=str(i + 1), x_axis=0, y_axis=0, width=1, height=1, alpha=1) for i in range(17)]
    mix = StartClientRequest(
        recording_config=RecordingConfig(
            max_idle_time=5,
            audio_profile=2,
            transcoding_config=TranscodingConfig(
                width=1920, height=1080, mixed_video_layout=3, layout_config=layout, background_color="#A1b2C3"
            ),
        ),
        recording_file_config=RecordingFileConfig(av_file_type=["hls", "mp4"]),
        storage_config=storage(),
    )
    acquired = await env.client.acquire("room1", "1", AcquireClientRequest(resource_expired_hour=1, region_affinity=4))
    started_mix = await env.client.start(acquired.resource_id, "mix", "room1", "1", mix)
    vertical = UpdateLayoutClientRequest(mixed_video_layout=2, max_resolution_uid="1001")
    await env.client.update_layout(started_mix.resource_id, started_mix.sid, "mix", "room1", "1", vertical)

    snapshots = StartClientRequest(
        recording_config=RecordingConfig(stream_types=1, subscribe_uid_group=0),
        snapshot_config=SnapshotConfig(capture_interval=3600),
        storage_config=storage(),
    )
    await begin(env, "individual", snapshots, cname="room2")

    web_cname = "w" * 1024
    param = WebRecorderServiceParam(
        url="https://example.invalid/a?b=c",
        max_recording_hour=720,
        video_fps=60,
        max_video_duration=240,
        ready_timeout=60,
        video_width=1280,
        video_height=720,
        audio_profile=2,
        mobile=True,
        onhold=True,
    )
    web = StartClientRequest(
        extension_service_config=ExtensionServiceConfig(
            extension_services=[ExtensionService(service_name="web_recorder_service", service_param=param)]
        ),
        recording_file_config=RecordingFileConfig(),
        storage_config=storage(),
    )
    # maxRecordingHour 720 needs a resource that lives as long.
    acquired = await env.client.acquire(
        web_cname, RECORDER_UID, AcquireClientRequest(scene=1, resource_expired_hour=720)
    )
    await env.client.start(acquired.resource_id, "web", web_cname, RECORDER_UID, web)
    assert [t["running"] for t in env.emu.tasks()] == [True, True, True, True]


async def test_start_parameter_given_to_acquire_must_match_start(env: Env) -> None:
    """An acquire startParameter sent by the client equals its later start body; a different start is refused."""
    mode, request = SCENARIOS["mix-hls"]
    acquired = await env.client.acquire("room1", RECORDER_UID, AcquireClientRequest(start_parameter=request))
    started = await env.client.start(acquired.resource_id, mode, "room1", RECORDER_UID, request)
    assert started.sid

    other = await env.client.acquire("room2", RECORDER_UID, AcquireClientRequest(start_parameter=request))
    with pytest.raises(errors.InvalidParameter) as caught:
        await env.client.start(other.resource_id, mode, "room2", RECORDER_UID, SCENARIOS["mix-hls-mp4"][1])
    assert caught.value.code == 2 and "startParameter" in caught.value.reason
    assert_clean(caught.value)


async def test_app_certificate_requires_the_token_the_client_sends() -> None:
    """With an App Certificate on, a start without token is InvalidParameter and one with the token runs."""
    async with running_emulator(emulator_config(app_certificate="AppCertificate0042")) as emu:
        async with make_client(emu) as client:
            no_token = SCENARIOS["mix-hls-mp4"][1]
            acquired = await client.acquire("room1", RECORDER_UID)
            with pytest.raises(errors.InvalidParameter) as caught:
                await client.start(acquired.resource_id, "mix", "room1", RECORDER_UID, no_token)
            assert caught.value.code == 2
            acquired = await client.acquire("room1", RECORDER_UID)
            started = await client.start(acquired.resource_id, "mix", "room1", RECORDER_UID, SCENARIOS["mix-hls"][1])
            assert emu.tasks()[0]["sid"] == started.sid


async def test_deny_list_spelling_sent_by_the_client_is_honoured(env: Env) -> None:
    """The client's unSubscribeAudioUids reaches the service: the denied uid gets a video file but no audio file."""
    for uid in PUBLISHERS:
        env.emu.join("room1", uid)
    request = StartClientRequest(
        recording_config=RecordingConfig(
            un_subscribe_audio_uids=["1002"], subscribe_video_uids=["#allstream#"], subscribe_uid_group=0
        ),
        recording_file_config=RecordingFileConfig(),
        storage_config=storage(),
    )
    resource_id, sid = await begin(env, "individual", request)
    env.emu.advance(STARTUP + SLICE + 1)
    names = m3u8_names((await env.client.query(resource_id, sid, "individual")).server_response)
    expected = expected_m3u8_names(sid=sid, cname="room1", mode="individual", uids=PUBLISHERS, file_name_prefix=PREFIX)
    assert names == [n for n in expected if not n.endswith("__uid_s_1002__uid_e_audio.m3u8")]


# -- Agora's answers around a stop, a resource and a fault (audit rows 2, 14, 16, 18) ------------------------


async def test_sync_stop_past_agoras_wait_is_upload_timeout_with_the_files() -> None:
    """A sync stop answered 206 code 50 is UploadTimeout (not retryable) carrying the files, still "uploading"."""
    async with running_emulator(emulator_config(upload_seconds=30.0)) as emu, make_client(emu) as client:
        emu.join("room1", "1001")
        acquired = await client.acquire("room1", RECORDER_UID)
        started = await client.start(acquired.resource_id, "mix", "room1", RECORDER_UID, SCENARIOS["mix-hls"][1])
        emu.advance(STARTUP + SLICE)
        with pytest.raises(errors.UploadTimeout) as caught:
            await client.stop(started.resource_id, started.sid, "mix", "room1", RECORDER_UID)
    exc = caught.value
    assert (exc.http_status, exc.code, exc.retryable) == (206, 50, False)
    assert exc.server_response == {
        "fileListMode": "string",
        "fileList": f"rec/day1/{started.sid}_room1.m3u8",
        "uploadingStatus": "uploading",
    }


@pytest.mark.parametrize(("kind", "status"), [("backuped", 200), ("partial_stop", 206)])
async def test_backuped_stop_answers_are_read_as_stopped(env: Env, kind: str, status: int) -> None:
    """A stop answered backuped, with 200 or with a code-less 206, is a stop answer: uploadingStatus and files kept."""
    env.emu.join("room1", "1001")
    resource_id, sid = await begin(env, *SCENARIOS["mix-hls-mp4"])
    env.emu.advance(STARTUP + SLICE + 1)
    env.emu.inject("stop", kind)
    stopped = await env.client.stop(resource_id, sid, "mix", "room1", RECORDER_UID)
    assert stopped.server_response.uploading_status == "backuped"
    assert file_names(stopped.server_response) == [f"rec/day1/{sid}_room1.m3u8", f"rec/day1/{sid}_room1_0.mp4"]
    assert env.emu.tasks()[0]["requests"][-1]["status"] == status


async def test_resource_checks_on_task_calls_are_classified(env: Env) -> None:
    """Unknown resourceId: ResourceInvalid (1001); a sid it does not hold: InvalidParameter (1003); past
    resourceExpiredHour: ResourceExpired (433). None is retryable."""
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    with pytest.raises(errors.ResourceInvalid) as unknown:
        await env.client.start("UnknownResource", mode, "room1", RECORDER_UID, request)
    other = await env.client.acquire("room2", RECORDER_UID)
    with pytest.raises(errors.InvalidParameter) as mismatch:
        await env.client.query(other.resource_id, sid, mode)
    env.emu.advance(72 * 3600)
    with pytest.raises(errors.ResourceExpired) as expired:
        await env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID)
    codes = [(e.value.http_status, e.value.code, e.value.retryable) for e in (unknown, mismatch, expired)]
    assert codes == [(400, 1001, False), (400, 1003, False), (400, 433, False)]


@pytest.mark.parametrize(
    ("endpoint", "kind", "cls", "status", "code"),
    [
        ("acquire", "no_worker_manager_available", errors.ServerError, 500, 501),
        ("acquire", "allocate_timeout", errors.ServerError, 500, 504),
        ("start", "request_timeout", errors.RequestTimeout, 500, 62),
        ("start", "server_error", errors.ServerError, 500, 500),
    ],
)
async def test_server_side_faults_are_retryable_server_errors(
    env: Env, endpoint: str, kind: str, cls: type[errors.AgoraError], status: int, code: int
) -> None:
    """Acquire's 500 codes 501 and 504, and start's 500 codes 62 and 500, are retryable ServerErrors."""
    acquired = await env.client.acquire("room1", RECORDER_UID)
    env.emu.inject(endpoint, kind)
    with pytest.raises(errors.ServerError) as caught:
        if endpoint == "acquire":
            await env.client.acquire("room1", RECORDER_UID)
        else:
            await env.client.start(acquired.resource_id, "mix", "room1", RECORDER_UID, SCENARIOS["mix-hls"][1])
    assert type(caught.value) is cls and caught.value.retryable
    assert (caught.value.http_status, caught.value.code) == (status, code)


# -- task ends not caused by the client ---------------------------------------------------------------------


async def test_idle_exit_then_stop_is_invalid_operation_then_query_not_found(env: Env) -> None:
    """After an idle exit, query shows status 8 and stop answers code 49 (InvalidOperation); later query is NotFound."""
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    env.emu.advance(31)
    assert env.emu.tasks()[0]["endReason"] == "idle"
    assert (await env.client.query(resource_id, sid, mode)).server_response.status == 8
    with pytest.raises(errors.InvalidOperation):
        await env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID)
    env.emu.advance(env.emu.config.exit_visible_seconds)
    with pytest.raises(errors.NotFound):
        await env.client.query(resource_id, sid, mode)


async def test_crash_makes_every_call_not_found(env: Env) -> None:
    """After the recorder crashes, query shows status 20 a while; update, updateLayout and stop answer NotFound."""
    env.emu.join("room1", "1001")
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    env.emu.crash(sid)
    assert (await env.client.query(resource_id, sid, mode)).server_response.status == 20
    env.emu.advance(env.emu.config.exit_visible_seconds)
    calls = [
        env.client.query(resource_id, sid, mode),
        env.client.update(resource_id, sid, mode, "room1", RECORDER_UID, update_for(mode)),
        env.client.update_layout(resource_id, sid, mode, "room1", RECORDER_UID, UpdateLayoutClientRequest()),
        env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID),
    ]
    for call in calls:
        with pytest.raises(errors.NotFound) as caught:
            await call
        assert caught.value.sid == sid and caught.value.retryable


async def test_failover_is_not_found_then_back_with_bak_names(env: Env) -> None:
    """During a failover query is NotFound; afterwards the task answers again and lists bak0_ file names."""
    env.emu.join("room1", "1001")
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    env.emu.advance(STARTUP + SLICE + 1)
    env.emu.failover(sid, downtime=10)
    with pytest.raises(errors.NotFound):
        await env.client.query(resource_id, sid, mode)
    env.emu.advance(10 + SLICE + 1)
    queried = await env.client.query(resource_id, sid, mode)
    assert m3u8_names(queried.server_response) == [f"rec/day1/bak0_{sid}_room1.m3u8"]
    stopped = await env.client.stop(resource_id, sid, mode, "room1", RECORDER_UID)
    assert stopped.server_response.uploading_status == "uploaded"


# -- the one second attempt: the other domain ---------------------------------------------------------------


def dead_url() -> str:
    """A loopback URL nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_a_later_attempt_goes_to_the_other_host(env: Env) -> None:
    """Attempts 1 and 2 go to the primary host, which refuses the connection; attempt 3 reaches the fallback host."""
    async with make_client(env.emu, base_url=dead_url(), fallback_base_url=env.emu.base_url) as client:
        for attempt in (1, 2):
            with pytest.raises(errors.AgoraConnectionError):
                await client.acquire("room1", RECORDER_UID, attempt=attempt)
        acquired = await client.acquire("room1", RECORDER_UID, attempt=3)
    assert acquired.resource_id and env.emu.emulator.request_count == 1


async def test_a_timed_out_call_is_never_resent_by_the_client() -> None:
    """A POST or a query that timed out raises AgoraTimeout: the client sends nothing more (Temporal retries)."""
    async with running_emulator(emulator_config()) as primary, running_emulator(emulator_config()) as fallback:
        async with make_client(primary, fallback_base_url=fallback.base_url, timeout=0.3) as client:
            primary.inject("acquire", "hang")
            with pytest.raises(errors.AgoraTimeout):
                await client.acquire("room1", RECORDER_UID)
            primary.inject("query", "hang")
            with pytest.raises(errors.AgoraTimeout):
                await client.query("rid", "0123456789abcdef0123456789abcdef", "mix")
            assert fallback.emulator.request_count == 0


async def test_update_refreshes_storage_and_layout_takes_backgrounds(env: Env) -> None:
    """An update carrying new STS storage keys and an updateLayout with backgrounds are accepted; keys stay masked."""
    mode, request = SCENARIOS["mix-hls"]
    resource_id, sid = await begin(env, mode, request)
    refresh = UpdateClientRequest(storage_config=edge_storage())
    await env.client.update(resource_id, sid, mode, "room1", RECORDER_UID, refresh)
    layout = UpdateLayoutClientRequest(
        mixed_video_layout=1,
        background_image="https://example.invalid/bg.png",
        default_user_background_image="https://example.invalid/user.png",
        background_config=[BackgroundConfig(uid="1001", image_url="https://example.invalid/u.png", render_mode=1)],
    )
    await env.client.update_layout(resource_id, sid, mode, "room1", RECORDER_UID, layout)
    history = env.emu.tasks()[0]["updateHistory"]
    assert [h["op"] for h in history] == ["update", "updateLayout"]
    assert history[0]["clientRequest"]["storageConfig"]["secretKey"] == "***"
    assert history[1]["clientRequest"]["backgroundConfig"][0]["image_url"] == "https://example.invalid/u.png"
