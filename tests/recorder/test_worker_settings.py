"""The worker's own settings: how many recordings it keeps in memory between checks, its log level, its metrics."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from emulator.testing import RunningEmulator
from recorder.processes import PROJECT, WorkerProcess, child_env, worker_env
from recorder.settings import DEFAULT_CACHED_RECORDINGS, SettingsError, load_settings
from recorder.worker import agora_client, running_workers
from tests.conftest import settings_for

NO_CREDENTIALS: tuple[str, ...] = ()


@pytest.mark.parametrize("value", ["0", "-5", "lots", "1.5", "100001"])
def test_bad_cache_size_is_refused_with_what_is_allowed(value: str):
    """A RECORDER_CACHED_RECORDINGS that is not a whole number from 1 to 100000 is one error saying what is allowed."""
    with pytest.raises(SettingsError, match="RECORDER_CACHED_RECORDINGS must be a whole number from 1 to 100000"):
        load_settings(require=NO_CREDENTIALS, _env_file=None, RECORDER_CACHED_RECORDINGS=value)


def test_cache_size_defaults_above_the_sdks_1000(monkeypatch: pytest.MonkeyPatch):
    """Unset or blank, the cache holds 2,000 recordings (above the SDK's 1,000); a number is taken as given."""
    monkeypatch.delenv("RECORDER_CACHED_RECORDINGS", raising=False)
    assert load_settings(require=NO_CREDENTIALS, _env_file=None).cached_recordings == DEFAULT_CACHED_RECORDINGS
    assert DEFAULT_CACHED_RECORDINGS > 1000
    monkeypatch.setenv("RECORDER_CACHED_RECORDINGS", " ")
    assert load_settings(require=NO_CREDENTIALS, _env_file=None).cached_recordings == DEFAULT_CACHED_RECORDINGS
    monkeypatch.setenv("RECORDER_CACHED_RECORDINGS", "5000")
    assert load_settings(require=NO_CREDENTIALS, _env_file=None).cached_recordings == 5000


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LOG_LEVEL", "chatty", "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'chatty'"),
        ("RECORDER_METRICS_BIND", "9464", "RECORDER_METRICS_BIND must be host:port, e.g. 127.0.0.1:9464, got '9464'"),
    ],
)
def test_bad_log_level_or_metrics_address_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
):
    """An unknown LOG_LEVEL or a RECORDER_METRICS_BIND without a port is refused with what is allowed."""
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as exc:
        load_settings(require=NO_CREDENTIALS, _env_file=None)
    assert str(exc.value) == f"settings: {expected}"


def test_worker_process_reads_its_settings_from_a_dotenv_file(tmp_path: Path):
    """`python worker.py` takes LOG_LEVEL and RECORDER_* from a .env file in its working directory: a bad one there
    stops it at once with exit code 2 and one line naming the variable."""
    (tmp_path / ".env").write_text(
        "AGORA_APP_ID=a\nAGORA_CUSTOMER_ID=c\nAGORA_CUSTOMER_SECRET=s\nLOG_LEVEL=chatty\nRECORDER_CACHED_RECORDINGS=0\n"
    )
    done = subprocess.run(
        [sys.executable, str(PROJECT / "worker.py")],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("worker: settings: "), lines
    assert "RECORDER_CACHED_RECORDINGS must be a whole number" in lines[0] and "LOG_LEVEL must be one of" in lines[0]


async def test_workflow_worker_keeps_that_many_recordings_cached(
    ts_env: WorkflowEnvironment, emulator: RunningEmulator
):
    """The workflow worker's cache is the settings' cached_recordings."""
    settings = settings_for(emulator, cached_recordings=1234)
    async with running_workers(ts_env.client, settings, queue="tq-cache") as ws:
        assert ws[0].config()["max_cached_workflows"] == 1234


async def test_a_worker_without_a_storage_profile_starts_and_says_recordings_will_be_refused(
    dev_client: Client, tmp_path: Path
):
    """With no storage profile configured the worker still starts, and says so in one line at start-up."""
    address = dev_client.service_client.config.target_host
    env = worker_env(
        address=address,
        queue=f"tq-{uuid.uuid4()}",
        agora={"AGORA_APP_ID": "a", "AGORA_CUSTOMER_ID": "c", "AGORA_CUSTOMER_SECRET": "s"},
    )
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        await worker.start_ready(within=60)
        warned = [line for line in worker.log().splitlines() if "no storage profile is configured" in line]
    finally:
        await worker.stop()
    assert len(warned) == 1 and "refused at its start as a local configuration error" in warned[0]


@pytest.mark.parametrize(
    ("variables", "hosts"),
    [
        (
            {"AGORA_REGION": "cn-east-1"},
            ["api.sd-rtn.com", "api.sd-rtn.com", "api.agora.io", "api-cn-east-1.sd-rtn.com"],
        ),
        ({"AGORA_REGION": "eu-west-1"}, ["api.agora.io", "api.agora.io", "api.sd-rtn.com", "api-eu-west-1.agora.io"]),
        (
            {"AGORA_REGION": "cn-east-1", "AGORA_BASE_URL": "https://api.agora.io"},
            ["api.agora.io", "api.agora.io", "api.sd-rtn.com", "api-cn-east-1.sd-rtn.com"],
        ),
    ],
)
def test_the_worker_tries_agoras_domains_in_switch_domain_order_for_its_region(
    monkeypatch: pytest.MonkeyPatch, variables: dict[str, str], hosts: list[str]
):
    """Audit row 10: without AGORA_BASE_URL a cn- region starts at api.sd-rtn.com, elsewhere at api.agora.io."""
    for name in ("AGORA_BASE_URL", "AGORA_REGION"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AGORA_APP_ID": "a",
        "AGORA_CUSTOMER_ID": "c",
        "AGORA_CUSTOMER_SECRET": "s",
        **variables,
    }.items():
        monkeypatch.setenv(name, value)
    client = agora_client(load_settings(require=(), _env_file=None))
    assert [httpx.URL(client.base_url_for(attempt)).host for attempt in (1, 2, 3, 4)] == hosts
