"""Shared pieces of the benchmarks: the worker they run, /proc sampling, history reading and small statistics.

Every process the benchmarks start (Temporal dev server, emulator, worker) is a separate child of the product's
process harness (`recorder.processes`), so its CPU and memory can be read from /proc, and is stopped by its own PID.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory

from emulator.config import EmulatorConfig
from recorder.devserver import temporal_binary
from recorder.processes import PROJECT, EmulatorProcess, WorkerProcess, storage_env, worker_env
from workflows.models import RecordingInput, RecordingRequest
from workflows.recording import RecordingWorkflow

ROOT = PROJECT
CLK_TCK = os.sysconf("SC_CLK_TCK")
# The host in every benchmark channel: a channel with a host in it is never idle, so no recorder leaves on its own.
TEACHER = "1001"


def load() -> str:
    """The 1/5/15-minute load averages, as `uptime` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> dict[str, Any]:
    """nproc, memory, CPU model and versions, for RESULTS.md."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    temporal = subprocess.run(
        [temporal_binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    import temporalio

    marker = ROOT / ".bench-commit"
    if marker.exists():
        commit = marker.read_text().strip()
    else:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "workflows", "activities", "agora", "worker.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        commit = head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    return {
        "commit": commit,
        "nproc": os.cpu_count(),
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "temporalio": temporalio.__version__,
        "temporal_cli": temporal,
        "load": load(),
    }


# --- child processes ------------------------------------------------------------------------------------------------


async def start_emulator(workdir: Path, *, startup_seconds: float = 3.0) -> EmulatorProcess:
    """The emulator as its own process at real speed, with Agora's rate limit and concurrency cap lifted."""
    config = EmulatorConfig(speed=1.0, startup_seconds=startup_seconds, rate_limit_qps=0, max_concurrent=0)
    emulator = EmulatorProcess(config, log_file=workdir / "emulator.log")
    await emulator.start_ready()
    return emulator


def bench_worker(
    workdir: Path,
    address: str,
    emulator: EmulatorProcess,
    queue: str,
    rate_limit: float,
    *,
    log_level: str = "WARNING",
    extra: dict[str, str] | None = None,
) -> WorkerProcess:
    """`python worker.py` against the emulator, with the App ID's rate limit raised, `log_level` and up in its log, and
    the `extra` settings."""
    env = worker_env(
        {
            "AGORA_RATE_LIMIT": str(rate_limit),
            "LOG_LEVEL": log_level,
            **storage_env("bench-recordings", "AKIABENCHACCESS0001", "bench-storage-secret-key"),
            **(extra or {}),
        },
        address=address,
        queue=queue,
        agora=emulator.agora_env(),
    )
    return WorkerProcess(env, workdir / "worker.log")


# --- recordings ----------------------------------------------------------------------------------------------------


async def join_host(http: httpx.AsyncClient, emulator_url: str, channel: str) -> None:
    """The teacher joins `channel`, through the control API of the emulator at `emulator_url`."""
    await http.post(f"{emulator_url}/_emulator/channels/{channel}/users", json={"uid": TEACHER, "role": "host"})


async def start_recording(
    client: Client,
    channel: str,
    *,
    workflow_id: str,
    queue: str,
    interval: int,
    max_idle_time: int | None = None,
    max_duration: timedelta = timedelta(hours=2),
) -> None:
    """Start the product's recording of `channel` as every benchmark does: recorder uid 527841 (backup 527842), checked
    every `interval` seconds, idle after two intervals (30 s at least) unless `max_idle_time` says otherwise."""
    request = RecordingRequest(
        channel=channel,
        uid="527841",
        backup_uid="527842",
        max_idle_time=max_idle_time or max(2 * interval, 30),
        check_interval=interval,
        max_duration=max_duration,
    )
    await client.start_workflow(
        RecordingWorkflow.run, RecordingInput(request=request), id=workflow_id, task_queue=queue
    )


