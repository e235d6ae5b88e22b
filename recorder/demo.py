"""`make demo`: a compressed class recorded end to end on this machine, watched live in the Temporal Web UI.

`python -m recorder.demo [--keep] [--short] [--ports auto] [--data-dir DIR]` starts four child processes, all on
127.0.0.1 and all logging under ./data/demo/: the Temporal dev server (SQLite file in WAL mode, Web UI), the Agora
emulator, a recording worker pointed at both, and `recorder serve`, which takes the emulator's signed callbacks
(Agora's NCS) with a secret made for this run and never shown. It then plays a class against the emulator's
control API:

- the teacher and a student join, and the emulator is told to answer the next two starts with 500: the start is
  retried by Temporal 3 s and 6 s later and gets its sid on the third try;
- the class takes a break longer than Agora's default maxIdleTime (30 s) but shorter than the request's
  max_idle_time (60 s): the recorder survives because maxIdleTime was sized to the class;
- the recorder crashes between two checks: Agora's callback reaches the workflow at once, which checks the recorder
  then instead of at its next scheduled check and restarts it on the backup uid; the demo reads both times from
  the workflow's history and says them;
- the class ends: the demo asks the workflow to stop and prints the final manifest.

The recording is started and stopped through the public API (`recorder.api`), under the emulator's App ID, so
`recorder status <channel>` finds it from another shell while the demo runs (the demo prints that command).

Time scale: 1 class minute is 4 real seconds (45 minutes in 3 minutes); `--short` uses 2.2 s per class minute.
Only the class clock is compressed: the workflow's timers, Agora's maxIdleTime and the emulator run in real time,
so the request's values (check every 30 s, max idle 60 s) are real seconds.

Everything it started is stopped by PID when it finishes, fails or is interrupted (Ctrl-C); `--keep` leaves the
servers up, with the Web UI, until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import shlex
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.converter import PayloadConverter
from temporalio.service import RPCError

from recorder import api
from recorder.connection import ConnectionError_, connect
from recorder.devserver import DevServer
from recorder.processes import (
    PROJECT,
    ChildExited,
    ChildNotReady,
    ChildProcess,
    EmulatorProcess,
    WorkerProcess,
    free_port,
    storage_env,
    worker_env,
)
from recorder.settings import DEFAULT_NCS_PATH
from workflows import names
from workflows.limits import AGORA_DEFAULT_MAX_IDLE_TIME
from workflows.models import RecorderEvent, RecordingManifest, RecordingRequest, RecordingStatus
from workflows.recording import RecordingWorkflow

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT / "data" / "demo"
DEFAULT_FRONTEND_PORT = 7233
DEFAULT_UI_PORT = 8233

TEACHER = "1001"
STUDENT = "2001"
RECORDER_UID = "900001"
BACKUP_UID = "900002"
# The product's default for a maxIdleTime of 60 s: checks that far apart are what callbacks are faster than.
CHECK_INTERVAL = 30
# Longer than the break (so the recorder survives it) and than Agora's default (so the default would not).
MAX_IDLE_TIME = 60
START_FAULTS = 2
# The crash waits for the check due within this many real seconds, so the callback, not that check, finds it.
CRASH_LEAD = 10.0
# The names of the callbacks (Agora's NCS event types) that a crash causes and the narrative shows.
EVENT_NAMES = {1: "cloud_recording_error", 3: "cloud_recording_status_update", 11: "session_exit", 41: "recorder_leave"}


@dataclass(frozen=True)
class Timeline:
    """When things happen, in class minutes, and how many real seconds a class minute lasts."""

    seconds_per_minute: float
    break_at: float
    break_minutes: float
    crash_at: float
    class_minutes: float = 45.0

    @property
    def break_seconds(self) -> float:
        """Real length of the break."""
        return self.break_minutes * self.seconds_per_minute

    @property
    def max_duration(self) -> timedelta:
        """The request's safety net: the class plus two minutes, in real time."""
        return timedelta(seconds=self.class_minutes * self.seconds_per_minute + 120)


FULL = Timeline(seconds_per_minute=4.0, break_at=10, break_minutes=10, crash_at=27)
SHORT = Timeline(seconds_per_minute=2.2, break_at=7, break_minutes=16, crash_at=24)


