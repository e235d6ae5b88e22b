"""RecordingWorkflow: one Agora Cloud Recording session, kept alive by Agora's integration best practices.

Deterministic code only: time comes from `workflow.now()`, every Agora call is an activity, every wait a durable timer.
The rules it follows (numbered as in the product's README) are spelled out in `workflows.policy`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import CancelledError as TemporalCancelledError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from workflows import names, policy
    from workflows.models import (
        AcquireInput,
        AcquireResult,
        FailoverProbe,
        LayoutUpdate,
        Phase,
        QueryInput,
        QueryResult,
        RecordingGap,
        RecordingInput,
        RecordingManifest,
        RecordingSegment,
        RecordingState,
        RecordingStatus,
        SegmentEnd,
        StartInput,
        StartResult,
        StopInput,
        StopRequest,
        StopResult,
        StopTrigger,
        SubscriptionUpdate,
        UpdateInput,
        UpdateResult,
    )

T = TypeVar("T")

# Agora calls answer in seconds; Temporal retries them on the schedules the activities pick (next_retry_delay).
# The initial interval also covers a worker that died mid-call: the retry comes 3 s after the call timed out.
AGORA_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=3),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=12,
)
# Stop never gives up by itself: a recorder left running is the failure this product exists to prevent.
STOP_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=3), backoff_coefficient=2.0, maximum_interval=timedelta(seconds=60)
)
STOP_GIVE_UP_AFTER = timedelta(minutes=30)
# After both uids failed to start, wait longer before the next round (the class is still going: keep trying).
START_ROUND_PAUSES: tuple[float, ...] = (15.0, 30.0, 60.0, 120.0, 300.0)
# Marks histories where stopping watches 404ing sids through Agora's failover window (rule 5) before finishing.
# Histories written before it skipped that watch; the patch keeps them replayable.
PATCH_STOP_WATCHES_FAILOVER = "stop-watches-failover-window"
# Marks histories where a failover probe retries a 404 at 5/10/15 s (as a check does) before deciding the old task is
# gone: one 404 is not proof, and a missed comeback leaves a duplicate recorder running.
PATCH_PROBE_BACKOFF = "failover-probe-backoff"
# Marks histories where queries are local activities run by the workflow worker: a check costs one workflow task and
# six events instead of two and eleven. Histories written before it scheduled queries on the `-query` task queue.
PATCH_LOCAL_QUERIES = "queries-as-local-activities"
# Marks histories where a failover probe runs beside the monitor loop instead of inside it, so its 404 backoff
# (up to 30 s) never delays the current recorder's check.
PATCH_PROBES_BESIDE_CHECKS = "probes-beside-checks"
# Marks histories where confirming gives up once query has answered 404 through the 5/10/15 s backoff (Agora: the
# recording did not start or quit), instead of waiting out the whole 90 s window before the other uid is tried.
PATCH_CONFIRM_404_BACKOFF = "confirm-gives-up-after-404-backoff"


# How a failed activity reaches the workflow: wrapped in ActivityError, or (local activities) as the failure itself.
ACTIVITY_FAILURES = (ActivityError, ApplicationError, TemporalTimeoutError)


def _failure_type(err: BaseException) -> str | None:
    """The ApplicationError type behind an activity failure ("AgoraTimeout" when the activity itself timed out)."""
    cause = err.__cause__ if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.type
    if isinstance(cause, TemporalTimeoutError):
        return names.ErrorType.TIMEOUT
    return None


def _failure_text(err: BaseException) -> str:
    cause = err.__cause__ if isinstance(err, ActivityError) and err.__cause__ else err
    return str(cause) or type(cause).__name__


@workflow.defn(name=names.WORKFLOW_NAME)
class RecordingWorkflow:
    """Record one channel until stopped: start, confirm, monitor, restart on the other uid, stop, report."""

    @workflow.init
    def __init__(self, params: RecordingInput) -> None:
        self._request = params.request
        self._state = params.state or RecordingState(started_at=workflow.now(), next_uid=params.request.uid)
        self._stop_requested = self._state.stop_trigger is not None
        self._final: RecordingManifest | None = None
        self._checks_this_run = 0
        # The resource of the start in flight, so a start Agora accepted without naming the sid is still recorded.
        self._start_resource_id: str | None = None
        # Why the last confirm failed, for the stopped segment's detail.
        self._unconfirmed_why = ""
        self._published: dict[str, Any] = {}
        # Segment indexes whose failover probe is running beside the monitor loop.
        self._probing: set[int] = set()
        self._probe_tasks: set[asyncio.Task[None]] = set()
        self._shown: tuple[Any, ...] = ()
        self._planned_end = policy.planned_end(self._request, self._state.started_at)
        queue = workflow.info().task_queue
        self._control_queue = names.control_queue(queue)
        self._query_queue = names.query_queue(queue)

    # --- entry point -------------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, params: RecordingInput) -> RecordingManifest:
        """Record until a stop request, cancellation, the planned end, or a start Agora refuses."""
        failure: ApplicationError | None = None
        try:
            await self._main()
        except asyncio.CancelledError:
            self._begin_stop("cancelled")
        except (ApplicationError, ActivityError) as err:
            failure = (
                err
                if isinstance(err, ApplicationError)
                else ApplicationError(_failure_text(err), type=_failure_type(err), non_retryable=True)
            )
            self._state.last_error = str(failure)
            self._begin_stop("failed")
        if self._probing:
            # A probe stopping a duplicate finishes that stop; the others end at once now that a stop is requested.
            await workflow.wait_condition(lambda: not self._probing)
        # Rule 8: no path ends the workflow with a recorder still running.
        await self._stop_all()
        self._set_phase("failed" if failure else "stopped")
        self._final = self._manifest()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if failure is not None:
            raise failure
        return self._final

    async def _main(self) -> None:
        self._publish()
        if self._state.probes and workflow.patched(PATCH_PROBES_BESIDE_CHECKS):
            for probe in self._state.probes:  # carried over by continue-as-new
                self._probe_beside(probe)
        while not self._stop_requested:
            if self._deadline_passed():
                break
            current = self._current()
            if current is None:
                await self._start_until_running()
                continue
            await self._wait_for_due_work()
            if self._stop_requested or self._deadline_passed():
                break
            await self._do_due_work()
            await self._maybe_continue_as_new()

    # --- messages ----------------------------------------------------------------------------------------------

    @workflow.update
    async def stop(self, request: StopRequest) -> RecordingManifest:
        """Stop the recording, wait for Agora's upload status, and return the final manifest."""
        self._begin_stop("requested")
        await workflow.wait_condition(lambda: self._final is not None)
        assert self._final is not None
        return self._final

    @workflow.signal
    def request_stop(self, request: StopRequest) -> None:
        """Fire-and-forget stop: the workflow stops the recorder and completes."""
        self._begin_stop("requested")

    @workflow.query
    def status(self) -> RecordingStatus:
        """The live view: phase, current uid and sid, restarts, last status, M3U8 names."""
        seg = self._current() or (self._state.segments[-1] if self._state.segments else None)
        return RecordingStatus(
            channel=self._request.channel,
            mode=self._request.mode,
            phase=self._state.phase,
            uid=seg.uid if seg else None,
            sid=seg.sid if seg else None,
            resource_id=seg.resource_id if seg else None,
            restarts=self._state.restarts,
            failed_starts=self._state.failed_starts,
            checks=self._state.checks,
            runs=self._state.runs,
            last_status=self._state.last_status,
            last_error=self._state.last_error,
            m3u8_names=[n for s in self._state.segments for n in s.m3u8_names],
            segments=len(self._state.segments),
            started_at=self._state.started_at,
            planned_end=self._planned_end,
        )

    @workflow.query
    def manifest(self) -> RecordingManifest:
        """The manifest so far (final once the workflow has completed)."""
        return self._final or self._manifest()

    @workflow.update
    async def update_subscription(self, update: SubscriptionUpdate) -> UpdateResult:
        """Replace the running recorder's subscription lists (Agora's update)."""
        return await self._update(subscription=update)

    @update_subscription.validator
    def _validate_subscription(self, update: SubscriptionUpdate) -> None:
        self._require_running()

    @workflow.update
    async def update_layout(self, update: LayoutUpdate) -> UpdateResult:
        """Replace the mixed layout of the running recorder (mix mode only)."""
        return await self._update(layout=update)

    @update_layout.validator
    def _validate_layout(self, update: LayoutUpdate) -> None:
        if self._request.mode != "mix":
            raise ValueError(f"update_layout is only for mix mode; this recording is {self._request.mode}")
        self._require_running()

    def _require_running(self) -> None:
        seg = self._current()
        if self._stop_requested or seg is None or seg.confirmed_at is None:
            raise ValueError("no confirmed recorder is running: try again once the phase is 'recording'")

    async def _update(
        self, *, subscription: SubscriptionUpdate | None = None, layout: LayoutUpdate | None = None
    ) -> UpdateResult:
        seg = self._current()
        if seg is None or seg.sid is None:
            raise ApplicationError("the recorder stopped before the update could be sent", non_retryable=True)
        params = UpdateInput(
            channel=self._request.channel,
            uid=seg.uid,
            mode=self._request.mode,
            resource_id=seg.resource_id,
            sid=seg.sid,
            subscription=subscription,
            layout=layout,
        )
        result: UpdateResult = await workflow.execute_activity(
            names.UPDATE,
            params,
            result_type=UpdateResult,
            task_queue=self._control_queue,
            start_to_close_timeout=policy.CALL_TIMEOUT,
            retry_policy=AGORA_RETRY,
            summary=f"update sid {seg.sid}",
        )
        return result

    # --- rule 1, 2, 3: start, confirm, alternate uids --------------------------------------------------------

    async def _start_until_running(self) -> None:
        """Acquire+start on the next uid until a recorder is confirmed, switching uid after each failed unit."""
        uid = self._state.next_uid
        failed_units = 0
        reacquires = 0
        while not self._stop_requested and not self._deadline_passed():
            self._set_phase("restarting" if self._state.segments else "starting")
            try:
                started = await self._acquire_and_start(uid)
            except ActivityError as err:
                if isinstance(err.__cause__, TemporalCancelledError):
                    # The workflow was cancelled while acquire was in flight: that is a stop, not a refusal.
                    self._begin_stop("cancelled")
                    return
                kind = _failure_type(err)
                self._state.last_error = f"start on uid {uid}: {_failure_text(err)}"
                if kind in names.ErrorType.QUOTA:
                    # 429 and 406 say nothing about the uid: back off and try the same one again.
                    await self._sleep(policy.OVER_QUOTA_DELAYS[-1], f"{kind} on start: wait before trying uid {uid}")
                    continue
                if kind == names.ErrorType.RESOURCE_EXPIRED and reacquires < policy.RESOURCE_EXPIRED_REACQUIRES:
                    reacquires += 1
                    continue
                if kind == names.ErrorType.ALREADY_STARTED and self._start_resource_id is not None:
                    # Rule 1: Agora started a recorder on this resource but its duplicate-start answer named no sid.
                    # Keep it in the manifest by its resourceId; it ends at maxIdleTime once the class is over.
                    now = workflow.now()
                    self._state.segments.append(
                        RecordingSegment(
                            index=len(self._state.segments),
                            uid=uid,
                            resource_id=self._start_resource_id,
                            sid=None,
                            started_at=now,
                            ended_at=now,
                            end_reason="sid_unknown",
                            detail="Agora accepted the start but its duplicate-start answer carried no sid",
                        )
                    )
                if kind == names.ErrorType.TASK_CONFLICT and workflow.patched(PATCH_PROBES_BESIDE_CHECKS):
                    # Code 53: a recorder with this uid is running in the channel. If it is one of ours that was
                    # taken for dead (404s), it is a duplicate: stop it now rather than at its failover probe.
                    await self._stop_conflicting(uid)
                if kind == names.ErrorType.ALREADY_STARTED or kind in names.ErrorType.SWITCH_UID:
                    self._state.failed_starts += 1
                    self._count("recording_failed_starts", "start units that failed and moved to the other uid")
                    failed_units += 1
                    uid = policy.other_uid(self._request, uid)
                    if failed_units % 2 == 0:
                        pause = policy.capped_delay(START_ROUND_PAUSES, failed_units // 2)
                        await self._sleep(pause, f"both uids failed to start: wait {pause:g} s, then uid {uid}")
                    continue
                # A 40x (invalid parameter, credentials, unknown storage profile): fail at once with the reason.
                raise ApplicationError(
                    f"Agora refused to start a recorder on uid {uid}: {_failure_text(err)}",
                    type=kind,
                    non_retryable=True,
                ) from None
            seg = started
            self._state.next_uid = policy.other_uid(self._request, seg.uid)
            if await self._confirm(seg):
                self._set_phase("recording")
                self._state.next_check_at = workflow.now() + timedelta(seconds=self._request.effective_check_interval)
                return
            if self._stop_requested:
                return
            # Rule 2: not up within Agora's window: stop that sid (best effort) and start on the other uid.
            await self._stop_segment(seg, "not_confirmed", self._unconfirmed_why)
            self._state.failed_starts += 1
            self._count("recording_failed_starts", "start units that failed and moved to the other uid")
            failed_units += 1
            uid = self._state.next_uid
            if failed_units % 2 == 0:
                pause = policy.capped_delay(START_ROUND_PAUSES, failed_units // 2)
                await self._sleep(pause, f"both uids failed to come up: wait {pause:g} s, then uid {uid}")

    async def _stop_conflicting(self, uid: str) -> None:
        """Stop every old sid of this workflow on `uid` that was closed as exited but never stopped (rule 5)."""
        for seg in self._state.segments:
            if seg.uid == uid and seg.sid is not None and seg.end_reason == "recorder_exited":
                why = "still running: a start on its uid answered 53; stopped as a duplicate"
                if await self._stop_if_still_running(seg, why):
                    self._state.probes = [p for p in self._state.probes if p.segment_index != seg.index]

    async def _acquire_and_start(self, uid: str) -> RecordingSegment:
        """Rule 1: acquire and start as one unit; a start whose sid comes back is recorded at once."""
        now = workflow.now()
        self._start_resource_id = None
        acquired = await workflow.execute_activity(
            names.ACQUIRE,
            AcquireInput(
                channel=self._request.channel,
                uid=uid,
                mode=self._request.mode,
                resource_expired_hour=policy.resource_expired_hour(self._request, now, self._planned_end),
            ),
            result_type=AcquireResult,
            task_queue=self._control_queue,
            start_to_close_timeout=policy.CALL_TIMEOUT,
            retry_policy=AGORA_RETRY,
            summary=f"acquire resource for uid {uid}",
        )
        self._start_resource_id = acquired.resource_id
        handle = workflow.start_activity(
            names.START,
            StartInput(
                request=self._request,
                uid=uid,
                resource_id=acquired.resource_id,
                token_expire_seconds=policy.token_expire_seconds(now, self._planned_end),
            ),
            result_type=StartResult,
            task_queue=self._control_queue,
            start_to_close_timeout=policy.CALL_TIMEOUT,
            retry_policy=AGORA_RETRY,
            summary=f"start recorder on uid {uid}",
        )
        # A start in flight is never abandoned: once Agora may have a recorder, its sid must reach the manifest.
        started = await self._uncancellable(handle)
        seg = RecordingSegment(
            index=len(self._state.segments),
            uid=uid,
            resource_id=started.resource_id,
            sid=started.sid,
            started_at=workflow.now(),
            sid_recovered=started.recovered,
            m3u8_names=list(started.m3u8_names),  # Rule 6: spliced from the sid at once.
        )
        self._state.segments.append(seg)
        self._state.m3u8_check_due_at = seg.started_at + timedelta(seconds=policy.M3U8_QUERY_AFTER[self._request.mode])
        self._state.m3u8_tries = 0
        self._publish()
        workflow.logger.info("recorder started on uid %s: sid %s", uid, seg.sid)
        return seg

    async def _confirm(self, seg: RecordingSegment) -> bool:
        """Rule 2: query 5 s after the sid, then with backoff, until status 4 or 5 or Agora's 90 s are up."""
        self._set_phase("confirming")
        deadline = seg.started_at + timedelta(seconds=policy.CONFIRM_WINDOW)
        delays = policy.confirm_delays(self._request.max_idle_time)
        self._unconfirmed_why = "not up within 90 s"
        first_404: datetime | None = None
        for i, delay in enumerate(delays, start=1):
            if await self._sleep(delay, f"confirm sid {seg.sid}: query {i} of {len(delays)}"):
                return False
            result = await self._query(seg, f"confirm sid {seg.sid}")
            if result is None:
                if self._stop_requested:
                    return False
            else:
                self._absorb(seg, result)
                if result.found and result.status in policy.RECORDER_UP_STATUSES:
                    seg.confirmed_at = workflow.now()
                    self._state.last_healthy_at = seg.confirmed_at
                    return True
                if result.found and result.status in policy.RECORDER_EXIT_STATUSES:
                    self._unconfirmed_why = f"query status {result.status} while confirming"
                    return False
                if result.found:
                    self._unconfirmed_why = f"status {result.status} after 90 s"
                    first_404 = None
                elif workflow.patched(PATCH_CONFIRM_404_BACKOFF):
                    # Rule 4's 404 backoff applies here too: 404 through 5+10+15 s means it did not start or quit.
                    first_404 = first_404 or workflow.now()
                    lasted = (workflow.now() - first_404).total_seconds()
                    if lasted >= sum(policy.NOT_FOUND_DELAYS):
                        self._unconfirmed_why = f"query answered 404 for {lasted:g} s while confirming"
                        return False
            if workflow.now() >= deadline:
                break
        return False

    # --- rule 4, 5, 6: monitor ------------------------------------------------------------------------------------

    async def _wait_for_due_work(self) -> None:
        due, what = self._next_due()
        await self._sleep((due - workflow.now()).total_seconds(), what)

    def _next_due(self) -> tuple[datetime, str]:
        seg = self._current()
        assert seg is not None
        candidates: list[tuple[datetime, str]] = []
        if self._state.next_check_at is not None:
            candidates.append((self._state.next_check_at, f"next check of sid {seg.sid}"))
        if self._state.m3u8_check_due_at is not None:
            candidates.append((self._state.m3u8_check_due_at, f"M3U8 name check of sid {seg.sid}"))
        for probe in self._state.probes:
            if probe.segment_index in self._probing:
                continue
            old = self._state.segments[probe.segment_index]
            candidates.append((probe.due_at, f"failover probe of old sid {old.sid}"))
        if self._planned_end is not None:
            candidates.append((self._planned_end, "planned end of the recording"))
        if not candidates:
            candidates.append(
                (workflow.now() + timedelta(seconds=self._request.effective_check_interval), "next check")
            )
        return min(candidates, key=lambda c: c[0])

    async def _do_due_work(self) -> None:
        now = workflow.now()
        due = [p for p in self._state.probes if p.due_at <= now and p.segment_index not in self._probing]
        if due and workflow.patched(PATCH_PROBES_BESIDE_CHECKS):
            for probe in due:
                self._probe_beside(probe)
            due = []
        for probe in due:
            outcome = await self._probe_failover(self._state.segments[probe.segment_index])
            if outcome is not None:  # cut short by a stop: the stop path watches it instead
                self._state.probes.remove(probe)
        seg = self._current()
        if seg is None:
            return
        check_due = self._state.next_check_at is not None and self._state.next_check_at <= now
        m3u8_due = self._state.m3u8_check_due_at is not None and self._state.m3u8_check_due_at <= now
        if check_due or m3u8_due:
            await self._check(seg)

    async def _check(self, seg: RecordingSegment) -> None:
        """Rule 4: one health check, with the 404 backoff and the restart decision."""
        now = workflow.now()
        due = self._state.m3u8_check_due_at
        if due is not None and due <= now:
            # Rule 6: "If the first query call fails, you can try again after one minute."
            self._state.m3u8_tries += 1
            retry = self._state.m3u8_tries < policy.M3U8_MAX_TRIES
            self._state.m3u8_check_due_at = now + timedelta(seconds=policy.M3U8_RETRY_AFTER) if retry else None
        self._state.checks += 1
        self._checks_this_run += 1
        self._state.next_check_at = workflow.now() + timedelta(seconds=self._request.effective_check_interval)
        try:
            result = await self._query(seg, f"check sid {seg.sid}", raise_errors=True)
        except ACTIVITY_FAILURES as err:
            kind = _failure_type(err)
            self._state.last_error = f"query: {_failure_text(err)}"
            # 50x and friends say nothing about the recorder: keep checking, no restart. A 40x is a parameter fault
            # that checking again will not cure: surface it (phase and reason) and keep watching.
            self._set_phase("checking" if kind in names.ErrorType.SWITCH_UID | names.ErrorType.QUOTA else "fault")
            return
        if result is None:
            return
        if result.found:
            self._absorb(seg, result)
            if result.status in policy.RECORDER_EXIT_STATUSES:
                await self._recorder_quit(seg, workflow.now(), f"query status {result.status}")
            else:
                self._healthy(result)
            return
        first_404 = workflow.now()
        self._set_phase("checking")
        tries = len(policy.NOT_FOUND_DELAYS)
        for i, delay in enumerate(policy.NOT_FOUND_DELAYS, start=1):
            self._count("recording_not_found_backoffs", "query 404 backoff steps")
            if await self._sleep(delay, f"backoff after 404 on sid {seg.sid}, try {i} of {tries}"):
                return
            again = await self._query(seg, f"re-check sid {seg.sid} after 404 ({i} of {tries})")
            if again is None:
                if self._stop_requested:
                    return
                continue
            if again.found:
                self._absorb(seg, again)
                self._healthy(again)
                return
        await self._recorder_quit(seg, first_404, f"query answered 404 for {sum(policy.NOT_FOUND_DELAYS):g} s")

    def _healthy(self, result: QueryResult) -> None:
        self._state.last_healthy_at = workflow.now()
        self._state.last_error = None
        self._set_phase("recording")

    async def _recorder_quit(self, seg: RecordingSegment, since: datetime, why: str) -> None:
        """The recorder is gone: close its segment, schedule the failover probe (rule 5), restart on the other uid."""
        workflow.logger.warning("recorder sid %s quit (%s); restarting on the other uid", seg.sid, why)
        seg.ended_at = self._state.last_healthy_at if self._state.last_healthy_at else since
        seg.end_reason = "recorder_exited"
        seg.detail = why
        probe = FailoverProbe(segment_index=seg.index, due_at=since + timedelta(seconds=policy.FAILOVER_WINDOW))
        self._state.probes.append(probe)
        if workflow.patched(PATCH_PROBES_BESIDE_CHECKS):
            # The probe keeps its own time, whatever the loop is doing then (checking, starting, backing off).
            self._probe_beside(probe)
        self._state.restarts += 1
        self._count("recording_restarts", "recorders restarted after they quit")
        self._state.next_uid = policy.other_uid(self._request, seg.uid)
        self._state.next_check_at = None
        self._state.m3u8_check_due_at = None
        self._set_phase("restarting")

    def _probe_beside(self, probe: FailoverProbe) -> None:
        """Run one failover probe as its own task, when it is due, so the current recorder's checks keep their time."""
        self._probing.add(probe.segment_index)
        seg = self._state.segments[probe.segment_index]

        async def run() -> None:
            try:
                wait = (probe.due_at - workflow.now()).total_seconds()
                if await self._sleep(wait, f"failover window of old sid {seg.sid}: probe when it has passed"):
                    return  # a stop was requested: the stop path watches this sid
                outcome = await self._probe_failover(seg)
                if outcome is not None and probe in self._state.probes:  # None: a stop cut it short
                    self._state.probes.remove(probe)
            finally:
                self._probing.discard(probe.segment_index)

        task = asyncio.create_task(run())
        self._probe_tasks.add(task)
        task.add_done_callback(self._probe_tasks.discard)

    async def _probe_failover(self, seg: RecordingSegment, *, interruptible: bool = True) -> bool | None:
        """Rule 5: Agora's failover may bring the old task back (new uid, bak files); if so, stop the duplicate.

        Returns True when the old sid answered (and was stopped), False when it stayed 404 through the same
        5/10/15 s backoff a check uses, None when a stop request cut the probe short.
        """
        delays: tuple[float, ...] = (0.0,)
        if workflow.patched(PATCH_PROBE_BACKOFF):
            delays += policy.NOT_FOUND_DELAYS
        result: QueryResult | None = None
        for i, delay in enumerate(delays):
            summary = f"failover probe of old sid {seg.sid}: 404, try {i} of {len(delays) - 1}"
            if delay and interruptible and await self._sleep(delay, summary):
                return None
            if delay and not interruptible:
                # While stopping, the probe must run to its end: a stop request does not cut this wait short.
                await workflow.sleep(delay, summary=summary)
            result = await self._query(seg, f"failover probe of old sid {seg.sid}", interruptible=interruptible)
            if result is not None and result.found:
                break
            if result is None and interruptible and self._stop_requested:
                return None
        if result is None or not result.found:
            if interruptible and workflow.patched(PATCH_PROBES_BESIDE_CHECKS):
                return await self._stop_if_still_running(
                    seg, "query answered 404 through the failover window, yet stop found it running"
                )
            return False
        # Agora reports the migrated task's new uid (NCS event 12); a query may or may not echo it.
        seg.failover_uid = result.uid if result.uid and result.uid != seg.uid else None
        for name in result.m3u8_names:
            if name not in seg.m3u8_names:
                seg.m3u8_names.append(name)
        workflow.logger.warning("old sid %s came back after failover; stopping the duplicate", seg.sid)
        seg.ended_at = None
        await self._stop_segment(
            seg,
            "failover_duplicate",
            "came back after Agora's failover; stopped as a duplicate",
        )
        return True

    async def _stop_if_still_running(self, seg: RecordingSegment, why: str) -> bool:
        """Send stop to an old sid taken for gone: stop is answered per task, so a live one is stopped as a duplicate.

        Used when its query stayed 404 through the failover window (an Agora-side fault: the task would otherwise
        record beside its successor until maxIdleTime) and when a start on its uid answered 53. Returns True when it
        was still running; otherwise the segment keeps how it ended.
        """
        kept = (seg.ended_at, seg.end_reason, seg.detail, self._state.last_error)
        if await self._stop_segment(seg, "failover_duplicate", why) == "stopped":
            workflow.logger.warning("old sid %s, taken for gone, was running; stopped it (%s)", seg.sid, why)
            return True
        seg.ended_at, seg.end_reason, seg.detail, self._state.last_error = kept
        return False

    def _absorb(self, seg: RecordingSegment, result: QueryResult) -> None:
        """Record the status, and (rule 6) take the M3U8 names from query once they appear."""
        self._state.last_status = result.status
        if result.m3u8_names and not seg.m3u8_confirmed:
            seg.m3u8_names = list(dict.fromkeys(result.m3u8_names))
            seg.m3u8_confirmed = True
            self._state.m3u8_check_due_at = None

    async def _query(
        self, seg: RecordingSegment, summary: str, *, raise_errors: bool = False, interruptible: bool = True
    ) -> QueryResult | None:
        """Query a sid; None when a stop request interrupted it (unless not interruptible) or it failed."""
        assert seg.sid is not None
        params = QueryInput(
            channel=self._request.channel, mode=self._request.mode, resource_id=seg.resource_id, sid=seg.sid
        )
        handle: workflow.ActivityHandle[QueryResult]
        if workflow.patched(PATCH_LOCAL_QUERIES):
            handle = workflow.start_local_activity(
                names.QUERY,
                params,
                result_type=QueryResult,
                start_to_close_timeout=policy.QUERY_TIMEOUT,
                schedule_to_close_timeout=policy.QUERY_GIVE_UP_AFTER,
                retry_policy=AGORA_RETRY,
                # Every retry waits on a durable timer, visible in history, instead of inside a held workflow task.
                local_retry_threshold=timedelta(seconds=1),
                summary=summary,
            )
        else:
            handle = workflow.start_activity(
                names.QUERY,
                params,
                result_type=QueryResult,
                task_queue=self._query_queue,
                start_to_close_timeout=policy.CALL_TIMEOUT,
                retry_policy=AGORA_RETRY,
                summary=summary,
            )
        await workflow.wait_condition(lambda: handle.done() or (interruptible and self._stop_requested))
        if not handle.done():
            handle.cancel()
            return None
        try:
            result: QueryResult = handle.result()
        except ACTIVITY_FAILURES as err:
            if raise_errors:
                raise
            self._state.last_error = f"query: {_failure_text(err)}"
            return None
        return result

    # --- rule 8: stop ---------------------------------------------------------------------------------------------

    def _begin_stop(self, trigger: StopTrigger) -> None:
        if not self._stop_requested:
            self._stop_requested = True
            self._state.stop_trigger = trigger

    def _deadline_passed(self) -> bool:
        if self._planned_end is None or workflow.now() < self._planned_end:
            return False
        trigger: StopTrigger = "end_time" if self._request.end_at == self._planned_end else "max_duration"
        self._begin_stop(trigger)
        return True

    async def _stop_all(self) -> None:
        """Stop every recorder this workflow may still have running in Agora."""
        self._set_phase("stopping")
        if workflow.patched(PATCH_STOP_WATCHES_FAILOVER):
            await self._stop_all_watching_failovers()
            return
        # An old sid whose failover window is still open may come back after we finish: probe it now.
        for probe in list(self._state.probes):
            self._state.probes.remove(probe)
            await self._probe_failover(self._state.segments[probe.segment_index])
        for seg in self._state.segments:
            if seg.ended_at is None and seg.sid is not None:
                await self._stop_segment(seg, "stopped", f"stop: {self._state.stop_trigger}")

    async def _stop_all_watching_failovers(self) -> None:
        """Stop every running sid, then watch each sid that answered 404 until its failover window has passed.

        Rule 5: during a migration Agora answers 404 to query and stop for up to 90 s, then the task is back. A 404 at
        the moment the class ends proves nothing, so the workflow keeps probing (the probes run even though a stop was
        requested) and stops any sid that comes back, before it reports the recording as stopped.
        """
        for seg in self._state.segments:
            if seg.ended_at is None and seg.sid is not None:
                outcome = await self._stop_segment(seg, "stopped", f"stop: {self._state.stop_trigger}")
                if outcome == "already_gone":
                    due = workflow.now() + timedelta(seconds=policy.FAILOVER_WINDOW)
                    self._state.probes.append(FailoverProbe(segment_index=seg.index, due_at=due))
        while self._state.probes:
            for probe in list(self._state.probes):
                found = await self._probe_failover(self._state.segments[probe.segment_index], interruptible=False)
                if found or workflow.now() >= probe.due_at:
                    self._state.probes.remove(probe)
            if self._state.probes:
                next_due = min(p.due_at for p in self._state.probes)
                wait = min(policy.STOP_PROBE_INTERVAL, max(1.0, (next_due - workflow.now()).total_seconds()))
                await workflow.sleep(timedelta(seconds=wait), summary="failover window still open: probe again")

    async def _stop_segment(self, seg: RecordingSegment, reason: SegmentEnd, detail: str) -> str | None:
        """Stop one sid; returns Agora's outcome ("stopped", "already_gone", ...) or None when the stop failed."""
        assert seg.sid is not None
        handle = workflow.start_activity(
            names.STOP,
            StopInput(
                channel=self._request.channel,
                uid=seg.uid,
                mode=self._request.mode,
                resource_id=seg.resource_id,
                sid=seg.sid,
            ),
            result_type=StopResult,
            task_queue=self._control_queue,
            start_to_close_timeout=policy.STOP_TIMEOUT,
            schedule_to_close_timeout=STOP_GIVE_UP_AFTER,
            retry_policy=STOP_RETRY,
            summary=f"stop sid {seg.sid}",
        )
        try:
            result = await self._uncancellable(handle)
        except ActivityError as err:
            seg.detail = f"{detail}; stop failed: {_failure_text(err)}"
            seg.ended_at = workflow.now()
            seg.end_reason = reason
            self._state.last_error = f"stop of sid {seg.sid} failed: {_failure_text(err)}"
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

    async def _uncancellable(self, handle: workflow.ActivityHandle[T]) -> T:
        """Await an activity that must finish even if the workflow is cancelled meanwhile (start, stop)."""
        try:
            return await asyncio.shield(handle)
        except asyncio.CancelledError:
            if handle.done() and handle.cancelled():
                raise
            self._begin_stop("cancelled")
            return await handle

    # --- rule 9: long classes --------------------------------------------------------------------------------------

    async def _maybe_continue_as_new(self) -> None:
        info = workflow.info()
        if self._checks_this_run < self._request.checks_per_run and not info.is_continue_as_new_suggested():
            return
        if self._probing:
            return  # a probe is running beside the loop: continue as new once it has finished
        # A stop update waits for the final manifest, so it is never "finished" before the stop: don't wait for it.
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() or self._stop_requested)
        if self._stop_requested:
            return
        self._state.runs += 1
        workflow.continue_as_new(RecordingInput(request=self._request, state=self._state))

    # --- helpers -----------------------------------------------------------------------------------------------------

    def _current(self) -> RecordingSegment | None:
        for seg in reversed(self._state.segments):
            if seg.ended_at is None and seg.sid is not None and seg.end_reason is None:
                return seg
        return None

    async def _sleep(self, seconds: float, summary: str) -> bool:
        """A durable sleep that a stop request cuts short; True when it was cut short."""
        if self._stop_requested:
            return True
        if seconds <= 0:
            return False
        try:
            await workflow.wait_condition(
                lambda: self._stop_requested, timeout=timedelta(seconds=seconds), timeout_summary=summary
            )
        except TimeoutError:
            return False
        return True

    def _count(self, name: str, description: str) -> None:
        """Add one to a product counter in the worker's metrics (never emitted during replay)."""
        workflow.metric_meter().create_counter(name, description).add(1)

    def _set_phase(self, phase: Phase) -> None:
        self._state.phase = phase
        self._publish()

    def _publish(self) -> None:
        """Keep the Web UI current: search attributes (only those that changed) and the details pane.

        Called at every phase change and every healthy check, so it returns at once when nothing shown has changed.
        """
        seg = self._current()
        shown = (
            self._state.phase,
            seg.uid if seg else None,
            seg.sid if seg else None,
            self._state.restarts,
            self._state.failed_starts,
            self._state.last_status,
            self._state.last_error,
            sum(len(s.m3u8_names) for s in self._state.segments),
        )
        if shown == self._shown:
            return
        self._shown = shown
        values: dict[str, Any] = {
            names.CHANNEL.name: self._request.channel,
            names.PHASE.name: self._state.phase,
            names.RECORDER_UID.name: seg.uid if seg else None,
            names.SID.name: seg.sid if seg else None,
            names.RESTARTS.name: self._state.restarts,
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
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        seg = self._current()
        lines = [
            f"**{self._state.phase}** · channel `{self._request.channel}` · {self._request.mode} mode",
            f"recorder uid `{seg.uid}` · sid `{seg.sid}`" if seg else "no recorder running",
            f"restarts {self._state.restarts} · failed starts {self._state.failed_starts} · "
            f"last status {self._state.last_status}",
        ]
        if self._state.last_error:
            lines.append(f"last error: {self._state.last_error}")
        names_now = [n for s in self._state.segments for n in s.m3u8_names]
        if names_now:
            lines.append("M3U8: " + ", ".join(f"`{n}`" for n in names_now[-4:]))
        return "\n\n".join(lines)

    def _manifest(self) -> RecordingManifest:
        segments = [s.model_copy(deep=True) for s in self._state.segments]
        return RecordingManifest(
            channel=self._request.channel,
            mode=self._request.mode,
            phase=self._state.phase,
            started_at=self._state.started_at,
            ended_at=workflow.now() if self._state.phase in ("stopped", "failed") else None,
            stop_trigger=self._state.stop_trigger,
            error=self._state.last_error if self._state.phase == "failed" else None,
            restarts=self._state.restarts,
            failed_starts=self._state.failed_starts,
            runs=self._state.runs,
            segments=segments,
            gaps=[RecordingGap(after_index=a, before_index=b, start=s, end=e) for a, b, s, e in policy.gaps(segments)],
        )
