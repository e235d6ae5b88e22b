"""What operators see of a recording: search attributes, the Web UI's details pane, the status and the manifest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from workflows import names, policy
    from workflows.models import (
        LineStatus,
        RecordingGap,
        RecordingManifest,
        RecordingRequest,
        RecordingSegment,
        RecordingState,
        RecordingStatus,
    )

# One line of recorders as the Web UI shows it: its state, and the recorder it runs now.
Line = tuple[RecordingState, RecordingSegment | None]


class Board:
    """Publishes the recording's search attributes and current details, each only when what it shows has changed."""

    def __init__(self) -> None:
        self._published: dict[str, Any] = {}
        self._shown: tuple[Any, ...] = ()

    def publish(self, request: RecordingRequest, lines: Sequence[Line]) -> None:
        """Keep the Web UI current: search attributes (only those that changed) and the details pane.

        The search attributes follow the first line; the details pane shows every line. Called at every phase change
        and every healthy check, so it returns at once when nothing shown has changed.
        """
        state, current = lines[0]
        shown = tuple(
            (
                line_state.phase,
                line_current.uid if line_current else None,
                line_current.sid if line_current else None,
                line_state.restarts,
                line_state.failed_starts,
                line_state.last_status,
                line_state.last_error,
                sum(len(s.m3u8_names) for s in line_state.segments),
            )
            for line_state, line_current in lines
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
        workflow.set_current_details(details(request, lines))


def details(request: RecordingRequest, lines: Sequence[Line]) -> str:
    """The Web UI's current-details pane, in Markdown: the first line, then each further line of recorders."""
    state, current = lines[0]
    text = [
        f"**{state.phase}** · channel `{request.channel}` · {request.mode} mode",
        f"recorder uid `{current.uid}` · sid `{current.sid}`" if current else "no recorder running",
        f"restarts {state.restarts} · failed starts {state.failed_starts} · last status {state.last_status}",
    ]
    if state.last_error:
        text.append(f"last error: {state.last_error}")
    for number, (other, other_current) in enumerate(lines[1:], start=2):
        running = f"uid `{other_current.uid}` · sid `{other_current.sid}`" if other_current else "no recorder running"
        text.append(f"line {number} (redundant): **{other.phase}** · {running} · restarts {other.restarts}")
    names_now = [n for line_state, _ in lines for s in line_state.segments for n in s.m3u8_names]
    if names_now:
        text.append("M3U8: " + ", ".join(f"`{n}`" for n in names_now[-4:]))
    return "\n\n".join(text)


def waiting_for(states: Sequence[RecordingState]) -> list[str]:
    """While stopping: the recorders whose stop has no answer yet, and the old sids whose failover window is open."""
    out: list[str] = []
    for state in states:
        if state.phase != "stopping":
            continue
        out += [f"the stop of sid {s.sid}" for s in state.segments if s.ended_at is None and s.sid is not None]
        for probe in state.probes:
            sid = state.segments[probe.segment_index].sid
            out.append(f"the failover window of old sid {sid} (until {probe.due_at.isoformat(timespec='seconds')})")
    return out


def status(request: RecordingRequest, lines: Sequence[Line], planned_end: datetime | None) -> RecordingStatus:
    """Rule 10: the live view the status query answers (a redundant recording lists each line and whether it is up)."""
    state, current = lines[0]
    seg = current or (state.segments[-1] if state.segments else None)
    line_views = [
        LineStatus(
            line=number,
            phase=line_state.phase,
            uid=line_current.uid if line_current else None,
            sid=line_current.sid if line_current else None,
            up=line_current is not None and line_current.confirmed_at is not None,
            restarts=line_state.restarts,
        )
        for number, (line_state, line_current) in enumerate(lines)
    ]
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
        m3u8_names=[n for line_state, _ in lines for s in line_state.segments for n in s.m3u8_names],
        segments=sum(len(line_state.segments) for line_state, _ in lines),
        started_at=state.started_at,
        planned_end=planned_end,
        lines=line_views if len(lines) > 1 else [],
        waiting_for=waiting_for([line_state for line_state, _ in lines]),
        callbacks=state.callbacks,
    )


def manifest(request: RecordingRequest, states: Sequence[RecordingState]) -> RecordingManifest:
    """The manifest so far: every segment of every line, and the gaps when no line had a confirmed recorder."""
    state = states[0]
    segments = [s.model_copy(deep=True) for line_state in states for s in line_state.segments]
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
