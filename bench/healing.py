"""Healing time, as distributions over many trials, with every process separate (dev server, emulator, worker).

- crash: a recorder crashes in the emulator (status 20, every call 404) at a random phase of its check cycle;
  measured from the crash to the new recorder's status 4 in the emulator (and to the workflow's confirmation).
  Target: within one check interval + 30 s (the 404 backoff) + the emulator's start-up.
- kill: the worker gets SIGKILL at a random phase and a new worker process is started at once (as a supervisor
  would); measured from the kill to each recording's next query at the emulator. Target: within 5 s + the interval.

`python -m bench.healing --quick` runs a few trials of each.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.common import (
    ROOT,
    bench_worker,
    join_host,
    load,
    run_then_exit,
    start_emulator,
    start_recording,
    summary,
    write_json,
)
from recorder.devserver import DevServer
from recorder.processes import EmulatorProcess, WorkerProcess
from workflows.models import StopRequest
from workflows.recording import RecordingWorkflow

STARTUP = 3.0


def _tasks_by_channel(state: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for t in state["tasks"]:
        out.setdefault(t["cname"], []).append(t)
    for tasks in out.values():
        tasks.sort(key=lambda t: t["startedAt"])
    return out


class Rig:
    """A dev server, the emulator and a worker process, plus helpers to start recordings and read the emulator."""

    def __init__(self, workdir: Path, interval: int) -> None:
        self.workdir = workdir
        self.interval = interval
        self.server = DevServer(db_file=workdir / "temporal.db", log_file=workdir / "server.log")
        self.queue = f"heal-{uuid.uuid4().hex[:8]}"
        self.http = httpx.AsyncClient(timeout=30)
        self.worker: WorkerProcess | None = None
        self.emulator: EmulatorProcess | None = None
        self.url = ""

    async def __aenter__(self) -> Rig:
        await self.server.start()
        self.emulator = await start_emulator(self.workdir, startup_seconds=STARTUP)
        self.url = self.emulator.url
        self.worker = bench_worker(self.workdir, self.server.address, self.emulator, self.queue, 1000.0)
        self.worker.start()
        self.client = await Client.connect(self.server.address, data_converter=pydantic_data_converter)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        if self.worker:
            await self.worker.stop()
        if self.emulator:
            await self.emulator.stop()
        await self.server.stop()

    async def state(self) -> dict[str, list[dict[str, Any]]]:
        return _tasks_by_channel((await self.http.get(f"{self.url}/_emulator/state")).json())

    async def states(self, within: float, every: float) -> AsyncIterator[dict[str, list[dict[str, Any]]]]:
        """The emulator's tasks by channel every `every` seconds, for at most `within` seconds (the caller stops
        earlier once it has seen what it waits for)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            await asyncio.sleep(every)
            yield await self.state()

    async def start_recordings(self, k: int) -> list[str]:
        """Start k recordings (a host in each channel) and wait until each recorder is confirmed by the workflow."""
        channels = [f"heal-{i}-{uuid.uuid4().hex[:6]}" for i in range(k)]
        for ch in channels:
            await join_host(self.http, self.url, ch)
            await start_recording(self.client, ch, workflow_id=ch, queue=self.queue, interval=self.interval)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            phases = [
                (await self.client.get_workflow_handle(ch).query(RecordingWorkflow.status)).phase for ch in channels
            ]
            if all(p == "recording" for p in phases):
                return channels
            await asyncio.sleep(1)
        raise RuntimeError(f"recordings not confirmed within 120 s: {phases}")

    async def stop_recordings(self, channels: list[str]) -> None:
        for ch in channels:
            await self.client.get_workflow_handle(ch).signal(RecordingWorkflow.request_stop, StopRequest())


