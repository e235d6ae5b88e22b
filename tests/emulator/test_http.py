"""Gateway behaviour: auth, appid, routing, content type, and the per-App-ID limits."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from emulator.testing import RunningEmulator, running_emulator
from tests.emulator.support import Api, auth, fast_config, prefix


async def test_missing_auth_gives_401_unauthorized(emu: RunningEmulator) -> None:
    """No Authorization header answers 401 {"message": "Unauthorized"}."""
    async with httpx.AsyncClient(base_url=emu.base_url) as http:
        response = await http.post(f"{prefix(emu.config)}/acquire", json={})
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthorized"}


async def test_wrong_credentials_give_401_invalid(emu: RunningEmulator) -> None:
    """A wrong key or secret answers 401 {"message": "Invalid authentication credentials"}."""
    async with httpx.AsyncClient(base_url=emu.base_url, auth=("emulator-customer", "nope")) as http:
        response = await http.post(f"{prefix(emu.config)}/acquire", json={})
    assert response.status_code == 401
    assert response.json() == {"message": "Invalid authentication credentials"}


async def test_unknown_appid_gives_400(client: httpx.AsyncClient) -> None:
    """An App ID other than the configured one answers 400 "appid is invalid"."""
    response = await client.post("/v1/apps/other/cloud_recording/acquire", json={})
    assert response.status_code == 400
    assert response.json() == {"message": "appid is invalid"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/apps/emulator-app-id/recording/acquire"),
        ("GET", "/v1/apps/emulator-app-id/cloud_recording/acquire"),
    ],
)
async def test_wrong_path_or_method_gives_404_no_route(client: httpx.AsyncClient, method: str, path: str) -> None:
    """A wrong path or a wrong method answers 404 "no Route matched with those values"."""
    response = await client.request(method, path)
    assert response.status_code == 404
    assert response.json() == {"message": "no Route matched with those values"}


async def test_non_json_content_type_and_bad_json_give_code_8(client: httpx.AsyncClient, emu: RunningEmulator) -> None:
    """A POST with a non-JSON content type, or a body that is not JSON, answers 400 with code 8."""
    url = f"{prefix(emu.config)}/acquire"
    as_text = await client.post(url, content=b"{}", headers={"content-type": "text/plain"})
    broken = await client.post(url, content=b"{nope", headers={"content-type": "application/json;charset=utf-8"})
    assert as_text.status_code == 400 and as_text.json()["code"] == 8
    assert broken.status_code == 400 and broken.json()["code"] == 8


async def test_rate_limit_answers_429_beyond_10_per_second() -> None:
    """More than 10 requests inside one real second get 429 "API rate limit exceeded"; later ones pass again."""
    config = fast_config(rate_limit_qps=10.0)
    async with running_emulator(config) as emu, httpx.AsyncClient(base_url=emu.base_url, auth=auth(config)) as http:
        api = Api(http, config)
        responses = await asyncio.gather(*(api.acquire("room1", str(100 + i)) for i in range(15)))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 10 + [429] * 5
        assert next(r for r in responses if r.status_code == 429).json() == {"message": "API rate limit exceeded"}
        await asyncio.sleep(1.05)
        assert (await api.acquire("room1", "500")).status_code == 200


async def test_acquire_over_max_concurrent_gives_406() -> None:
    """With max_concurrent running tasks, acquire answers 400 {"code":406,"reason":"vendor_over_load"}."""
    config = fast_config(max_concurrent=1)
    async with running_emulator(config) as emu, httpx.AsyncClient(base_url=emu.base_url, auth=auth(config)) as http:
        api = Api(http, config)
        await api.begin("mix")
        refused = await api.acquire("room2", "1")
        assert refused.status_code == 400
        assert refused.json() == {"code": 406, "reason": "vendor_over_load"}


async def test_health_and_control_errors(client: httpx.AsyncClient) -> None:
    """The control API answers health without auth and 404 for an unknown task."""
    async with httpx.AsyncClient(base_url=str(client.base_url)) as plain:
        assert (await plain.get("/_emulator/health")).json() == {"ok": True}
        crash = await plain.post("/_emulator/tasks/nope/crash")
        assert crash.status_code == 404 and "error" in crash.json()
        bad_fault = await plain.post("/_emulator/faults", json={"endpoint": "start", "kind": "boom"})
        assert bad_fault.status_code == 400