class DemoError(Exception):
    """The demo cannot go on; the message says what failed and where its log is."""


class ServiceProcess(ChildProcess):
    """`recorder serve` as a child process on a free loopback port, taking Agora's callbacks signed with `secret`.

    The secret reaches it through its environment (AGORA_NCS_SECRET), never its command line, so it shows in no
    process list and no log. Ready once /readyz answers (it reaches Temporal).
    """

    def __init__(self, secret: str, *, address: str, queue: str, app_id: str, log_file: Path) -> None:
        self.port = free_port()
        env = worker_env(
            {"TEMPORAL_NAMESPACE": "default", "AGORA_NCS_SECRET": secret},
            address=address,
            queue=queue,
            agora={"AGORA_APP_ID": app_id},
        )
        super().__init__(
            [sys.executable, "-m", "recorder.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            name="recorder service",
            log_file=log_file,
            env=env,
            cwd=PROJECT,
            ready_url=f"{self.url}/readyz",
        )

    @property
    def url(self) -> str:
        """The service's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def callback_url(self) -> str:
        """Where Agora (here, the emulator) posts its callbacks."""
        return self.url + DEFAULT_NCS_PATH


# --- ports ---------------------------------------------------------------------------------------------------------


def port_in_use(port: int) -> bool:
    """True when something already listens on (or holds) 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def choose_ports(mode: str) -> tuple[int, int, str | None]:
    """The frontend and Web UI ports, and a note when they are not the defaults; DemoError when one is taken."""
    if mode == "auto":
        frontend = DEFAULT_FRONTEND_PORT if not port_in_use(DEFAULT_FRONTEND_PORT) else free_port()
        ui = DEFAULT_UI_PORT if not port_in_use(DEFAULT_UI_PORT) else free_port()
        while ui == frontend:
            ui = free_port()
        moved = [
            f"{what} {default} is taken, using {got}"
            for what, default, got in (("frontend", DEFAULT_FRONTEND_PORT, frontend), ("Web UI", DEFAULT_UI_PORT, ui))
            if got != default
        ]
        return frontend, ui, ("ports: " + "; ".join(moved)) if moved else None
    for port, what in ((DEFAULT_FRONTEND_PORT, "Temporal frontend"), (DEFAULT_UI_PORT, "Temporal Web UI")):
        if port_in_use(port):
            raise DemoError(
                f"port {port} ({what}) on 127.0.0.1 is in use: stop what holds it (see `ss -ltnp 'sport = :{port}'`, "
                "often an earlier `temporal server start-dev`) or run `python -m recorder.demo --ports auto`"
            )
    return DEFAULT_FRONTEND_PORT, DEFAULT_UI_PORT, None


# --- output ----------------------------------------------------------------------------------------------------------


def clock_text(class_seconds: float) -> str:
    """A class clock reading, mm:ss."""
    total = max(0, int(class_seconds))
    return f"{total // 60:02d}:{total % 60:02d}"


def short_sid(sid: str | None) -> str:
    """The first 8 characters of a sid, enough to tell recorders apart."""
    return "-" if not sid else (sid[:8] + "…" if len(sid) > 8 else sid)


@dataclass
class Console:
    """The live status line (rewritten in place on a TTY, one line per change otherwise) and the event lines."""

    out: IO[str]
    tty: bool
    last_key: tuple[Any, ...] | None = None
    line_open: bool = False

    def say(self, text: str) -> None:
        """A permanent line."""
        self._clear()
        print(text, file=self.out, flush=True)

    def status(self, text: str, key: tuple[Any, ...]) -> None:
        """The status line; off a TTY it is printed only when `key` changes."""
        if self.tty:
            self.out.write("\r\x1b[K" + text)
            self.out.flush()
            self.line_open = True
        elif key != self.last_key:
            print(text, file=self.out, flush=True)
        self.last_key = key

    def _clear(self) -> None:
        if self.line_open:
            self.out.write("\r\x1b[K")
            self.line_open = False


def manifest_table(manifest: RecordingManifest, class_clock: Callable[[datetime], str]) -> list[str]:
    """The final manifest as text: one row per segment, then its M3U8 names, then the gaps."""
    header = ("#", "uid", "sid", "started", "ended", "end reason", "upload")
    rows = [
        (
            str(s.index),
            s.uid,
            short_sid(s.sid),
            class_clock(s.started_at),
            class_clock(s.ended_at) if s.ended_at else "-",
            s.end_reason or "-",
            s.uploading_status or "-",
        )
        for s in manifest.segments
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()

    lines = [fmt(header), fmt(tuple("-" * w for w in widths))]
    for seg, row in zip(manifest.segments, rows, strict=True):
        lines.append(fmt(row))
        for name in seg.m3u8_names:
            lines.append(f"     m3u8: {name}")
    if manifest.gaps:
        for gap in manifest.gaps:
            lines.append(
                f"gap between segment {gap.after_index} and {gap.before_index}: {class_clock(gap.start)} to "
                f"{class_clock(gap.end)} class time ({gap.seconds:.1f} real seconds without a confirmed recorder)"
            )
    else:
        lines.append("gaps: none")
    lines.append(
        f"phase {manifest.phase}, stop trigger {manifest.stop_trigger}, restarts {manifest.restarts}, "
        f"failed starts {manifest.failed_starts}"
    )
    return lines


def _shown(path: Path) -> str:
    """A path as short as it can be said from the working directory."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --- the workflow's history --------------------------------------------------------------------------------------


def _when(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime().replace(tzinfo=UTC)


def _summary(event: HistoryEvent, converter: PayloadConverter) -> str:
    if not event.HasField("user_metadata") or not event.user_metadata.HasField("summary"):
        return ""
    text = converter.from_payload(event.user_metadata.summary, str)
    return text if isinstance(text, str) else ""


def recorder_gone(event: RecorderEvent) -> bool:
    """True for the callbacks that say a recorder is gone: 11 session_exit, 41 recorder_leave, 1 with errorLevel 5."""
    return event.event_type in (11, 41) or (event.event_type == 1 and event.error_level == 5)


def event_text(event: RecorderEvent) -> str:
    """A callback as the narrative names it: type, name and the detail that matters."""
    text = f"{event.event_type} {EVENT_NAMES.get(event.event_type, 'event')}"
    if event.error_level is not None:
        text += f" (errorLevel {event.error_level})"
    elif event.exit_status is not None:
        text += f" (exitStatus {event.exit_status})"
    elif event.status is not None:
        text += f" (status {event.status})"
    return text


def pending_check(events: list[HistoryEvent], sid: str, converter: PayloadConverter) -> datetime | None:
    """When the workflow's pending timer for the next check of `sid` is due (None when no such timer is pending)."""
    timers: dict[int, datetime] = {}
    for event in events:
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            if _summary(event, converter) == f"next check of sid {sid}":
                attrs = event.timer_started_event_attributes
                timers[event.event_id] = _when(event) + attrs.start_to_fire_timeout.ToTimedelta()
        elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
            timers.pop(event.timer_fired_event_attributes.started_event_id, None)
        elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
            timers.pop(event.timer_canceled_event_attributes.started_event_id, None)
    return max(timers.values()) if timers else None


@dataclass(frozen=True)
class Healing:
    """How the workflow met a crash, as its history tells it (the Temporal server's wall-clock times)."""

    callback: RecorderEvent
    callback_at: datetime
    # The callbacks about the crashed sid that followed it.
    others: list[RecorderEvent]
    restarted_at: datetime
    scheduled_check_at: datetime
    scheduled_check_fired: bool


def read_healing(events: list[HistoryEvent], sid: str, converter: PayloadConverter) -> Healing | None:
    """The callback that woke the workflow about `sid` and the restart that followed; None when no callback came.

    The check that was scheduled when the callback came is the last `next check of sid` timer started before it; the
    restart is the first acquire after it.
    """
    scheduled: tuple[int, datetime] | None = None
    fired: set[int] = set()
    callback: tuple[RecorderEvent, datetime] | None = None
    others: list[RecorderEvent] = []
    restarted_at: datetime | None = None
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_TIMER_STARTED and callback is None:
            if _summary(event, converter) == f"next check of sid {sid}":
                due = _when(event) + event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
                scheduled = (event.event_id, due)
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            fired.add(event.timer_fired_event_attributes.started_event_id)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.workflow_execution_signaled_event_attributes
            if attrs.signal_name != names.EVENT_SIGNAL or not attrs.input.payloads:
                continue
            taken = converter.from_payload(attrs.input.payloads[0], RecorderEvent)
            if not isinstance(taken, RecorderEvent) or taken.sid != sid:
                continue
            if callback is None and recorder_gone(taken):
                callback = (taken, _when(event))
            elif callback is not None:
                others.append(taken)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and callback is not None and restarted_at is None:
            if event.activity_task_scheduled_event_attributes.activity_type.name == names.ACQUIRE:
                restarted_at = _when(event)
    if callback is None or restarted_at is None or scheduled is None:
        return None
    return Healing(
        callback=callback[0],
        callback_at=callback[1],
        others=others,
        restarted_at=restarted_at,
        scheduled_check_at=scheduled[1],
        scheduled_check_fired=scheduled[0] in fired,
    )


# --- the demo --------------------------------------------------------------------------------------------------------


@dataclass
class Demo:
    """Servers, worker, workflow and the class script, with everything it started cleaned up by `close`."""

    timeline: Timeline
    data_dir: Path
    ports: str
    keep: bool
    console: Console
    stamp: str = field(default_factory=lambda: datetime.now().strftime("%Y%m%d-%H%M%S"))
    server: DevServer | None = None
    emulator: EmulatorProcess | None = None
    worker: WorkerProcess | None = None
    service: ServiceProcess | None = None
    # The NCS secret the emulator signs its callbacks with and the service checks: new each run, never printed.
    ncs_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    http: httpx.AsyncClient | None = None
    client: Client | None = None
    handle: WorkflowHandle[RecordingWorkflow, RecordingManifest] | None = None
    class_start: float = 0.0
    class_start_wall: datetime | None = None
    last_event: str = "starting"
    status_now: RecordingStatus | None = None
    watcher: asyncio.Task[None] | None = None
    finished: bool = False
    # Set once the demo is stopping what it started: a Ctrl-C then no longer interrupts (it would leave children).
    cleaning_up: bool = False
    pids: list[int] = field(default_factory=list)

    @property
    def channel(self) -> str:
        """The channel recorded by this run."""
        return f"demo-class-{self.stamp}"

    @property
    def app_id(self) -> str:
        """The App ID the recording runs under: the emulator's."""
        assert self.emulator is not None
        return self.emulator.config.app_id

    @property
    def workflow_id(self) -> str:
        """The workflow id of this run's recording, as the API and the `recorder` command name it."""
        return api.workflow_id(self.app_id, self.channel)

    # -- set-up --

    async def start_services(self) -> None:
        """Start the dev server, the emulator and the worker, each waited for until it answers."""
        frontend, ui_port, note = choose_ports(self.ports)
        if note:
            self.console.say(note)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.server = DevServer(
            db_file=self.data_dir / "temporal.db",
            port=frontend,
            ui=True,
            ui_port=ui_port,
            log_file=self.data_dir / "temporal.log",
        )
        await self.server.start()
        assert self.server.pid is not None
        self.pids.append(self.server.pid)
        self.console.say(f"Temporal dev server  pid {self.server.pid}  {self.server.address}  UI {self.server.ui_url}")

        self.emulator = EmulatorProcess(log_file=self.data_dir / "emulator.log")
        pid = await self._start(self.emulator, within=20.0)
        self.http = httpx.AsyncClient(base_url=self.emulator.url, timeout=10.0)
        self.console.say(f"Agora emulator       pid {pid}  {self.emulator.url}")

        self.worker = WorkerProcess(
            worker_env(
                {
                    "TEMPORAL_NAMESPACE": "default",
                    **storage_env("demo-recordings", "demo-access-key", "demo-secret-key"),
                },
                address=self.server.address,
                queue=self.task_queue,
                agora=self.emulator.agora_env(),
            ),
            self.data_dir / "worker.log",
        )
        pid = await self._start(self.worker, within=60.0)
        self.console.say(f"recording worker     pid {pid}  task queue {self.task_queue}")

        self.service = ServiceProcess(
            self.ncs_secret,
            address=self.server.address,
            queue=self.task_queue,
            app_id=self.app_id,
            log_file=self.data_dir / "service.log",
        )
        pid = await self._start(self.service, within=30.0)
        # Agora's callbacks (the emulator's) go to the service from now on, signed with this run's secret.
        await self.control("POST", "/callbacks", {"url": self.service.callback_url, "secret": self.ncs_secret})
        self.console.say(f"recorder service     pid {pid}  {self.service.url}/docs")
        self.console.say(f"                     Agora's callbacks: POST {self.service.callback_url}")
        self.console.say(f"logs: {self.data_dir}/{{temporal,emulator,worker,service}}.log")
        self.client = await connect(target_host=self.server.address, namespace="default")

    async def _start(self, child: ChildProcess, within: float) -> int:
        """Start a child, remember its PID for clean-up, and wait until it is ready."""
        pid = child.start()
        self.pids.append(pid)
        try:
            await child.wait_ready(within)
        except (ChildExited, ChildNotReady) as exc:  # the message names its log
            raise DemoError(str(exc)) from None
        return pid

    @property
    def task_queue(self) -> str:
        """A task queue of this run only, so a worker never meets an earlier run's workflows."""
        return f"demo-{self.stamp}"

    def workflow_url(self) -> str:
        """The Web UI page of this run's recording."""
        assert self.server is not None
        return f"{self.server.ui_url}/namespaces/default/workflows/{quote(self.workflow_id, safe=':')}"

    def status_command(self) -> str:
        """The shell command that shows this recording's status from another terminal while the demo runs."""
        assert self.server is not None
        script = Path(sys.executable).parent / "recorder"
        command = [_shown(script)] if script.exists() else [_shown(Path(sys.executable)), "-m", "recorder.cli"]
        variables = f"AGORA_APP_ID={shlex.quote(self.app_id)} TEMPORAL_ADDRESS={self.server.address}"
        return f"{variables} {shlex.join([*command, 'status', self.channel])}"

    # -- emulator control --

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One call to the emulator's control API; DemoError on a refusal."""
        assert self.http is not None
        answer = await self.http.request(method, f"/_emulator{path}", json=body)
        if answer.status_code >= 400:
            raise DemoError(f"emulator control {method} {path} answered {answer.status_code}: {answer.text}")
        return answer.json()

    async def join(self, uid: str) -> None:
        """A participant joins the class channel."""
        await self.control("POST", f"/channels/{self.channel}/users", {"uid": uid, "role": "host"})

    async def leave(self, uid: str) -> None:
        """A participant leaves the class channel."""
        await self.control("DELETE", f"/channels/{self.channel}/users/{uid}")

    # -- the class --

    def class_seconds(self) -> float:
        """Class time elapsed, in class seconds."""
        return (time.monotonic() - self.class_start) * 60.0 / self.timeline.seconds_per_minute

    def class_clock_at(self, when: datetime) -> str:
        """The class clock reading at a wall-clock time (for the manifest)."""
        assert self.class_start_wall is not None
        real = (when - self.class_start_wall).total_seconds()
        return clock_text(real * 60.0 / self.timeline.seconds_per_minute)

    def event(self, text: str) -> None:
        """Say what the demo just did, stamped with the class clock."""
        self.last_event = text
        self.console.say(f"[class {clock_text(self.class_seconds())}] {text}")

    async def until_minute(self, minute: float) -> None:
        """Sleep until the class clock reads `minute`."""
        due = self.class_start + minute * self.timeline.seconds_per_minute
        await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def until(self, what: str, ok: Callable[[RecordingStatus], bool], wait: float = 120.0) -> RecordingStatus:
        """Wait until the workflow's status satisfies `ok`."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.watcher is not None and self.watcher.done() and not self.watcher.cancelled():
                problem = self.watcher.exception()
                raise problem if isinstance(problem, DemoError) else DemoError(f"status watcher failed: {problem}")
            status = self.status_now
            if status is not None and ok(status):
                return status
            await asyncio.sleep(0.2)
        raise DemoError(f"the recording did not reach '{what}' within {wait:g} s; see {self.data_dir}/worker.log")

    def request(self) -> RecordingRequest:
        """The recording request, sized to the class (real seconds)."""
        return RecordingRequest(
            channel=self.channel,
            mode="mix",
            uid=RECORDER_UID,
            backup_uid=BACKUP_UID,
            max_idle_time=MAX_IDLE_TIME,
            check_interval=CHECK_INTERVAL,
            max_duration=self.timeline.max_duration,
        )

    async def run(self) -> RecordingManifest:
        """Play the class and return the final manifest."""
        await self.start_services()
        assert self.client is not None and self.server is not None and self.server.ui_url is not None
        tl = self.timeline
        ui = self.server.ui_url
        self.console.say("")
        self.console.say(
            f"a 45-minute class, 1 class minute = {tl.seconds_per_minute:g} real s; the workflow's timers are real "
            f"time: check every {CHECK_INTERVAL} s, maxIdleTime {MAX_IDLE_TIME} s (Agora's default is "
            f"{AGORA_DEFAULT_MAX_IDLE_TIME} s)"
        )
        self.console.say(f"Web UI, this recording: {self.workflow_url()}")
        query = quote(f'{names.CHANNEL.name}="{self.channel}"', safe="")
        self.console.say(f"Web UI, this channel:   {ui}/namespaces/default/workflows?query={query}")
        self.console.say(f"status from a shell:    {self.status_command()}")
        self.console.say("")

        self.class_start = time.monotonic()
        self.class_start_wall = datetime.now().astimezone()
        await self.join(TEACHER)
        await self.join(STUDENT)
        self.event(f"teacher (uid {TEACHER}) and a student (uid {STUDENT}) joined channel {self.channel}")
        await self.control(
            "POST",
            "/faults",
            {"endpoint": "start", "kind": "server_error", "count": START_FAULTS, "cname": self.channel},
        )
        self.event(f"Agora will answer the next {START_FAULTS} starts with 500 (a burst of 50x)")
        outcome = await api.start_recording(self.client, self.request(), app_id=self.app_id, task_queue=self.task_queue)
        if outcome.already_running:
            raise DemoError(f"{outcome.workflow_id} is already recording: not starting a second recorder")
        self.handle = self.client.get_workflow_handle_for(
            RecordingWorkflow.run, outcome.workflow_id, run_id=outcome.run_id
        )
        self.event(f"recording workflow started on uid {RECORDER_UID} (backup uid {BACKUP_UID})")
        self.watcher = asyncio.create_task(self.watch())
        try:
            return await self._script()
        finally:
            self.watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, DemoError):
                await self.watcher

    async def _script(self) -> RecordingManifest:
        tl = self.timeline
        assert self.handle is not None
        first = await self.until("first sid", lambda s: s.sid is not None)
        fired = (await self.control("GET", "/state"))["faultsInjected"].get("server_error", 0)
        self.event(
            f"sid {short_sid(first.sid)} received after {fired} answers of 500, retried by Temporal after 3 s and 6 s"
        )
        await self.until("recording", lambda s: s.phase == "recording")
        self.event("recorder confirmed (query status 4/5): recording")

        await self.until_minute(tl.break_at)
        await self.leave(TEACHER)
        await self.leave(STUDENT)
        self.event(
            f"teacher left for a break ({tl.break_minutes:g} class min = {tl.break_seconds:g} s, longer than "
            f"Agora's default maxIdleTime {AGORA_DEFAULT_MAX_IDLE_TIME} s): the channel is empty"
        )
        await self.until_minute(tl.break_at + tl.break_minutes)
        await self.join(TEACHER)
        await self.join(STUDENT)
        still = self.status_now
        alive = still is not None and still.phase == "recording" and still.restarts == 0
        self.event(
            "teacher came back: the recorder "
            + ("is still running (maxIdleTime was sized to the class)" if alive else "did NOT survive the break")
        )
        if not alive:
            raise DemoError("the recorder did not survive the break; see the worker log")

        await self.until_minute(tl.crash_at)
        await self._crash()

        await self.until_minute(tl.class_minutes)
        self.event("class over: asking the workflow to stop the recording")
        assert self.client is not None
        manifest = await api.stop_recording(self.client, self.channel, app_id=self.app_id)
        await self.handle.result()
        self.event("recording stopped, upload status received")
        return manifest

    async def _crash(self) -> None:
        """Crash the recorder between two checks; say, from the workflow's history, how Agora's callback healed it."""
        assert self.client is not None and self.handle is not None
        converter = self.client.data_converter.payload_converter
        running = await self.until("recording", lambda s: s.phase == "recording" and s.sid is not None)
        sid = running.sid
        assert sid is not None
        due = pending_check(await self.history(), sid, converter)
        if due is None or (due - datetime.now(UTC)).total_seconds() < CRASH_LEAD:
            # So close to a check that the check could find the crash first: crash just after it instead.
            done = running.checks
            await self.until("a check", lambda s: s.checks > done and s.phase == "recording", wait=CHECK_INTERVAL + 30)
            due = pending_check(await self.history(), sid, converter)
        crashed_at = datetime.now(UTC)
        await self.control("POST", f"/tasks/{sid}/crash")
        next_check = (
            f"its next scheduled check is due at {self.class_clock_at(due)}, in {self.span(due - crashed_at)}"
            if due is not None
            else f"its next scheduled check is due within {CHECK_INTERVAL} s"
        )
        self.event(f"recorder crashed (emulator crash of sid {short_sid(sid)}); {next_check}")
        await self.until("restarting", lambda s: s.restarts >= 1, wait=90)
        healing = read_healing(await self.history(), sid, converter)
        if healing is None or healing.scheduled_check_fired:
            self.event(f"the scheduled check found the crash: the workflow restarts on the backup uid {BACKUP_UID}")
        else:
            followed = "; then " + ", ".join(event_text(e) for e in healing.others) if healing.others else ""
            self.event(
                f"callback {event_text(healing.callback)} reached the workflow at "
                f"{self.class_clock_at(healing.callback_at)}, {self.span(healing.callback_at - crashed_at)} after the "
                f"crash{followed}"
            )
            manifest = await api.recording_manifest(self.client, self.channel, app_id=self.app_id)
            found = next((f" ({seg.detail})" for seg in manifest.segments if seg.sid == sid and seg.detail), "")
            self.event(
                f"healed on the callback: checked at once{found}, restarting on the backup uid {BACKUP_UID} from "
                f"{self.class_clock_at(healing.restarted_at)}, {self.span(healing.restarted_at - crashed_at)} after "
                f"the crash; the next scheduled check would have found it at "
                f"{self.class_clock_at(healing.scheduled_check_at)}, "
                f"{self.span(healing.scheduled_check_at - crashed_at)} after the crash"
            )
        restarted = await self.until("recording again", lambda s: s.restarts >= 1 and s.phase == "recording", wait=120)
        self.event(f"recorder running again on uid {restarted.uid}, sid {short_sid(restarted.sid)}")

    async def history(self) -> list[HistoryEvent]:
        """The recording workflow's history so far."""
        assert self.handle is not None
        return list((await self.handle.fetch_history()).events)

    def span(self, real: timedelta) -> str:
        """A real duration as class time, with the real seconds: `09:05 (20.0 s)`, `00:01 (0.03 s)`."""
        seconds = real.total_seconds()
        shown = f"{seconds:.2f}" if seconds < 1 else f"{seconds:.1f}"
        return f"{clock_text(seconds * 60.0 / self.timeline.seconds_per_minute)} ({shown} s)"

    async def watch(self) -> None:
        """Poll the workflow's status query and the children; draw the status line."""
        assert self.client is not None
        while True:
            for child in (self.worker, self.emulator, self.service):
                if child is not None:
                    try:
                        child.check_alive()
                    except ChildExited as exc:
                        raise DemoError(str(exc)) from None
            with contextlib.suppress(Exception):  # no answer this time (worker busy): keep the last status
                self.status_now = await api.describe_recording(self.client, self.channel, app_id=self.app_id)
            s = self.status_now
            if s is not None:
                line = (
                    f"class {clock_text(self.class_seconds())} | {s.phase:<10} | uid {s.uid or '-':<6} | "
                    f"sid {short_sid(s.sid):<9} | restarts {s.restarts} | checks {s.checks:>3}"
                )
                # On a TTY the line also repeats the last event; elsewhere events already have their own lines.
                if self.console.tty:
                    line += f" | {self.last_event}"
                self.console.status(line, (s.phase, s.uid, s.sid, s.restarts))
            await asyncio.sleep(0.5)

    # -- tear-down --

    async def interrupt_workflow(self) -> None:
        """Ask an unfinished workflow to stop (its recorder too); terminate it if the worker cannot finish in time."""
        if self.handle is None or self.client is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(api.stop_recording(self.client, self.channel, app_id=self.app_id), timeout=15)
            return
        with contextlib.suppress(Exception):
            await self.handle.terminate("demo interrupted")

    async def close(self) -> None:
        """Stop every child this run started, by PID: worker, emulator, service, dev server (each one even if stopping
        an earlier one failed)."""
        self.cleaning_up = True
        async with contextlib.AsyncExitStack() as stack:
            # Callbacks run last-in first-out: the dev server goes last, once nothing uses it.
            if self.server is not None:
                stack.push_async_callback(self.server.stop)
            if self.http is not None:
                stack.push_async_callback(self.http.aclose)
            for child, grace in ((self.service, 10), (self.emulator, 5), (self.worker, 15)):
                if child is not None:
                    stack.push_async_callback(child.stop, grace)
        if self.pids:
            self.console.say(f"stopped pids {' '.join(str(p) for p in self.pids)}")


async def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; 0 on success, 1 when it failed, 2 on a port or set-up problem, 130 when interrupted."""
    console = Console(out=sys.stdout, tty=sys.stdout.isatty())
    demo = Demo(
        timeline=SHORT if args.short else FULL,
        data_dir=args.data_dir,
        ports=args.ports,
        keep=args.keep,
        console=console,
    )
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    interrupted = False

    def on_signal() -> None:
        nonlocal interrupted
        if interrupted or demo.cleaning_up:
            return  # already stopping: a (second) Ctrl-C does not cut the clean-up short
        interrupted = True
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    rc = 0
    try:
        manifest = await demo.run()
        demo.finished = True
        console.say("")
        console.say("final manifest")
        for line in manifest_table(manifest, demo.class_clock_at):
            console.say("  " + line)
        console.say("")
        if demo.keep and demo.server is not None:
            console.say(f"servers kept up: Web UI {demo.workflow_url()} (Ctrl-C stops everything)")
            await asyncio.Event().wait()
        else:
            console.say(
                f"the history stays in {demo.data_dir}/temporal.db: run `python -m recorder.demo --keep` to keep "
                "the Web UI up after the class"
            )
    except asyncio.CancelledError:
        if not interrupted:
            raise
        demo.cleaning_up = True
        rc = 0 if demo.finished else 130
        console.say("stopping everything this demo started" if demo.finished else "interrupted: stopping everything")
        if not demo.finished:
            await demo.interrupt_workflow()
    except (DemoError, RuntimeError, httpx.HTTPError, RPCError) as exc:
        # RuntimeError: the dev server would not start; ConnectionError_ (an Exception) is caught below.
        demo.cleaning_up = True
        console.say(f"demo: {exc}")
        rc = 2 if demo.client is None else 1
        await demo.interrupt_workflow()
    except ConnectionError_ as exc:
        console.say(f"demo: {exc}")
        rc = 2
    finally:
        await demo.close()
    return rc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="python -m recorder.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep", action="store_true", help="keep the servers and Web UI up after the class until Ctrl-C"
    )
    parser.add_argument("--short", action="store_true", help="a shorter version (2.2 s per class minute) for tests")
    parser.add_argument(
        "--ports", choices=["default", "auto"], default="default", help="auto: use free ports if 7233/8233 are taken"
    )
    parser.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="where the database and logs go")
    args = parser.parse_args(argv)
    args.data_dir = Path(args.data_dir).resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m recorder.demo`."""
    return asyncio.run(run_demo(parse_args(argv)))


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown, which can crash in the Temporal SDK's native threads of a short-lived process.
    os._exit(code)