async def crash_trials(rig: Rig, trials: int) -> dict[str, Any]:
    """Crash one recorder per recording at a random phase; time until its successor reaches status 4."""
    channels = await rig.start_recordings(trials)
    await asyncio.sleep(rig.interval)
    state = await rig.state()
    sids = {ch: state[ch][-1]["sid"] for ch in channels}
    crashed: dict[str, float] = {}

    async def crash(ch: str, after: float) -> None:
        await asyncio.sleep(after)
        crashed[ch] = time.time()
        r = await rig.http.post(f"{rig.url}/_emulator/tasks/{sids[ch]}/crash")
        r.raise_for_status()

    await asyncio.gather(*(crash(ch, random.uniform(0, rig.interval)) for ch in channels))
    budget = rig.interval + 30 + STARTUP
    to_status4: dict[str, float] = {}
    to_confirmed: dict[str, float] = {}
    async for state in rig.states(within=budget + 90, every=1.0):
        for ch in channels:
            if ch in to_confirmed:
                continue
            newer = [t for t in state[ch] if t["startedAt"] > crashed[ch]]
            up = [at for t in newer for at, st in t["statusHistory"] if st in (4, 5)]
            if up:
                to_status4[ch] = min(up) - crashed[ch]
                manifest = await rig.client.get_workflow_handle(ch).query(RecordingWorkflow.manifest)
                confirmed = [s.confirmed_at for s in manifest.segments if s.confirmed_at and s.sid != sids[ch]]
                if confirmed:
                    to_confirmed[ch] = min(confirmed).timestamp() - crashed[ch]
        if len(to_confirmed) == len(channels):
            break
    await rig.stop_recordings(channels)
    s4 = list(to_status4.values())
    return {
        "trials": len(channels),
        "healed": len(to_status4),
        "target_s": budget,
        "crash_to_status4_s": summary(s4),
        "crash_to_workflow_confirmed_s": summary(list(to_confirmed.values())),
        "over_target": sum(1 for v in s4 if v > budget) + (len(channels) - len(s4)),
        "load": load(),
    }


async def kill_trials(rig: Rig, trials: int, recordings: int) -> dict[str, Any]:
    """SIGKILL the worker at a random phase and restart it at once; time until each recording's next check."""
    channels = await rig.start_recordings(recordings)
    await asyncio.sleep(rig.interval)
    per_recording: list[float] = []
    per_trial_max: list[float] = []
    late: list[float] = []
    misses = 0
    for _ in range(trials):
        await asyncio.sleep(random.uniform(0, rig.interval))
        assert rig.worker is not None
        before = await rig.state()
        t_kill = time.time()
        rig.worker.kill()
        last = {
            ch: max((r["at"] for t in before[ch] for r in t["requests"] if r["op"] == "query"), default=t_kill)
            for ch in channels
        }
        rig.worker.start()
        budget = 5 + rig.interval
        got: dict[str, float] = {}
        async for state in rig.states(within=budget + 60, every=0.5):
            for ch in channels:
                after = [r["at"] for t in state[ch] for r in t["requests"] if r["op"] == "query" and r["at"] > t_kill]
                if after and ch not in got:
                    got[ch] = min(after) - t_kill
                    # How late the check ran against its schedule (the previous check plus one interval).
                    late.append(min(after) - (last[ch] + rig.interval))
            if len(got) == len(channels):
                break
        misses += len(channels) - len(got)
        per_recording.extend(got.values())
        per_trial_max.append(max(got.values()) if got else float("inf"))
    await rig.stop_recordings(channels)
    budget = 5 + rig.interval
    return {
        "trials": trials,
        "recordings_per_trial": recordings,
        "target_s": budget,
        "kill_to_next_check_s": summary(per_recording),
        "kill_to_last_recordings_next_check_s": summary(per_trial_max),
        "next_check_late_vs_schedule_s": summary(late),
        "over_target": sum(1 for v in per_recording if v > budget) + misses,
        "load": load(),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.healing")
    parser.add_argument("--interval", type=int, default=10, help="check interval of the recordings, seconds")
    parser.add_argument("--crash-trials", type=int, default=20)
    parser.add_argument("--kill-trials", type=int, default=12)
    parser.add_argument("--kill-recordings", type=int, default=5, help="recordings running during each kill")
    parser.add_argument("--quick", action="store_true", help="3 trials of each")
    parser.add_argument("--out", type=Path, help="default bench/results/healing[-quick].json")
    args = parser.parse_args()
    args.out = args.out or ROOT / "bench" / "results" / ("healing-quick.json" if args.quick else "healing.json")
    if args.quick:
        args.crash_trials, args.kill_trials, args.kill_recordings = 3, 3, 2
    random.seed(12)
    base = Path(tempfile.mkdtemp(prefix="bench-healing-"))
    results: dict[str, Any] = {"interval_s": args.interval, "emulator_startup_s": STARTUP}
    print(f"[{time.strftime('%H:%M:%S')}] crash trials, load {load()}", flush=True)
    async with Rig(base / "crash", args.interval) as rig:
        results["crash"] = await crash_trials(rig, args.crash_trials)
    print(results["crash"], flush=True)
    print(f"[{time.strftime('%H:%M:%S')}] worker SIGKILL trials, load {load()}", flush=True)
    async with Rig(base / "kill", args.interval) as rig:
        results["kill"] = await kill_trials(rig, args.kill_trials, args.kill_recordings)
    print(results["kill"], flush=True)
    write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_then_exit(main())
