"""A careless copy of the recording workflow that reads the wall clock: the replay tests' proof that the sandbox they
replay in refuses a non-deterministic call. Its own module, since the sandbox re-imports the module of the workflow it
runs and would refuse pytest's."""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

from workflows import names
from workflows.models import RecordingInput, RecordingManifest
from workflows.recording import RecordingWorkflow


@workflow.defn(name=names.WORKFLOW_NAME)
class ClockReadingRecordingWorkflow(RecordingWorkflow):
    """Reads datetime.now() before doing what the recording workflow does."""

    @workflow.run
    async def run(self, params: RecordingInput) -> RecordingManifest:
        workflow.logger.debug("started at %s", datetime.now())
        return await super().run(params)
