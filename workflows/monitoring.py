"""Rules 4 and 6: check the running recorder on a durable timer, back off on 404 and 50x, restart one that quit.

Rule 4: a healthy status carries on; 404 is re-checked after 5, 10 and 15 s, and still 404 means the recorder quit,
so a new one starts on the other uid (and the old sid is probed later, rule 5); 50x is retried at 5/10/15/30 s and
checking goes on, never a restart; a persistent 40x is surfaced as a fault. Rule 6: the M3U8 names spliced from the
sid are confirmed from query 15 s (mix) or 60 s (individual) after the start, retried every minute.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import names, patches, policy
    from workflows.models import QueryResult, RecordingSegment

from workflows import calls, failover, segments
from workflows.state import Recording


async def wait_for_due_work(rec: Recording) -> None:
    """Sleep until the next check, M3U8 check, failover probe or the planned end (a stop request wakes it)."""
    due, what = _next_due(rec)
    await rec.sleep((due - workflow.now()).total_seconds(), what, nudgeable=True)


def _next_due(rec: Recording) -> tuple[datetime, str]:
    seg = rec.current()
    assert seg is not None
    state = rec.state
    candidates: list[tuple[datetime, str]] = []
    if state.next_check_at is not None:
        candidates.append((state.next_check_at, f"next check of sid {seg.sid}"))
    if state.m3u8_check_due_at is not None:
        candidates.append((state.m3u8_check_due_at, f"M3U8 name check of sid {seg.sid}"))
    for probe in state.probes:
        if probe.segment_index in rec.probing:
            continue
        old = state.segments[probe.segment_index]
        candidates.append((probe.due_at, f"failover probe of old sid {old.sid}"))
    if rec.planned_end is not None:
        candidates.append((rec.planned_end, "planned end of the recording"))
    if not candidates:
        candidates.append((workflow.now() + timedelta(seconds=rec.request.effective_check_interval), "next check"))
    return min(candidates, key=lambda c: c[0])


async def do_due_work(rec: Recording) -> None:
    """Run what has fallen due: failover probes (beside the loop in newer histories), then the check."""
    now = workflow.now()
    due = [p for p in rec.state.probes if p.due_at <= now and p.segment_index not in rec.probing]
    if due and workflow.patched(patches.PROBES_BESIDE_CHECKS):
        for probe in due:
            failover.probe_beside(rec, probe)
        due = []
    for probe in due:
        outcome = await failover.probe_failover(rec, rec.state.segments[probe.segment_index])
        if outcome is not None:  # cut short by a stop: the stop path watches it instead
            rec.state.probes.remove(probe)
    seg = rec.current()
    if seg is None:
        return
    check_due = rec.state.next_check_at is not None and rec.state.next_check_at <= now
    m3u8_due = rec.state.m3u8_check_due_at is not None and rec.state.m3u8_check_due_at <= now
    if check_due or m3u8_due:
        await _check(rec, seg)


async def _check(rec: Recording, seg: RecordingSegment) -> None:
    """Rule 4: one health check, with the 404 backoff and the restart decision."""
    state = rec.state
    now = workflow.now()
    due = state.m3u8_check_due_at
    if due is not None and due <= now:
        # Rule 6: "If the first query call fails, you can try again after one minute."
        state.m3u8_tries += 1
        retry = state.m3u8_tries < policy.M3U8_MAX_TRIES
        state.m3u8_check_due_at = now + timedelta(seconds=policy.M3U8_RETRY_AFTER) if retry else None
    state.checks += 1
    rec.checks_this_run += 1
    state.next_check_at = workflow.now() + timedelta(seconds=rec.request.effective_check_interval)
    try:
        result = await segments.query(rec, seg, f"check sid {seg.sid}", raise_errors=True)
    except calls.FAILURES as err:
        kind = calls.failure_type(err)
        state.last_error = f"query: {calls.failure_text(err)}"
        # 50x and friends say nothing about the recorder: keep checking, no restart. A 40x is a parameter fault
        # that checking again will not cure: surface it (phase and reason) and keep watching.
        rec.set_phase("checking" if kind in names.ErrorType.SWITCH_UID | names.ErrorType.QUOTA else "fault")
        return
    if result is None:
        return
    if result.found:
        segments.absorb(rec, seg, result)
        if result.status in policy.RECORDER_EXIT_STATUSES:
            await _recorder_quit(rec, seg, workflow.now(), f"query status {result.status}")
        else:
            _healthy(rec, result)
        return
    first_404 = workflow.now()
    rec.set_phase("checking")
    tries = len(policy.NOT_FOUND_DELAYS)
    for i, delay in enumerate(policy.NOT_FOUND_DELAYS, start=1):
        rec.count("recording_not_found_backoffs", "query 404 backoff steps")
        if await rec.sleep(delay, f"backoff after 404 on sid {seg.sid}, try {i} of {tries}"):
            return
        again = await segments.query(rec, seg, f"re-check sid {seg.sid} after 404 ({i} of {tries})")
        if again is None:
            if rec.stop_requested:
                return
            continue
        if again.found:
            segments.absorb(rec, seg, again)
            _healthy(rec, again)
            return
    await _recorder_quit(rec, seg, first_404, f"query answered 404 for {sum(policy.NOT_FOUND_DELAYS):g} s")


def _healthy(rec: Recording, result: QueryResult) -> None:
    rec.state.last_healthy_at = workflow.now()
    rec.state.last_error = None
    rec.set_phase("recording")


async def _recorder_quit(rec: Recording, seg: RecordingSegment, since: datetime, why: str) -> None:
    """The recorder is gone: close its segment, schedule the failover probe (rule 5), restart on the other uid."""
    workflow.logger.warning("recorder sid %s quit (%s); restarting on the other uid", seg.sid, why)
    state = rec.state
    seg.ended_at = state.last_healthy_at if state.last_healthy_at else since
    seg.end_reason = "recorder_exited"
    seg.detail = why
    failover.probe_old_sid(rec, seg, since)
    state.restarts += 1
    rec.count("recording_restarts", "recorders restarted after they quit")
    state.next_uid = policy.other_uid(rec.request, seg.uid)
    state.next_check_at = None
    state.m3u8_check_due_at = None
    rec.set_phase("restarting")
