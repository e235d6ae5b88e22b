"""Recorded histories of real recordings replay against today's RecordingWorkflow without nondeterminism.

The fixtures come from `python -m tests.replay.record_histories`: real runs of the product's workers with the stock
policy (crash and restart, failover duplicate, a start 50x burst ending on the backup uid, continue-as-new). A change
that would break recordings in flight fails here; such a change needs `workflow.patched` (see
`PATCH_STOP_WATCHES_FAILOVER` in workflows/recording.py).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner
from temporalio.workflow import NondeterminismError

from tests.security import support
from workflows import names
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


def test_every_scenario_has_a_fixture():
    """Each recorded scenario (and the continued run) is present, so a lost fixture cannot pass silently."""
    stems = {p.stem for p in HISTORIES}
    assert {
        "crash_restart",
        "failover_duplicate",
        "continue_as_new",
        "continue_as_new_run2",
        "continue_as_new_run3",
    } <= stems
    assert "start_50x_backup_uid" in stems


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


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays_without_nondeterminism(path: Path):
    """A recorded history replays against the current workflow code with no nondeterminism error."""
    replayer = Replayer(workflows=[RecordingWorkflow], data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(_history(path), raise_on_replay_failure=False)
    assert result.replay_failure is None, f"{path.name}: {result.replay_failure!r}"


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
