"""Healing with and without Agora's callbacks, in one run: recorder crash → a new recorder at status 4/5.

Half of the recordings hear Agora's callbacks (the emulator posts them to the product's receiver, `recorder.ncs`,
served on loopback), the other half hear none (the emulator drops every callback about their channels, as if NCS were
off), so both halves meet the same dev server, worker, emulator and load. Each round crashes every recorder once, at a
random phase of its check cycle; healing is measured in the emulator, from the crash to the first status 4/5 of a
recorder started after it (and to the workflow's confirmation, from its manifest). Target with callbacks: p99 ≤ 45 s,
whatever the check interval.

    python -m bench.callbacks --interval 120 --recordings 20 --rounds 2

The receiver is served as the soak serves its own (`bench/soak/receivers.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import shutil
import tempfile
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.common import ROOT, TEACHER, load, machine, run_then_exit, start_recording, summary, write_json
from bench.healing import STARTUP, _tasks_by_channel
from bench.soak.drive import worker_env
from bench.soak.receivers import receiver_app, serving
from emulator.config import EmulatorConfig
from emulator.testing import RunningEmulator, running_emulator
from recorder.api import workflow_id
from recorder.connection import connect
from recorder.devserver import DevServer
from recorder.ncs import Receiver
from recorder.processes import WorkerProcess
from workflows.models import StopRequest
from workflows.recording import RecordingWorkflow

GROUPS = ("callbacks", "polling")


# --- the rig ------------------------------------------------------------------------------------------------------


class CallbackRig:
    """A dev server, the emulator (in this process, posting callbacks), a worker process and the receiver."""

    def __init__(self, workdir: Path, interval: int, exit_visible: float) -> None:
        self.workdir = workdir
        self.interval = interval
        self.exit_visible = exit_visible
        self.queue = f"heal-cb-{uuid.uuid4().hex[:8]}"
        self.server = DevServer(db_file=workdir / "temporal.db", log_file=workdir / "server.log")
        self.secret = secrets.token_hex(16)
        self._stack = AsyncExitStack()
        self.worker: WorkerProcess | None = None

    async def __aenter__(self) -> CallbackRig:
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self.server.start()
        self._stack.push_async_callback(self.server.stop)
        config = EmulatorConfig(
            speed=1.0,
            startup_seconds=STARTUP,
            rate_limit_qps=0,
            max_concurrent=0,
            exit_visible_seconds=self.exit_visible,
            seed=14,
        )
        self.emu: RunningEmulator = await self._stack.enter_async_context(running_emulator(config))
        self.worker = WorkerProcess(worker_env(self.server.address, self.queue, self.emu), self.workdir / "worker.log")
        self.worker.start()
        self._stack.push_async_callback(self.worker.stop)
        self.client: Client = await connect(target_host=self.server.address)
        self.receiver = Receiver(
            self.client, app_id=self.emu.config.app_id, secrets=[self.secret], task_queue=self.queue
        )
        url = await self._stack.enter_async_context(serving(receiver_app(self.receiver), self.receiver.path))
        self.emu.set_callbacks(url, self.secret)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def workflow_id(self, channel: str) -> str:
        """The recording's id as the product names it, so the receiver finds it by its channel."""
        return workflow_id(self.emu.config.app_id, channel)

    async def start_recordings(self, channels: list[str]) -> None:
        """Start a recording per channel (a host in each) and wait until every recorder is confirmed."""
        for ch in channels:
            self.emu.join(ch, TEACHER)
            await start_recording(
                self.client,
                ch,
                workflow_id=self.workflow_id(ch),
                queue=self.queue,
                interval=self.interval,
                max_idle_time=max(2 * self.interval, 60),
            )
        await self.wait_recording(channels, within=120.0)

    async def wait_recording(self, channels: list[str], within: float) -> None:
        """Wait until every channel's workflow has a confirmed recorder."""
        deadline = time.monotonic() + within
        while True:
            phases = [
                (await self.client.get_workflow_handle(self.workflow_id(ch)).query(RecordingWorkflow.status)).phase
                for ch in channels
            ]
            if all(p == "recording" for p in phases):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"recordings not confirmed within {within:g} s: {Counter(phases)}")
            await asyncio.sleep(1.0)

    async def stop_recordings(self, channels: list[str]) -> None:
        """Ask every recording to stop (the rig's teardown does not wait for them)."""
        for ch in channels:
            handle = self.client.get_workflow_handle(self.workflow_id(ch))
            await handle.signal(RecordingWorkflow.request_stop, StopRequest())


