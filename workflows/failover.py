"""Rule 5: Agora's failover may bring a recorder taken for gone back to life; find it and stop the duplicate.

"The high-availability migration finishes within about 90 s" and the task comes back under a new uid with `bak<n>_`
files. After a restart, the old sid is probed once that window has passed since its first 404; each probe runs as its
own task on its own timer, beside the checks, so it is never late and never delays the current recorder's check.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import patches, policy
    from workflows.models import FailoverProbe, QueryResult, RecordingSegment

from workflows import segments
from workflows.state import Recording


def resume_probes(rec: Recording) -> None:
    """Start again the probes a continue-as-new carried over."""
    if rec.state.probes and workflow.patched(patches.PROBES_BESIDE_CHECKS):
        for probe in rec.state.probes:
            probe_beside(rec, probe)


def probe_old_sid(rec: Recording, seg: RecordingSegment, since: datetime) -> None:
    """Schedule the probe of an old sid taken for gone `since`, due once Agora's failover window has passed."""
    probe = FailoverProbe(segment_index=seg.index, due_at=since + timedelta(seconds=policy.FAILOVER_WINDOW))
    rec.state.probes.append(probe)
    if workflow.patched(patches.PROBES_BESIDE_CHECKS):
        # The probe keeps its own time, whatever the loop is doing then (checking, starting, backing off).
        probe_beside(rec, probe)


def probe_beside(rec: Recording, probe: FailoverProbe) -> None:
    """Run one failover probe as its own task, when it is due, so the current recorder's checks keep their time."""
    rec.probing.add(probe.segment_index)
    seg = rec.state.segments[probe.segment_index]

    async def run() -> None:
        try:
            wait = (probe.due_at - workflow.now()).total_seconds()
            if await rec.sleep(wait, f"failover window of old sid {seg.sid}: probe when it has passed"):
                return  # a stop was requested: the stop path watches this sid
            outcome = await probe_failover(rec, seg)
            if outcome is not None and probe in rec.state.probes:  # None: a stop cut it short
                rec.state.probes.remove(probe)
        finally:
            rec.probing.discard(probe.segment_index)

    task = asyncio.create_task(run())
    rec.probe_tasks.add(task)
    task.add_done_callback(rec.probe_tasks.discard)


async def probe_failover(rec: Recording, seg: RecordingSegment, *, interruptible: bool = True) -> bool | None:
    """Probe an old sid; if Agora's failover brought it back (new uid, bak files), stop the duplicate.

    Returns True when the old sid answered (and was stopped), False when it stayed 404 through the same
    5/10/15 s backoff a check uses, None when a stop request cut the probe short.
    """
    delays: tuple[float, ...] = (0.0,)
    if workflow.patched(patches.PROBE_BACKOFF):
        delays += policy.NOT_FOUND_DELAYS
    result: QueryResult | None = None
    for i, delay in enumerate(delays):
        summary = f"failover probe of old sid {seg.sid}: 404, try {i} of {len(delays) - 1}"
        if delay and interruptible and await rec.sleep(delay, summary):
            return None
        if delay and not interruptible:
            # While stopping, the probe must run to its end: a stop request does not cut this wait short.
            await workflow.sleep(delay, summary=summary)
        result = await segments.query(rec, seg, f"failover probe of old sid {seg.sid}", interruptible=interruptible)
        if result is not None and result.found:
            if result.status in policy.RECORDER_EXIT_STATUSES and workflow.patched(patches.PROBE_SEES_EXIT):
                return False  # it ended for good: nothing came back
            break
        if result is None and interruptible and rec.stop_requested:
            return None
    if result is None or not result.found:
        if interruptible and workflow.patched(patches.PROBES_BESIDE_CHECKS):
            return await stop_if_still_running(
                rec, seg, "query answered 404 through the failover window, yet stop found it running"
            )
        return False
    # Agora reports the migrated task's new uid (NCS event 12); a query may or may not echo it.
    seg.failover_uid = result.uid if result.uid and result.uid != seg.uid else None
    for name in result.m3u8_names:
        if name not in seg.m3u8_names:
            seg.m3u8_names.append(name)
    workflow.logger.warning("old sid %s came back after failover; stopping the duplicate", seg.sid)
    seg.ended_at = None
    await segments.stop(rec, seg, "failover_duplicate", "came back after Agora's failover; stopped as a duplicate")
    return True


async def stop_if_still_running(rec: Recording, seg: RecordingSegment, why: str) -> bool:
    """Send stop to an old sid taken for gone: stop is answered per task, so a live one is stopped as a duplicate.

    Used when its query stayed 404 through the failover window (an Agora-side fault: the task would otherwise
    record beside its successor until maxIdleTime) and when a start on its uid answered 53. Returns True when it
    was still running; otherwise the segment keeps how it ended.
    """
    kept = (seg.ended_at, seg.end_reason, seg.detail, rec.state.last_error)
    if await segments.stop(rec, seg, "failover_duplicate", why) == "stopped":
        workflow.logger.warning("old sid %s, taken for gone, was running; stopped it (%s)", seg.sid, why)
        return True
    seg.ended_at, seg.end_reason, seg.detail, rec.state.last_error = kept
    return False


async def stop_conflicting(rec: Recording, uid: str) -> None:
    """Stop every old sid of this workflow on `uid` that was closed as exited but never stopped.

    A start answered 53 proves a recorder with that uid is running in the channel: if it is one of ours that was
    taken for gone (404s), it is a duplicate, stopped now rather than at its failover probe.
    """
    for seg in rec.state.segments:
        if seg.uid == uid and seg.sid is not None and seg.end_reason == "recorder_exited":
            why = "still running: a start on its uid answered 53; stopped as a duplicate"
            if await stop_if_still_running(rec, seg, why):
                rec.state.probes = [p for p in rec.state.probes if p.segment_index != seg.index]
