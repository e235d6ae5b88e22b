"""The best-practice schedules, the request validation and the error mapping, without a server."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import errors as activity_errors
from agora import errors as agora_errors
from workflows import names, policy
from workflows.models import RecordingRequest

BASE: dict[str, Any] = {"channel": "class-1", "uid": "527841", "backup_uid": "527842"}


def _mapped_at_attempt(attempt: int, err: agora_errors.AgoraError, call: policy.AgoraCall) -> ApplicationError:
    env = ActivityEnvironment()
    env.info = replace(env.info, attempt=attempt)
    result: ApplicationError = env.run(activity_errors.to_application_error, err, call)
    return result


def _server_error() -> agora_errors.AgoraError:
    err = agora_errors.classify_response("start", 503, b'{"code": 500, "reason": "internal_error"}')
    assert isinstance(err, agora_errors.ServerError)
    return err


def test_start_50x_schedule_is_3_6_9_then_gives_up():
    """Start 50x retries come after 3, 6 and 9 s; the fourth failure is non-retryable so the workflow switches uid."""
    delays = []
    for attempt in range(1, 5):
        mapped = _mapped_at_attempt(attempt, _server_error(), policy.START)
        delays.append(mapped.next_retry_delay.total_seconds() if mapped.next_retry_delay else None)
        assert mapped.type == names.ErrorType.SERVER_ERROR
        assert mapped.non_retryable == (attempt == 4)
    assert delays == [3.0, 6.0, 9.0, None]


def test_query_404_schedule_and_50x_schedule_match_agora():
    """The 404 backoff is 5/10/15 s and the query 50x backoff 5/10/15/30 s, as Agora recommends."""
    assert policy.NOT_FOUND_DELAYS == (5.0, 10.0, 15.0)
    assert policy.QUERY_SERVER_ERROR_DELAYS == (5.0, 10.0, 15.0, 30.0)
    mapped = [_mapped_at_attempt(a, _server_error(), policy.QUERY).next_retry_delay for a in range(1, 5)]
    assert [m.total_seconds() for m in mapped if m] == [5.0, 10.0, 15.0, 30.0]


def test_request_not_completed_retried_after_3_then_6_seconds():
    """206/65 retries after 3 s, then 6 s, then stops retrying."""
    err = agora_errors.classify_response("start", 206, b'{"code": 65, "reason": "request not completed"}')
    assert err is not None
    got = [_mapped_at_attempt(a, err, policy.START) for a in (1, 2, 3)]
    assert [g.next_retry_delay for g in got] == [timedelta(seconds=3), timedelta(seconds=6), None]
    assert got[2].non_retryable


def test_non_retryable_agora_error_is_non_retryable_at_once():
    """A 400/2 maps to a non-retryable failure of type InvalidParameter on the first attempt."""
    err = agora_errors.classify_response("start", 400, b'{"code": 2, "reason": "invalid parameter"}')
    assert err is not None
    mapped = _mapped_at_attempt(1, err, policy.START)
    assert mapped.non_retryable and mapped.type == "InvalidParameter" and mapped.next_retry_delay is None


def test_stop_schedule_never_gives_up():
    """Stop keeps retrying 50x at the last delay once the schedule is used up."""
    mapped = _mapped_at_attempt(9, _server_error(), policy.STOP)
    assert not mapped.non_retryable and mapped.next_retry_delay == timedelta(seconds=9)


def test_workflow_error_types_match_the_client_classes():
    """Every error type the workflow branches on is the `kind` of a class in agora.errors."""
    kinds = {
        cls.kind
        for cls in vars(agora_errors).values()
        if isinstance(cls, type) and issubclass(cls, Exception) and hasattr(cls, "kind")
    }
    declared = {v for k, v in vars(names.ErrorType).items() if k.isupper() and isinstance(v, str)}
    product_only = {
        names.ErrorType.STORAGE_PROFILE_UNKNOWN,
        names.ErrorType.TOKEN_ERROR,
        names.ErrorType.RESOURCE_CONSUMED,
    }
    assert declared - product_only <= kinds


def test_confirm_schedule_starts_at_5s_stays_under_max_idle_and_spans_90s():
    """Confirmation queries start 5 s after the sid, each gap is shorter than maxIdleTime, 90 s in all."""
    for max_idle in (6, 30, 600):
        delays = policy.confirm_delays(max_idle)
        assert delays[0] == min(5.0, max_idle - 1)
        assert all(d < max_idle for d in delays)
        assert sum(delays) == pytest.approx(policy.CONFIRM_WINDOW)


def test_resource_expired_hour_and_token_life_are_sized_from_the_planned_end():
    """resourceExpiredHour and the token outlive the planned end by the margin, within Agora's limits."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    req = RecordingRequest(**BASE, max_duration=timedelta(hours=3))
    end = policy.planned_end(req, now)
    assert end == now + timedelta(hours=3)
    assert policy.resource_expired_hour(req, now, end) == 5
    assert policy.token_expire_seconds(now, end) == 5 * 3600
    assert policy.resource_expired_hour(RecordingRequest(**BASE), now, None) == 720
    long = RecordingRequest(**BASE, max_duration=timedelta(days=40))
    assert policy.resource_expired_hour(long, now, policy.planned_end(long, now)) == 720
    assert policy.token_expire_seconds(now, policy.planned_end(long, now)) == 24 * 3600


def test_uids_alternate():
    """Each restart uses the uid the previous recorder did not use."""
    req = RecordingRequest(**BASE)
    assert policy.other_uid(req, req.uid) == req.backup_uid
    assert policy.other_uid(req, req.backup_uid) == req.uid


