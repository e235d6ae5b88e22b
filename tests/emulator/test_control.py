"""The control API over HTTP: state snapshot, channels, clock, reset; and the `python -m emulator` CLI."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from emulator.__main__ import config_from, parse_args
from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator

ROOT = Path(__file__).resolve().parents[2]


async def test_state_snapshot_has_the_documented_fields(api, emu: RunningEmulator) -> None:
    """GET /_emulator/state reports now, tasks with every documented field, channels and counters."""
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        joined = await control.post("/_emulator/channels/room1/users", json={"uid": "100", "role": "host"})
        assert joined.status_code == 200
        await control.post("/_emulator/channels/room1/users", json={"uid": "100", "role": "host"})
        rid, sid = await api.begin("mix")
        clock = await control.post("/_emulator/clock", json={"advance": 20})
        state = (await control.get("/_emulator/state")).json()
    assert clock.json()["now"] == state["now"]
    assert state["channels"] == {
        "room1": {"users": [{"uid": "100", "role": "host", "joinedAt": state["tasks"][0]["startedAt"]}]}
    }
    [task] = state["tasks"]
    assert set(task) >= {
        "sid", "resourceId", "cname", "uid", "currentUid", "mode", "status", "statusHistory", "startedAt",
        "endedAt", "endReason", "running", "inFailover", "failovers", "failoverWindows", "fileNames", "maxIdleTime",
        "requests", "updates",
    }  # fmt: skip
    assert task["sid"] == sid and task["resourceId"] == rid and task["status"] == 5
    assert task["endedAt"] is None and task["endReason"] is None and task["fileNames"] == [f"rec/day1/{sid}_room1.m3u8"]
    assert state["requestCount"] == 2 and state["faultsInjected"] == {}


async def test_channel_history_keeps_every_stay(emu: RunningEmulator) -> None:
    """channelHistory lists every stay of each channel in join order, with leftAt, also once the channel is empty."""
    start = emu.emulator.clock.now()
    emu.join("room1", "100", role="host")
    emu.advance(5.0)
    emu.join("room1", "200", role="audience")
    emu.advance(5.0)
    emu.leave("room1", "100")
    emu.advance(5.0)
    emu.join("room1", "100", role="host")
    emu.join("room2", "300")
    emu.leave("room2", "300")
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        state = (await control.get("/_emulator/state")).json()
    assert state["channelHistory"] == {
        "room1": [
            {"uid": "100", "role": "host", "joinedAt": start, "leftAt": start + 10.0},
            {"uid": "200", "role": "audience", "joinedAt": start + 5.0, "leftAt": None},
            {"uid": "100", "role": "host", "joinedAt": start + 15.0, "leftAt": None},
        ],
        "room2": [{"uid": "300", "role": "host", "joinedAt": start + 15.0, "leftAt": start + 15.0}],
    }
    assert set(state["channels"]) == {"room1"}


async def test_failover_windows_show_each_migration(api, emu: RunningEmulator) -> None:
    """failoverWindows holds [start, end] of every migration; the fourth, which ends the task, is [t, t]."""
    emu.join("room1", "100")
    _, sid = await api.begin("mix")
    assert emu.tasks()[0]["failoverWindows"] == []
    begun = []
    for downtime in (30.0, 10.0, 0.0):
        begun.append(emu.emulator.clock.now())
        emu.failover(sid, downtime=downtime)
        emu.advance(40.0)
    last = emu.emulator.clock.now()
    emu.failover(sid)
    [task] = emu.tasks()
    assert task["failoverWindows"] == [
        [begun[0], begun[0] + 30.0],
        [begun[1], begun[1] + 10.0],
        [begun[2], begun[2]],
        [last, last],
    ]
    assert task["endReason"] == "failover_limit" and task["failovers"] == 4


async def test_state_of_one_channel(api, emu: RunningEmulator) -> None:
    """GET /_emulator/state?cname=X keeps only the tasks, users and stays of channel X; counters stay global."""
    emu.join("room1", "100")
    emu.join("room2", "200")
    _, sid1 = await api.begin("mix")
    await api.begin("mix", cname="room2", uid="998")
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        whole = (await control.get("/_emulator/state")).json()
        one = (await control.get("/_emulator/state", params={"cname": "room1"})).json()
        none = (await control.get("/_emulator/state", params={"cname": "room9"})).json()
    assert [t["sid"] for t in one["tasks"]] == [sid1]
    assert one["tasks"][0] == next(t for t in whole["tasks"] if t["sid"] == sid1)
    assert set(one["channels"]) == set(one["channelHistory"]) == {"room1"}
    assert one["requestCount"] == whole["requestCount"] == 4
    assert none["tasks"] == [] and none["channels"] == {} and none["channelHistory"] == {}
    assert emu.snapshot("room2")["tasks"][0]["cname"] == "room2"


async def test_leave_reset_and_speed_over_http(api, emu: RunningEmulator) -> None:
    """DELETE leaves a channel, /clock changes the speed, and /reset forgets tasks and channels."""
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        await control.post("/_emulator/channels/room1/users", json={"uid": "100"})
        left = await control.delete("/_emulator/channels/room1/users/100")
        assert left.json() == {"ok": True, "left": True}
        await api.begin("mix")
        sped = await control.post("/_emulator/clock", json={"speed": 1000})
        assert sped.json()["speed"] == 1000
        await asyncio.sleep(0.05)
        assert emu.emulator.clock.now() - sped.json()["now"] >= 40
        assert (await control.post("/_emulator/reset")).json() == {"ok": True}
        state = (await control.get("/_emulator/state")).json()
    assert state["tasks"] == [] and state["channels"] == {} and state["requestCount"] == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cli_serves_with_basic_auth_and_logs_without_secrets() -> None:
    """`python -m emulator --port N` answers a Basic-auth acquire, 401 without auth, and logs no credentials."""
    port = free_port()
    env = {**os.environ, "AGORA_CUSTOMER_SECRET": "from-env-secret"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", str(port), "--app-id", "cli-app", "--rate-limit", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{base}/_emulator/health", timeout=1).json() == {"ok": True}:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.05)
        url = f"{base}/v1/apps/cli-app/cloud_recording/acquire"
        body = {"cname": "room1", "uid": "1", "clientRequest": {}}
        ok = httpx.post(url, json=body, auth=("emulator-customer", "from-env-secret"))
        assert ok.status_code == 200 and ok.json()["cname"] == "room1"
        denied = httpx.post(url, json=body)
        assert denied.status_code == 401 and denied.json() == {"message": "Unauthorized"}
    finally:
        os.kill(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=10)
    assert "POST /v1/apps/cli-app/cloud_recording/acquire 200" in output
    assert "POST /v1/apps/cli-app/cloud_recording/acquire 401" in output
    assert "from-env-secret" not in output and "Basic " not in output


def test_cli_flags_set_the_config_fields_they_are_named_after(monkeypatch) -> None:
    """Every `python -m emulator` flag but --port, --host and --fault-profile sets its config field, over the env."""
    monkeypatch.setenv("AGORA_APP_ID", "from-env")
    monkeypatch.setenv("AGORA_CUSTOMER_ID", "customer-from-env")
    flags = ["--port", "1", "--app-id", "from-flag", "--rate-limit", "0", "--max-concurrent-web", "7", "--seed", "3"]
    flags += ["--callback-url", "http://127.0.0.1:1/ncs", "--callback-secret", "s3cret"]
    config = config_from(parse_args(flags))
    assert (config.app_id, config.customer_id) == ("from-flag", "customer-from-env")
    assert (config.rate_limit_qps, config.max_concurrent_web, config.seed) == (0, 7, 3)
    assert config.callback_url == "http://127.0.0.1:1/ncs"
    assert config.callback_secret is not None and config.callback_secret.get_secret_value() == "s3cret"
    assert config.speed == EmulatorConfig().speed
