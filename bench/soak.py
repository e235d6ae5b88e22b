"""Chaos soak: many concurrent class recordings against the real Temporal dev server and the emulator over HTTP.

A seeded fault profile mixes every fault the emulator can inject, each class gets its own scripted trouble (50x bursts
on start and query, 206/65, 429, 404 windows, recorder crashes, failovers, teacher breaks shorter and longer than
maxIdleTime, a real user taking the recorder's uid), the worker is SIGKILLed and restarted several times and the dev
server is killed and restarted once on its database file. At the end the invariants are checked from the emulator's
own records and the workflows' manifests, and coverage and gaps are printed as a table.

    python bench/soak.py --recordings 200 --minutes 6 --seed 7

Time is compressed: the emulator's clock runs `speed` times faster than real time, so a class of a few real minutes is
hours of emulated Agora time, while the workflow's timers (checks, backoffs, failover window) run in real time on the
dev server. Durations that the workflow experiences through Agora's answers in real time (a resourceId's 5-minute life,
the stop grace) are scaled by `speed` so that they keep their real-time meaning. See bench/SOAK.md.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:  # run as `python bench/soak.py`
    sys.path.insert(0, str(PROJECT))

import temporalio  # noqa: E402 - the project root must be on sys.path first
from temporalio.client import (  # noqa: E402
    Client,
    WorkflowHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import WorkflowAlreadyStartedError  # noqa: E402
from temporalio.service import RPCError  # noqa: E402

from emulator.config import EmulatorConfig  # noqa: E402
from emulator.state import ControlError, Emulator, Task  # noqa: E402
from emulator.testing import RunningEmulator, running_emulator  # noqa: E402
from recorder import processes  # noqa: E402
from recorder.connection import connect  # noqa: E402
from recorder.devserver import DevServer, temporal_binary  # noqa: E402
from recorder.processes import WorkerProcess  # noqa: E402
from workflows import policy  # noqa: E402
from workflows.models import RecordingInput, RecordingManifest, RecordingRequest, StopRequest  # noqa: E402
from workflows.recording import RecordingWorkflow  # noqa: E402

T = TypeVar("T")
EndHow = Literal["duration", "stop", "signal", "cancel"]
Handle = WorkflowHandle[RecordingWorkflow, RecordingManifest]

# Per-call probabilities and per-task hourly rates (emulated hours) of the seeded random profile. Every kind the
# emulator can inject appears at least once. `not_found` is only drawn on query: a 404 from stop for a task that is
# running happens at Agora only inside a failover window, which the profile's failovers produce faithfully.
PROFILE_RATES: dict[str, float] = {
    "acquire.server_error": 0.03,
    "acquire.over_quota": 0.01,
    "start.server_error": 0.05,
    "start.request_not_completed": 0.03,
    "start.accepted_then_fail": 0.04,
    "start.omit_sid_on_duplicate": 0.2,
    "start.empty_sid": 0.01,
    "start.bad_gateway": 0.01,
    "query.server_error": 0.02,
    "query.not_found": 0.01,
    "query.request_timeout": 0.005,
    "query.malformed": 0.003,
    "stop.server_error": 0.03,
    "stop.malformed": 0.01,
    "any.rate_limited": 0.01,
    "any.hang": 0.0005,
    "task.crash_per_hour": 0.3,
    "task.failover_per_hour": 0.4,
}

EVENT_WEIGHTS: dict[str, float] = {
    "break_short": 2.0,  # the teacher leaves for less than maxIdleTime: the recorder must survive
    "break_long": 2.0,  # the teacher leaves for longer: the recorder exits idle and is restarted on the other uid
    "uid_conflict": 1.5,  # a real user joins with the recorder's current uid and kicks it out
    "not_found_short": 1.0,  # two 404s in a row: the recorder is alive, the backoff must not restart it
    "not_found_long": 1.0,  # five 404s: the workflow restarts, the old task is alive and must be stopped later
    "query_burst": 1.0,  # three 50x on query: keep checking, never restart
    "crash": 1.0,  # the recorder process dies (status 20)
    "failover": 1.0,  # high-availability migration: 404 for up to 90 emulated s, then back with a new uid
}


@dataclass(frozen=True)
class SoakSettings:
    """What to run: how many classes, how long, how hard."""

    recordings: int = 20
    minutes: float = 2.0  # the longest class in real minutes; each lasts 60-100 % of it
    seed: int = 7
    speed: float = 60.0  # emulated seconds per real second
    check_interval: int = 5  # real seconds (workflow timer)
    max_idle_time: int = 600  # emulated seconds (Agora's maxIdleTime)
    worker_kills: int = 3
    devserver_restarts: int = 1
    start_spread: float = 15.0  # classes start within this many real seconds
    work_dir: Path = PROJECT / "data" / "soak"
    verbose: bool = True


@dataclass
class Event:
    """One scripted disturbance of a class, at `at` real seconds after the class started."""

    at: float
    kind: str
    length: float = 0.0
    count: int = 0


@dataclass
class ClassPlan:
    """One class: its channel and uids, when it starts, how long it lasts, how it ends, what goes wrong."""

    index: int
    channel: str
    teacher: str
    uid: str
    backup_uid: str
    start_at: float
    length: float
    end_how: EndHow
    start_faults: list[tuple[str, str, int]]
    events: list[Event]


@dataclass
class ClassRun:
    """What happened to one class, from the driver's side."""

    plan: ClassPlan
    workflow_id: str
    started_real: float = 0.0
    end_real: float = 0.0
    completed_real: float = 0.0
    manifest: RecordingManifest | None = None
    error: str | None = None
    applied: list[str] = field(default_factory=list)


