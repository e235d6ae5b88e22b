"""The worker's own settings: how many recordings it keeps in memory between checks."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from emulator.testing import RunningEmulator
from recorder.settings import SettingsError
from tests.conftest import settings_for
from worker import DEFAULT_CACHED_RECORDINGS, cached_recordings_setting, running_workers


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1.5", "100001"])
def test_bad_cache_size_is_refused_with_what_is_allowed(value: str):
    with pytest.raises(SettingsError, match="RECORDER_CACHED_RECORDINGS must be a whole number from 1 to 100000"):
        cached_recordings_setting(value)


def test_cache_size_defaults_above_the_sdks_1000():
    assert cached_recordings_setting(None) == cached_recordings_setting(" ") == DEFAULT_CACHED_RECORDINGS
    assert DEFAULT_CACHED_RECORDINGS > 1000
    assert cached_recordings_setting("5000") == 5000


async def test_workflow_worker_keeps_that_many_recordings_cached(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator
):
    async with running_workers(ts_env.client, settings_for(emulator), queue="tq-cache", cached_recordings=1234) as ws:
        assert ws[0].config()["max_cached_workflows"] == 1234
