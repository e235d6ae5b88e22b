"""The product side of the Agora API audit: requests sized and shaped as Agora documents, answers read as it means.

Each test names its audit row (`../shared/reference/agora-api-audit.md`). The emulator side is in
tests/emulator/test_audit.py; the workflow rules these rows touch are in tests/workflows/test_rules.py.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.recording import RecordingActivities, build_start_request, refused_request
from activities.storage import StorageProfile
from agora import models
from agora.client import AgoraClient
from emulator.testing import RunningEmulator, running_emulator
from tests.conftest import fast_emulator_config, worker_for
from tests.workflows.helpers import TEACHER, confirmed_sid, request, requests_of, start, tasks_of
from workflows import names, policy
from workflows.models import QueryInput, RecordingRequest, StartInput, StopInput

PROFILE = StorageProfile(vendor=1, region=0, bucket="b", access_key="ak-1234", secret_key="sk-1234")
BASE: dict[str, Any] = {"channel": "math-101", "uid": "527841", "backup_uid": "527842"}


def _activities(handler: Any) -> tuple[RecordingActivities, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def record(req: httpx.Request) -> httpx.Response:
        sent.append(req)
        return handler(req)  # type: ignore[no-any-return]

    client = AgoraClient(
        app_id="app-1", customer_id="c", customer_secret="s3cret", transport=httpx.MockTransport(record)
    )
    return RecordingActivities(client, app_id="app-1", storage_profiles={"default": PROFILE}), sent


def test_row1_vertical_layout_without_max_resolution_uid_is_refused_when_the_request_is_built():
    """Row 1: mixedVideoLayout 2 needs maxResolutionUid; the request and the layout update name it, before any start."""
    with pytest.raises(ValidationError, match="maxResolutionUid"):
        RecordingRequest(**BASE, transcoding={"mixed_video_layout": 2})
    ok = RecordingRequest(**BASE, transcoding={"mixed_video_layout": 2, "max_resolution_uid": "1001"})
    body = build_start_request(ok, "527841", PROFILE, None).to_wire()
    assert body["recordingConfig"]["transcodingConfig"]["maxResolutionUid"] == "1001"


def test_row1_a_body_agora_would_refuse_fails_the_activity_naming_the_field_never_as_an_unknown_error():
    """Row 1: a wire model's refusal becomes a non-retryable RequestValidationError naming the field, not a retry."""
    with pytest.raises(ValidationError) as exc:
        models.TranscodingConfig(mixed_video_layout=2)
    refused = refused_request("start", exc.value)
    assert refused.type == names.ErrorType.REQUEST_INVALID and refused.non_retryable
    assert "maxResolutionUid" in str(refused)


def test_rows2_3_web_max_recording_hour_is_the_resources_life():
    """Rows 2 and 3: web maxRecordingHour equals the resourceExpiredHour acquired (720 h with no planned end)."""
    web = RecordingRequest(**BASE, mode="web", web_url="https://class.example.test/room")
    assert policy.resource_expired_hour(web, _now(), None) == 720
    body = build_start_request(web, "527841", PROFILE, None, 5).to_wire()
    service = body["extensionServiceConfig"]["extensionServices"][0]["serviceParam"]
    assert service["maxRecordingHour"] == 5
    assert (
        build_start_request(web, "527841", PROFILE, None).to_wire()["extensionServiceConfig"]["extensionServices"][0][
            "serviceParam"
        ]["maxRecordingHour"]
        == 720
    )


def test_row2_resource_life_shorter_than_the_class_is_refused():
    """Row 2: a resource_expired_hour shorter than max_duration is refused: Agora would stop answering stop."""
    with pytest.raises(ValidationError, match="shorter than max_duration"):
        RecordingRequest(**BASE, resource_expired_hour=1, max_duration=timedelta(hours=2))


def test_row4_default_max_idle_time_is_agoras_recommended_300_seconds():
    """Row 4: a request without max_idle_time asks Agora for 300 s (its checklist's advice), checked every 120 s."""
    req = RecordingRequest(**BASE)
    assert req.max_idle_time == 300 and req.effective_check_interval == 120
    assert build_start_request(req, "527841", PROFILE, None).to_wire()["recordingConfig"]["maxIdleTime"] == 300


