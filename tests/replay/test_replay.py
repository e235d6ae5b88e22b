"""Recorded histories of real recordings replay against today's RecordingWorkflow without nondeterminism.

The fixtures come from `python -m tests.replay.record_histories --tag TAG`: real runs of the product's workers with
the stock policy (crash and restart, failover duplicate, a start 50x burst ending on the backup uid, continue-as-new,
and later an old recorder hidden by 404s, a start answered 400/53, a recorder gone while confirming). Every
generation's set is kept (`record_histories.GENERATIONS`): `<scenario>.json` were written before the patches,
`<scenario>-<tag>.json` after the patch the tag names. A change
that would break recordings in flight fails here; such a change needs `workflow.patched` (the names in
workflows/patches.py) and a new fixture set.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from recorder.worker import WORKFLOW_RUNNER
from tests.replay import record_histories
from tests.replay.clock_workflow import ClockReadingRecordingWorkflow
from tests.security import support
from workflows import names, patches
from workflows.models import RecordingInput, RecordingManifest
from workflows.recording import RecordingWorkflow

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


@workflow.defn(name=names.WORKFLOW_NAME)
class ChangedRecordingWorkflow(RecordingWorkflow):
    """A careless edit of the workflow: a timer before the first activity, under the same workflow name."""

    @workflow.run
    async def run(self, params: RecordingInput) -> RecordingManifest:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(params)


def _history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"replay-{path.stem}", json.loads(path.read_text()))


def _patches(path: Path) -> set[str]:
    """The `workflow.patched` names recorded in one fixture."""
    found = set()
    for event in _history(path).events:
        if event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
            marker = event.marker_recorded_event_attributes
            if marker.marker_name == "core_patch":
                found |= {json.loads(p.data)["id"] for v in marker.details.values() for p in v.payloads}
    return found


def test_every_scenario_has_a_fixture_in_every_generation():
    """Each scenario (and the continued runs) is present in each set, so a lost fixture cannot pass silently."""
    stems = {p.stem for p in HISTORIES}
    for name in record_histories.SCENARIOS:
        for tag in record_histories.generations_of(name):
            assert record_histories.fixture_path(HISTORIES[0].parent, name, tag, 1).stem in stems, (name, tag)
    for tag in record_histories.GENERATIONS:
        for run in (2, 3):
            assert record_histories.fixture_path(HISTORIES[0].parent, "continue_as_new", tag, run).stem in stems


def test_every_patch_is_taken_by_some_fixture():
    """Each `workflow.patched` branch of the workflow is replayed by at least one fixture, and the old sets by none.

    A new patch without a fixture set recorded after it fails here: its branch would otherwise never be replayed.
    """
    patch_names = {v for k, v in vars(patches).items() if k.isupper() and isinstance(v, str)}
    taken = set().union(*(_patches(p) for p in HISTORIES))
    assert patch_names <= taken, f"no fixture takes {sorted(patch_names - taken)}"
    old_set = [p for p in HISTORIES if "-" not in p.stem]
    assert old_set and all(patches.LOCAL_QUERIES not in _patches(p) for p in old_set)


def test_fixtures_hold_no_secret():
    """No fixture contains the worker's secrets, the Basic auth value or any RTC token (tokens start with 007e)."""
    settings_secrets = [
        "emulator-secret",
        "AKIAEMULATORACCESS1",
        "emulator-storage-secret-key-1",
    ]  # what tests.conftest.settings_for gives the workers that recorded the fixtures
    for path in HISTORIES:
        text = path.read_text()
        assert support.leaks({path.name: [text]}, support.STATIC_SECRETS) == []
        assert [s for s in settings_secrets if s in text] == []
        assert '"007e' not in text


@pytest.mark.parametrize("runner", ["sandbox", "worker"])
@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_without_nondeterminism(path: Path, runner: str):
    """A recorded history replays against the current workflow code with no nondeterminism error: in the SDK's full
    sandbox, which also fails a non-deterministic call (reading the clock, random numbers, I/O) on every path these
    histories take, and on the worker's own runner (no sandbox, recorder.worker.WORKFLOW_RUNNER)."""
    replayer = Replayer(
        workflows=[RecordingWorkflow],
        data_converter=pydantic_data_converter,
        workflow_runner=SandboxedWorkflowRunner() if runner == "sandbox" else WORKFLOW_RUNNER,
    )
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"


async def test_the_sandbox_refuses_a_clock_read_that_the_workers_runner_would_run():
    """The guard the worker does without: replayed in the full sandbox, workflow code that reads the wall clock fails;
    on the worker's runner it would run (so this sandboxed replay, not the worker, is what keeps such code out)."""
    history = _history(HISTORIES[0])
    results = {}
    for label, runner in (("sandbox", SandboxedWorkflowRunner()), ("worker", WORKFLOW_RUNNER)):
        replayer = Replayer(
            workflows=[ClockReadingRecordingWorkflow], data_converter=pydantic_data_converter, workflow_runner=runner
        )
        results[label] = (await replayer.replay_workflow(history, raise_on_replay_failure=False)).replay_failure
    assert results["sandbox"] is not None and "datetime.datetime.now" in str(results["sandbox"])
    assert results["worker"] is None


async def test_changed_workflow_fails_replay_with_nondeterminism():
    """A copy of the workflow with an extra timer before the first activity fails replay with NondeterminismError."""
    replayer = Replayer(
        workflows=[ChangedRecordingWorkflow],
        data_converter=pydantic_data_converter,
        # this test module imports pytest, which the sandbox would refuse to re-import: run the copy unsandboxed
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(_history(HISTORIES[0]))
