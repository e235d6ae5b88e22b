"""`recorder serve` end to end over HTTP: a dev server, the emulator, a worker and the service on a loopback port."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from recorder import api
from tests.service.conftest import APP_ID, READ_TOKEN, WRITE_TOKEN, Service, service_settings, serving
from tests.workflows.helpers import TEACHER, tasks_of

pytestmark = [pytest.mark.devserver]

PROBLEM = "application/problem+json"


def body(channel: str, **overrides: Any) -> dict[str, Any]:
    """A recording request as a backend would send it."""
    values: dict[str, Any] = {
        "channel": channel,
        "uid": "527841",
        "backup_uid": "527842",
        "max_idle_time": 60,
        "check_interval": 30,
        "max_duration": "PT10M",
    }
    values.update(overrides)
    return values


def fresh() -> str:
    """A fresh channel name."""
    return f"http-{uuid.uuid4().hex[:10]}"


async def test_start_or_join_status_list_layout_and_both_stops(service: Service):
    """Start (waiting until up), join, status, manifest, list, layout, subscription, a stop that answers before the
    recording has ended (with what it waits for), then one that returns the final manifest: one Agora task in all."""
    ch = fresh()
    service.emulator.join(ch, TEACHER)
    started = await service.writer.post("/v1/recordings", params={"wait": "true", "timeout": "45"}, json=body(ch))
    assert started.status_code == 201, started.text
    outcome = started.json()
    assert outcome["started"] is True and outcome["already_running"] is False and outcome["waited"] == "up"
    assert outcome["status"]["phase"] == "recording" and outcome["workflow_id"] == f"recording:{APP_ID}:{ch}"
    assert started.headers["location"] == f"/v1/recordings/{ch}"

    joined = await service.writer.post("/v1/recordings", json=body(ch))
    assert joined.status_code == 200 and joined.json()["started"] is False
    assert joined.json()["run_id"] == outcome["run_id"]

    status = (await service.reader.get(f"/v1/recordings/{ch}")).json()
    sid = tasks_of(service.emulator, ch)[0]["sid"]
    assert (status["phase"], status["sid"]) == ("recording", sid)
    manifest = (await service.reader.get(f"/v1/recordings/{ch}/manifest")).json()
    assert [s["sid"] for s in manifest["segments"]] == [sid]
    for _ in range(50):  # visibility catches up within moments
        listed = (await service.reader.get("/v1/recordings", params={"channel": ch, "phase": "recording"})).json()
        if listed["recordings"]:
            break
        await asyncio.sleep(0.2)
    assert [(r["channel"], r["sid"], r["status"]) for r in listed["recordings"]] == [(ch, sid, "Running")]

    layout = await service.writer.put(f"/v1/recordings/{ch}/layout", json={"mixed_video_layout": 1})
    assert layout.status_code == 200 and layout.json() == {"sid": sid}
    subscription = await service.writer.put(
        f"/v1/recordings/{ch}/subscription", json={"subscribe_audio_uids": [TEACHER]}
    )
    assert subscription.status_code == 200 and subscription.json() == {"sid": sid}
    assert tasks_of(service.emulator, ch)[0]["updates"] == 2

    service.emulator.inject("stop", "delay", cname=ch, delay=4)  # Agora is slow to answer this stop
    pending = await service.writer.post(f"/v1/recordings/{ch}/stop", params={"wait": "1"})
    assert pending.status_code == 202, pending.text
    so_far = pending.json()
    assert so_far["finished"] is False and so_far["phase"] == "stopping"
    assert so_far["waiting_for"] == [f"the stop of sid {sid}"]
    assert [s["sid"] for s in so_far["manifest"]["segments"]] == [sid]

    final = await service.writer.post(f"/v1/recordings/{ch}/stop", params={"wait": "30"})
    assert final.status_code == 200, final.text
    assert final.json()["finished"] is True and final.json()["manifest"]["phase"] == "stopped"
    again = await service.writer.post(f"/v1/recordings/{ch}/stop")
    assert again.status_code == 200 and again.json()["manifest"]["segments"][0]["end_reason"] == "stopped"
    assert [t["running"] for t in tasks_of(service.emulator, ch)] == [False]


async def test_a_stop_request_answers_at_once_and_the_recording_stops(service: Service):
    """POST stop without wait answers 202 at once (the signal), and the recording then stops on its own."""
    ch = fresh()
    service.emulator.join(ch, TEACHER)
    assert (await service.writer.post("/v1/recordings", params={"wait": "true"}, json=body(ch))).status_code == 201
    asked = await service.writer.post(f"/v1/recordings/{ch}/stop")
    assert asked.status_code == 202
    assert asked.json() == {
        "workflow_id": f"recording:{APP_ID}:{ch}",
        "finished": False,
        "phase": None,
        "waiting_for": [],
        "manifest": None,
    }
    for _ in range(100):
        status = (await service.reader.get(f"/v1/recordings/{ch}")).json()
        if status["phase"] == "stopped":
            break
        await asyncio.sleep(0.2)
    assert status["phase"] == "stopped"
    assert [t["running"] for t in tasks_of(service.emulator, ch)] == [False]


async def test_a_start_agora_refuses_answers_failed_with_the_reason(service: Service):
    """Waiting on a start whose storage profile the worker lacks answers at once with phase failed and the reason."""
    ch = fresh()
    answer = await service.writer.post(
        "/v1/recordings", params={"wait": "true"}, json=body(ch, storage_profile="nowhere")
    )
    assert answer.status_code == 201
    outcome = answer.json()
    assert outcome["waited"] == "ended" and outcome["status"]["phase"] == "failed"
    assert "storage profile 'nowhere' is not configured" in outcome["status"]["last_error"]
    assert tasks_of(service.emulator, ch) == []


BAD_BODY = body("bad-body")


def _bad_requests(ch: str) -> list[tuple[str, str, dict[str, Any], int, str]]:
    """(method, path, request options, status, a part of the problem that names the field or the reason)."""
    good = body(ch)
    big = body(ch, file_name_prefix=["a" * 70_000])
    w = {"Authorization": f"Bearer {WRITE_TOKEN}"}
    r = {"Authorization": f"Bearer {READ_TOKEN}"}
    start = "/v1/recordings"
    return [
        ("POST", start, {"json": good}, 401, "header.authorization"),
        ("POST", start, {"json": good, "headers": {"Authorization": "Basic dXNlcjpwYXNz"}}, 401, "bearer"),
        ("POST", start, {"json": good, "headers": {"Authorization": "Bearer not-a-known-token-123"}}, 401, "unknown"),
        ("POST", start, {"json": good, "headers": {"Authorization": "Bearer"}}, 401, "header.authorization"),
        ("POST", start, {"json": good, "headers": r}, 403, "needs a token of scope write"),
        ("POST", f"{start}/{ch}/stop", {"headers": r}, 403, "scope read"),
        ("PUT", f"{start}/{ch}/layout", {"json": {"mixed_video_layout": 1}, "headers": r}, 403, "scope read"),
        ("GET", f"{start}/{ch}", {}, 401, "header.authorization"),
        ("POST", start, {"content": json.dumps(good), "headers": {**w, "Content-Type": "text/plain"}}, 415, "json"),
        ("POST", start, {"content": json.dumps(good), "headers": w}, 415, "header.content-type"),
        (
            "POST",
            start,
            {"content": '{"channel": ', "headers": {**w, "Content-Type": "application/json"}},
            400,
            "line 1",
        ),
        ("POST", start, {"json": [good], "headers": w}, 422, "must be a JSON object"),
        ("POST", start, {"json": big, "headers": w}, 413, "65536 bytes"),
        ("POST", start, {"json": {k: v for k, v in good.items() if k != "uid"}, "headers": w}, 422, "body.uid"),
        ("POST", start, {"json": body(ch, uid="0"), "headers": w}, 422, "body.uid"),
        ("POST", start, {"json": body(ch, backup_uid="527841"), "headers": w}, 422, "must differ"),
        ("POST", start, {"json": body("math/101"), "headers": w}, 422, "body.channel"),
        ("POST", start, {"json": body(ch, colour="red"), "headers": w}, 422, "body.colour"),
        ("POST", start, {"json": body(ch, mode="audio"), "headers": w}, 422, "body.mode"),
        ("POST", start, {"json": body(ch, max_idle_time="abc"), "headers": w}, 422, "body.max_idle_time"),
        ("POST", start, {"json": body(ch, check_interval=90), "headers": w}, 422, "shorter than max_idle_time"),
        ("POST", start, {"json": body(ch, mode="web"), "headers": w}, 422, "web_url"),
        ("POST", start, {"json": body(ch, end_at="2030-01-01T10:00:00"), "headers": w}, 422, "timezone"),
        ("POST", start, {"json": body(ch, storage_profile="no/slash"), "headers": w}, 422, "body.storage_profile"),
        ("POST", start, {"json": body(ch, transcoding={"fps": 0}), "headers": w}, 422, "body.transcoding.fps"),
        ("POST", start, {"json": good, "params": {"wait": "maybe"}, "headers": w}, 422, "query.wait"),
        ("POST", start, {"json": good, "params": {"wait": "true", "timeout": "0"}, "headers": w}, 422, "query.timeout"),
        ("POST", start, {"json": good, "params": {"wait": "1", "timeout": "61"}, "headers": w}, 422, "query.timeout"),
        ("POST", start, {"json": good, "params": {"timeout": "5"}, "headers": w}, 422, "only used with wait=true"),
        ("POST", start, {"json": good, "params": {"force": "1"}, "headers": w}, 422, "query.force"),
        ("POST", f"{start}?wait=true&wait=false", {"json": good, "headers": w}, 422, "given 2 times"),
        ("GET", start, {"params": {"limit": "0"}, "headers": r}, 422, "query.limit"),
        ("GET", start, {"params": {"phase": "dancing"}, "headers": r}, 422, "query.phase"),
        ("GET", start, {"params": {"status": "some"}, "headers": r}, 422, "query.status"),
        ("POST", f"{start}/{ch}/stop", {"params": {"wait": "-1"}, "headers": w}, 422, "query.wait"),
        ("POST", f"{start}/{ch}/stop", {"params": {"wait": "soon"}, "headers": w}, 422, "query.wait"),
        ("POST", f"{start}/{ch}/stop", {"headers": w}, 404, f"no recording for channel {ch}"),
        ("GET", f"{start}/{ch}", {"headers": r}, 404, f"no recording for channel {ch}"),
        ("GET", f"{start}/{ch}/manifest", {"headers": r}, 404, f"no recording for channel {ch}"),
        ("PUT", f"{start}/{ch}/layout", {"json": {"mixed_video_layout": 7}, "headers": w}, 422, "mixed_video_layout"),
        ("PUT", f"{start}/{ch}/layout", {"json": {"mixed_video_layout": 1}, "headers": w}, 404, "no recording"),
        ("PUT", f"{start}/{ch}/subscription", {"json": {"audio": ["1"]}, "headers": w}, 422, "body.audio"),
        ("GET", f"{start}/bad%07channel", {"headers": r}, 422, "path.channel"),
        ("DELETE", start, {"headers": w}, 405, "DELETE is not allowed"),
        ("GET", "/v1/nothing-here", {"headers": w}, 404, "no route"),
    ]


async def test_bad_requests_get_a_clear_4xx_naming_the_field_and_change_nothing(service: Service):
    """Each of 45 bad requests gets its 4xx as problem+json naming the field or reason, and starts no recording."""
    ch = f"bad-{uuid.uuid4().hex[:8]}"
    cases = _bad_requests(ch)
    assert len(cases) >= 30
    failures = []
    for method, path, options, status, expected in cases:
        answer = await service.anonymous.request(method, path, **options)
        problem = answer.json()
        text = json.dumps(problem)
        if (
            answer.status_code != status
            or answer.headers["content-type"] != PROBLEM
            or problem["status"] != status
            or expected.lower() not in text.lower()
            or "Traceback" in text
        ):
            failures.append((method, path, options.get("params"), status, answer.status_code, text[:300]))
    assert failures == []
    unauthorized = await service.anonymous.get(f"/v1/recordings/{ch}")
    assert unauthorized.headers["www-authenticate"] == 'Bearer realm="recorder"'
    # Nothing was started: no workflow for the channels used, and Agora saw nothing of them.
    for channel in (ch, "bad-body", "math/101"):
        with pytest.raises(api.RecordingNotFound):
            await api.describe_recording(service.client, channel, app_id=APP_ID)
        assert tasks_of(service.emulator, channel) == []
    listed = [wf async for wf in service.client.list_workflows(f'WorkflowId STARTS_WITH "recording:{APP_ID}:bad-"')]
    assert listed == []


async def test_openapi_schema_and_docs_are_served_without_a_token(service: Service):
    """/openapi.json describes every operation with the shared models; /docs renders it with nothing fetched."""
    schema = (await service.anonymous.get("/openapi.json")).json()
    assert schema["openapi"] == "3.1.0"
    start = schema["paths"]["/v1/recordings"]["post"]
    assert start["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RecordingRequest"
    }
    assert start["x-scope"] == "write" and {p["name"] for p in start["parameters"]} == {"wait", "timeout"}
    assert schema["paths"]["/v1/recordings/{channel}/stop"]["post"]["responses"]["202"]["content"]["application/json"][
        "schema"
    ] == {"$ref": "#/components/schemas/StopOutcome"}
    models = schema["components"]["schemas"]
    assert {
        "RecordingRequest",
        "RecordingStatus",
        "RecordingManifest",
        "StartOutcome",
        "StopOutcome",
        "Problem",
    } <= set(models)
    assert "uid" in models["RecordingRequest"]["required"]
    docs = await service.anonymous.get("/docs")
    assert docs.status_code == 200 and "POST /v1/recordings" in docs.text and "RecordingRequest" in docs.text
    assert "<script" not in docs.text and "src=" not in docs.text and "<link" not in docs.text


async def test_health_and_readiness(service: Service, dev_client):
    """/healthz answers while the process runs; /readyz answers 200 while Temporal does, 503 when it does not."""
    assert (await service.anonymous.get("/healthz")).json() == {"status": "ok", "reason": None}
    assert (await service.anonymous.get("/readyz")).status_code == 200
    from recorder.connection import connect
    from recorder.processes import free_port

    unreachable = await connect(target_host=f"127.0.0.1:{free_port()}", lazy=True)
    async with serving(unreachable, service_settings(service.queue)) as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        assert (await http.get("/healthz")).status_code == 200


async def test_extra_routes_authenticate_their_own_way(service: Service):
    """A route mounted beside the API (as Agora's callbacks at POST /agora/ncs are) is not behind the bearer token."""

    async def ncs(request: Request) -> JSONResponse:
        return JSONResponse({"received": len(await request.body())})

    extra = [Route("/agora/ncs", ncs, methods=["POST"])]
    async with (
        serving(service.client, service_settings(service.queue), extra) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        assert (await http.post("/agora/ncs", content=b"{}")).json() == {"received": 2}
        assert (await http.get("/v1/recordings")).status_code == 401


async def test_no_token_or_secret_reaches_a_log_line(service: Service):
    """Requests with good, bad and read-only tokens, logged at DEBUG by every logger (uvicorn's access log included),
    leave no token in any line, while the service logs who started the recording."""
    from tests.security import support

    ch = fresh()
    service.emulator.join(ch, TEACHER)
    with support.captured_logs() as log:
        logging.getLogger("uvicorn.access").setLevel(logging.DEBUG)
        assert (await service.writer.post("/v1/recordings", json=body(ch))).status_code == 201
        assert (await service.reader.post(f"/v1/recordings/{ch}/stop")).status_code == 403
        wrong = {"Authorization": f"Bearer {WRITE_TOKEN}x"}
        assert (await service.anonymous.get(f"/v1/recordings/{ch}", headers=wrong)).status_code == 401
        assert (await service.writer.post(f"/v1/recordings/{ch}/stop", params={"wait": "30"})).status_code == 200
    text = "\n".join(log.lines)
    assert f"started the recording of {ch} (workflow recording:{APP_ID}:{ch}) for backend" in text
    assert WRITE_TOKEN not in text and READ_TOKEN not in text


async def test_an_update_the_recording_cannot_take_now_is_a_409_and_reaches_no_recorder(service: Service):
    """A layout update before the recorder is confirmed, and one on an individual-mode recording, answer 409 with the
    workflow's reason; Agora receives no update."""
    mix, individual = fresh(), fresh()
    for ch in (mix, individual):
        service.emulator.join(ch, TEACHER)
    assert (await service.writer.post("/v1/recordings", json=body(mix))).status_code == 201
    early = await service.writer.put(f"/v1/recordings/{mix}/layout", json={"mixed_video_layout": 1})
    assert early.status_code == 409 and "no confirmed recorder is running" in early.json()["detail"]
    started = await service.writer.post(
        "/v1/recordings", params={"wait": "true"}, json=body(individual, mode="individual", subscribe_uid_group=0)
    )
    assert started.status_code == 201 and started.json()["waited"] == "up"
    other = await service.writer.put(f"/v1/recordings/{individual}/layout", json={"mixed_video_layout": 1})
    assert other.status_code == 409 and "only for mix mode" in other.json()["detail"]
    for ch in (mix, individual):
        assert (await service.writer.post(f"/v1/recordings/{ch}/stop", params={"wait": "30"})).status_code == 200
        assert [t["updates"] for t in tasks_of(service.emulator, ch)] == [0]
