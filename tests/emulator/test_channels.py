"""Channel-driven exits (idle, uid conflict), crashes and high-availability failovers."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.testing import RunningEmulator
from tests.emulator.support import Api


def task(emu: RunningEmulator, sid: str) -> dict[str, Any]:
    return next(t for t in emu.tasks() if t["sid"] == sid)


async def test_idle_exit_in_communication_channel_at_exact_time(api: Api, emu: RunningEmulator) -> None:
    """In a communication channel the recorder exits maxIdleTime after the last user leaves: status 8, 49, then 404."""
    emu.join("room1", "100", role="audience")
    rid, sid = await api.begin("mix", recordingConfig={"channelType": 0, "maxIdleTime": 10})
    emu.advance(20.0)
    assert task(emu, sid)["running"] is True
    emu.leave("room1", "100")
    left_at = emu.emulator.clock.now()
    emu.advance(9.9)
    assert (await api.query(rid, sid, "mix")).status_code == 200
    emu.advance(0.2)
    assert (await api.query(rid, sid, "mix")).json()["serverResponse"]["status"] == 8
    view = task(emu, sid)
    assert view["endReason"] == "idle" and view["endedAt"] == pytest.approx(left_at + 10.0)
    assert view["maxIdleTime"] == 10
    stop = await api.stop(rid, sid, "mix")
    assert stop.status_code == 400 and stop.json()["code"] == 49
    emu.advance(10.0)
    assert (await api.query(rid, sid, "mix")).status_code == 404


async def test_idle_when_nobody_ever_joins(api: Api, emu: RunningEmulator) -> None:
    """With nobody in the channel the recorder exits exactly maxIdleTime after start."""
    rid, sid = await api.begin("individual", recordingConfig={"maxIdleTime": 5, "subscribeUidGroup": 0})
    emu.advance(16.0)
    view = task(emu, sid)
    assert view["endReason"] == "idle" and view["endedAt"] == pytest.approx(view["startedAt"] + 5.0)
    assert (await api.query(rid, sid, "individual")).status_code == 404


async def test_live_channel_counts_only_hosts(api: Api, emu: RunningEmulator) -> None:
    """In a live channel an audience member does not keep the recorder alive; a host does."""
    emu.join("room1", "100", role="audience")
    _, idle_sid = await api.begin("mix", recordingConfig={"channelType": 1, "maxIdleTime": 5})
    emu.join("room2", "200", role="host")
    _, busy_sid = await api.begin("mix", cname="room2", recordingConfig={"channelType": 1, "maxIdleTime": 5})
    emu.advance(30.0)
    assert task(emu, idle_sid)["endReason"] == "idle"
    assert task(emu, busy_sid)["running"] is True


async def test_uid_conflict_kicks_the_recorder(api: Api, emu: RunningEmulator) -> None:
    """A user joining with the recorder's uid kicks it out (endReason uid_conflict, status 20, then 404)."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    emu.advance(5.0)
    emu.join("room1", "999")
    joined_at = emu.emulator.clock.now()
    emu.advance(1.0)
    view = task(emu, sid)
    assert view["endReason"] == "uid_conflict" and view["endedAt"] == pytest.approx(joined_at)
    assert view["statusHistory"][-1][1] == 20
    assert (await api.query(rid, sid, "mix")).json()["serverResponse"]["status"] == 20
    emu.advance(10.0)
    assert (await api.query(rid, sid, "mix")).status_code == 404


async def test_crash_gives_status_20_and_404(api: Api, emu: RunningEmulator) -> None:
    """A crash ends the task abnormally: endReason crashed, query shows status 20 a while then 404, stop 404 at once."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    emu.advance(20.0)
    emu.crash(sid)
    view = task(emu, sid)
    assert view["endReason"] == "crashed" and view["status"] == 20 and view["running"] is False
    assert (await api.query(rid, sid, "mix")).json()["serverResponse"]["status"] == 20
    assert (await api.stop(rid, sid, "mix")).status_code == 404
    emu.advance(10.0)
    assert (await api.query(rid, sid, "mix")).status_code == 404
    assert emu.emulator.snapshot()["faultsInjected"]["crash"] == 1


async def test_failover_404_then_back_with_new_uid_and_bak_names(api: Api, emu: RunningEmulator) -> None:
    """During a failover query is 404; afterwards the task answers with bak0_ names and a new currentUid."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    emu.advance(20.0)
    emu.failover(sid, downtime=30.0)
    emu.advance(10.0)
    during = await api.query(rid, sid, "mix")
    assert during.status_code == 404
    assert task(emu, sid)["inFailover"] is True
    emu.advance(21.0)
    back = await api.query(rid, sid, "mix")
    assert back.status_code == 200
    assert back.json()["serverResponse"]["fileList"] == f"rec/day1/bak0_{sid}_room1.m3u8"
    view = task(emu, sid)
    assert view["failovers"] == 1 and view["inFailover"] is False
    assert view["currentUid"] != "999" and view["uid"] == "999"
    assert view["fileNames"] == [f"rec/day1/{sid}_room1.m3u8", f"rec/day1/bak0_{sid}_room1.m3u8"]


async def test_fourth_failover_ends_the_task(api: Api, emu: RunningEmulator) -> None:
    """A task migrates at most three times; the fourth failover ends it with endReason failover_limit."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    for _ in range(3):
        emu.failover(sid, downtime=1.0)
        emu.advance(2.0)
        assert (await api.query(rid, sid, "mix")).status_code == 200
    emu.failover(sid, downtime=1.0)
    view = task(emu, sid)
    assert view["endReason"] == "failover_limit" and view["failovers"] == 4 and view["running"] is False
    assert (await api.query(rid, sid, "mix")).json()["serverResponse"]["status"] == 20
    emu.advance(10.0)
    assert (await api.query(rid, sid, "mix")).status_code == 404
