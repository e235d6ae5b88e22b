"""resourceId rules: duplicates, conflicts, expiry, ownership and one task per resource."""

from __future__ import annotations

from emulator.testing import RunningEmulator
from tests.emulator.support import Api, start_request


async def test_duplicate_start_gives_201_code_7_with_sid(api: Api, emu: RunningEmulator) -> None:
    """Starting the same resourceId twice answers 201 {"code":7} carrying the running task's sid."""
    rid, sid = await api.begin("mix")
    again = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert again.status_code == 201
    assert again.json() == {
        "code": 7,
        "reason": "already started",
        "resourceId": rid,
        "sid": sid,
        "cname": "room1",
        "uid": "999",
    }
    assert len(emu.tasks()) == 1


async def test_task_conflict_for_same_cname_and_uid(api: Api) -> None:
    """A second resource for a running cname+uid fails to start with 400 code 53."""
    await api.begin("mix")
    rid2 = (await api.acquire("room1", "999")).json()["resourceId"]
    conflict = await api.start(rid2, "mix", "room1", "999", start_request("mix"))
    assert conflict.status_code == 400
    assert conflict.json() == {"code": 53, "reason": "task conflict"}


async def test_resource_expires_after_ttl(api: Api, emu: RunningEmulator) -> None:
    """A start more than resource_ttl_seconds after acquire answers 433 "resource expired"."""
    rid = (await api.acquire("room1", "999")).json()["resourceId"]
    emu.advance(301.0)
    late = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert late.status_code == 400
    assert late.json() == {"code": 433, "reason": "resource expired"}


async def test_one_resource_serves_one_task(api: Api, emu: RunningEmulator) -> None:
    """After its task ended, a resourceId cannot start another task."""
    emu.join("room1", "100")
    rid, sid = await api.begin("mix")
    emu.advance(20.0)
    assert (await api.stop(rid, sid, "mix")).status_code == 200
    reuse = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert reuse.status_code == 400 and reuse.json()["code"] == 2
    assert len(emu.tasks()) == 1


async def test_resource_belongs_to_its_cname_and_uid(api: Api) -> None:
    """Start with another cname/uid than acquire answers 432; an unknown resourceId answers 1001 unparsable."""
    rid = (await api.acquire("room1", "999")).json()["resourceId"]
    wrong = await api.start(rid, "mix", "room1", "998", start_request("mix"))
    assert wrong.status_code == 400 and wrong.json()["code"] == 432
    unknown = await api.start("nope", "mix", "room1", "999", start_request("mix"))
    assert unknown.status_code == 400 and unknown.json() == {"code": 1001, "reason": "resourceId unparsable"}


async def test_start_parameter_must_match(api: Api) -> None:
    """A startParameter given to acquire must equal the later start's clientRequest."""
    declared = start_request("mix")
    rid = (await api.acquire("room1", "999", startParameter=declared)).json()["resourceId"]
    other = start_request("mix", recordingConfig={"maxIdleTime": 60})
    assert (await api.start(rid, "mix", "room1", "999", other)).json()["code"] == 2
    assert (await api.start(rid, "mix", "room1", "999", declared)).status_code == 200
