"""The ASGI layer: Starlette routes over one `Emulator` instance."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from emulator.answers import ApiResponse
from emulator.config import EmulatorConfig
from emulator.lifecycle import ControlError
from emulator.state import Emulator

logger = logging.getLogger("emulator")
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_POLL_SECONDS = 0.05


class RequestLogMiddleware:
    """Log one INFO line per request: method, path and status (never headers or bodies)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            logger.info("%s %s %s", scope["method"], scope["path"], status)


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


async def _wait(request: Request, emulator: Emulator, seconds: float, until_disconnect: bool) -> None:
    """Sleep `seconds` real seconds, ending early on shutdown (and on client disconnect if asked)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not emulator.closed:
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        await asyncio.sleep(min(_POLL_SECONDS, remaining))
        if until_disconnect and await request.is_disconnected():
            return


async def api(request: Request) -> Response:
    """Every request outside /_emulator/ goes to the emulated Agora API."""
    emulator = _emulator(request)
    body = await request.body()
    result: ApiResponse = emulator.handle(
        request.method,
        request.scope["path"],
        request.headers.get("authorization"),
        request.headers.get("content-type"),
        body,
    )
    if result.delay > 0:
        await _wait(request, emulator, result.delay, until_disconnect=result.hang)
    return Response(result.content(), status_code=result.status, media_type=result.media_type)


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ControlError(400, "body must be JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "body must be a JSON object")
    return data


def _control(handler: Any) -> Any:
    """Wrap a control endpoint so `ControlError` becomes `{"error": ...}` with its status."""

    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request, _emulator(request))
        except ControlError as exc:
            return JSONResponse({"error": exc.message}, status_code=exc.status)
        return JSONResponse(result)

    return endpoint


async def health(request: Request, emulator: Emulator) -> dict[str, Any]:
    return {"ok": True}


async def state(request: Request, emulator: Emulator) -> dict[str, Any]:
    return emulator.snapshot(request.query_params.get("cname"))


async def join(request: Request, emulator: Emulator) -> dict[str, Any]:
    data = await _json_body(request)
    cname = request.path_params["cname"]
    uid = data.get("uid")
    if not isinstance(uid, str):
        raise ControlError(400, "uid must be a string")
    role = data.get("role", "host")
    if not isinstance(role, str):
        raise ControlError(400, "role must be host or audience")
    emulator.join(cname, uid, role)
    return {"ok": True}


async def leave(request: Request, emulator: Emulator) -> dict[str, Any]:
    left = emulator.leave(request.path_params["cname"], request.path_params["uid"])
    return {"ok": True, "left": left}


async def crash(request: Request, emulator: Emulator) -> dict[str, Any]:
    emulator.crash(request.path_params["sid"])
    return {"ok": True}


async def failover(request: Request, emulator: Emulator) -> dict[str, Any]:
    data = await _json_body(request)
    emulator.failover(request.path_params["sid"], data.get("downtime"))
    return {"ok": True}


async def faults(request: Request, emulator: Emulator) -> dict[str, Any]:
    if request.method == "DELETE":
        emulator.clear_faults()
    else:
        emulator.inject(await _json_body(request))
    return {"ok": True}


async def clock(request: Request, emulator: Emulator) -> dict[str, Any]:
    data = await _json_body(request)
    advance = data.get("advance", 0)
    speed = data.get("speed")
    if isinstance(advance, bool) or not isinstance(advance, int | float) or advance < 0:
        raise ControlError(400, "advance must be a non-negative number of seconds")
    if speed is not None and (isinstance(speed, bool) or not isinstance(speed, int | float) or speed < 0):
        raise ControlError(400, "speed must be a non-negative number")
    if speed is not None:
        emulator.clock.set_speed(float(speed))
    if advance:
        emulator.advance(float(advance))
    return {"now": emulator.clock.now(), "speed": emulator.clock.speed}


async def profile(request: Request, emulator: Emulator) -> dict[str, Any]:
    data = await _json_body(request)
    emulator.set_profile(data.get("seed", 0), data.get("rates", {}))
    return {"ok": True}


async def reset(request: Request, emulator: Emulator) -> dict[str, Any]:
    emulator.reset()
    return {"ok": True}


async def callbacks(request: Request, emulator: Emulator) -> dict[str, Any]:
    if request.method == "GET":
        return emulator.callbacks(request.query_params.get("cname"))
    data = await _json_body(request)
    if "url" not in data:
        raise ControlError(400, "url is required (null turns the callbacks off)")
    emulator.set_callbacks(data["url"], data.get("secret"))
    view = emulator.callbacks()
    return {"ok": True, "enabled": view["enabled"], "url": view["url"]}


async def callback_faults(request: Request, emulator: Emulator) -> dict[str, Any]:
    emulator.inject_callback_fault(await _json_body(request))
    return {"ok": True}


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """Build the ASGI app; `app.state.emulator` is its `Emulator`."""
    emulator = Emulator(config)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # The callbacks' background task lives as long as the app is served.
        await emulator.start_callbacks()
        try:
            yield
        finally:
            await emulator.stop_callbacks()

    routes = [
        Route("/_emulator/health", _control(health), methods=["GET"]),
        Route("/_emulator/state", _control(state), methods=["GET"]),
        Route("/_emulator/channels/{cname}/users", _control(join), methods=["POST"]),
        Route("/_emulator/channels/{cname}/users/{uid}", _control(leave), methods=["DELETE"]),
        Route("/_emulator/tasks/{sid}/crash", _control(crash), methods=["POST"]),
        Route("/_emulator/tasks/{sid}/failover", _control(failover), methods=["POST"]),
        Route("/_emulator/faults", _control(faults), methods=["POST", "DELETE"]),
        Route("/_emulator/clock", _control(clock), methods=["POST"]),
        Route("/_emulator/profile", _control(profile), methods=["POST"]),
        Route("/_emulator/reset", _control(reset), methods=["POST"]),
        Route("/_emulator/callbacks", _control(callbacks), methods=["GET", "POST"]),
        Route("/_emulator/callbacks/faults", _control(callback_faults), methods=["POST"]),
        Route("/{path:path}", api, methods=_ALL_METHODS),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(RequestLogMiddleware)], lifespan=lifespan)
    app.state.emulator = emulator
    return app