# --- /proc sampling ----------------------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies over all CPUs, from the first line of /proc/stat."""
    values = [float(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@dataclass
class ProcSampler:
    """Samples CPU and RSS of named PIDs once a second between `mark_start` and `mark_end`."""

    pids: dict[str, int]
    interval: float = 1.0
    rss: dict[str, list[float]] = field(default_factory=dict)
    _cpu0: dict[str, float] = field(default_factory=dict)
    _t0: float = 0.0
    result: dict[str, dict[str, float]] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None
    _busy0: tuple[float, float] = (0.0, 0.0)

    def mark_start(self) -> None:
        self._t0 = time.monotonic()
        self._cpu0 = {n: _cpu_seconds(p) or 0.0 for n, p in self.pids.items()}
        self.rss = {n: [] for n in self.pids}
        self._busy0 = _machine_busy()
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            for n, p in self.pids.items():
                r = _rss_mib(p)
                if r is not None:
                    self.rss[n].append(r)
            await asyncio.sleep(self.interval)

    def mark_end(self) -> dict[str, dict[str, float]]:
        """CPU (% of one core, averaged over the window) and RSS (MiB, mean and max) per process."""
        if self._task:
            self._task.cancel()
        elapsed = time.monotonic() - self._t0
        for n, p in self.pids.items():
            cpu1 = _cpu_seconds(p)
            cpu = ((cpu1 - self._cpu0[n]) / elapsed * 100) if cpu1 is not None and elapsed > 0 else float("nan")
            rss = self.rss[n] or [float("nan")]
            self.result[n] = {
                "cpu_pct": round(cpu, 1),
                "rss_mean_mib": round(sum(rss) / len(rss), 1),
                "rss_max_mib": round(max(rss), 1),
            }
        busy1 = _machine_busy()
        total = busy1[1] - self._busy0[1]
        # The whole machine, every process (other users' included), as % of all cores.
        self.result["machine"] = {"busy_pct": round((busy1[0] - self._busy0[0]) / total * 100, 1) if total else 0.0}
        return self.result


# --- statistics ------------------------------------------------------------------------------------------------------


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, min, p50, p90, p99, max of a sample."""
    return {
        "n": len(values),
        "min": round(min(values), 3) if values else float("nan"),
        "p50": round(pct(values, 50), 3),
        "p90": round(pct(values, 90), 3),
        "p99": round(pct(values, 99), 3),
        "max": round(max(values), 3) if values else float("nan"),
    }


# --- histories -----------------------------------------------------------------------------------------------------

WFT_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


@dataclass
class CheckStats:
    """What one workflow's history says about its checks inside a window."""

    checks: int = 0
    lags: list[float] = field(default_factory=list)
    events: int = 0
    bytes: int = 0
    wfts: int = 0
    started_times: list[float] = field(default_factory=list)
    types: collections.Counter[str] = field(default_factory=collections.Counter)


LOCAL_ACTIVITY_MARKER = "core_local_activity"  # the SDK's marker for a local activity's result
PATCH_MARKER = "core_patch"  # workflow.patched(): once per run and patch id, never a check


def event_name(ev: HistoryEvent) -> str:
    """A short event type name; markers carry their marker name (MarkerRecorded:core_patch)."""
    name = EventType.Name(ev.event_type).removeprefix("EVENT_TYPE_")
    name = "".join(w.capitalize() for w in name.split("_"))
    if ev.event_type == EventType.EVENT_TYPE_MARKER_RECORDED:
        name += ":" + ev.marker_recorded_event_attributes.marker_name
    return name


def local_activity_marker(ev: HistoryEvent) -> dict[str, Any] | None:
    """The metadata of a local-activity marker (activity_type, attempt, ...), or None for any other event."""
    if ev.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    a = ev.marker_recorded_event_attributes
    if a.marker_name != LOCAL_ACTIVITY_MARKER:
        return None
    data = a.details["data"].payloads if "data" in a.details else []
    try:
        meta = json.loads(data[0].data) if data else {}
    except ValueError:
        meta = {}
    return meta if isinstance(meta, dict) else {}


def is_call_of(ev: HistoryEvent, activity_type: str) -> bool:
    """True for one call of `activity_type`: a scheduled activity, or a local activity's marker."""
    if ev.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
        return ev.activity_task_scheduled_event_attributes.activity_type.name == activity_type
    meta = local_activity_marker(ev)
    return meta is not None and meta.get("activity_type", meta.get("activityType")) == activity_type


def check_stats(history: WorkflowHistory, activity_type: str, t0: float, t1: float) -> CheckStats:
    """Checks run in [t0, t1): one per call of `activity_type` (an activity, or a local activity's marker) that
    directly follows a timer.

    Lag = when the check ran minus the planned fire time of the timer before it (TimerStarted time plus its
    start_to_fire_timeout). "When it ran" is ActivityTaskStarted for an activity. A local activity leaves no event
    when it starts: its MarkerRecorded event is written when the workflow task that ran it completes, so that time
    (which includes the call itself and, for the product, its wait for the worker's query pace) is used. Other
    markers (patch markers, other local activities) are not checks and leave the timer pending. Events, bytes and
    workflow tasks count every event whose time falls in the window.
    """
    out = CheckStats()
    timers: dict[str, float] = {}
    last_fired: float | None = None
    scheduled: dict[int, float | None] = {}
    for ev in history.events:
        t = ev.event_time.ToDatetime().timestamp() if ev.HasField("event_time") else 0.0
        if t0 <= t < t1:
            out.events += 1
            out.bytes += ev.ByteSize()
            if ev.event_type == WFT_COMPLETED:
                out.wfts += 1
            out.types[event_name(ev)] += 1
        et = ev.event_type
        if et == EventType.EVENT_TYPE_TIMER_STARTED:
            a = ev.timer_started_event_attributes
            timers[a.timer_id] = t + a.start_to_fire_timeout.ToTimedelta().total_seconds()
        elif et == EventType.EVENT_TYPE_TIMER_FIRED:
            last_fired = timers.pop(ev.timer_fired_event_attributes.timer_id, None)
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            if ev.activity_task_scheduled_event_attributes.activity_type.name == activity_type:
                scheduled[ev.event_id] = last_fired
            last_fired = None
        elif et == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            planned = scheduled.pop(ev.activity_task_started_event_attributes.scheduled_event_id, None)
            if planned is not None and t0 <= t < t1:
                out.checks += 1
                out.lags.append(t - planned)
                out.started_times.append(t)
        elif et == EventType.EVENT_TYPE_MARKER_RECORDED:
            meta = local_activity_marker(ev)
            if meta is None:
                continue  # a patch marker (or another kind): not a check
            if last_fired is not None and is_call_of(ev, activity_type) and t0 <= t < t1:
                out.checks += 1
                out.lags.append(t - last_fired)
                out.started_times.append(t)
            last_fired = None
    return out


async def fetch_histories(client: Client, ids: Iterable[str], concurrency: int = 16) -> list[WorkflowHistory]:
    """Histories of the latest run of each workflow id."""
    sem = asyncio.Semaphore(concurrency)

    async def one(wid: str) -> WorkflowHistory:
        async with sem:
            return await client.get_workflow_handle(wid).fetch_history()

    return list(await asyncio.gather(*(one(w) for w in ids)))


def write_json(path: Path, data: Any) -> None:
    """Write `data` as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def run_then_exit(main: Coroutine[Any, Any, None]) -> None:
    """Run a benchmark's main, then exit without interpreter teardown, which the SDK's native threads can crash."""
    asyncio.run(main)
    sys.stdout.flush()
    os._exit(0)
