"""Driving the soak: the emulator, the dev server and the worker process, the classes, their trouble and the chaos.

The emulator is served in this process and touched only through its documented control actions (join, leave,
crash, failover, inject, set_profile) and its state snapshot; the worker reaches it over HTTP like a real client.
What the drive hands on is what the analysis needs: each class's run and manifest, when the worker was killed, and
the emulator's last snapshot, taken once every workflow has completed.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import random
import secrets
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

import temporalio
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from bench.soak.plan import (
    CALLBACK_RATES,
    PROFILE_RATES,
    ClassPlan,
    Event,
    SoakSettings,
    emulator_config,
    make_chaos,
    make_plans,
)
from bench.soak.receivers import Replicas, receiver_app, serving
from bench.soak.snapshot import EmulatorState
from emulator import ControlError
from emulator.testing import RunningEmulator, running_emulator
from recorder import processes
from recorder.api import workflow_id
from recorder.connection import connect
from recorder.devserver import DevServer, temporal_binary
from recorder.ncs import Receiver
from recorder.processes import WorkerProcess
from workflows import names
from workflows.models import RecordingInput, RecordingManifest, RecordingRequest, StopRequest
from workflows.recording import RecordingWorkflow

T = TypeVar("T")
Handle = WorkflowHandle[RecordingWorkflow, RecordingManifest]


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
    # With callbacks: the callbacks the workflow says it acted on, and every callback signal in its history
    # (noticeId, sid), across its runs.
    callbacks_taken: int | None = None
    signals: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ChaosLog:
    """What the chaos did: when the worker was SIGKILLed, and how long each dev-server restart took."""

    kill_times: list[float] = field(default_factory=list)  # wall-clock time (time.time()) of each worker SIGKILL
    devserver_downtime: list[float] = field(default_factory=list)  # real seconds, one per restart
    worker_restarts_after_server: int = 0

    @property
    def worker_kills(self) -> int:
        """How many times the worker was SIGKILLed."""
        return len(self.kill_times)

    @property
    def devserver_restarts(self) -> int:
        """How many times the dev server was SIGKILLed and came back."""
        return len(self.devserver_downtime)


@dataclass
class Driven:
    """Everything the drive observed, for the analysis: runs, chaos, and the emulator's final snapshot."""

    runs: list[ClassRun]
    final: EmulatorState
    speed: float  # emulated seconds per real second
    real_start: float  # wall-clock time (time.time()) at which the emulated clock read `emulated_start`
    emulated_start: float
    chaos: ChaosLog
    applied: Counter[str]  # scripted trouble by kind, and the events skipped or refused
    wall_seconds: float
    environment: dict[str, Any]
    # With callbacks: the emulator's record of every callback (GET /_emulator/callbacks) and the receivers' counts.
    callbacks: dict[str, Any] | None = None
    receiver_counts: dict[str, int] = field(default_factory=dict)
    # The machine's 1-minute load average over the run (others may share it): at the start, mean, max, at the end.
    load_average: dict[str, float] = field(default_factory=dict)

    def emulated(self, real: float) -> float:
        """The emulated time at wall-clock time `real` (the emulator's clock runs `speed` times faster)."""
        return self.emulated_start + (real - self.real_start) * self.speed


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


def resource_hours(length: float, speed: float) -> int:
    """resourceExpiredHour for a class of `length` real seconds on an emulator running `speed` times real time."""
    return max(1, min(720, math.ceil((length + 600.0) * speed / 3600.0)))


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


