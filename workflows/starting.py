"""Rules 1, 2 and 3: start a recorder, confirm it is up, and move to the other uid when it is not.

Rule 1: acquire and start as one unit; a 50x is retried at 3/6/9 s with the same resource (the activity's schedule),
then the unit runs again on the other uid. Rule 2: query 5 s after the sid, then with backoff, until status 4 or 5 or
Agora's 90 s are up. Rule 3: every new unit uses the uid the previous one did not, so two recorders never share one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import CancelledError as TemporalCancelledError

with workflow.unsafe.imports_passed_through():
    from workflows import names, patches, policy
    from workflows.models import AcquireInput, RecordingSegment, StartInput

from workflows import calls, failover, segments
from workflows.state import Recording


class _Attempts:
    """Where a start is at: the uid to try next, and how many units and re-acquires have failed so far."""

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self.failed_units = 0
        self.reacquires = 0

    async def failed(self, rec: Recording, what: str) -> None:
        """One unit failed: count it, move to the other uid, and pause once both uids have failed in a round."""
        rec.state.failed_starts += 1
        rec.count("recording_failed_starts", "start units that failed and moved to the other uid")
        self.failed_units += 1
        self.uid = policy.other_uid(rec.request, self.uid)
        if self.failed_units % 2 == 0:
            pause = policy.capped_delay(policy.START_ROUND_PAUSES, self.failed_units // 2)
            await rec.sleep(pause, f"both uids failed to {what}: wait {pause:g} s, then uid {self.uid}")


async def start_until_running(rec: Recording) -> None:
    """Acquire+start on the next uid until a recorder is confirmed, switching uid after each failed unit."""
    attempts = _Attempts(rec.state.next_uid)
    while not rec.stop_requested and not rec.deadline_passed():
        rec.set_phase("restarting" if rec.state.segments else "starting")
        try:
            seg = await _acquire_and_start(rec, attempts.uid)
        except ActivityError as err:
            if isinstance(err.__cause__, TemporalCancelledError):
                # The workflow was cancelled while acquire was in flight: that is a stop, not a refusal.
                rec.begin_stop("cancelled")
                return
            await _start_failed(rec, attempts, err)
            continue
        rec.state.next_uid = policy.other_uid(rec.request, seg.uid)
        if await _confirm(rec, seg):
            rec.set_phase("recording")
            rec.state.next_check_at = workflow.now() + timedelta(seconds=rec.request.effective_check_interval)
            return
        if rec.stop_requested:
            return
        # Rule 2: not up within Agora's window: stop that sid (best effort) and start on the other uid.
        outcome = await segments.stop(rec, seg, "not_confirmed", rec.unconfirmed_why)
        since = rec.unconfirmed_404_since
        if (
            since is not None
            and outcome in (None, "already_gone")
            and workflow.patched(patches.PROBE_AFTER_UNCONFIRMED_404)
        ):
            # 404 to query and to stop is also what a migrating recorder answers: probe it once the window has passed.
            failover.probe_old_sid(rec, seg, since)
        await attempts.failed(rec, "come up")


async def _start_failed(rec: Recording, attempts: _Attempts, err: ActivityError) -> None:
    """Decide what a failed acquire or start leads to: the same uid again, the other uid, or a refusal."""
    uid = attempts.uid
    kind = calls.failure_type(err)
    rec.state.last_error = f"start on uid {uid}: {calls.failure_text(err)}"
    if kind in names.ErrorType.QUOTA:
        # 429 and 406 say nothing about the uid: back off and try the same one again.
        await rec.sleep(policy.OVER_QUOTA_DELAYS[-1], f"{kind} on start: wait before trying uid {uid}")
        return
    if kind in names.ErrorType.NEW_RESOURCE and attempts.reacquires < policy.NEW_RESOURCE_REACQUIRES:
        if kind != names.ErrorType.WORKER_ALLOCATION_FAILED or workflow.patched(
            patches.REACQUIRE_AFTER_ALLOCATION_FAILURE
        ):
            attempts.reacquires += 1
            return
    if kind == names.ErrorType.ALREADY_STARTED and rec.start_resource_id is not None:
        # Rule 1: Agora started a recorder on this resource but its duplicate-start answer named no sid.
        # Keep it in the manifest by its resourceId; it ends at maxIdleTime once the class is over.
        now = workflow.now()
        rec.state.segments.append(
            RecordingSegment(
                index=len(rec.state.segments),
                uid=uid,
                resource_id=rec.start_resource_id,
                sid=None,
                started_at=now,
                ended_at=now,
                end_reason="sid_unknown",
                detail="Agora accepted the start but its duplicate-start answer carried no sid",
                line=rec.line,
            )
        )
    if kind == names.ErrorType.TASK_CONFLICT and workflow.patched(patches.PROBES_BESIDE_CHECKS):
        # Code 53: a recorder with this uid is running in the channel; if it is one of ours, stop it now.
        await failover.stop_conflicting(rec, uid)
    if kind == names.ErrorType.ALREADY_STARTED or kind in names.ErrorType.SWITCH_UID:
        await attempts.failed(rec, "start")
        return
    # A 40x (invalid parameter, credentials) or the worker's own refusal: fail at once with the reason.
    if kind in names.ErrorType.LOCAL:
        why = f"the worker refused to start a recorder on uid {uid}; nothing was sent to Agora (local configuration)"
    else:
        why = f"Agora refused to start a recorder on uid {uid}"
    raise ApplicationError(f"{why}: {calls.failure_text(err)}", type=kind, non_retryable=True) from None


async def _ha_registered(rec: Recording, seg: RecordingSegment) -> bool:
    """Agora's opt-in rule: event 13 must arrive within 10 s of the start; wait for it until then."""
    left = policy.HA_REGISTER_WITHIN - (workflow.now() - seg.started_at).total_seconds()
    if not seg.ha_registered and left > 0:
        await rec.sleep(left, f"wait for sid {seg.sid}'s high-availability registration (event 13)", nudgeable=True)
    return seg.ha_registered


