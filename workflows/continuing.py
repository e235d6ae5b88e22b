"""Rule 9: a long class continues-as-new before its history grows large, carrying every segment and pending probe."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import RecordingInput

from workflows.state import Recording


async def maybe_continue_as_new(rec: Recording) -> None:
    """Continue as new after `checks_per_run` checks, or earlier when Temporal suggests it."""
    info = workflow.info()
    if rec.checks_this_run < rec.request.checks_per_run and not info.is_continue_as_new_suggested():
        return
    if rec.probing:
        return  # a probe is running beside the loop: continue as new once it has finished
    # A stop update waits for the final manifest, so it is never "finished" before the stop: don't wait for it.
    await workflow.wait_condition(lambda: workflow.all_handlers_finished() or rec.stop_requested)
    if rec.stop_requested:
        return
    rec.state.runs += 1
    workflow.continue_as_new(RecordingInput(request=rec.request, state=rec.state))
