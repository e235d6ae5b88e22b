"""Request builders shared by the emulator tests (raw HTTP only; nothing from agora/)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, running_emulator

FAST = {"speed": 0.0, "rate_limit_qps": 0.0, "upload_seconds": 0.0, "seed": 7}
STORAGE: dict[str, Any] = {
    "vendor": 1,
    "region": 0,
    "bucket": "bucket",
    "accessKey": "access-key",
    "secretKey": "secret-key",
    "fileNamePrefix": ["rec", "day1"],
}


def fast_config(**overrides: Any) -> EmulatorConfig:
    """A frozen-clock emulator with no rate limit and instant uploads; overrides win."""
    return EmulatorConfig(**{**FAST, **overrides})


def prefix(config: EmulatorConfig) -> str:
    """The API path prefix for the configured App ID."""
    return f"/v1/apps/{config.app_id}/cloud_recording"


def auth(config: EmulatorConfig) -> tuple[str, str]:
    """The Basic-auth pair the emulator accepts."""
    return config.customer_id, config.customer_secret.get_secret_value()


def start_request(mode: str, **changes: Any) -> dict[str, Any]:
    """A valid start clientRequest for `mode`; top-level keys in `changes` replace the defaults."""
    request: dict[str, Any] = {"storageConfig": copy.deepcopy(STORAGE)}
    if mode in ("mix", "individual"):
        request["recordingConfig"] = {"channelType": 0, "streamTypes": 2, "maxIdleTime": 30}
        if mode == "individual":
            request["recordingConfig"]["subscribeUidGroup"] = 0
        request["recordingFileConfig"] = {"avFileType": ["hls"]}
    else:
        request["extensionServiceConfig"] = {
            "errorHandlePolicy": "error_abort",
            "extensionServices": [
                {
                    "serviceName": "web_recorder_service",
                    "errorHandlePolicy": "error_abort",
                    "serviceParam": {
                        "url": "https://example.invalid/page",
                        "audioProfile": 0,
                        "videoWidth": 1280,
                        "videoHeight": 720,
                        "maxRecordingHour": 2,
                    },
                }
            ],
        }
        request["recordingFileConfig"] = {"avFileType": ["hls"]}
    request.update(changes)
    return {k: v for k, v in request.items() if v is not None}


class Api:
    """A thin raw-HTTP driver for one emulator."""

    def __init__(self, client: httpx.AsyncClient, config: EmulatorConfig) -> None:
        self.client = client
        self.prefix = prefix(config)

    async def acquire(self, cname: str, uid: str, **client_request: Any) -> httpx.Response:
        body = {"cname": cname, "uid": uid, "clientRequest": client_request}
        return await self.client.post(f"{self.prefix}/acquire", json=body)

    async def start(self, rid: str, mode: str, cname: str, uid: str, cr: dict[str, Any]) -> httpx.Response:
        body = {"cname": cname, "uid": uid, "clientRequest": cr}
        return await self.client.post(f"{self.prefix}/resourceid/{rid}/mode/{mode}/start", json=body)

    async def begin(
        self, mode: str, cname: str = "room1", uid: str = "999", scene: int | None = None, **changes: Any
    ) -> tuple[str, str]:
        """Acquire and start; returns (resourceId, sid)."""
        scene = (1 if mode == "web" else 0) if scene is None else scene
        acquired = await self.acquire(cname, uid, scene=scene)
        assert acquired.status_code == 200, acquired.text
        rid = acquired.json()["resourceId"]
        started = await self.start(rid, mode, cname, uid, start_request(mode, **changes))
        assert started.status_code == 200, started.text
        return rid, started.json()["sid"]

    def task_path(self, rid: str, sid: str, mode: str, op: str) -> str:
        return f"{self.prefix}/resourceid/{rid}/sid/{sid}/mode/{mode}/{op}"

    async def query(self, rid: str, sid: str, mode: str) -> httpx.Response:
        return await self.client.get(self.task_path(rid, sid, mode, "query"))

    async def post(
        self, rid: str, sid: str, mode: str, op: str, cr: dict[str, Any], cname: str = "room1", uid: str = "999"
    ) -> httpx.Response:
        body = {"cname": cname, "uid": uid, "clientRequest": cr}
        return await self.client.post(self.task_path(rid, sid, mode, op), json=body)

    async def stop(
        self, rid: str, sid: str, mode: str, cname: str = "room1", uid: str = "999", **cr: Any
    ) -> httpx.Response:
        return await self.post(rid, sid, mode, "stop", cr, cname, uid)


@asynccontextmanager
async def serve(**overrides: Any) -> AsyncIterator[tuple[RunningEmulator, Api]]:
    """A fresh emulator with `fast_config(**overrides)` and a raw-HTTP driver for it."""
    config = fast_config(**overrides)
    async with running_emulator(config) as emu, httpx.AsyncClient(base_url=emu.base_url, auth=auth(config)) as http:
        yield emu, Api(http, config)
