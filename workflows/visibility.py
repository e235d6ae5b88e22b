"""What operators see of a recording: search attributes, the Web UI's details pane, the status and the manifest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from workflows import names, policy
    from workflows.models import (
        RecordingGap,
        RecordingManifest,
        RecordingRequest,
        RecordingSegment,
        RecordingState,
        RecordingStatus,
    )


class Board:
    """Publishes the recording's search attributes and current details, each only when what it shows has changed."""

    def __init__(self) -> None:
        self._published: dict[str, Any] = {}
        self._shown: tuple[Any, ...] = ()

    def publish(self, request: RecordingRequest, state: RecordingState, current: RecordingSegment | None) -> None:
        """Keep the Web UI current: search attributes (only those that changed) and the details pane.

        Called at every phase change and every healthy check, so it returns at once when nothing shown has changed.
        """
        shown = (
            state.phase,
            current.uid if current else None,
            current.sid if current else None,
            state.restarts,
            state.failed_starts,
            state.last_status,
            state.last_error,
            sum(len(s.m3u8_names) for s in state.segments),
        )
        if shown == self._shown:
            return
        self._shown = shown
        values: dict[str, Any] = {
            names.CHANNEL.name: request.channel,
            names.PHASE.name: state.phase,
            names.RECORDER_UID.name: current.uid if current else None,
            names.SID.name: current.sid if current else None,
            names.RESTARTS.name: state.restarts,
        }
        updates: list[SearchAttributeUpdate[Any]] = []
        for key in names.SEARCH_ATTRIBUTES:
            value = values[key.name]
            if self._published.get(key.name, ...) == value:
                continue
            self._published[key.name] = value
            updates.append(key.value_unset() if value is None else key.value_set(value))
        if updates:
            workflow.upsert_search_attributes(updates)
        workflow.set_current_details(details(request, state, current))


def details(request: RecordingRequest, state: RecordingState, current: RecordingSegment | None) -> str:
    """The Web UI's current-details pane, in Markdown."""
    lines = [
        f"**{state.phase}** · channel `{request.channel}` · {request.mode} mode",
        f"recorder uid `{current.uid}` · sid `{current.sid}`" if current else "no recorder running",
        f"restarts {state.restarts} · failed starts {state.failed_starts} · last status {state.last_status}",
    ]
    if state.last_error:
        lines.append(f"last error: {state.last_error}")
    names_now = [n for s in state.segments for n in s.m3u8_names]
    if names_now:
        lines.append("M3U8: " + ", ".join(f"`{n}`" for n in names_now[-4:]))
    return "\n\n".join(lines)


def status(
    request: RecordingRequest, state: RecordingState, current: RecordingSegment | None, planned_end: datetime | None
) -> RecordingStatus:
    """Rule 10: the live view the status query answers."""
    seg = current or (state.segments[-1] if state.segments else None)
    return RecordingStatus(
        channel=request.channel,
        mode=request.mode,
        phase=state.phase,
        uid=seg.uid if seg else None,
        sid=seg.sid if seg else None,
        resource_id=seg.resource_id if seg else None,
        restarts=state.restarts,
        failed_starts=state.failed_starts,
        checks=state.checks,
        runs=state.runs,
        last_status=state.last_status,
        last_error=state.last_error,
        m3u8_names=[n for s in state.segments for n in s.m3u8_names],
        segments=len(state.segments),
        started_at=state.started_at,
        planned_end=planned_end,
    )


def manifest(request: RecordingRequest, state: RecordingState) -> RecordingManifest:
    """The manifest so far: every segment and the gaps between confirmed ones."""
    segments = [s.model_copy(deep=True) for s in state.segments]
    return RecordingManifest(
        channel=request.channel,
        mode=request.mode,
        phase=state.phase,
        started_at=state.started_at,
        ended_at=workflow.now() if state.phase in ("stopped", "failed") else None,
        stop_trigger=state.stop_trigger,
        error=state.last_error if state.phase == "failed" else None,
        restarts=state.restarts,
        failed_starts=state.failed_starts,
        runs=state.runs,
        segments=segments,
        gaps=[RecordingGap(after_index=a, before_index=b, start=s, end=e) for a, b, s, e in policy.gaps(segments)],
    )
