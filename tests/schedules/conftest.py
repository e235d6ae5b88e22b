"""Fixtures and helpers for the class timetable tests: classes due in a few seconds, and the CLI's environment."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from emulator.config import EmulatorConfig
from recorder import schedules
from workflows.models import RecordingRequest

# The App ID every emulator of these tests serves (the emulator's default).
APP_ID = EmulatorConfig().app_id
UIDS = ["--uid", "527841", "--backup-uid", "527842"]
T = TypeVar("T")


def channel() -> str:
    """A fresh channel name."""
    return f"class-{uuid.uuid4().hex[:10]}"


def request_for(ch: str, **overrides: Any) -> RecordingRequest:
    """A class recording's options: checked every 5 s, breaks of up to a minute."""
    values: dict[str, Any] = {
        "channel": ch,
        "uid": "527841",
        "backup_uid": "527842",
        "max_idle_time": 60,
        "check_interval": 5,
    }
    values.update(overrides)
    return RecordingRequest(**values)


def soon(seconds: float) -> datetime:
    """A whole second at least `seconds` from now, in UTC (schedules fire on whole seconds)."""
    at = datetime.now(UTC) + timedelta(seconds=seconds)
    return at.replace(microsecond=0) + timedelta(seconds=1)


def class_at(ch: str, at: datetime, duration: timedelta, zone: str = "UTC", **times: Any) -> schedules.ClassSpec:
    """A class on `at`'s weekday at `at`'s local time of day in `zone`."""
    local = at.astimezone(ZoneInfo(zone))
    return schedules.class_spec(
        request_for(ch),
        weekdays=(schedules.WEEKDAYS[local.weekday()],),
        at=local.time().replace(tzinfo=None),
        duration=duration,
        timezone=zone,
        **times,
    )


async def until_time(at: datetime) -> None:
    """Sleep until a wall-clock time."""
    await asyncio.sleep(max((at - datetime.now(UTC)).total_seconds(), 0))


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 30.0, every: float = 0.3) -> T:
    """Poll `probe` until it returns something other than None (visibility and firings take a moment)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if value is not None:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"nothing after {within} s")
        await asyncio.sleep(every)


async def workflow_exists(client: Client, wid: str) -> bool:
    """Whether a workflow with this id was ever started (strongly consistent)."""
    try:
        await client.get_workflow_handle(wid).describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


@pytest.fixture
def cli_env(dev_client: Client, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Client:
    """The environment a user of `recorder schedule` sets: Temporal's address, the App ID and a task queue."""
    for name in (
        "TEMPORAL_PROFILE",
        "TEMPORAL_CONFIG_FILE",
        "TEMPORAL_API_KEY",
        "TEMPORAL_NAMESPACE",
        "RECORDER_UID",
        "RECORDER_BACKUP_UID",
        "RECORDER_TIMEZONE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("TEMPORAL_ADDRESS", dev_client.service_client.config.target_host)
    monkeypatch.setenv("AGORA_APP_ID", APP_ID)
    monkeypatch.setenv("RECORDER_TASK_QUEUE", f"tq-{uuid.uuid4()}")
    return dev_client