def test_row5_individual_mode_sends_a_sized_subscribe_uid_group():
    """Row 5: individual mode needs subscribeUidGroup: given, or sized from an explicit list (9 uids: group 2)."""
    with pytest.raises(ValidationError, match="subscribe_uid_group is required"):
        RecordingRequest(**BASE, mode="individual")
    given = RecordingRequest(**BASE, mode="individual", subscribe_uid_group=3)
    assert build_start_request(given, "1", PROFILE, None).to_wire()["recordingConfig"]["subscribeUidGroup"] == 3
    listed = RecordingRequest(**BASE, mode="individual", subscribe_audio_uids=[str(1000 + i) for i in range(9)])
    assert build_start_request(listed, "1", PROFILE, None).to_wire()["recordingConfig"]["subscribeUidGroup"] == 2


@pytest.mark.parametrize(
    ("status", "body", "uploading", "files"),
    [
        (
            206,
            {"serverResponse": {"fileListMode": "string", "fileList": "s_c.m3u8", "uploadingStatus": "backuped"}},
            "backuped",
            ["s_c.m3u8"],
        ),
        (
            206,
            {"code": 50, "reason": "upload timeout", "serverResponse": {"fileList": "s_c.m3u8"}},
            "unknown",
            ["s_c.m3u8"],
        ),
        (
            200,
            {"serverResponse": {"fileListMode": "string", "fileList": "s_c.m3u8", "uploadingStatus": "backuped"}},
            "backuped",
            ["s_c.m3u8"],
        ),
    ],
)
async def test_rows6_7_a_stop_answered_206_or_code_50_keeps_upload_status_and_files_and_is_sent_once(
    status: int, body: dict[str, Any], uploading: str, files: list[str]
):
    """Rows 6 and 7: 206 with a stop body, code 50 and backuped are answers: status and files kept, one stop sent."""
    acts, sent = _activities(lambda r: httpx.Response(status, json=body))
    params = StopInput(channel="c", uid="527841", mode="mix", resource_id="r", sid="s")
    result = await ActivityEnvironment().run(acts.stop_recorder, params)
    assert (result.outcome, result.uploading_status, result.file_names) == ("stopped", uploading, files)
    assert len(sent) == 1


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (500, {"code": 502, "reason": "Failed to allocate worker"}, names.ErrorType.WORKER_ALLOCATION_FAILED),
        (400, {"code": 1001, "reason": "resourceId unparsable"}, names.ErrorType.RESOURCE_INVALID),
    ],
)
async def test_rows8_9_start_502_and_1001_are_not_retried_on_the_same_resource(
    status: int, body: dict[str, Any], kind: str
):
    """Rows 8 and 9: start 500/502 and code 1001 fail the start at once, so the workflow acquires a new resource."""
    acts, sent = _activities(lambda r: httpx.Response(status, json=body))
    params = StartInput(request=RecordingRequest(**BASE), uid="527841", resource_id="r", token_expire_seconds=3600)
    with pytest.raises(ApplicationError) as exc:
        await ActivityEnvironment().run(acts.start_recorder, params)
    assert exc.value.type == kind and exc.value.non_retryable and len(sent) == 1
    assert kind in names.ErrorType.NEW_RESOURCE


