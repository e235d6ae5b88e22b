"""The workflow's Agora calls: one typed entry per activity, run with the options its `policy.AgoraCall` declares.

Activities live in the worker (`activities.recording`), which the workflow's sandbox must not import, so they are
called by name; this table is the one place that pairs each name with its input and result types and its options.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from workflows import models, names, policy

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class Activity(Generic[In, Out]):
    """One Agora activity as the workflow calls it: its declared options, its input and its result type."""

    call: policy.AgoraCall
    input_type: type[In]
    result_type: type[Out]

    def start(self, params: In, summary: str) -> workflow.ActivityHandle[Out]:
        """Schedule the activity (a local one in the workflow worker, or on its task queue)."""
        call = self.call
        handle: workflow.ActivityHandle[Out]
        if call.local:
            handle = workflow.start_local_activity(
                call.activity,
                params,
                result_type=self.result_type,
                start_to_close_timeout=call.start_to_close,
                schedule_to_close_timeout=call.give_up_after,
                retry_policy=call.retry,
                local_retry_threshold=call.local_retry_threshold,
                summary=summary,
            )
        else:
            handle = workflow.start_activity(
                call.activity,
                params,
                result_type=self.result_type,
                task_queue=task_queue(call.queue),
                start_to_close_timeout=call.start_to_close,
                schedule_to_close_timeout=call.give_up_after,
                retry_policy=call.retry,
                summary=summary,
            )
        return handle

    async def __call__(self, params: In, summary: str) -> Out:
        """Run the activity to its result (or its failure)."""
        return await self.start(params, summary)


def task_queue(role: policy.Queue) -> str:
    """The task queue of a role, derived from the workflow's own queue."""
    queue = workflow.info().task_queue
    if role == "control":
        return names.control_queue(queue)
    if role == "query":
        return names.query_queue(queue)
    return queue


ACQUIRE = Activity(policy.ACQUIRE, models.AcquireInput, models.AcquireResult)
START = Activity(policy.START, models.StartInput, models.StartResult)
QUERY = Activity(policy.QUERY, models.QueryInput, models.QueryResult)
QUERY_ON_QUEUE = Activity(policy.QUERY_ON_QUEUE, models.QueryInput, models.QueryResult)
STOP = Activity(policy.STOP, models.StopInput, models.StopResult)
UPDATE = Activity(policy.UPDATE, models.UpdateInput, models.UpdateResult)
TABLE = (ACQUIRE, START, QUERY, QUERY_ON_QUEUE, STOP, UPDATE)

# How a failed activity reaches the workflow: wrapped in ActivityError, or (local activities) as the failure itself.
FAILURES = (ActivityError, ApplicationError, TemporalTimeoutError)


def failure_type(err: BaseException) -> str | None:
    """The ApplicationError type behind an activity failure ("AgoraTimeout" when the activity itself timed out)."""
    cause = err.__cause__ if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.type
    if isinstance(cause, TemporalTimeoutError):
        return names.ErrorType.TIMEOUT
    return None


def failure_text(err: BaseException) -> str:
    """The message behind an activity failure, for the status and the manifest."""
    cause = err.__cause__ if isinstance(err, ActivityError) and err.__cause__ else err
    return str(cause) or type(cause).__name__
