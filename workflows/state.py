"""One run of a recording workflow: the request, the state carried across runs, and what this run knows besides.

Every rule module (`starting`, `monitoring`, `failover`, `stopping`, `continuing`) works on one `Recording`: one line
of recorders. A redundant (gapless) class has a second line with its own uid pair, segments and checks; both lines
share the stop request and the Web UI (`Shared`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import policy
    from workflows.models import (
        Phase,
        RecordingInput,
        RecordingManifest,
        RecordingRequest,
        RecordingSegment,
        RecordingState,
        StopTrigger,
    )

from workflows.visibility import Board

T = TypeVar("T")


class Shared:
    """What every line of one recording shares: the stop request (kept in the first line's state) and the Web UI."""

    def __init__(self, trigger_state: RecordingState) -> None:
        self.trigger_state = trigger_state
        self.stop_requested = trigger_state.stop_trigger is not None
        self.board = Board()
        self.lines: list[Recording] = []


class Recording:
    """The state of one line of recorders as this workflow run sees it."""

    def __init__(
        self,
        request: RecordingRequest,
        state: RecordingState,
        *,
        line: int = 0,
        shared: Shared | None = None,
    ) -> None:
        self.request = request
        self.state = state
        self.line = line
        self.shared = shared or Shared(state)
        self.shared.lines.append(self)
        self.final: RecordingManifest | None = None
        self.checks_this_run = 0
        # The resource of the start in flight, so a start Agora accepted without naming the sid is still recorded.
        self.start_resource_id: str | None = None
        # Why the last confirm failed, for the stopped segment's detail, and since when it answered 404 if that was why.
        self.unconfirmed_why = ""
        self.unconfirmed_404_since: datetime | None = None
        # Segment indexes whose failover probe is running beside the monitor loop.
        self.probing: set[int] = set()
        self.probe_tasks: set[asyncio.Task[None]] = set()
        # True while the line waits for its next due work: nothing of it is in flight (a safe point to continue as new).
        self.idle = False
        # The sid a callback said is worth a query now (it left, or came up): the line's wait for it ends at once.
        self.nudged_sid: str | None = None
        self.planned_end = policy.planned_end(self.request, self.state.started_at)

    @classmethod
    def first(cls, params: RecordingInput) -> Recording:
        """The recording's first line, from the workflow input (a fresh state on the first run)."""
        state = params.state or RecordingState(started_at=workflow.now(), next_uid=params.request.uid)
        return cls(params.request, state)

    def second(self, params: RecordingInput) -> Recording:
        """A redundant recording's second line: its own uid pair and state, sharing this line's stop and Web UI."""
        request = self.request
        assert request.redundant_uid is not None and request.redundant_backup_uid is not None
        # The pairs trade places, so the second line's request names its own pair first and stays valid.
        uids = {
            "uid": request.redundant_uid,
            "backup_uid": request.redundant_backup_uid,
            "redundant_uid": request.uid,
            "redundant_backup_uid": request.backup_uid,
        }
        state = params.second_line or RecordingState(started_at=self.state.started_at, next_uid=request.redundant_uid)
        return Recording(request.model_copy(update=uids), state, line=1, shared=self.shared)

    @property
    def stop_requested(self) -> bool:
        """True once a stop was requested (for every line)."""
        return self.shared.stop_requested

    def current(self) -> RecordingSegment | None:
        """The recorder this line is running now: a started segment that has not ended."""
        for seg in reversed(self.state.segments):
            if seg.ended_at is None and seg.sid is not None and seg.end_reason is None:
                return seg
        return None

    def resources_to_avoid(self) -> list[str]:
        """The other lines' resources (running, or being started): a new resource must not share their region.

        Agora's "multi-channel task assurance": a backup task passes the first task's resourceId as
        excludeResourceIds, so one region's trouble cannot take both recorders.
        """
        avoid: list[str] = []
        for other in self.shared.lines:
            seg = other.current()
            resource = seg.resource_id if seg is not None else other.start_resource_id
            if other is not self and resource is not None:
                avoid.append(resource)
        return avoid

    def begin_stop(self, trigger: StopTrigger) -> None:
        """Rule 8: from now on the workflow stops its recorders and finishes (the first trigger is kept)."""
        if not self.shared.stop_requested:
            self.shared.stop_requested = True
            self.shared.trigger_state.stop_trigger = trigger

    def deadline_passed(self) -> bool:
        """True once the planned end has come (which begins the stop)."""
        if self.planned_end is None or workflow.now() < self.planned_end:
            return False
        trigger: StopTrigger = "end_time" if self.request.end_at == self.planned_end else "max_duration"
        self.begin_stop(trigger)
        return True

    async def sleep(self, seconds: float, summary: str, *, nudgeable: bool = False) -> bool:
        """A durable sleep that a stop request cuts short; True when it was cut short by the stop.

        A `nudgeable` sleep also ends early, returning False as if its time had come, when a callback nudges the line
        (`nudge`): the wait for the next check or the next confirm query, never a backoff Agora's advice asks for.
        """
        if self.stop_requested:
            return True
        if nudgeable and self._take_nudge():
            return False
        if seconds <= 0:
            return False
        try:
            await workflow.wait_condition(
                lambda: self.stop_requested or (nudgeable and self._nudged()),
                timeout=timedelta(seconds=seconds),
                timeout_summary=summary,
            )
        except TimeoutError:
            return False
        if self.stop_requested:
            return True
        self._take_nudge()
        return False

    def nudge(self, sid: str) -> None:
        """A callback says a query of `sid` is due now: the line's wait for its next check or confirm query ends."""
        self.nudged_sid = sid

    def _nudged(self) -> bool:
        seg = self.current()
        return self.nudged_sid is not None and seg is not None and seg.sid == self.nudged_sid

    def _take_nudge(self) -> bool:
        nudged = self._nudged()
        self.nudged_sid = None
        return nudged

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
        """Keep the Web UI current (search attributes and details) for every line."""
        first = self.shared.lines[0]
        self.shared.board.publish(first.request, [(line.state, line.current()) for line in self.shared.lines])
