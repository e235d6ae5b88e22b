"""One run of a recording workflow: the request, the state carried across runs, and what this run knows besides.

Every rule module (`starting`, `monitoring`, `failover`, `stopping`, `continuing`) works on one `Recording`; the
helpers here are the ones they all share: the current recorder, the stop request, durable sleeps, the phase.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import policy
    from workflows.models import Phase, RecordingInput, RecordingManifest, RecordingSegment, RecordingState, StopTrigger

from workflows.visibility import Board

T = TypeVar("T")


class Recording:
    """The state of one recording as this workflow run sees it."""

    def __init__(self, params: RecordingInput) -> None:
        self.request = params.request
        self.state = params.state or RecordingState(started_at=workflow.now(), next_uid=params.request.uid)
        self.stop_requested = self.state.stop_trigger is not None
        self.final: RecordingManifest | None = None
        self.checks_this_run = 0
        # The resource of the start in flight, so a start Agora accepted without naming the sid is still recorded.
        self.start_resource_id: str | None = None
        # Why the last confirm failed, for the stopped segment's detail.
        self.unconfirmed_why = ""
        # Segment indexes whose failover probe is running beside the monitor loop.
        self.probing: set[int] = set()
        self.probe_tasks: set[asyncio.Task[None]] = set()
        self.planned_end = policy.planned_end(self.request, self.state.started_at)
        self.board = Board()

    def current(self) -> RecordingSegment | None:
        """The recorder this workflow is running now: a started segment that has not ended."""
        for seg in reversed(self.state.segments):
            if seg.ended_at is None and seg.sid is not None and seg.end_reason is None:
                return seg
        return None

    def begin_stop(self, trigger: StopTrigger) -> None:
        """Rule 8: from now on the workflow stops its recorders and finishes (the first trigger is kept)."""
        if not self.stop_requested:
            self.stop_requested = True
            self.state.stop_trigger = trigger

    def deadline_passed(self) -> bool:
        """True once the planned end has come (which begins the stop)."""
        if self.planned_end is None or workflow.now() < self.planned_end:
            return False
        trigger: StopTrigger = "end_time" if self.request.end_at == self.planned_end else "max_duration"
        self.begin_stop(trigger)
        return True

    async def sleep(self, seconds: float, summary: str) -> bool:
        """A durable sleep that a stop request cuts short; True when it was cut short."""
        if self.stop_requested:
            return True
        if seconds <= 0:
            return False
        try:
            await workflow.wait_condition(
                lambda: self.stop_requested, timeout=timedelta(seconds=seconds), timeout_summary=summary
            )
        except TimeoutError:
            return False
        return True

    async def uncancellable(self, handle: workflow.ActivityHandle[T]) -> T:
        """Await an activity that must finish even if the workflow is cancelled meanwhile (start, stop)."""
        try:
            return await asyncio.shield(handle)
        except asyncio.CancelledError:
            if handle.done() and handle.cancelled():
                raise
            self.begin_stop("cancelled")
            return await handle

    def count(self, name: str, description: str) -> None:
        """Add one to a product counter in the worker's metrics (never emitted during replay)."""
        workflow.metric_meter().create_counter(name, description).add(1)

    def set_phase(self, phase: Phase) -> None:
        """Enter a phase and show it in the Web UI."""
        self.state.phase = phase
        self.publish()

    def publish(self) -> None:
        """Keep the Web UI current (search attributes and details)."""
        self.board.publish(self.request, self.state, self.current())
