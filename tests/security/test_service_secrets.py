"""`recorder serve` as operators run it: its log and its answers hold no NCS secret, no signature and no bearer token,
whether a callback is taken or refused and whether an API request is allowed or not."""

from __future__ import annotations

import hashlib
import hmac
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from recorder.processes import ChildProcess, free_port, worker_env
from tests.ncs.support import callback, sign
from tests.security import support
from workflows import names

pytestmark = [pytest.mark.devserver]

NEW_SECRET = "ncs-new-Rq7vLx2Kp9Zt"
OLD_SECRET = "ncs-old-Hm4cWy8Nb3Js"
FORGER_SECRET = "ncs-forger-Df6gTe1Qa5"
TOKEN = "svc-token-" + uuid.uuid4().hex
WRONG_TOKEN = "svc-wrong-" + uuid.uuid4().hex
NCS_PATH = "/hooks/agora-ncs"


def _signature_values(body: bytes, secret: str) -> list[str]:
    return [
        hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        hmac.new(secret.encode(), body, hashlib.sha1).hexdigest(),
    ]


async def test_the_service_process_logs_and_answers_no_secret_signature_or_token(dev_client: Client, tmp_path: Path):
    """`recorder serve` with AGORA_NCS_SECRET="new,old" and --ncs-path, as a child process at DEBUG: a callback signed
    with the old secret is taken (200), a forged one refused (401), API calls with a right and a wrong bearer token get
    200/404/422 and 401; its whole stdout/stderr, every answer and the inbox's history hold none of the secrets, the
    signatures or the tokens."""
    app_id = f"app-sec-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = worker_env(
        {
            "AGORA_NCS_SECRET": f"{NEW_SECRET},{OLD_SECRET}",
            "RECORDER_API_TOKENS": f"backend:{TOKEN}:write",
            "LOG_LEVEL": "DEBUG",
        },
        address=dev_client.service_client.config.target_host,
        queue=f"tq-{uuid.uuid4()}",
        agora={"AGORA_APP_ID": app_id},
    )
    command = [sys.executable, "-m", "recorder.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    service = ChildProcess(
        [*command, "--ncs-path", NCS_PATH],
        name="recording service",
        log_file=tmp_path / "service.log",
        env=env,
        cwd=tmp_path,  # no .env of the project's
        ready_url=f"http://127.0.0.1:{port}/healthz",
    )
    taken = callback(40, "sec-class", "c" * 32, notice_id=f"n-{uuid.uuid4().hex}")
    forged = callback(41, "sec-class", "c" * 32, notice_id=f"n-{uuid.uuid4().hex}")
    answers: list[httpx.Response] = []
    try:
        await service.start_ready(within=60)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            answers.append(await http.post(NCS_PATH, content=taken, headers=sign(taken, OLD_SECRET)))
            answers.append(await http.post(NCS_PATH, content=forged, headers=sign(forged, FORGER_SECRET)))
            answers.append(await http.post("/agora/ncs", content=taken, headers=sign(taken, OLD_SECRET)))
            bearer = {"Authorization": f"Bearer {TOKEN}"}
            answers.append(await http.get("/v1/recordings", headers=bearer))
            answers.append(await http.get("/v1/recordings/sec-class", headers=bearer))
            answers.append(await http.post("/v1/recordings", json={"mode": "mix"}, headers=bearer))
            answers.append(await http.get("/v1/recordings", headers={"Authorization": f"Bearer {WRONG_TOKEN}"}))
            answers.append(await http.post(NCS_PATH, content=forged, headers=bearer))  # a token is no signature
    finally:
        await service.stop()
    inbox = names.inbox_id(app_id)
    try:
        stored = await support.stored_texts(dev_client, inbox)
    finally:
        await dev_client.get_workflow_handle(inbox).terminate("test over")

    assert [a.status_code for a in answers] == [200, 401, 404, 200, 404, 422, 401, 401]
    assert answers[0].json()["ok"] is True and answers[1].json()["error"] == "bad_signature"
    log = service.log()
    # Not vacuous: the route was mounted where asked, with both secrets, and each outcome was logged.
    assert f"taking Agora's signed callbacks at POST {NCS_PATH} (2 secret(s))" in log
    assert "callback refused with 401: bad_signature" in log
    assert f"event 40 channel sec-class sid {'c' * 32}: unowned" in log
    assert stored, "the taken callback started the App ID's inbox"

    secrets = {
        "new NCS secret": NEW_SECRET,
        "old NCS secret": OLD_SECRET,
        "forger's secret": FORGER_SECRET,
        "bearer token": TOKEN,
        "wrong bearer token": WRONG_TOKEN,
    }
    for body, secret in ((taken, OLD_SECRET), (forged, FORGER_SECRET)):
        for i, value in enumerate(_signature_values(body, secret)):
            secrets[f"signature {i} with the {secret[:7]}… secret"] = value
    texts = {
        "service log": [log],
        "answers": [a.text for a in answers] + [str(dict(a.headers)) for a in answers],
        **stored,
    }
    assert support.leaks(texts, secrets) == []
