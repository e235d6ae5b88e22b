"""Scripted faults of every kind, their options, and the seeded random profile."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from emulator.testing import RunningEmulator, running_emulator
from tests.emulator.support import Api, auth, fast_config, start_request

SIMPLE_FAULTS: list[tuple[str, int, dict[str, Any]]] = [
    ("server_error", 500, {"code": 500, "reason": "internal_error"}),
    ("request_not_completed", 206, {"code": 65, "reason": "request not completed"}),
    ("rate_limited", 429, {"message": "API rate limit exceeded"}),
    ("over_quota", 400, {"code": 406, "reason": "vendor_over_load"}),
    ("request_timeout", 504, {"code": 62, "reason": "request timeout"}),
    ("no_worker_manager_available", 500, {"code": 501, "reason": "no_worker_manager_available"}),
    ("allocate_timeout", 500, {"code": 504, "reason": "allocate_timeout"}),
]


@pytest.mark.parametrize(("kind", "status", "body"), SIMPLE_FAULTS)
async def test_simple_fault_kinds(api: Api, emu: RunningEmulator, kind: str, status: int, body: Any) -> None:
    """Each simple fault kind answers its documented status and body once, then the call works again."""
    emu.inject("acquire", kind)
    faulty = await api.acquire("room1", "1")
    assert faulty.status_code == status and faulty.json() == body
    assert (await api.acquire("room1", "1")).status_code == 200
    assert emu.emulator.snapshot()["faultsInjected"] == {kind: 1}


async def test_not_found_fault_uses_the_real_404_shape(api: Api, emu: RunningEmulator) -> None:
    """not_found answers 404 with code 404 and serverResponse.payload.message "failed to find worker"."""
    rid, sid = await api.begin("mix")
    emu.inject("query", "not_found")
    response = await api.query(rid, sid, "mix")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 404 and body["sid"] == sid and body["resourceId"] == rid and body["cname"] == "room1"
    assert body["serverResponse"]["payload"] == {"message": "failed to find worker"}
    assert (await api.query(rid, sid, "mix")).status_code == 200


async def test_bad_gateway_and_malformed_are_not_json(api: Api, emu: RunningEmulator) -> None:
    """bad_gateway answers 502 HTML and malformed answers 200 with a body that is not valid JSON."""
    emu.inject("acquire", "bad_gateway")
    emu.inject("acquire", "malformed")
    gateway = await api.acquire("room1", "1")
    assert gateway.status_code == 502 and gateway.headers["content-type"].startswith("text/html")
    malformed = await api.acquire("room1", "1")
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.content)


async def test_empty_sid_fault(api: Api, emu: RunningEmulator) -> None:
    """empty_sid answers 500 {"resourceId", "sid": "", "code": 15} as seen from the real start."""
    rid = (await api.acquire("room1", "999")).json()["resourceId"]
    emu.inject("start", "empty_sid")
    response = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert response.status_code == 500
    assert response.json() == {"resourceId": rid, "sid": "", "code": 15}


async def test_accepted_then_fail_creates_the_task_behind_a_500(api: Api, emu: RunningEmulator) -> None:
    """accepted_then_fail answers 500 internal_error but the task runs; a retry gets 201/7 with its sid."""
    rid = (await api.acquire("room1", "999")).json()["resourceId"]
    emu.inject("start", "accepted_then_fail")
    lost = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert lost.status_code == 500 and lost.json() == {"code": 500, "reason": "internal_error"}
    [view] = emu.tasks()
    assert view["running"] is True
    retry = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert retry.status_code == 201 and retry.json()["sid"] == view["sid"]
    assert [r["status"] for r in view["requests"]] == [500]


async def test_omit_sid_on_duplicate(api: Api, emu: RunningEmulator) -> None:
    """omit_sid_on_duplicate drops the sid from the next 201/7 only."""
    rid, _ = await api.begin("mix")
    emu.inject("start", "omit_sid_on_duplicate")
    first = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert first.status_code == 201 and "sid" not in first.json()
    second = await api.start(rid, "mix", "room1", "999", start_request("mix"))
    assert "sid" in second.json()


async def test_hang_never_answers_until_the_client_gives_up(api: Api, emu: RunningEmulator) -> None:
    """hang keeps the request open past the client's timeout; the next call is served normally."""
    emu.inject("acquire", "hang")
    with pytest.raises(httpx.ReadTimeout):
        await api.client.post(
            f"{api.prefix}/acquire", json={"cname": "r", "uid": "1", "clientRequest": {}}, timeout=0.3
        )
    assert (await api.acquire("room1", "1")).status_code == 200