BAD_REQUESTS: list[tuple[dict[str, Any], str]] = [
    ({"channel": "bad/channel"}, "channel"),
    ({"channel": "x" * 64}, "64"),
    ({"channel": ""}, "channel"),
    ({"uid": "0"}, "1..4294967295"),
    ({"uid": str(2**32)}, "1..4294967295"),
    ({"uid": "abc"}, "decimal"),
    ({"uid": True}, "decimal"),
    ({"backup_uid": "527841"}, "must differ"),
    ({"max_idle_time": 4}, "max_idle_time"),
    ({"max_idle_time": 2_592_001}, "max_idle_time"),
    ({"max_idle_time": 30, "check_interval": 30}, "shorter than max_idle_time"),
    ({"max_idle_time": 30, "check_interval": 2}, "at least 5"),
    ({"mode": "audio"}, "mode"),
    ({"av_file_type": ["mp4"]}, "mp4 alone"),
    ({"mode": "individual", "av_file_type": ["hls", "mp4"]}, "only allowed in mix and web"),
    ({"mode": "web"}, "web_url"),
    ({"web_url": "https://example.test/class"}, "only used in web mode"),
    ({"resource_expired_hour": 0}, "resource"),
    ({"resource_expired_hour": 721}, "resource"),
    ({"file_name_prefix": ["bad-part"]}, "prefix"),
    ({"storage_profile": "no spaces"}, "storage_profile"),
    ({"subscribe_audio_uids": ["1"] * 33}, "at most 32"),
    ({"stream_types": 1, "subscribe_audio_uids": ["1001"]}, "video only"),
    ({"end_at": datetime(2030, 1, 1)}, "timezone"),
    ({"max_duration": timedelta(seconds=-1)}, "positive"),
    ({"unknown_field": 1}, "unknown_field"),
    ({"mode": "mix", "transcoding": {"width": 1920, "height": 1920}}, "1920 × 1080"),
    ({"transcoding": {"mixed_video_layout": 2}}, "maxResolutionUid"),
    ({"transcoding": {"background_color": "red"}}, "#RRGGBB"),
    ({"mode": "individual"}, "subscribe_uid_group is required"),
    ({"mode": "individual", "subscribe_uid_group": 6}, "subscribe_uid_group"),
    ({"subscribe_uid_group": 1}, "only used in individual mode"),
    ({"resource_expired_hour": 2, "max_duration": timedelta(hours=3)}, "shorter than max_duration"),
]


@pytest.mark.parametrize(("overrides", "says"), BAD_REQUESTS)
def test_bad_request_is_refused_with_a_clear_error(overrides: dict[str, Any], says: str):
    """A bad recording request is refused before anything starts, with a message naming what is wrong."""
    with pytest.raises(ValidationError) as exc:
        RecordingRequest(**{**BASE, **overrides})
    assert says.lower() in str(exc.value).lower()


def test_default_check_interval_is_half_of_max_idle_and_at_most_two_minutes():
    """Without a check interval, checks run at half of maxIdleTime, at most every 120 s."""
    assert RecordingRequest(**BASE, max_idle_time=30).effective_check_interval == 15
    assert RecordingRequest(**BASE, max_idle_time=600).effective_check_interval == 120


def test_the_workflow_calls_each_activity_with_the_types_the_worker_defines():
    """Every entry of the workflow's activity table names a worker activity whose input and result types it shares."""
    from temporalio import activity

    from activities.recording import RecordingActivities
    from workflows import calls

    defined = {}
    for attr in vars(RecordingActivities).values():
        definition = activity._Definition.from_callable(attr) if callable(attr) else None
        if definition is not None:
            defined[definition.name] = (definition.arg_types, definition.ret_type)
    for entry in calls.TABLE:
        assert defined[entry.call.activity] == ([entry.input_type], entry.result_type), entry.call.activity
    assert {entry.call.activity for entry in calls.TABLE} == set(defined)


def test_each_call_kind_retries_agoras_errors_on_its_own_schedule():
    """A 206/65 is retried at 3 then 6 s on every call; a 50x at 3/6/9 s on acquire, start and stop, 5/10/15/30 s on
    query and update; a 406 on acquire waits out the quota schedule; stop never runs out of retries."""
    not_completed = [names.ErrorType.REQUEST_NOT_COMPLETED, "ServiceError", "AgoraError"]
    server_error = [names.ErrorType.SERVER_ERROR, "ServiceError", "AgoraError"]
    for call in (policy.ACQUIRE, policy.START, policy.QUERY, policy.QUERY_ON_QUEUE, policy.UPDATE):
        assert [call.retry_delay(not_completed, a) for a in (1, 2, 3)] == [3.0, 6.0, None]
    for call in (policy.ACQUIRE, policy.START):
        assert [call.retry_delay(server_error, a) for a in range(1, 5)] == [3.0, 6.0, 9.0, None]
    for call in (policy.QUERY, policy.UPDATE):
        assert [call.retry_delay(server_error, a) for a in range(1, 6)] == [5.0, 10.0, 15.0, 30.0, None]
    assert policy.ACQUIRE.retry_delay([names.ErrorType.OVER_QUOTA], 1) == policy.OVER_QUOTA_DELAYS[0]
    assert policy.STOP.retry_delay(server_error, 50) == 9.0
    assert policy.QUERY.local and not policy.QUERY_ON_QUEUE.local and policy.STOP.queue == "control"