@dataclass
class ClassFigures:
    """Coverage and gaps of one class, in real seconds unless named otherwise."""

    channel: str
    end_how: str
    length_s: float
    emulated_h: float
    tasks: int
    segments: int
    restarts: int
    coverage: float
    coverage_present: float
    start_latency_s: float
    gaps: int
    gap_total_s: float
    gap_max_s: float
    stop_lag_s: float


@dataclass
class SoakReport:
    """Everything the soak measured; `violations` must be empty."""

    settings: dict[str, Any]
    environment: dict[str, Any]
    wall_seconds: float
    worker_kills: int
    worker_restarts_after_server_restart: int
    devserver_restarts: int
    devserver_downtime_s: list[float]
    faults_injected: dict[str, int]
    events_applied: dict[str, int]
    tasks: int
    segments: int
    workflows_failed: int
    orphans_running: int
    late_stops: list[str]
    sid_unknown_orphans: list[str]
    uid_overlaps: list[str]
    kicked_by_own_recorder: list[str]
    failover_duplicates: int
    failover_duplicates_stopped: int
    failover_duplicate_max_s: float
    unexplained_overlaps: list[str]
    agora_side_overlaps: list[str]
    lost_sids: list[str]
    classes: list[ClassFigures]
    violations: list[str]

    def to_json(self) -> str:
        """The report as JSON."""
        return json.dumps(asdict(self), indent=2, default=str)


# --------------------------------------------------------------------------------------------------- the plan


def make_plans(settings: SoakSettings, rng: random.Random) -> list[ClassPlan]:
    """A deterministic plan per class from the seed."""
    idle_real = settings.max_idle_time / settings.speed
    plans = []
    kinds = list(EVENT_WEIGHTS)
    weights = list(EVENT_WEIGHTS.values())
    for i in range(settings.recordings):
        length = settings.minutes * 60.0 * rng.uniform(0.6, 1.0)
        ends: list[EndHow] = ["duration", "stop", "signal", "cancel"]
        end_how = rng.choices(ends, weights=[4, 3, 2, 1])[0]
        start_faults: list[tuple[str, str, int]] = []
        if rng.random() < 0.3:
            start_faults.append(("start", "server_error", rng.choice([1, 2, 3, 4])))
        if rng.random() < 0.15:
            start_faults.append(("start", "request_not_completed", rng.choice([1, 2])))
        if rng.random() < 0.1:
            start_faults.append(("start", "rate_limited", rng.randint(1, 3)))
        events: list[Event] = []
        t = rng.uniform(15.0, 30.0)
        while t < length - 15.0:
            kind = rng.choices(kinds, weights=weights)[0]
            event = Event(at=t, kind=kind)
            busy = 0.0
            if kind == "break_short":
                event.length = idle_real * rng.uniform(0.2, 0.6)
                busy = event.length
            elif kind == "break_long":
                event.length = idle_real * rng.uniform(1.3, 2.2)
                busy = event.length + 35.0
            elif kind == "uid_conflict":
                event.length = rng.uniform(15.0, 35.0)
                busy = event.length + 10.0
            elif kind == "not_found_short":
                event.count = 2
                busy = 20.0
            elif kind == "not_found_long":
                event.count = 5
                busy = 45.0
            elif kind == "query_burst":
                event.count = 3
                busy = 20.0
            elif kind == "crash":
                busy = 40.0
            else:
                event.length = rng.uniform(10.0, 90.0)  # emulated downtime
                busy = 10.0
            events.append(event)
            t += busy + rng.uniform(8.0, 20.0)
        plans.append(
            ClassPlan(
                index=i,
                channel=f"soak{settings.seed}-c{i:03d}",
                teacher=str(100_000 + i),
                uid=str(2_000_000 + 2 * i),
                backup_uid=str(2_000_001 + 2 * i),
                start_at=rng.uniform(0.0, settings.start_spread),
                length=length,
                end_how=end_how,
                start_faults=start_faults,
                events=events,
            )
        )
    return plans


