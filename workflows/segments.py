"""The calls about one recorder (one segment): query its sid, stop it, and keep what Agora said on the segment."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import patches
    from workflows.models import QueryInput, QueryResult, RecordingSegment, SegmentEnd, StopInput

from workflows import calls
from workflows.state import Recording


async def query(
    rec: Recording, seg: RecordingSegment, summary: str, *, raise_errors: bool = False, interruptible: bool = True
) -> QueryResult | None:
    """Query a sid; None when a stop request interrupted it (unless not interruptible) or it failed."""
    assert seg.sid is not None
    params = QueryInput(channel=rec.request.channel, mode=rec.request.mode, resource_id=seg.resource_id, sid=seg.sid)
    activity = calls.QUERY if workflow.patched(patches.LOCAL_QUERIES) else calls.QUERY_ON_QUEUE
    handle = activity.start(params, summary)
    await workflow.wait_condition(lambda: handle.done() or (interruptible and rec.stop_requested))
    if not handle.done():
        handle.cancel()
        return None
    try:
        result: QueryResult = handle.result()
    except calls.FAILURES as err:
        if raise_errors:
            raise
        rec.state.last_error = f"query: {calls.failure_text(err)}"
        return None
    return result


def absorb(rec: Recording, seg: RecordingSegment, result: QueryResult) -> None:
    """Record the status, and (rule 6) take the M3U8 names from query once they appear."""
    rec.state.last_status = result.status
    if result.m3u8_names and not seg.m3u8_confirmed:
        seg.m3u8_names = list(dict.fromkeys(result.m3u8_names))
        seg.m3u8_confirmed = True
        rec.state.m3u8_check_due_at = None


async def stop(rec: Recording, seg: RecordingSegment, reason: SegmentEnd, detail: str) -> str | None:
    """Stop one sid; returns Agora's outcome ("stopped", "already_gone", ...) or None when the stop failed."""
    assert seg.sid is not None
    params = StopInput(
        channel=rec.request.channel, uid=seg.uid, mode=rec.request.mode, resource_id=seg.resource_id, sid=seg.sid
    )
    handle = calls.STOP.start(params, f"stop sid {seg.sid}")
    try:
        result = await rec.uncancellable(handle)
    except ActivityError as err:
        seg.detail = f"{detail}; stop failed: {calls.failure_text(err)}"
        seg.ended_at = workflow.now()
        seg.end_reason = reason
        rec.state.last_error = f"stop of sid {seg.sid} failed: {calls.failure_text(err)}"
        return None
    seg.ended_at = seg.ended_at or workflow.now()
    seg.end_reason = reason
    seg.detail = detail if result.outcome == "stopped" else f"{detail}; {result.outcome.replace('_', ' ')}"
    seg.uploading_status = result.uploading_status
    seg.file_list = list(result.file_names)
    for name in result.file_names:
        if name.endswith(".m3u8") and name not in seg.m3u8_names:
            seg.m3u8_names.append(name)
    outcome: str = result.outcome
    return outcome
