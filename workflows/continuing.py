"""Rule 9: a long class continues-as-new before its history grows large, carrying every segment and pending probe."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.models import RecordingInput

from workflows.state import Recording


def wants_to_continue(rec: Recording) -> bool:
    """True after `checks_per_run` checks of this line in this run, or when Temporal suggests it."""
    return rec.checks_this_run >= rec.request.checks_per_run or workflow.info().is_continue_as_new_suggested()


def safe_to_continue(lines: Sequence[Recording]) -> bool:
    """True when some line wants to continue as new and no line has anything in flight (every one waits for work)."""
    return any(wants_to_continue(line) for line in lines) and all(line.idle and not line.probing for line in lines)


async def maybe_continue_as_new(rec: Recording) -> None:
    """Continue as new when the line wants to and no probe runs beside it (a single line's loop calls this)."""
    if not wants_to_continue(rec):
        return
    if rec.probing:
        return  # a probe is running beside the loop: continue as new once it has finished
    await continue_as_new(rec.shared.lines)


async def continue_as_new(lines: Sequence[Recording]) -> None:
    """Continue as new with every line's state, once the update and signal handlers have finished.

    A stop update waits for the final manifest, so it is never "finished" before the stop: don't wait for it. Returns
    only when a stop was requested meanwhile.
    """
    first = lines[0]
    await workflow.wait_condition(lambda: workflow.all_handlers_finished() or first.stop_requested)
    if first.stop_requested:
        return
    first.state.runs += 1
    second = lines[1].state if len(lines) > 1 else None
    workflow.continue_as_new(RecordingInput(request=first.request, state=first.state, second_line=second))
