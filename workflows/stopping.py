"""Rule 8: on every way out (a stop request, cancellation, the planned end, a refused start) no recorder keeps running.

A stop that Agora answers with 404 may be hitting a failover in progress (rule 5), so the workflow keeps probing that
sid until its 90 s window has passed and stops it if it comes back, before it reports the recording stopped.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import patches, policy
    from workflows.models import FailoverProbe

from workflows import failover, segments
from workflows.state import Recording


async def stop_all(rec: Recording) -> None:
    """Stop every recorder this workflow may still have running in Agora."""
    rec.set_phase("stopping")
    if workflow.patched(patches.STOP_WATCHES_FAILOVER):
        await _stop_all_watching_failovers(rec)
        return
    # An old sid whose failover window is still open may come back after we finish: probe it now.
    for probe in list(rec.state.probes):
        rec.state.probes.remove(probe)
        await failover.probe_failover(rec, rec.state.segments[probe.segment_index])
    for seg in rec.state.segments:
        if seg.ended_at is None and seg.sid is not None:
            await segments.stop(rec, seg, "stopped", f"stop: {rec.state.stop_trigger}")


async def _stop_all_watching_failovers(rec: Recording) -> None:
    """Stop every running sid, then watch each sid that answered 404 until its failover window has passed.

    During a migration Agora answers 404 to query and stop for up to 90 s, then the task is back. A 404 at the moment
    the class ends proves nothing, so the workflow keeps probing (the probes run even though a stop was requested)
    and stops any sid that comes back, before it reports the recording as stopped.
    """
    state = rec.state
    for seg in state.segments:
        if seg.ended_at is None and seg.sid is not None:
            outcome = await segments.stop(rec, seg, "stopped", f"stop: {state.stop_trigger}")
            if outcome == "already_gone":
                due = workflow.now() + timedelta(seconds=policy.FAILOVER_WINDOW)
                state.probes.append(FailoverProbe(segment_index=seg.index, due_at=due))
    while state.probes:
        for probe in list(state.probes):
            found = await failover.probe_failover(rec, state.segments[probe.segment_index], interruptible=False)
            if found or workflow.now() >= probe.due_at:
                state.probes.remove(probe)
        if state.probes:
            next_due = min(p.due_at for p in state.probes)
            wait = min(policy.STOP_PROBE_INTERVAL, max(1.0, (next_due - workflow.now()).total_seconds()))
            await workflow.sleep(timedelta(seconds=wait), summary="failover window still open: probe again")
