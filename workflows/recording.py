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

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows import names
    from workflows.models import (
        LayoutUpdate,
        RecordingInput,
        RecordingManifest,
        RecordingStatus,
        StopRequest,
        SubscriptionUpdate,
        UpdateInput,
        UpdateResult,
    )

from workflows import calls, continuing, failover, monitoring, starting, stopping, visibility
from workflows.state import Recording


@workflow.defn(name=names.WORKFLOW_NAME)
class RecordingWorkflow:
    """Record one channel until stopped: start, confirm, monitor, restart on the other uid, stop, report."""

    @workflow.init
    def __init__(self, params: RecordingInput) -> None:
        self._rec = Recording(params)

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
        if rec.probing:
            # A probe stopping a duplicate finishes that stop; the others end at once now that a stop is requested.
            await workflow.wait_condition(lambda: not rec.probing)
        await stopping.stop_all(rec)
        rec.set_phase("failed" if failure else "stopped")
        rec.final = visibility.manifest(rec.request, rec.state)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if failure is not None:
            raise failure
        return rec.final

    async def _record(self) -> None:
        """The rules, in the order a recording meets them."""
        rec = self._rec
        rec.publish()
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

    # --- messages ----------------------------------------------------------------------------------------------

    @workflow.update
    async def stop(self, request: StopRequest) -> RecordingManifest:
        """Stop the recording, wait for Agora's upload status, and return the final manifest."""
        self._rec.begin_stop("requested")
        await workflow.wait_condition(lambda: self._rec.final is not None)
        assert self._rec.final is not None
        return self._rec.final

    @workflow.signal
    def request_stop(self, request: StopRequest) -> None:
        """Fire-and-forget stop: the workflow stops the recorder and completes."""
        self._rec.begin_stop("requested")

    @workflow.query
    def status(self) -> RecordingStatus:
        """The live view: phase, current uid and sid, restarts, last status, M3U8 names."""
        rec = self._rec
        return visibility.status(rec.request, rec.state, rec.current(), rec.planned_end)

    @workflow.query
    def manifest(self) -> RecordingManifest:
        """The manifest so far (final once the workflow has completed)."""
        return self._rec.final or visibility.manifest(self._rec.request, self._rec.state)

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
        seg = self._rec.current()
        if self._rec.stop_requested or seg is None or seg.confirmed_at is None:
            raise ValueError("no confirmed recorder is running: try again once the phase is 'recording'")

    async def _update(
        self, *, subscription: SubscriptionUpdate | None = None, layout: LayoutUpdate | None = None
    ) -> UpdateResult:
        seg = self._rec.current()
        if seg is None or seg.sid is None:
            raise ApplicationError("the recorder stopped before the update could be sent", non_retryable=True)
        params = UpdateInput(
            channel=self._rec.request.channel,
            uid=seg.uid,
            mode=self._rec.request.mode,
            resource_id=seg.resource_id,
            sid=seg.sid,
            subscription=subscription,
            layout=layout,
        )
        return await calls.UPDATE(params, f"update sid {seg.sid}")
