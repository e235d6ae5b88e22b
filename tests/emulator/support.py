"""Request builders shared by the emulator tests (raw HTTP only; nothing from agora/)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, running_emulator, serving_app

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
    # Plain http on loopback: verify=False spares loading the CA certificates (0.1 s a client).
    async with (
        running_emulator(config) as emu,
        httpx.AsyncClient(base_url=emu.base_url, auth=auth(config), verify=False) as http,
    ):
        yield emu, Api(http, config)


@dataclass
class Delivery:
    """One callback as the sink received it: the raw body, its signature headers and the parsed JSON."""

    body: bytes
    headers: dict[str, str]
    answered: int

    @property
    def json(self) -> dict[str, Any]:
        """The body, parsed."""
        data: dict[str, Any] = json.loads(self.body)
        return data


class CallbackSink:
    """A callback receiver for the emulator's NCS: records every delivery and answers as scripted (200 by default)."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        # Statuses (or "hang") for the next deliveries, in order; then 200.
        self.script: list[int | str] = []
        self._arrived = asyncio.Condition()
        self.url = ""

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        answer = self.script.pop(0) if self.script else 200
        if answer == "hang":
            await asyncio.sleep(30)
            answer = 200
        status = int(answer)
        async with self._arrived:
            self.deliveries.append(Delivery(body, {k.lower(): v for k, v in request.headers.items()}, status))
            self._arrived.notify_all()
        return JSONResponse({"ok": status == 200}, status_code=status)

    async def wait_for(self, ok: Callable[[list[Delivery]], bool], within: float = 5.0) -> list[Delivery]:
        """Wait until the deliveries so far satisfy `ok`; AssertionError after `within` seconds."""

        async def until() -> None:
            async with self._arrived:
                await self._arrived.wait_for(lambda: ok(self.deliveries))

        try:
            await asyncio.wait_for(until(), within)
        except TimeoutError:
            raise AssertionError(f"not received within {within} s: {[d.json for d in self.deliveries]}") from None
        return list(self.deliveries)

    def events(self, sid: str | None = None) -> list[int]:
        """The event types delivered with a 200, in arrival order (of `sid` only, if given)."""
        return [
            d.json["eventType"]
            for d in self.deliveries
            if d.answered == 200 and (sid is None or d.json["payload"]["sid"] == sid)
        ]


@asynccontextmanager
async def callback_sink() -> AsyncIterator[CallbackSink]:
    """A `CallbackSink` served by uvicorn on a free loopback port; its `url` is set."""
    sink = CallbackSink()
    async with serving_app(Starlette(routes=[Route("/ncs", sink.endpoint, methods=["POST"])])) as url:
        sink.url = f"{url}/ncs"
        yield sink
