"""ClassFiringWorkflow: one firing of a class timetable's Temporal Schedule, which starts or joins the recording.

A Schedule names the workflows it starts itself (`<action id>-<time>`), so the schedule cannot start the recording
directly without losing its id `recording:<app id>:<channel>`, the one that keeps a channel to one recorder. It
starts this short workflow instead, which starts the recording as an abandoned child under the recording's own id,
or finds it already running and leaves it as it is. The class's planned end is the firing's class time (the
`TemporalScheduledStartTime` that Schedules set) plus the class duration, so a firing that runs late still ends the
recording when the class ends, and a firing that runs after the class has ended starts nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.models import RecordingInput, RecordingRequest

from workflows.recording import RecordingWorkflow

FIRING_WORKFLOW_NAME = "ClassFiringWorkflow"
# Set by Temporal Schedules on every workflow they start: the firing's class time and the schedule's id.
SCHEDULED_START = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
SCHEDULED_BY = SearchAttributeKey.for_keyword("TemporalScheduledById")

FiringOutcome = Literal["started", "joined", "missed"]
# A firing that runs within this of its class time is on time (a healthy schedule and worker take about a second).
ON_TIME = timedelta(seconds=5)


class ClassFiring(BaseModel):
    """The schedule action's input: the class's recording (without its end), its duration and its names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schedule_id: str = Field(description="the schedule that fires this class; the recording's RecordingSchedule")
    recording_id: str = Field(description="the channel's recording workflow id, recording:<app id>:<channel>")
    label: str = Field(description="the class as people name it, e.g. 'math-101 Monday 09:00 (Europe/Berlin)'")
    duration: timedelta
    request: RecordingRequest = Field(description="the recording options; end_at is set by each firing")
    summary: str = Field(description="the recording's one-line summary in the Web UI")
    details: str = Field(description="the recording's Markdown details in the Web UI, without its end")


class FiringResult(BaseModel):
    """What one firing did: started the recording, joined the running one, or missed a class that had ended."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    outcome: FiringOutcome
    schedule_id: str
    recording_id: str
    run_id: str | None = Field(description="the recording run this firing started (None when it started none)")
    scheduled_at: datetime = Field(description="the class time this firing stands for")
    fired_at: datetime = Field(description="when Temporal started this firing")
    ran_at: datetime = Field(description="when a worker ran it")
    planned_end: datetime = Field(description="the class time plus the class duration")
    late_seconds: float = Field(description="how long after the class time the firing ran")
    reason: str = Field(description="one sentence saying what happened and why")


def _span(seconds: float) -> str:
    """A length of time as people write it: 40s, 12m5s, 1h2m."""
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return "".join(f"{v}{u}" for v, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if v) or "0s"


def planned_end(scheduled_at: datetime, duration: timedelta) -> datetime:
    """When the class of a firing ends: its class time plus its duration."""
    return scheduled_at + duration


@workflow.defn(name=FIRING_WORKFLOW_NAME)
class ClassFiringWorkflow:
    """Start the channel's recording for one class (or join the one running), never after the class has ended."""

    @workflow.run
    async def run(self, firing: ClassFiring) -> FiringResult:
        """Start or join the recording until the class's planned end, or record the firing as missed."""
        info = workflow.info()
        # Started by hand (not by the schedule): the class starts now.
        scheduled_at = info.typed_search_attributes.get(SCHEDULED_START) or info.workflow_start_time
        now = workflow.now()
        end = planned_end(scheduled_at, firing.duration)
        late = max((now - scheduled_at).total_seconds(), 0.0)

        def result(outcome: FiringOutcome, run_id: str | None, reason: str) -> FiringResult:
            return FiringResult(
                outcome=outcome,
                schedule_id=firing.schedule_id,
                recording_id=firing.recording_id,
                run_id=run_id,
                scheduled_at=scheduled_at,
                fired_at=info.workflow_start_time,
                ran_at=now,
                planned_end=end,
                late_seconds=late,
                reason=reason,
            )

        if now >= end:
            return result(
                "missed",
                None,
                f"the class had ended when this firing ran, {_span(late)} after class time: no recording was started",
            )
        request = firing.request.model_copy(update={"end_at": end})
        try:
            child = await workflow.start_child_workflow(
                RecordingWorkflow.run,
                RecordingInput(request=request),
                id=firing.recording_id,
                task_queue=info.task_queue,
                # The recording outlives this firing: it runs until the class ends.
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                search_attributes=TypedSearchAttributes(
                    [
                        SearchAttributePair(names.CHANNEL, request.channel),
                        SearchAttributePair(names.PHASE, "starting"),
                        SearchAttributePair(names.SCHEDULE, firing.schedule_id),
                    ]
                ),
                static_summary=firing.summary,
                static_details=f"{firing.details}\n- **class**: {firing.label}\n"
                f"- **planned end**: {end.isoformat()} (class time {scheduled_at.isoformat()} + the class duration)",
            )
        except WorkflowAlreadyStartedError:
            return result(
                "joined",
                None,
                "the channel was already recording: that recording goes on with its own end, no second recorder",
            )
        lateness = "on time" if timedelta(seconds=late) <= ON_TIME else f"{_span(late)} after class time"
        return result("started", child.first_execution_run_id, f"started the recording {lateness}")