async def _acquire_and_start(rec: Recording, uid: str) -> RecordingSegment:
    """Rule 1: acquire and start as one unit; a start whose sid comes back is recorded at once."""
    now = workflow.now()
    rec.start_resource_id = None
    expires = policy.resource_expired_hour(rec.request, now, rec.planned_end)
    acquire = AcquireInput(
        channel=rec.request.channel,
        uid=uid,
        mode=rec.request.mode,
        resource_expired_hour=expires,
        exclude_resource_ids=rec.resources_to_avoid(),
    )
    acquired = await calls.ACQUIRE(acquire, f"acquire resource for uid {uid}")
    rec.start_resource_id = acquired.resource_id
    start = StartInput(
        request=rec.request,
        uid=uid,
        resource_id=acquired.resource_id,
        token_expire_seconds=policy.token_expire_seconds(now, rec.planned_end),
        resource_expired_hour=expires,
    )
    handle = calls.START.start(start, f"start recorder on uid {uid}")
    # A start in flight is never abandoned: once Agora may have a recorder, its sid must reach the manifest.
    started = await rec.uncancellable(handle)
    seg = RecordingSegment(
        index=len(rec.state.segments),
        uid=uid,
        resource_id=started.resource_id,
        sid=started.sid,
        started_at=workflow.now(),
        sid_recovered=started.recovered,
        m3u8_names=list(started.m3u8_names),  # Rule 6: spliced from the sid at once.
        line=rec.line,
    )
    rec.state.segments.append(seg)
    rec.state.m3u8_check_due_at = seg.started_at + timedelta(seconds=policy.M3U8_QUERY_AFTER[rec.request.mode])
    rec.state.m3u8_tries = 0
    rec.publish()
    workflow.logger.info("recorder started on uid %s: sid %s", uid, seg.sid)
    return seg


async def _confirm(rec: Recording, seg: RecordingSegment) -> bool:
    """Rule 2: query 5 s after the sid, then with backoff, until status 4 or 5 or Agora's 90 s are up."""
    rec.set_phase("confirming")
    deadline = seg.started_at + timedelta(seconds=policy.CONFIRM_WINDOW)
    delays = policy.confirm_delays(rec.request.max_idle_time)
    rec.unconfirmed_why = "not up within 90 s"
    rec.unconfirmed_404_since = None
    first_404: datetime | None = None
    for i, delay in enumerate(delays, start=1):
        if await rec.sleep(delay, f"confirm sid {seg.sid}: query {i} of {len(delays)}", nudgeable=True):
            return False
        result = await segments.query(rec, seg, f"confirm sid {seg.sid}")
        if result is None:
            if rec.stop_requested:
                return False
        else:
            segments.absorb(rec, seg, result)
            if result.found and result.status in policy.RECORDER_UP_STATUSES:
                if rec.request.ha_check and not await _ha_registered(rec, seg):
                    within = policy.HA_REGISTER_WITHIN
                    rec.unconfirmed_why = f"no high-availability registration (event 13) within {within:g} s"
                    return False
                seg.confirmed_at = workflow.now()
                rec.state.last_healthy_at = seg.confirmed_at
                return True
            if result.found and result.status in policy.RECORDER_EXIT_STATUSES:
                rec.unconfirmed_why = f"query status {result.status} while confirming"
                return False
            if result.found:
                rec.unconfirmed_why = f"status {result.status} after 90 s"
                first_404 = None
            elif workflow.patched(patches.CONFIRM_404_BACKOFF):
                # Rule 4's 404 backoff applies here too: 404 through 5+10+15 s means it did not start or quit.
                first_404 = first_404 or workflow.now()
                lasted = (workflow.now() - first_404).total_seconds()
                if lasted >= sum(policy.NOT_FOUND_DELAYS):
                    rec.unconfirmed_why = f"query answered 404 for {lasted:g} s while confirming"
                    rec.unconfirmed_404_since = first_404
                    return False
        if workflow.now() >= deadline:
            break
    return False