def make_chaos(settings: SoakSettings, rng: random.Random) -> list[tuple[float, str]]:
    """Worker kills and dev-server restarts, spread over the busy part of the run (real seconds from its start)."""
    span = settings.start_spread + settings.minutes * 60.0 * 0.6
    actions = ["kill"] * settings.worker_kills
    restarts = settings.devserver_restarts
    # The dev-server restart goes in the middle of the worker kills.
    for n in range(restarts):
        actions.insert((len(actions) * (n + 1)) // (restarts + 1), "devserver")
    out = []
    for n, action in enumerate(actions):
        fraction = 0.15 + 0.75 * n / (len(actions) - 1) if len(actions) > 1 else 0.5
        out.append((span * fraction + rng.uniform(-2.0, 2.0), action))
    return sorted(out)


# ------------------------------------------------------------------------------------------------ processes


def worker_env(address: str, queue: str, emu: RunningEmulator) -> dict[str, str]:
    """The worker's environment: the dev server, the emulator, a storage profile, a rate limit above the load."""
    return processes.worker_env(
        {
            "TEMPORAL_ADDRESS": address,
            "RECORDER_TASK_QUEUE": queue,
            **emu.agora_env(),
            "AGORA_REQUEST_TIMEOUT": "10",
            "AGORA_STORAGE_VENDOR": "1",
            "AGORA_STORAGE_REGION": "0",
            "AGORA_STORAGE_BUCKET": "soak-recordings",
            "AGORA_STORAGE_ACCESS_KEY": "AKIASOAKACCESSKEY01",
            "AGORA_STORAGE_SECRET_KEY": "soak-storage-secret-key",
            "AGORA_RATE_LIMIT": "1000",
            "LOG_LEVEL": "WARNING",
        }
    )


async def retrying(call: Callable[[], Awaitable[T]], *, within: float = 180.0) -> T:
    """Run a Temporal client call, retrying while the dev server is down or restarting."""
    deadline = time.monotonic() + within
    delay = 0.5
    while True:
        try:
            return await call()
        except (RPCError, WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 4.0)


# ------------------------------------------------------------------------------------------------ the driver


class Soak:
    """One soak run: the processes, the classes and the chaos."""

    def __init__(self, settings: SoakSettings) -> None:
        self.s = settings
        rng = random.Random(settings.seed)
        self.plans = make_plans(settings, rng)
        self.chaos = make_chaos(settings, rng)
        self.event_rng = random.Random(settings.seed + 1)
        self.queue = f"soak-{settings.seed}"
        self.worker_kills = 0
        self.kill_times: list[float] = []  # wall-clock time of each worker SIGKILL
        self.worker_restarts_after_server = 0
        self.devserver_restarts = 0
        self.devserver_downtime: list[float] = []
        self.applied: Counter[str] = Counter()

    def log(self, text: str) -> None:
        """Progress line on stderr."""
        if self.s.verbose:
            print(f"[soak {time.monotonic() - self.t0:6.1f}s] {text}", file=sys.stderr, flush=True)

    async def run(self) -> SoakReport:
        """Run the whole soak and return its report."""
        self.t0 = time.monotonic()
        work = self.s.work_dir
        work.mkdir(parents=True, exist_ok=True)
        for old in work.glob("temporal.db*"):
            old.unlink()
        config = EmulatorConfig(
            speed=self.s.speed,
            rate_limit_qps=0,
            max_concurrent=0,
            # Agora's resourceId lives 5 minutes and its stop grace is 5 s of real time as the caller sees it.
            resource_ttl_seconds=300.0 * self.s.speed,
            exit_grace_seconds=5.0 * self.s.speed,
            failover_downtime_seconds=90.0,
            seed=self.s.seed,
        )
        async with running_emulator(config) as emu:
            self.emu = emu
            emulator = emu.emulator
            emulator.set_profile(self.s.seed, PROFILE_RATES)
            server = DevServer(db_file=work / "temporal.db", log_file=work / "devserver.log")
            self.server = server
            await server.start()
            worker = WorkerProcess(worker_env(server.address, self.queue, emu), work / "worker.log")
            self.worker = worker
            worker.start()
            try:
                client = await connect(target_host=server.address)
                self.r0 = time.time()
                self.e0 = emulator.clock.now()
                self.log(f"{len(self.plans)} classes, chaos {self.chaos}")
                chaos = asyncio.create_task(self._chaos())
                runs = await asyncio.gather(*(self._run_class(client, p) for p in self.plans))
                await chaos
                # An orphan whose sid Agora never named ends at maxIdleTime after its class: wait for that.
                await asyncio.sleep(self.s.max_idle_time / self.s.speed + 3.0)
                report = self._analyse(emulator, list(runs))
            finally:
                await worker.stop()
                await server.stop()
        return report

    async def _chaos(self) -> None:
        start = time.monotonic()
        for at, action in self.chaos:
            await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
            if action == "kill":
                self.worker.kill()
                self.kill_times.append(time.time())
                self.worker_kills += 1
                pause = self.event_rng.uniform(1.0, 4.0)
                self.log(f"worker SIGKILLed (kill {self.worker_kills}); restart in {pause:.1f}s")
                await asyncio.sleep(pause)
                self.worker.start()
            else:
                began = time.monotonic()
                self.server.kill()
                self.log("dev server SIGKILLed")
                await asyncio.sleep(2.0)
                await self.server.start(wait_seconds=60.0)
                self.devserver_restarts += 1
                self.devserver_downtime.append(time.monotonic() - began)
                self.log(f"dev server back after {self.devserver_downtime[-1]:.1f}s")
                await asyncio.sleep(3.0)
                if not self.worker.alive:
                    self.worker_restarts_after_server += 1
                    self.worker.start()

    def _running(self, channel: str) -> list[Task]:
        emulator = self.emu.emulator
        emulator.settle()
        now = emulator.clock.now()
        return sorted(
            (t for t in emulator.tasks.values() if t.cname == channel and t.running and not t.in_failover(now)),
            key=lambda t: t.started_at,
        )

    async def _run_class(self, client: Client, plan: ClassPlan) -> ClassRun:
        run = ClassRun(plan=plan, workflow_id=f"soak-{self.s.seed}-{plan.channel}")
        await asyncio.sleep(plan.start_at)
        emu = self.emu
        emu.join(plan.channel, plan.teacher, "host")
        for endpoint, kind, count in plan.start_faults:
            emu.inject(endpoint, kind, count, cname=plan.channel)
            self.applied[f"scripted {endpoint}.{kind}"] += count
        request = RecordingRequest(
            channel=plan.channel,
            mode="mix",
            uid=plan.uid,
            backup_uid=plan.backup_uid,
            max_idle_time=self.s.max_idle_time,
            check_interval=self.s.check_interval,
            max_duration=timedelta(seconds=plan.length) if plan.end_how == "duration" else None,
        )

        async def start() -> Handle:
            try:
                return await client.start_workflow(
                    RecordingWorkflow.run,
                    RecordingInput(request=request),
                    id=run.workflow_id,
                    task_queue=self.queue,
                )
            except WorkflowAlreadyStartedError:  # the first attempt reached the server before it died
                return client.get_workflow_handle_for(RecordingWorkflow.run, run.workflow_id)

        handle = await retrying(start)
        run.started_real = time.time()
        began = time.monotonic()
        for event in plan.events:
            await asyncio.sleep(max(0.0, event.at - (time.monotonic() - began)))
            await self._apply(plan, event, run)
        await asyncio.sleep(max(0.0, plan.length - (time.monotonic() - began)))
        run.end_real = time.time()
        try:
            if plan.end_how == "stop":
                run.manifest = await retrying(
                    lambda: handle.execute_update(RecordingWorkflow.stop, StopRequest(reason="class over"))
                )
            elif plan.end_how == "signal":
                await retrying(lambda: handle.signal(RecordingWorkflow.request_stop, StopRequest(reason="class over")))
            elif plan.end_how == "cancel":
                await retrying(handle.cancel)
            emu.leave(plan.channel, plan.teacher)
            if run.manifest is None:
                run.manifest = await retrying(handle.result, within=600.0)
        except Exception as exc:  # a failed workflow still has its manifest: read it below
            run.error = f"{type(exc).__name__}: {exc}"
            emu.leave(plan.channel, plan.teacher)
            try:
                run.manifest = await retrying(lambda: handle.query(RecordingWorkflow.manifest))
            except Exception as query_exc:
                run.error += f"; manifest query failed: {query_exc}"
        run.completed_real = time.time()
        return run

    async def _apply(self, plan: ClassPlan, event: Event, run: ClassRun) -> None:
        emu = self.emu
        kind = event.kind
        if kind in ("break_short", "break_long"):
            emu.leave(plan.channel, plan.teacher)
            self.applied[kind] += 1
            await asyncio.sleep(event.length)
            emu.join(plan.channel, plan.teacher, "host")
            return
        if kind in ("not_found_short", "not_found_long"):
            # Agora answers 404 per task: aim the window at the live recorder, not at every sid of the channel.
            live = self._running(plan.channel)
            if not live:
                self.applied[f"{kind} skipped (no recorder up)"] += 1
                return
            sid = live[-1].sid
            if any(f["sid"] == sid and f["kind"] == "not_found" for f in emu.emulator.faults.pending()):
                # Stacking windows would make one task answer 404 for minutes: Agora's migration lasts at most 90 s.
                self.applied[f"{kind} skipped (a 404 window is still open on that sid)"] += 1
                return
            emu.inject("query", "not_found", event.count, cname=plan.channel, sid=sid)
            self.applied[kind] += 1
            return
        if kind == "query_burst":
            emu.inject("query", "server_error", event.count, cname=plan.channel)
            self.applied[kind] += 1
            return
        running = self._running(plan.channel)
        if not running:
            self.applied[f"{kind} skipped (no recorder up)"] += 1
            return
        task = running[-1]
        try:
            if kind == "uid_conflict":
                intruder = task.current_uid
                emu.join(plan.channel, intruder, "host")
                self.applied[kind] += 1
                await asyncio.sleep(event.length)
                emu.leave(plan.channel, intruder)
            elif kind == "crash":
                emu.crash(task.sid)
                self.applied[kind] += 1
            else:
                emu.failover(task.sid, event.length)
                self.applied[kind] += 1
        except ControlError as exc:
            self.applied[f"{kind} refused ({exc.status})"] += 1

    # -------------------------------------------------------------------------------------------- analysis

    def _emu_time(self, real: float) -> float:
        return self.e0 + (real - self.r0) * self.s.speed

    def _analyse(self, emulator: Emulator, runs: list[ClassRun]) -> SoakReport:
        speed = self.s.speed
        emulator.settle()
        now = emulator.clock.now()
        by_channel: dict[str, list[Task]] = {}
        for task in emulator.tasks.values():
            by_channel.setdefault(task.cname, []).append(task)
        violations: list[str] = []
        late: list[str] = []
        sid_unknown_orphans: list[str] = []
        uid_overlaps: list[str] = []
        kicked: list[str] = []
        unexplained: list[str] = []
        lost: list[str] = []
        agora_side_overlaps: list[str] = []
        dup_count = dup_stopped = 0
        dup_max = 0.0
        figures: list[ClassFigures] = []
        orphans_running = sum(1 for t in emulator.tasks.values() if t.running)
        failed = 0
        allowed_dup = (policy.FAILOVER_WINDOW + 60.0) * speed

        for run in runs:
            plan = run.plan
            tasks = sorted(by_channel.get(plan.channel, []), key=lambda t: t.started_at)
            manifest = run.manifest
            if manifest is None:
                violations.append(f"{plan.channel}: no manifest ({run.error})")
                continue
            if manifest.phase == "failed" or run.error:
                failed += 1
                why = run.error or manifest.error
                violations.append(f"{plan.channel}: workflow ended with {manifest.phase} ({why})")
            sids = {s.sid for s in manifest.segments if s.sid}
            unknown_rids = {s.resource_id for s in manifest.segments if s.end_reason == "sid_unknown"}
            # A start whose every answer was lost or a 50x (Agora created the task but never named its sid) and that
            # the workflow left for the other uid after Agora's 3 retries: the product cannot know this task exists.
            unnamed = {
                t.resource_id
                for t in tasks
                if t.sid not in sids
                and t.resource_id not in unknown_rids
                and not any(r["op"] == "start" and r["status"] in (200, 201) for r in t.requests)
            }
            assert manifest.ended_at is not None
            wf_end = self._emu_time(manifest.ended_at.timestamp())
            class_end = self._emu_time(run.end_real)
            if plan.end_how == "duration":
                class_end = self._emu_time(manifest.started_at.timestamp() + plan.length)
            last_end = class_end
            for task in tasks:
                end = task.ended_at if task.ended_at is not None else now
                last_end = max(last_end, end) if task.resource_id not in unknown_rids else last_end
                if task.sid not in sids:
                    if task.resource_id in unknown_rids | unnamed:
                        why = "201/7 without sid" if task.resource_id in unknown_rids else "start answer never named it"
                        sid_unknown_orphans.append(
                            f"{plan.channel} sid {task.sid[:8]} ({why}): ended {task.end_reason} "
                            f"{(end - class_end) / speed:+.1f}s after the class end, "
                            f"lived {(end - task.started_at) / speed:.1f}s"
                        )
                        continue
                    lost.append(f"{plan.channel} sid {task.sid} ({task.end_reason})")
                if end > wf_end + 2.0 * speed:
                    late.append(
                        f"{plan.channel} sid {task.sid[:8]}: ended {task.end_reason} "
                        f"{(end - wf_end) / speed:.1f}s after its workflow completed"
                    )
            # Same uid twice at once in one channel.
            for i, a in enumerate(tasks):
                a_end = a.ended_at if a.ended_at is not None else now
                for b in tasks[i + 1 :]:
                    if b.started_at >= a_end:
                        continue
                    overlap = (min(a_end, b.ended_at if b.ended_at is not None else now) - b.started_at) / speed
                    if a.uid == b.uid:
                        uid_overlaps.append(f"{plan.channel}: uid {a.uid} sids {a.sid[:8]}/{b.sid[:8]}")
                    if {a.resource_id, b.resource_id} & (unknown_rids | unnamed):
                        agora_side_overlaps.append(f"{plan.channel}: sids {a.sid[:8]}/{b.sid[:8]} {overlap:.1f}s")
                        continue
                    # The 404s that made the workflow give `a` up: those after its last answered query before `b`
                    # started (a 50x in between does not end the workflow's 404 backoff; an answer does).
                    first_404: list[float] = []
                    for r in reversed([r for r in a.requests if r["op"] == "query" and r["at"] <= b.started_at]):
                        if r["status"] == 200:
                            break
                        if r["status"] == 404:
                            first_404.append(r["at"])
                    if first_404 and a_end <= min(first_404) + allowed_dup:
                        dup_count += 1
                        dup_stopped += a.end_reason == "stopped"
                        dup_max = max(dup_max, overlap)
                    else:
                        why = ""
                        if first_404 and a.end_reason == "stopped":
                            since = min(first_404)
                            kills = sum(1 for k in self.kill_times if since <= self._emu_time(k) <= a_end)
                            why = (
                                f": stopped by the workflow {(a_end - since - allowed_dup) / speed:.1f}s past the "
                                f"allowance, {kills} worker kill(s) between its first 404 and its end"
                            )
                        unexplained.append(
                            f"{plan.channel}: sids {a.sid[:8]} ({a.end_reason}) and {b.sid[:8]} overlap {overlap:.1f}s"
                            f"{why}"
                        )
                if a.end_reason == "uid_conflict" and a.ended_at is not None:
                    for other in tasks:
                        if other is not a and other.started_at == a.ended_at and other.uid == a.current_uid:
                            kicked.append(f"{plan.channel}: sid {a.sid[:8]} kicked by sid {other.sid[:8]}")
            figures.append(self._figures(run, tasks, class_end, last_end))

        violations += [f"late stop: {x}" for x in late]
        violations += [f"same uid twice: {x}" for x in uid_overlaps]
        violations += [f"recorder kicked by its successor: {x}" for x in kicked]
        violations += [f"two recorders outside a failover window: {x}" for x in unexplained]
        violations += [f"sid missing from the manifest: {x}" for x in lost]
        if orphans_running:
            violations.append(f"{orphans_running} task(s) still running in the emulator")
        return SoakReport(
            settings={k: str(v) if isinstance(v, Path) else v for k, v in asdict(self.s).items()},
            environment=environment(),
            wall_seconds=round(time.monotonic() - self.t0, 1),
            worker_kills=self.worker_kills,
            worker_restarts_after_server_restart=self.worker_restarts_after_server,
            devserver_restarts=self.devserver_restarts,
            devserver_downtime_s=[round(x, 1) for x in self.devserver_downtime],
            faults_injected=dict(sorted(emulator.faults_injected.items())),
            events_applied=dict(sorted(self.applied.items())),
            tasks=sum(len(by_channel.get(r.plan.channel, [])) for r in runs),
            segments=sum(len(r.manifest.segments) for r in runs if r.manifest),
            workflows_failed=failed,
            orphans_running=orphans_running,
            late_stops=late,
            sid_unknown_orphans=sid_unknown_orphans,
            uid_overlaps=uid_overlaps,
            kicked_by_own_recorder=kicked,
            failover_duplicates=dup_count,
            failover_duplicates_stopped=dup_stopped,
            failover_duplicate_max_s=round(dup_max, 1),
            unexplained_overlaps=unexplained,
            agora_side_overlaps=agora_side_overlaps,
            lost_sids=lost,
            classes=figures,
            violations=violations,
        )

    def _figures(self, run: ClassRun, tasks: list[Task], class_end: float, last_end: float) -> ClassFigures:
        speed = self.s.speed
        emulator = self.emu.emulator
        now = emulator.clock.now()
        manifest = run.manifest
        assert manifest is not None
        class_start = self._emu_time(manifest.started_at.timestamp())
        up: list[tuple[float, float]] = []
        for task in tasks:
            history = emulator.status_history(task, now)
            up_at = next((at for at, status in history if status in (4, 5)), None)
            if up_at is None:
                continue
            end = task.ended_at if task.ended_at is not None else now
            pieces = [(up_at, end)]
            for f_start, f_end in task.failover_windows:
                pieces = [p for a, b in pieces for p in ((a, min(b, f_start)), (max(a, f_end), b)) if p[0] < p[1]]
            up += pieces
        covered = _clip(_union(up), class_start, class_end)
        length = max(class_end - class_start, 1e-9)
        present = [
            (p.joined_at, p.end()) for p in emulator.presences.get(run.plan.channel, []) if p.uid == run.plan.teacher
        ]
        present = _clip(_union(present), class_start, class_end)
        present_len = sum(b - a for a, b in present)
        present_covered = sum(max(0.0, min(b, d) - max(a, c)) for a, b in covered for c, d in present)
        first_up = covered[0][0] if covered else class_end
        gaps = [(b, c) for (_, b), (c, _) in itertools.pairwise(covered)]
        if covered and covered[-1][1] < class_end:
            gaps.append((covered[-1][1], class_end))
        gap_lengths = [(b - a) / speed for a, b in gaps]
        return ClassFigures(
            channel=run.plan.channel,
            end_how=run.plan.end_how,
            length_s=round(length / speed, 1),
            emulated_h=round(length / 3600.0, 2),
            tasks=len(tasks),
            segments=len(manifest.segments),
            restarts=manifest.restarts,
            coverage=round(sum(b - a for a, b in covered) / length, 4),
            coverage_present=round(present_covered / present_len, 4) if present_len else 1.0,
            start_latency_s=round((first_up - class_start) / speed, 1),
            gaps=len(gap_lengths),
            gap_total_s=round(sum(gap_lengths), 1),
            gap_max_s=round(max(gap_lengths, default=0.0), 1),
            stop_lag_s=round((last_end - class_end) / speed, 1),
        )


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _clip(intervals: list[tuple[float, float]], lo: float, hi: float) -> list[tuple[float, float]]:
    return [(max(a, lo), min(b, hi)) for a, b in intervals if min(b, hi) > max(a, lo)]


def environment() -> dict[str, Any]:
    """Machine and versions, for the results file."""
    try:
        cli = subprocess.run(
            [temporal_binary(), "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, RuntimeError, subprocess.TimeoutExpired) as exc:
        cli = f"unknown ({exc})"
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "temporalio": temporalio.__version__,
        "temporal_cli": cli,
    }


# ------------------------------------------------------------------------------------------------ printing


def render(report: SoakReport, *, per_class: int | None = None) -> str:
    """The report as a readable text table plus the invariant summary."""
    lines = []
    rows = report.classes
    shown = rows if per_class is None or len(rows) <= per_class else sorted(rows, key=lambda r: r.coverage)[:per_class]
    head = (
        f"{'channel':<16} {'end':<8} {'len s':>6} {'emu h':>5} {'tasks':>5} {'segs':>4} {'rst':>3} {'cover':>6} "
        f"{'cov@p':>6} {'lat s':>5} {'gaps':>4} {'gap s':>6} {'max s':>6} {'lag s':>6}"
    )
    if shown is not rows:
        lines.append(f"the {len(shown)} classes with the lowest coverage (of {len(rows)}):")
    lines.append(head)
    for r in shown:
        lines.append(
            f"{r.channel:<16} {r.end_how:<8} {r.length_s:>6.0f} {r.emulated_h:>5.2f} {r.tasks:>5} {r.segments:>4} "
            f"{r.restarts:>3} {r.coverage:>6.1%} {r.coverage_present:>6.1%} {r.start_latency_s:>5.1f} {r.gaps:>4} "
            f"{r.gap_total_s:>6.1f} {r.gap_max_s:>6.1f} {r.stop_lag_s:>6.1f}"
        )
    cov = [r.coverage for r in rows] or [0.0]
    covp = [r.coverage_present for r in rows] or [0.0]
    gaps = [r.gap_max_s for r in rows] or [0.0]
    lags = [r.stop_lag_s for r in rows] or [0.0]
    lines += [
        "",
        f"classes {len(rows)}  emulated class hours {sum(r.emulated_h for r in rows):.1f}  tasks {report.tasks}  "
        f"segments {report.segments}  wall {report.wall_seconds:.0f}s",
        f"coverage min {min(cov):.1%} median {statistics.median(cov):.1%}  |  while the teacher was present: "
        f"min {min(covp):.1%} median {statistics.median(covp):.1%}",
        f"gaps {sum(r.gaps for r in rows)} total {sum(r.gap_total_s for r in rows):.0f}s  longest {max(gaps):.1f}s  "
        f"median longest per class {statistics.median(gaps):.1f}s",
        f"stop lag after class end: median {statistics.median(lags):.1f}s max {max(lags):.1f}s",
        f"worker kills {report.worker_kills}  dev-server restarts {report.devserver_restarts} "
        f"(down {report.devserver_downtime_s}s)  worker restarts after server restart "
        f"{report.worker_restarts_after_server_restart}",
        f"faults injected: {report.faults_injected}",
        f"events applied: {report.events_applied}",
        f"orphans running {report.orphans_running}  late stops {len(report.late_stops)}  "
        f"same-uid overlaps {len(report.uid_overlaps)}  kicked by own recorder {len(report.kicked_by_own_recorder)}  "
        f"unexplained double recorders {len(report.unexplained_overlaps)}  lost sids {len(report.lost_sids)}",
        f"failover duplicates {report.failover_duplicates} "
        f"(stopped by the workflow {report.failover_duplicates_stopped}, "
        f"longest overlap {report.failover_duplicate_max_s}s)  "
        f"sid-unknown orphans {len(report.sid_unknown_orphans)} "
        f"(overlapping another recorder: {len(report.agora_side_overlaps)})"
        f"  failed workflows {report.workflows_failed}",
    ]
    lines += [f"  sid unknown: {x}" for x in report.sid_unknown_orphans]
    lines += [f"VIOLATION: {v}" for v in report.violations] or ["all invariants hold"]
    return "\n".join(lines)


async def run_soak(settings: SoakSettings) -> SoakReport:
    """Run one soak and return its report."""
    return await Soak(settings).run()


def main(argv: list[str] | None = None) -> int:
    """Command line: run the soak, print the table, write the JSON report; exit 1 on a violated invariant."""
    parser = argparse.ArgumentParser(prog="python bench/soak.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--recordings", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=6.0, help="longest class in real minutes")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--speed", type=float, default=60.0, help="emulated seconds per real second")
    parser.add_argument("--check-interval", type=int, default=5, help="real seconds between checks")
    parser.add_argument("--max-idle", type=int, default=600, help="maxIdleTime in emulated seconds")
    parser.add_argument("--worker-kills", type=int, default=6)
    parser.add_argument("--start-spread", type=float, default=30.0)
    parser.add_argument("--work-dir", type=Path, default=PROJECT / "data" / "soak")
    parser.add_argument("--json", type=Path, help="write the full report here")
    args = parser.parse_args(argv)
    settings = SoakSettings(
        recordings=args.recordings,
        minutes=args.minutes,
        seed=args.seed,
        speed=args.speed,
        check_interval=args.check_interval,
        max_idle_time=args.max_idle,
        worker_kills=args.worker_kills,
        start_spread=args.start_spread,
        work_dir=args.work_dir,
    )
    report = asyncio.run(run_soak(settings))
    print(render(report, per_class=40))
    out = args.json or settings.work_dir / "report.json"
    out.write_text(report.to_json())
    print(f"full report: {out}")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
