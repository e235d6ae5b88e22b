"""`python -m recorder.demo --short --ports auto --keep` end to end: dev server, emulator, worker, `recorder serve`
taking the emulator's callbacks, the class script, and a Ctrl-C once the class is over."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from emulator.config import EmulatorConfig
from recorder.connection import connect
from recorder.processes import child_env
from workflows import names
from workflows.models import RecordingManifest
from workflows.recording import RecordingWorkflow

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [pytest.mark.devserver, pytest.mark.slow]


def _alive(pid: int) -> bool:
    """True while a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _run_printed_command(line: str) -> subprocess.CompletedProcess[str]:
    """Run a `VAR=value ... command args` line as a shell would, in an environment with no product settings."""
    words = shlex.split(line)
    assignments = [w for w in words if re.fullmatch(r"[A-Z_]+=.*", w)]
    argv = words[len(assignments) :]
    env = child_env(dict(a.split("=", 1) for a in assignments))
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False)


def _summary(event: HistoryEvent) -> str:
    """The summary the workflow gave a timer or a local activity (what the Web UI shows), or ""."""
    if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
        return ""
    text = json.loads(event.user_metadata.summary.data)
    return text if isinstance(text, str) else ""


def _when(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime()


@dataclass
class Healed:
    """What the finished recording's history says about its crashed recorder."""

    manifest: RecordingManifest
    # The first callback that said the crashed recorder is gone: when it reached the workflow, and its type.
    callback_at: datetime
    callback_type: int
    # The check of the crashed recorder that was scheduled when the callback came: due when, and what became of it.
    scheduled_due: datetime
    scheduled_fired: bool
    scheduled_canceled: bool
    # The query of the crashed sid and the acquire for the backup uid that followed the callback.
    checked_at: datetime | None
    acquired_at: datetime | None
    callbacks_taken: int


async def _read_history(address: str, workflow_id: str) -> Healed:
    """Read the recording's manifest (its result) and its history from the demo's dev server, still up (--keep)."""
    client = await connect(target_host=address, namespace="default")
    handle = client.get_workflow_handle_for(RecordingWorkflow.run, workflow_id)
    manifest = await handle.result()
    status = await handle.query(RecordingWorkflow.status)
    crashed = manifest.segments[0].sid
    assert crashed is not None
    events = list((await handle.fetch_history()).events)

    signal_index = None
    callback_type = 0
    for i, event in enumerate(events):
        if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            continue
        attrs = event.workflow_execution_signaled_event_attributes
        if attrs.signal_name != names.EVENT_SIGNAL:
            continue
        body = json.loads(attrs.input.payloads[0].data)
        gone = body["event_type"] in (11, 41) or (body["event_type"] == 1 and body.get("error_level") == 5)
        if body["sid"] == crashed and gone:
            signal_index, callback_type = i, body["event_type"]
            break
    assert signal_index is not None, "no callback about the crashed recorder reached the workflow"
    before, after = events[:signal_index], events[signal_index + 1 :]

    timers = [
        e
        for e in before
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and _summary(e) == f"next check of sid {crashed}"
    ]
    assert timers, "no check of the crashed recorder was scheduled before the callback"
    scheduled = timers[-1]
    timer_id = scheduled.timer_started_event_attributes.timer_id
    fired = EventType.EVENT_TYPE_TIMER_FIRED
    canceled = EventType.EVENT_TYPE_TIMER_CANCELED
    ends = {
        e.event_type
        for e in events
        if (e.event_type == fired and e.timer_fired_event_attributes.timer_id == timer_id)
        or (e.event_type == canceled and e.timer_canceled_event_attributes.timer_id == timer_id)
    }
    checked = next(
        (e for e in after if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED and crashed in _summary(e)), None
    )
    acquired = next(
        (
            e
            for e in after
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == names.ACQUIRE
        ),
        None,
    )
    return Healed(
        manifest=manifest,
        callback_at=_when(events[signal_index]),
        callback_type=callback_type,
        scheduled_due=_when(scheduled) + scheduled.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta(),
        scheduled_fired=fired in ends,
        scheduled_canceled=canceled in ends,
        checked_at=None if checked is None else _when(checked),
        acquired_at=None if acquired is None else _when(acquired),
        callbacks_taken=status.callbacks,
    )


def test_short_demo_heals_a_crash_on_a_callback_before_the_scheduled_check_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    """The short demo prints the Web UI links, the service's docs and callback route and a `recorder status` command
    that finds its recording; its crashed recorder is checked and restarted on the backup uid as soon as Agora's
    callback arrives, before the check that was scheduled (read from the workflow's history); the manifest has
    primary-then-backup segments; the NCS secret shows in no output or log; and a Ctrl-C stops every child."""
    demo = subprocess.Popen(
        [sys.executable, "-m", "recorder.demo", "--short", "--ports", "auto", "--keep", "--data-dir", str(tmp_path)],
        cwd=ROOT,
        env=child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    status: subprocess.CompletedProcess[str] | None = None
    healed: Healed | None = None
    docs: httpx.Response | None = None
    unsigned: httpx.Response | None = None
    secret = ""
    try:
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.append(line)
            if status is None and "recorder confirmed (query status 4/5)" in line:
                hint = next(x for x in lines if x.startswith("status from a shell:"))
                status = _run_printed_command(hint.split(":", 1)[1])
            if line.startswith("servers kept up:"):
                try:
                    out = "".join(lines)
                    address = re.search(r"^Temporal dev server\s+pid \d+\s+(\S+)", out, re.MULTILINE)
                    service = re.search(r"^recorder service\s+pid (\d+)\s+(http://127\.0\.0\.1:\d+)/docs$", out, re.M)
                    recording = re.search(r"/workflows/(recording:[^\s/]+)", out)
                    assert address and service and recording, out
                    environ = Path(f"/proc/{service.group(1)}/environ").read_bytes().split(b"\0")
                    secret = next(v for v in environ if v.startswith(b"AGORA_NCS_SECRET=")).split(b"=", 1)[1].decode()
                    docs = httpx.get(f"{service.group(2)}/docs", timeout=10)
                    unsigned = httpx.post(f"{service.group(2)}/agora/ncs", json={"noticeId": "x"}, timeout=10)
                    healed = asyncio.run(_read_history(address.group(1), recording.group(1)))
                finally:
                    demo.send_signal(signal.SIGINT)  # Ctrl-C: the demo stops everything it started
        demo.wait(timeout=300)
    finally:
        if demo.poll() is None:  # a Ctrl-C first, so that the demo's children are stopped too
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(timeout=60)
            except subprocess.TimeoutExpired:
                demo.kill()
                demo.wait()
    out = "".join(lines)
    assert demo.returncode == 0, out

    workflow_id = rf"recording:{EmulatorConfig().app_id}:(demo-class-[\w-]+)"  # as recorder.api names it
    link = re.search(rf"http://127\.0\.0\.1:\d+/namespaces/default/workflows/{workflow_id}", out)
    assert link is not None, out
    channel = link.group(1)
    assert f"/namespaces/default/workflows?query=AgoraChannel%3D%22{channel}%22" in out

    # The service listened where the header said: its docs page, and the callback route refusing an unsigned post.
    assert re.search(r"Agora's callbacks: POST http://127\.0\.0\.1:\d+/agora/ncs$", out, re.MULTILINE), out
    assert docs is not None and docs.status_code == 200
    assert unsigned is not None and unsigned.status_code == 401

    # `recorder status <channel>`, run as printed while the class was on, found the recording (emulator's App ID).
    assert status is not None, out
    assert status.returncode == 0, status.stdout + status.stderr
    assert re.search(rf"^channel\s+{channel} \(mix\)$", status.stdout, re.MULTILINE), status.stdout
    assert re.search(r"^phase\s+recording$", status.stdout, re.MULTILINE), status.stdout

    # The crash, from the history: the callback came, the scheduled check never fired (the callback cancelled its
    # timer), and the query and the restart followed the callback before that check was due.
    assert healed is not None, out
    assert healed.callback_type in (1, 11, 41)
    assert healed.scheduled_canceled and not healed.scheduled_fired
    assert healed.checked_at is not None and healed.acquired_at is not None
    assert healed.callback_at <= healed.checked_at <= healed.acquired_at < healed.scheduled_due
    # Checked at once: the query still saw Agora's exit status, where a check 10 s later meets a 404 and backs off.
    assert healed.manifest.segments[0].detail == "query status 20"
    assert healed.scheduled_due - healed.acquired_at > timedelta(seconds=5)
    assert healed.callbacks_taken > 0
    assert re.search(r"healed on the callback: checked at once .* would have found it at \d\d:\d\d", out), out

    # The manifest rows: "<index>  <uid>  <sid>  <started>  <ended>  <end reason>  <upload>".
    table = out.split("final manifest", 1)[1]
    rows = re.findall(r"^\s+(\d+)\s+(\d+)\s+\S+\s+\d\d:\d\d\s+\S+\s+(\w+)\s+(\S+)\s*$", table, re.MULTILINE)
    assert [(r[0], r[1], r[2]) for r in rows] == [("0", "900001", "recorder_exited"), ("1", "900002", "stopped")]
    assert rows[1][3] == "uploaded"
    assert table.count(f"_{channel}.m3u8") == 2
    assert "gap between segment 0 and 1" in table
    assert "recorder is still running (maxIdleTime was sized to the class)" in out
    assert "received after 2 answers of 500" in out

    # The run's NCS secret reached the service and the emulator, and nothing printed or logged it.
    assert len(secret) >= 24
    logs = {p.name: p.read_text(errors="replace") for p in tmp_path.glob("*.log")}
    assert {"temporal.log", "emulator.log", "worker.log", "service.log"} <= set(logs)
    assert secret not in out
    assert [name for name, text in logs.items() if secret in text] == []

    pids = [int(p) for p in re.findall(r"\bpid (\d+)\b", out)]
    assert len(pids) == 4, out
    assert re.search(r"stopped pids " + " ".join(str(p) for p in pids), out)
    assert [p for p in pids if _alive(p)] == []
    assert (tmp_path / "temporal.db").exists()
