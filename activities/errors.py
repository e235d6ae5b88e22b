"""Agora errors as Temporal failures: one mapping, shared by every activity.

The client classifies each response once (`agora.errors`); here that class becomes an `ApplicationError` whose
`type` is the class's `kind`, whose `non_retryable` flag is the class's `retryable` flag inverted, and whose
`next_retry_delay` follows the best-practice schedule for that error on that call. When the schedule is used up the
error turns non-retryable, so the workflow decides what comes next (switch uid, surface a fault) and that decision is
visible in history. Retries themselves are Temporal's: no activity loops.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agora import errors as agora_errors
from workflows import policy

Schedule = tuple[float, ...]

# Per call, the schedule for each retryable error class; classes not listed use the call's default schedule.
START_SCHEDULES: Mapping[type[agora_errors.AgoraError], Schedule] = {
    agora_errors.RequestNotCompleted: policy.REQUEST_NOT_COMPLETED_DELAYS,
    agora_errors.RateLimited: policy.RATE_LIMITED_DELAYS,
    agora_errors.OverQuota: policy.OVER_QUOTA_DELAYS,
}
QUERY_SCHEDULES: Mapping[type[agora_errors.AgoraError], Schedule] = {
    agora_errors.RequestNotCompleted: policy.REQUEST_NOT_COMPLETED_DELAYS,
    agora_errors.RateLimited: policy.RATE_LIMITED_DELAYS,
}


def _schedule_for(
    err: agora_errors.AgoraError,
    schedules: Mapping[type[agora_errors.AgoraError], Schedule],
    default: Schedule,
) -> Schedule:
    for cls in type(err).__mro__:
        if cls in schedules:
            return schedules[cls]
    return default


def to_application_error(
    err: agora_errors.AgoraError,
    *,
    default: Schedule,
    schedules: Mapping[type[agora_errors.AgoraError], Schedule] | None = None,
    endless: bool = False,
) -> ApplicationError:
    """Turn a classified Agora error into the failure Temporal retries (or not) on the best-practice schedule.

    With `endless`, a used-up schedule repeats its last delay instead of giving up (stop must never give up).
    """
    attempt = activity.info().attempt
    delay: float | None = None
    if err.retryable:
        schedule = _schedule_for(err, schedules or {}, default)
        delay = policy.capped_delay(schedule, attempt) if endless else policy.delay_for_attempt(schedule, attempt)
    details = {
        "operation": err.operation,
        "http_status": err.http_status,
        "code": err.code,
        "attempt": attempt,
        "retryable": err.retryable,
    }
    suffix = "" if delay is not None or not err.retryable else f" (gave up after {attempt} attempts)"
    return ApplicationError(
        f"{err}{suffix}",
        details,
        type=err.kind,
        non_retryable=delay is None,
        next_retry_delay=timedelta(seconds=delay) if delay is not None else None,
    )