async def test_count_cname_filter_delay_and_custom_response(api: Api, emu: RunningEmulator) -> None:
    """A fault serves `count` matching calls, honours the cname filter, can delay, and can use an explicit answer."""
    emu.inject("acquire", "server_error", count=2, cname="target")
    assert (await api.acquire("other", "1")).status_code == 200
    assert (await api.acquire("target", "1")).status_code == 500
    assert (await api.acquire("target", "1")).status_code == 500
    assert (await api.acquire("target", "1")).status_code == 200
    emu.inject("*", "custom", status=418, body={"code": 99, "reason": "teapot"}, delay=0.2)
    began = time.monotonic()
    custom = await api.acquire("room1", "1")
    assert custom.status_code == 418 and custom.json() == {"code": 99, "reason": "teapot"}
    assert time.monotonic() - began >= 0.2


async def test_sid_filter_hits_only_that_task(api: Api, emu: RunningEmulator) -> None:
    """A fault with a sid filter answers calls about that sid only, even when other sids of the channel are queried."""
    old_rid, old_sid = await api.begin("mix", cname="room1", uid="901")
    new_rid, new_sid = await api.begin("mix", cname="room1", uid="902")
    emu.inject("query", "not_found", count=2, cname="room1", sid=new_sid)
    assert (await api.query(old_rid, old_sid, "mix")).status_code == 200
    assert (await api.query(new_rid, new_sid, "mix")).status_code == 404
    assert (await api.query(old_rid, old_sid, "mix")).status_code == 200
    assert (await api.query(new_rid, new_sid, "mix")).status_code == 404
    assert (await api.query(new_rid, new_sid, "mix")).status_code == 200


async def test_clear_faults_over_http(api: Api, emu: RunningEmulator) -> None:
    """POST /_emulator/faults queues a fault and DELETE /_emulator/faults clears it."""
    async with httpx.AsyncClient(base_url=emu.base_url) as control:
        queued = await control.post("/_emulator/faults", json={"endpoint": "acquire", "kind": "server_error"})
        assert queued.json() == {"ok": True}
        assert (await control.delete("/_emulator/faults")).status_code == 200
    assert (await api.acquire("room1", "1")).status_code == 200


async def profile_run(seed: int) -> tuple[list[int], list[str | None]]:
    """Drive a fixed sequence of calls under a seeded profile; returns statuses and end reasons."""
    config = fast_config(seed=1)
    async with running_emulator(config) as emu, httpx.AsyncClient(base_url=emu.base_url, auth=auth(config)) as http:
        api = Api(http, config)
        async with httpx.AsyncClient(base_url=emu.base_url) as control:
            rates = {"acquire.server_error": 0.3, "any.request_not_completed": 0.2, "task.crash_per_hour": 2.0}
            assert (await control.post("/_emulator/profile", json={"seed": seed, "rates": rates})).status_code == 200
        statuses = []
        for i in range(20):
            emu.join(f"room{i}", "100")
            acquired = await api.acquire(f"room{i}", "999")
            statuses.append(acquired.status_code)
            if acquired.status_code == 200:
                rid = acquired.json()["resourceId"]
                started = await api.start(rid, "mix", f"room{i}", "999", start_request("mix"))
                statuses.append(started.status_code)
        emu.advance(3600.0)
        snapshot = emu.emulator.snapshot()
        return statuses, [t["endReason"] for t in snapshot["tasks"]]


async def test_profile_is_deterministic_for_a_seed_and_injects_faults() -> None:
    """The same seed and call sequence give the same faults and crashes; the profile does inject them."""
    first = await profile_run(42)
    again = await profile_run(42)
    assert first == again
    statuses, reasons = first
    assert 500 in statuses and 206 in statuses and 200 in statuses
    assert "crashed" in reasons
