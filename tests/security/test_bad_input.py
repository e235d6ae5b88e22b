"""Bad input at every entry point: refused with a clear error before anything starts, or classified after.

Not repeated here: the RecordingRequest table of tests/workflows/test_policy.py (BAD_REQUESTS) and the CLI option table
and unreachable-Temporal test of tests/recorder/test_cli.py. This file adds the raw workflow input (a dict as another
SDK or `temporal workflow start` would send it), the activities, Agora's odd answers, and wrong credentials.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.recording import RecordingActivities
from activities.storage import StorageProfile
from agora import errors as agora_errors
from agora.client import AgoraClient
from emulator.testing import running_emulator
from tests.conftest import fast_emulator_config, worker_for
from workflows import names
from workflows.models import AcquireInput, QueryInput, RecordingInput, RecordingRequest, StartInput

GOOD: dict[str, Any] = {"channel": "math-101", "uid": "527841", "backup_uid": "527842", "max_idle_time": 60}

# Raw workflow input as JSON would carry it: (request overrides, what the error names). Complements BAD_REQUESTS.
BAD_RAW_INPUT: list[tuple[dict[str, Any], str]] = [
    ({"uid": "-1"}, "1..4294967295"),
    ({"uid": "1.5"}, "decimal"),
    ({"uid": 4294967296}, "1..4294967295"),
    ({"uid": None}, "uid"),
    ({"backup_uid": "0"}, "1..4294967295"),
    ({"backup_uid": 527841}, "must differ"),
    ({"channel": "ümlaut"}, "channel"),
    ({"channel": None}, "channel"),
    ({"max_idle_time": "abc"}, "max_idle_time"),
    ({"max_idle_time": 0}, "maxidletime"),
    ({"check_interval": 60}, "shorter than max_idle_time"),
    ({"check_interval": 61}, "shorter than max_idle_time"),
    ({"resource_expired_hour": -5}, "resource"),
    ({"mode": "composite"}, "mode"),
    ({"av_file_type": []}, "av_file_type"),
    ({"av_file_type": ["mp3"]}, "av_file_type"),
    ({"mode": "web", "web_url": "ftp://example.test"}, "web_url"),
    ({"mode": "individual", "transcoding": {}}, "only used in mix mode"),
    ({"stream_types": 0, "subscribe_video_uids": ["1001"]}, "audio only"),
    ({"subscribe_audio_uids": ["0"]}, "1..4294967295"),
    ({"subscribe_audio_uids": []}, "at most 32"),
    ({"transcoding": {"fps": 0}}, "fps"),
    ({"transcoding": {"background_color": "red"}}, "background_color"),
    ({"storage_profile": ""}, "storage_profile"),
    ({"max_duration": "soon"}, "max_duration"),
    ({"end_at": "tomorrow"}, "end_at"),
    ({"channel_type": 2}, "channel_type"),
]


@pytest.mark.parametrize(("overrides", "says"), BAD_RAW_INPUT)
def test_bad_raw_workflow_input_is_refused_naming_the_field(overrides: dict[str, Any], says: str):
    """A raw workflow input dict with one bad value fails validation with a message naming the field or the rule."""
    raw = {"request": {**GOOD, **overrides}}
    with pytest.raises(ValidationError) as exc:
        RecordingInput.model_validate(raw)
    assert says.lower() in str(exc.value).lower()


def test_state_smuggled_into_the_input_is_refused():
    """Unknown keys anywhere in the workflow input (a secret pasted in, say) are refused, never stored."""
    with pytest.raises(ValidationError, match="customer_secret"):
        RecordingInput.model_validate({"request": {**GOOD, "customer_secret": "x"}})
    with pytest.raises(ValidationError, match="token"):
        RecordingInput.model_validate({"request": GOOD, "token": "007e"})


# --- activities -------------------------------------------------------------------------------------------------

PROFILE = StorageProfile(vendor=1, region=0, bucket="b", access_key="ak-1234", secret_key="sk-1234")


def _activities(handler: Any) -> tuple[RecordingActivities, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return handler(request)  # type: ignore[no-any-return]

    client = AgoraClient(
        app_id="app-1", customer_id="c", customer_secret="s3cret-value", transport=httpx.MockTransport(record)
    )
    return RecordingActivities(client, app_id="app-1", storage_profiles={"default": PROFILE}), sent


async def test_unknown_storage_profile_fails_the_start_activity_before_any_request():
    """A start naming a storage profile the worker lacks fails non-retryably, naming the profile, and sends nothing."""
    acts, sent = _activities(lambda r: httpx.Response(500))
    params = StartInput(
        request=RecordingRequest(**GOOD, storage_profile="eu"), uid="527841", resource_id="r", token_expire_seconds=60
    )
    with pytest.raises(ApplicationError) as exc:
        await ActivityEnvironment().run(acts.start_recorder, params)
    assert exc.value.type == names.ErrorType.STORAGE_PROFILE_UNKNOWN and exc.value.non_retryable
    assert "'eu' is not configured" in str(exc.value) and "default" in str(exc.value)
    assert sent == []


def test_bad_activity_input_is_refused_at_construction():
    """Activity inputs validate too: an unknown mode or an unknown field never reaches an activity."""
    with pytest.raises(ValidationError, match="extra"):
        AcquireInput(channel="c", uid="1", mode="mix", resource_expired_hour=1, secret="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="mode"):
        QueryInput(channel="c", mode="audio", resource_id="r", sid="s")


# Agora's odd answers as the activities see them: (operation, status, body, expected ApplicationError type or None).
ODD_ANSWERS: list[tuple[str, int, bytes, str | None]] = [
    ("acquire", 200, b"<html>oops</html>", names.ErrorType.PROTOCOL),
    ("acquire", 200, b'{"resourceId": "r1", "cname": "c", "uid": "1", "newField": {"x": 1}}', None),
    ("acquire", 500, b'{"code": 500, "reason": "x", "sid": ""}', names.ErrorType.SERVER_ERROR),
    ("acquire", 401, b'{"message": "Invalid authentication credentials"}', "Unauthorized"),
    ("query", 200, b'{"resourceId": "r", "sid": "s", "serverResponse": {"status": 5, "extra": 1}, "more": 2}', None),
    ("query", 500, b'{"code": 500, "sid": ""}', names.ErrorType.SERVER_ERROR),
    ("query", 502, b"Bad Gateway", names.ErrorType.PROTOCOL),
]


@pytest.mark.parametrize(("operation", "status", "body", "kind"), ODD_ANSWERS)
async def test_odd_agora_answers_are_tolerated_or_classified(
    operation: str, status: int, body: bytes, kind: str | None
):
    """Malformed JSON and empty sids become classified failures; unexpected extra fields are tolerated."""
    acts, sent = _activities(lambda r: httpx.Response(status, content=body))
    env = ActivityEnvironment()
    if operation == "acquire":
        call: Any = env.run(
            acts.acquire_resource, AcquireInput(channel="c", uid="1", mode="mix", resource_expired_hour=1)
        )
    else:
        call = env.run(acts.query_recorder, QueryInput(channel="c", mode="mix", resource_id="r", sid="s"))
    if kind is None:
        result = await call
        assert result.model_dump()  # parsed into the typed result
    else:
        with pytest.raises(ApplicationError) as exc:
            await call
        assert exc.value.type == kind
        assert "s3cret-value" not in str(exc.value)
    assert len(sent) == 1


def test_classifier_keeps_an_empty_sid_out():
    """An empty sid in a 500 body is not taken as a sid."""
    err = agora_errors.classify_response("start", 500, b'{"code": 500, "reason": "x", "sid": ""}')
    assert isinstance(err, agora_errors.ServerError) and err.sid is None


# --- on a real server ----------------------------------------------------------------------------------------------


@pytest.mark.devserver
async def test_raw_dict_input_by_name_fails_the_workflow_task_and_starts_nothing(dev_client: Client):
    """A bad raw dict sent by workflow name fails its workflow task with the validation message; nothing starts."""
    async with running_emulator(fast_emulator_config()) as emu, worker_for(dev_client, emu) as queue:
        handle = await dev_client.start_workflow(
            names.WORKFLOW_NAME,
            {"request": {**GOOD, "uid": "0"}},
            id=f"bad-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        failure = ""
        for _ in range(50):
            events = (await handle.fetch_history()).events
            failed = [e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
            if failed:
                failure = str(failed[0].workflow_task_failed_event_attributes.failure)
                break
            await asyncio.sleep(0.1)
        await handle.terminate("bad input test")
        assert "1..4294967295" in failure
        assert not any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in events)
        assert emu.tasks() == [] and emu.emulator.request_count == 0


@pytest.mark.devserver
async def test_wrong_credentials_fail_the_workflow_with_a_clear_reason(dev_client: Client):
    """With a wrong customer secret Agora answers 401: the workflow fails naming it, and no recorder exists."""
    async with (
        running_emulator(fast_emulator_config()) as emu,
        worker_for(dev_client, emu, customer_secret="wrong-secret-value") as queue,
    ):
        handle = await dev_client.start_workflow(
            names.WORKFLOW_NAME,
            RecordingInput(request=RecordingRequest(**GOOD)),
            id=f"cred-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
        )
        with pytest.raises(WorkflowFailureError) as exc:
            await asyncio.wait_for(handle.result(), timeout=30)
    cause = str(exc.value.cause)
    assert "401" in cause and "Invalid authentication credentials" in cause
    assert "wrong-secret-value" not in cause
    assert emu.tasks() == []