async def test_row8_start_502_gets_a_new_resource_for_the_same_uid(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator
):
    """Row 8: after a start answered 500/502 the workflow acquires again on the same uid and records on it."""
    req = request()
    emulator.join(req.channel, "1001")
    emulator.inject("start", "custom", status=500, body={"code": 502, "reason": "Failed to allocate worker"})
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        manifest = await handle.result()
    assert [s.uid for s in manifest.segments] == [req.uid]
    assert manifest.failed_starts == 0
    scheduled = [
        e.activity_task_scheduled_event_attributes
        for e in (await handle.fetch_history()).events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    acquired_for = [
        json.loads(a.input.payloads[0].data)["uid"] for a in scheduled if a.activity_type.name == "acquire_resource"
    ]
    assert acquired_for == [req.uid, req.uid]  # a new resource, the same uid
    assert len(tasks_of(emulator, req.channel)) == 1 and len(requests_of(emulator, req.channel, "stop")) == 1


async def test_row11_3_a_missing_storage_profile_is_a_local_configuration_error(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator
):
    """Issue 11.3: a recording naming a storage profile the worker lacks fails as a local configuration error."""
    req = request(storage_profile="eu")
    async with worker_for(ts_env.client, emulator) as queue:
        handle = await start(ts_env.client, queue, req)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    text = str(failure.value.cause)
    assert "local configuration" in text and "nothing was sent to Agora" in text and "Agora refused" not in text
    assert tasks_of(emulator, req.channel) == []


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


async def test_row14_code_501_while_exiting_reads_as_a_recorder_on_its_way_out():
    """Row 14: a query answered 501 "service exiting" is status 6 (the recorder quits, no 40x fault); a stop is done."""
    body = {"code": 501, "reason": "service exiting"}
    acts, _ = _activities(lambda r: httpx.Response(400, json=body))
    queried = await ActivityEnvironment().run(
        acts.query_recorder, QueryInput(channel="c", mode="mix", resource_id="r", sid="s")
    )
    assert queried.found and queried.status in policy.RECORDER_EXIT_STATUSES
    stopped = await ActivityEnvironment().run(
        acts.stop_recorder, StopInput(channel="c", uid="527841", mode="mix", resource_id="r", sid="s")
    )
    assert stopped.outcome == "already_exiting"


async def test_row10_a_call_without_an_answer_is_retried_after_1_3_6_s_on_agoras_next_domain():
    """Row 10: no answer is retried after 1, 3 and 6 s: the same domain, the other global one, the region's host."""

    sent: list[httpx.Request] = []

    def refuse(req: httpx.Request) -> httpx.Response:
        sent.append(req)
        raise httpx.ConnectError("connection refused", request=req)

    client = AgoraClient(
        app_id="app-1",
        customer_id="c",
        customer_secret="s3cret",
        region="eu-west-1",
        transport=httpx.MockTransport(refuse),
    )
    acts = RecordingActivities(client, app_id="app-1", storage_profiles={"default": PROFILE})
    params = StartInput(request=RecordingRequest(**BASE), uid="527841", resource_id="r", token_expire_seconds=3600)
    delays: list[float | None] = []
    for attempt in (1, 2, 3, 4):
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, attempt=attempt)
        with pytest.raises(ApplicationError) as exc:
            await env.run(acts.start_recorder, params)
        retry = exc.value.next_retry_delay
        delays.append(None if exc.value.non_retryable else retry.total_seconds() if retry else None)
    assert delays == [*policy.TRANSPORT_DELAYS, None] == [1.0, 3.0, 6.0, None]
    assert [r.url.host for r in sent] == ["api.agora.io", "api.agora.io", "api.sd-rtn.com", "api-eu-west-1.agora.io"]


async def test_row14_a_failover_probe_that_finds_an_exit_status_sends_no_stop(ts_env: WorkflowEnvironment):
    """Row 14: a crashed recorder that query shows as status 20 is replaced, and its probe 90 s on stops nothing."""
    req = request(max_duration=timedelta(minutes=8))
    # The clock is frozen, so the crashed task shows status 20 to every query, the failover probe's included.
    async with running_emulator(fast_emulator_config(speed=0, startup_seconds=0)) as emu:
        emu.join(req.channel, TEACHER)
        async with worker_for(ts_env.client, emu) as queue:
            handle = await start(ts_env.client, queue, req)
            sid = await confirmed_sid(ts_env, handle)
            emu.crash(sid)
            manifest = await handle.result()
        crashed = next(t for t in tasks_of(emu, req.channel) if t["sid"] == sid)
    old = manifest.segments[0]
    assert (old.end_reason, old.detail) == ("recorder_exited", "query status 20")
    assert [s.uid for s in manifest.segments] == [req.uid, req.backup_uid] and manifest.restarts == 1
    assert [r["op"] for r in crashed["requests"] if r["op"] == "stop"] == []
