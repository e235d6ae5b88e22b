"""Agora errors as Temporal failures: one mapping, shared by every activity.

The client classifies each response once (`agora.errors`); here that class becomes an `ApplicationError` whose
`type` is the class's `kind`, whose `non_retryable` flag is the class's `retryable` flag inverted, and whose
`next_retry_delay` follows the call's best-practice schedule (`workflows.policy`, one `AgoraCall` per kind of call).
When the schedule is used up the error turns non-retryable, so the workflow decides what comes next (switch uid,
surface a fault) and that decision is visible in history. Retries themselves are Temporal's: no activity loops.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from agora import errors as agora_errors
from workflows.policy import AgoraCall


def error_kinds(err: agora_errors.AgoraError) -> list[str]:
    """The error's kind followed by its parent classes' kinds, most specific first."""
    return [cls.kind for cls in type(err).__mro__ if issubclass(cls, agora_errors.AgoraError)]


def to_application_error(err: agora_errors.AgoraError, call: AgoraCall) -> ApplicationError:
    """Turn a classified Agora error into the failure Temporal retries (or not) on the call's schedule."""
    attempt = activity.info().attempt
    delay = call.retry_delay(error_kinds(err), attempt) if err.retryable else None
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
