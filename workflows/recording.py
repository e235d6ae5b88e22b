"""RecordingWorkflow: one Agora Cloud Recording session, kept alive by Agora's integration best practices.

Deterministic code only: time comes from `workflow.now()`, every Agora call is an activity, every wait a durable timer.
The run loop below reads as the rule list; each rule lives in a module of its own over one `Recording` state:

- `starting`: rules 1-3, start and confirm a recorder, alternating uids;
- `monitoring`: rules 4 and 6, checks, the 404 and 50x backoffs, the restart decision, M3U8 names;
- `failover`: rule 5, probes of old sids that Agora's failover may bring back;
- `stopping`: rule 8, no recorder left running on any way out;
- `continuing`: rule 9, continue-as-new for long classes.

Every schedule and call option is in `workflows.policy`; every guard for recordings in flight in `workflows.patches`.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.models import (
        JoinRequest,
        JoinResult,
        LayoutUpdate,
        RecorderEvent,
        RecordingInput,
        RecordingManifest,
        RecordingStatus,
        StopRequest,
        SubscriptionUpdate,
        UpdateInput,
        UpdateResult,
    )

from workflows import callbacks, calls, continuing, failover, monitoring, starting, stopping, visibility
from workflows.state import Recording


@workflow.defn(name=names.WORKFLOW_NAME)
class RecordingWorkflow:
    """Record one channel until stopped: start, confirm, monitor, restart on the other uid, stop, report."""

    @workflow.init
    def __init__(self, params: RecordingInput) -> None:
        self._rec = Recording.first(params)
        # A redundant (gapless) class runs a second line of recorders on its own uid pair and resources.
        self._lines = [self._rec, self._rec.second(params)] if params.request.redundant else [self._rec]

    @workflow.run
    async def run(self, params: RecordingInput) -> RecordingManifest:
        """Record until a stop request, cancellation, the planned end, or a start Agora refuses."""
        rec = self._rec
        failure: ApplicationError | None = None
        try:
            await self._record()
        except asyncio.CancelledError:
            rec.begin_stop("cancelled")
        except (ApplicationError, ActivityError) as err:
            failure = (
                err
                if isinstance(err, ApplicationError)
                else ApplicationError(calls.failure_text(err), type=calls.failure_type(err), non_retryable=True)
            )
            rec.state.last_error = str(failure)
            rec.begin_stop("failed")
        if any(line.probing for line in self._lines):
            # A probe stopping a duplicate finishes that stop; the others end at once now that a stop is requested.
            await workflow.wait_condition(lambda: not any(line.probing for line in self._lines))
        if len(self._lines) == 1:
            await stopping.stop_all(rec)
        else:
            await asyncio.gather(*(stopping.stop_all(line) for line in self._lines))
        if rec.request.delivery_wait is not None and callbacks.awaiting_delivery(self._lines):
            await self._await_delivery(rec.request.delivery_wait)
        for line in self._lines:
            line.set_phase("failed" if failure else "stopped")
        rec.final = self._manifest()
        await workflow.wait_condition(workflow.all_handlers_finished)
        if failure is not None:
            raise failure
        return rec.final

    async def _record(self) -> None:
        """The rules, in the order a recording meets them."""
        rec = self._rec
        rec.publish()
        if len(self._lines) > 1:
            await self._record_lines()
            return
        failover.resume_probes(rec)
        while not rec.stop_requested and not rec.deadline_passed():
            if rec.current() is None:
                await starting.start_until_running(rec)
                continue
            await monitoring.wait_for_due_work(rec)
            if rec.stop_requested or rec.deadline_passed():
                break
            await monitoring.do_due_work(rec)
            await continuing.maybe_continue_as_new(rec)

    async def _record_lines(self) -> None:
        """A gapless class: each line follows the same rules on its own, and the run continues as new only when no
        line has anything in flight. Every line finishes its step before the stop begins."""
        lines = self._lines
        tasks = [asyncio.create_task(self._line(line)) for line in lines]

        def all_done() -> bool:
            return all(task.done() for task in tasks)

        def failed() -> BaseException | None:
            return next((t.exception() for t in tasks if t.done() and t.exception() is not None), None)

        try:
            while not all_done() and failed() is None:
                await workflow.wait_condition(
                    lambda: all_done() or failed() is not None or continuing.safe_to_continue(lines)
                )
                if not all_done() and failed() is None and continuing.safe_to_continue(lines):
                    await continuing.continue_as_new(lines)
        except asyncio.CancelledError:
            self._rec.begin_stop("cancelled")
            await workflow.wait_condition(all_done)
            raise
        error = failed()
        if error is not None:
            self._rec.begin_stop("failed")  # the other line ends its step, then run() stops every recorder
            await workflow.wait_condition(all_done)
            raise error

    async def _line(self, line: Recording) -> None:
        """One line of a redundant recording: start and confirm, then check, until the stop."""
        first = self._rec
        if line is not first and not line.state.segments:
            # The second line's first resource must exclude the first line's, so it waits for that one to exist.
            await workflow.wait_condition(
                lambda: first.stop_requested or first.start_resource_id is not None or bool(first.state.segments)
            )
        failover.resume_probes(line)
        while not line.stop_requested and not line.deadline_passed():
            if line.current() is None:
                await starting.start_until_running(line)
                continue
            line.idle = True
            try:
                await monitoring.wait_for_due_work(line)
            finally:
                line.idle = False
            if line.stop_requested or line.deadline_passed():
                break
            await monitoring.do_due_work(line)

    async def _await_delivery(self, bound: timedelta) -> None:
        """With callbacks on: a stop answered backuped or unknown learns when the files reached the bucket (31)."""
        try:
            await workflow.wait_condition(
                lambda: not callbacks.awaiting_delivery(self._lines),
                timeout=bound,
                timeout_summary="wait for the uploaded callback of every stopped recorder",
            )
        except TimeoutError:
            for seg in callbacks.awaiting_delivery(self._lines):
                seg.detail = f"{seg.detail or 'stopped'}; no uploaded callback within {bound}"

    @workflow.signal(name=names.EVENT_SIGNAL)
    async def recorder_event(self, event: RecorderEvent) -> None:
        """One of Agora's callbacks (NCS): acted on once; one about a sid never started here goes to the inbox."""
        if callbacks.take(self._lines, event) == "unowned":
            await callbacks.forward_unowned(event)

    def _manifest(self) -> RecordingManifest:
        return visibility.manifest(self._rec.request, [line.state for line in self._lines])

    # --- messages ----------------------------------------------------------------------------------------------

    @workflow.update
    async def stop(self, request: StopRequest) -> RecordingManifest:
        """Stop the recording, wait for Agora's upload status, and return the final manifest."""
        self._rec.begin_stop("requested")
        await workflow.wait_condition(lambda: self._rec.final is not None)
        assert self._rec.final is not None
        return self._rec.final

    @workflow.update
    async def join(self, request: JoinRequest) -> JoinResult:
        """Start-or-join's update: say whether this call started the recording, and (if asked) wait until a recorder
        is confirmed or the recording has ended (a failed start included)."""
        # With update-with-start the update reaches a new workflow in its first workflow task (events 1-3).
        started = workflow.info().run_id == workflow.info().first_execution_run_id and (
            workflow.info().get_current_history_length() <= 3
        )
        if request.wait_until_up:
            await workflow.wait_condition(lambda: self._rec.final is not None or self._any_line_up())
        return JoinResult(started=started, status=self.status())

    def _any_line_up(self) -> bool:
        return any((seg := line.current()) is not None and seg.confirmed_at is not None for line in self._lines)

    @workflow.signal
    def request_stop(self, request: StopRequest) -> None:
        """Fire-and-forget stop: the workflow stops the recorder and completes."""
        self._rec.begin_stop("requested")

    @workflow.query
    def status(self) -> RecordingStatus:
        """The live view: phase, current uid and sid, restarts, last status, M3U8 names."""
        lines = [(line.state, line.current()) for line in self._lines]
        return visibility.status(self._rec.request, lines, self._rec.planned_end)

    @workflow.query
    def manifest(self) -> RecordingManifest:
        """The manifest so far (final once the workflow has completed)."""
        return self._rec.final or self._manifest()

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
        if self._rec.request.mode != "mix":
            raise ValueError(f"update_layout is only for mix mode; this recording is {self._rec.request.mode}")
        self._require_running()

    def _require_running(self) -> None:
        confirmed = [seg for line in self._lines if (seg := line.current()) and seg.confirmed_at is not None]
        if self._rec.stop_requested or not confirmed:
            raise ValueError("no confirmed recorder is running: try again once the phase is 'recording'")

    async def _update(
        self, *, subscription: SubscriptionUpdate | None = None, layout: LayoutUpdate | None = None
    ) -> UpdateResult:
        """Send the update to the recorder of every line (one, unless the class is redundant)."""
        targets = [seg for line in self._lines if (seg := line.current()) is not None and seg.sid is not None]
        if not targets:
            raise ApplicationError("the recorder stopped before the update could be sent", non_retryable=True)
        results = []
        for seg in targets:
            assert seg.sid is not None
            params = UpdateInput(
                channel=self._rec.request.channel,
                uid=seg.uid,
                mode=self._rec.request.mode,
                resource_id=seg.resource_id,
                sid=seg.sid,
                subscription=subscription,
                layout=layout,
            )
            results.append(await calls.UPDATE(params, f"update sid {seg.sid}"))
        return results[0]