class Driver:
    """One soak run: the processes, the classes and the chaos."""

    def __init__(self, settings: SoakSettings) -> None:
        self.s = settings
        rng = random.Random(settings.seed)
        self.plans = make_plans(settings, rng)
        self.chaos = make_chaos(settings, rng)
        self.event_rng = random.Random(settings.seed + 1)
        self.queue = f"soak-{settings.seed}"
        self.chaos_log = ChaosLog()
        self.applied: Counter[str] = Counter()
        self.receivers: list[Receiver] = []
        self.loads: list[float] = []

    def log(self, text: str) -> None:
        """Progress line on stderr."""
        if self.s.verbose:
            print(f"[soak {time.monotonic() - self.t0:6.1f}s] {text}", file=sys.stderr, flush=True)

    async def run(self) -> Driven:
        """Run every class under the chaos and return what happened, with the emulator's final snapshot."""
        self.t0 = time.monotonic()
        work = self.s.work_dir
        work.mkdir(parents=True, exist_ok=True)
        for old in work.glob("temporal.db*"):
            old.unlink()
        async with running_emulator(emulator_config(self.s)) as emu, AsyncExitStack() as stack:
            self.emu = emu
            rates = {**PROFILE_RATES, **CALLBACK_RATES} if self.s.callbacks else PROFILE_RATES
            emu.emulator.set_profile(self.s.seed, rates)
            server = DevServer(db_file=work / "temporal.db", log_file=work / "devserver.log")
            self.server = server
            await server.start()
            worker = WorkerProcess(worker_env(server.address, self.queue, emu), work / "worker.log")
            self.worker = worker
            worker.start()
            try:
                client = await connect(target_host=server.address)
                if self.s.callbacks:
                    await self._serve_receivers(client, stack)
                real_start = time.time()
                emulated_start = emu.snapshot()["now"]
                self.log(f"{len(self.plans)} classes, chaos {self.chaos}")
                chaos = asyncio.create_task(self._chaos())
                sampler = asyncio.create_task(self._sample_load())
                runs = await asyncio.gather(*(self._run_class(client, p) for p in self.plans))
                await chaos
                # An orphan whose sid Agora never named ends at maxIdleTime after its class: wait for that.
                await asyncio.sleep(self.s.max_idle_time / self.s.speed + 3.0)
                final = EmulatorState.read(emu.snapshot())
                callbacks = None
                if self.s.callbacks:
                    await asyncio.gather(*(self._callbacks_of(client, run) for run in runs))
                    callbacks = emu.callbacks()
                wall = time.monotonic() - self.t0
                sampler.cancel()
                self.loads.append(os.getloadavg()[0])
            finally:
                await worker.stop()
                await server.stop()
        return Driven(
            runs=list(runs),
            final=final,
            speed=self.s.speed,
            real_start=real_start,
            emulated_start=emulated_start,
            chaos=self.chaos_log,
            applied=self.applied,
            wall_seconds=wall,
            environment=environment(),
            callbacks=callbacks,
            receiver_counts=dict(sum((r.counts for r in self.receivers), Counter())),
            load_average={
                "start": round(self.loads[0], 2),
                "mean": round(sum(self.loads) / len(self.loads), 2),
                "max": round(max(self.loads), 2),
                "end": round(self.loads[-1], 2),
            },
        )

    async def _sample_load(self) -> None:
        """The 1-minute load average every 10 s while the classes run."""
        while True:
            self.loads.append(os.getloadavg()[0])
            await asyncio.sleep(10.0)

    async def _serve_receivers(self, client: Client, stack: AsyncExitStack) -> None:
        """Two receivers behind one URL (round robin), and the emulator posting every class's callbacks to it, but
        for the classes that hear none: theirs are dropped before they leave."""
        secret = secrets.token_hex(16)
        app_id = self.emu.config.app_id
        self.receivers = [Receiver(client, app_id=app_id, secrets=[secret], task_queue=self.queue) for _ in range(2)]
        app = Replicas([receiver_app(r) for r in self.receivers])
        url = await stack.enter_async_context(serving(app, self.receivers[0].path))
        self.emu.set_callbacks(url, secret)
        for plan in self.plans:
            if not plan.hears_callbacks:
                self.emu.inject_callback_fault("drop", count=10**9, cname=plan.channel)

    async def _callbacks_of(self, client: Client, run: ClassRun) -> None:
        """What the class's workflow took: its callbacks count, and the callback signals in each of its runs."""
        handle = client.get_workflow_handle(run.workflow_id)
        run.callbacks_taken = (await retrying(lambda: handle.query(RecordingWorkflow.status))).callbacks
        run_id: str | None = None  # the latest run first, then back along continue-as-new
        while True:
            history = await client.get_workflow_handle(run.workflow_id, run_id=run_id).fetch_history()
            for event in history.events:
                if event.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                    continue
                attributes = event.workflow_execution_signaled_event_attributes
                if attributes.signal_name != names.EVENT_SIGNAL:
                    continue
                signalled = json.loads(attributes.input.payloads[0].data)
                run.signals.append((signalled["notice_id"], signalled["sid"]))
            run_id = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
            if not run_id:
                return

    async def _chaos(self) -> None:
        log = self.chaos_log
        start = time.monotonic()
        for at, action in self.chaos:
            await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
            if action == "kill":
                self.worker.kill()
                log.kill_times.append(time.time())
                pause = self.event_rng.uniform(1.0, 4.0)
                self.log(f"worker SIGKILLed (kill {log.worker_kills}); restart in {pause:.1f}s")
                await asyncio.sleep(pause)
                self.worker.start()
            else:
                began = time.monotonic()
                self.server.kill()
                self.log("dev server SIGKILLed")
                await asyncio.sleep(2.0)
                await self.server.start(wait_seconds=60.0)
                log.devserver_downtime.append(time.monotonic() - began)
                self.log(f"dev server back after {log.devserver_downtime[-1]:.1f}s")
                await asyncio.sleep(3.0)
                if not self.worker.alive:
                    log.worker_restarts_after_server += 1
                    self.worker.start()

    async def _run_class(self, client: Client, plan: ClassPlan) -> ClassRun:
        # The recording's id as the product names it, so the callback receivers find it by its channel.
        run = ClassRun(plan=plan, workflow_id=workflow_id(self.emu.config.app_id, plan.channel))
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
            # The workflow sizes resourceExpiredHour from the class's real length, but Agora's side counts it on the
            # emulated clock (speed times faster): scaled, the resource lives past the class (and its stop) as it
            # would in reality, instead of answering 433 to every query after a few real minutes.
            resource_expired_hour=resource_hours(plan.length, self.s.speed),
            redundant=plan.redundant,
            redundant_uid=plan.redundant_uid if plan.redundant else None,
            redundant_backup_uid=plan.redundant_backup_uid if plan.redundant else None,
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
            await self._apply(plan, event)
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

    async def _apply(self, plan: ClassPlan, event: Event) -> None:
        emu = self.emu
        kind = event.kind
        if kind in ("break_short", "break_long"):
            emu.leave(plan.channel, plan.teacher)
            self.applied[kind] += 1
            await asyncio.sleep(event.length)
            emu.join(plan.channel, plan.teacher, "host")
            return
        if kind == "query_burst":
            emu.inject("query", "server_error", event.count, cname=plan.channel)
            self.applied[kind] += 1
            return
        # One channel's part of the snapshot: a look at the whole state costs tens of ms with hundreds of tasks.
        state = EmulatorState.read(emu.snapshot(plan.channel))
        live = state.live(plan.channel)
        if not live:
            self.applied[f"{kind} skipped (no recorder up)"] += 1
            return
        task = live[-1]
        if kind in ("not_found_short", "not_found_long"):
            # Agora answers 404 per task: aim the window at the live recorder, not at every sid of the channel.
            if any(f.sid == task.sid and f.kind == "not_found" for f in state.pending_faults):
                # Stacking windows would make one task answer 404 for minutes: Agora's migration lasts at most 90 s.
                self.applied[f"{kind} skipped (a 404 window is still open on that sid)"] += 1
                return
            emu.inject("query", "not_found", event.count, cname=plan.channel, sid=task.sid)
            self.applied[kind] += 1
            return
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