async def crash_round(rig: CallbackRig, groups: dict[str, list[str]], rng: random.Random) -> dict[str, dict[str, Any]]:
    """Crash every recording's recorder once at a random phase of its check cycle; healing times per channel."""
    channels = [ch for members in groups.values() for ch in members]
    state = _tasks_by_channel(rig.emu.snapshot())
    sids = {ch: next(t["sid"] for t in reversed(state[ch]) if t["running"]) for ch in channels}
    crashed: dict[str, float] = {}

    async def crash(ch: str, after: float) -> None:
        await asyncio.sleep(after)
        crashed[ch] = rig.emu.emulator.clock.now()
        rig.emu.crash(sids[ch])

    await asyncio.gather(*(crash(ch, rng.uniform(0, rig.interval)) for ch in channels))
    to_up: dict[str, float] = {}
    to_confirmed: dict[str, float] = {}
    deadline = time.monotonic() + rig.interval + 30 + STARTUP + 90
    while len(to_confirmed) < len(channels) and time.monotonic() < deadline:
        await asyncio.sleep(1.0)
        state = _tasks_by_channel(rig.emu.snapshot())
        for ch in channels:
            if ch in to_confirmed:
                continue
            newer = [t for t in state[ch] if t["startedAt"] > crashed[ch]]
            up = [at for t in newer for at, status in t["statusHistory"] if status in (4, 5)]
            if not up:
                continue
            to_up[ch] = min(up) - crashed[ch]
            manifest = await rig.client.get_workflow_handle(rig.workflow_id(ch)).query(RecordingWorkflow.manifest)
            confirmed = [
                s.confirmed_at
                for s in manifest.segments
                if s.confirmed_at and s.started_at.timestamp() > crashed[ch] and s.sid != sids[ch]
            ]
            if confirmed:
                to_confirmed[ch] = min(confirmed).timestamp() - crashed[ch]
    return {
        group: {
            "up": [to_up[ch] for ch in members if ch in to_up],
            "confirmed": [to_confirmed[ch] for ch in members if ch in to_confirmed],
            "missed": [ch for ch in members if ch not in to_up],
        }
        for group, members in groups.items()
    }


async def run(
    interval: int, recordings: int, rounds: int, seed: int, exit_visible: float, workdir: Path
) -> dict[str, Any]:
    """Start both groups, crash every recorder `rounds` times, and sum up healing per group."""
    rng = random.Random(seed)
    async with CallbackRig(workdir, interval, exit_visible) as rig:
        groups = {g: [f"{g}-{i:02d}-{uuid.uuid4().hex[:6]}" for i in range(recordings)] for g in GROUPS}
        for ch in groups["polling"]:
            # NCS off for these channels: every callback about them is lost before it leaves the emulator.
            rig.emu.inject_callback_fault("drop", count=10**9, cname=ch)
        await rig.start_recordings([ch for members in groups.values() for ch in members])
        samples: dict[str, dict[str, list[Any]]] = {g: {"up": [], "confirmed": [], "missed": []} for g in GROUPS}
        for n in range(rounds):
            print(f"[{time.strftime('%H:%M:%S')}] round {n + 1} of {rounds}, load {load()}", flush=True)
            # A check interval after the last confirmation, so every recording is in its steady cycle again.
            await asyncio.sleep(rig.interval / 2)
            for group, got in (await crash_round(rig, groups, rng)).items():
                for key, values in got.items():
                    samples[group][key] += values
            await rig.wait_recording([ch for members in groups.values() for ch in members], within=120.0)
        acted = {}
        for group, members in groups.items():
            statuses = [
                await rig.client.get_workflow_handle(rig.workflow_id(ch)).query(RecordingWorkflow.status)
                for ch in members
            ]
            acted[group] = sum(s.callbacks for s in statuses)
        await rig.stop_recordings([ch for members in groups.values() for ch in members])
        emulator = {k: v for k, v in rig.emu.snapshot().items() if k.startswith("callback")}
        receiver = dict(rig.receiver.counts)
    return {
        "interval_s": interval,
        "recordings_per_group": recordings,
        "rounds": rounds,
        "emulator_startup_s": STARTUP,
        "exit_visible_s": exit_visible,
        "target_with_callbacks_p99_s": 45.0,
        "groups": {
            group: {
                "crashes": recordings * rounds,
                "healed": len(samples[group]["up"]),
                "crash_to_status4_s": summary(samples[group]["up"]),
                "crash_to_workflow_confirmed_s": summary(samples[group]["confirmed"]),
                "not_healed": samples[group]["missed"],
                "callbacks_acted_on": acted[group],
            }
            for group in GROUPS
        },
        "emulator_callbacks": emulator,
        "receiver": receiver,
        "load": load(),
        "machine": machine(),
    }


def table(result: dict[str, Any]) -> str:
    """The figures as the Markdown table of bench/RESULTS.md."""
    lines = [
        "| recordings hear | crashes | healed | crash → status 4/5 p50 / p90 / p99 / max (s) | crash → workflow "
        "confirmed p50 / p99 (s) | callbacks acted on |",
        "|---|---|---|---|---|---|",
    ]
    for group in GROUPS:
        g = result["groups"][group]
        up, confirmed = g["crash_to_status4_s"], g["crash_to_workflow_confirmed_s"]
        name = "callbacks and checks" if group == "callbacks" else "checks only (callbacks dropped)"
        lines.append(
            f"| {name} | {g['crashes']} | {g['healed']} | {up['p50']:.1f} / {up['p90']:.1f} / {up['p99']:.1f} / "
            f"{up['max']:.1f} | {confirmed['p50']:.1f} / {confirmed['p99']:.1f} | {g['callbacks_acted_on']} |"
        )
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.callbacks", description=__doc__.split("\n")[0])
    parser.add_argument("--interval", type=int, default=120, help="check interval of the recordings, seconds")
    parser.add_argument("--recordings", type=int, default=20, help="recordings per group")
    parser.add_argument("--rounds", type=int, default=2, help="crashes per recording")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument(
        "--exit-visible",
        type=float,
        default=10.0,
        help="seconds a crashed task's query still answers status 20 before 404 (the emulator's exit_visible_seconds)",
    )
    parser.add_argument("--quick", action="store_true", help="3 recordings per group, 1 round, 20 s checks")
    parser.add_argument("--out", type=Path, help="default bench/results/callbacks[-quick].json")
    args = parser.parse_args()
    if args.quick:
        args.recordings, args.rounds, args.interval = 3, 1, 20
    args.out = args.out or ROOT / "bench" / "results" / ("callbacks-quick.json" if args.quick else "callbacks.json")
    workdir = Path(tempfile.mkdtemp(prefix="bench-callbacks-"))
    began = time.monotonic()
    result = await run(args.interval, args.recordings, args.rounds, args.seed, args.exit_visible, workdir)
    result["wall_s"] = round(time.monotonic() - began, 1)
    write_json(args.out, result)
    print(table(result))
    print(f"receiver: {result['receiver']}  emulator: {result['emulator_callbacks']}")
    print(f"wrote {args.out}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    run_then_exit(main())
