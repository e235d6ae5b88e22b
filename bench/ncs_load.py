"""Agora's callbacks under load: `recorder serve` taking signed callbacks at a fixed arrival rate.

Set-up, every part its own process: the Temporal dev server (SQLite, WAL), the emulator, one worker, N recordings
(one per channel, each with a host, checked every `--interval` seconds, so they idle between checks) and the receiver
as the product runs it, `recorder serve` with AGORA_NCS_SECRET (uvicorn, its own event loop). This process is the
load: open loop (each delivery leaves at its planned time whatever the answers before it), on keep-alive connections
opened as needed (up to `--connections`), bodies and signatures made before the clock starts. Each delivery is a
Cloud Recording callback of a documented shape (progress, slice start, stream state, status, warning, uploader
started) about the current sid of one of the N channels, signed V2 and V1, with a fresh noticeId; a share of the
slots resend an earlier callback (same noticeId, a new notifyMs, so a new body and signature) at least
`RESEND_AFTER` seconds after it was sent.

Per rate: the rate sent and answered, answers by status, latency from the planned send time (so queueing in this
process counts) p50/p95/p99/max, the resends answered `repeat` (no new signal), the CPU of each process (/proc) in
all and per callback, and the load average. At the end every workflow's history and status are read: each noticeId
answered 200 must be in a `recorder_event` signal to its own channel's workflow, signalled more than once only by a
resend that left before its first delivery was answered, and each workflow's count of callbacks acted on must equal
the distinct noticeIds signalled to it.

    python -m bench.ncs_load --rate 50 100 150 200 300 --seconds 20 --channels 100

`--direct` signals the workflows from this process instead (no HTTP, no receiver, so no receiver memory either: a
resend is signalled again): what Temporal alone answers. `--receiver-python` runs `recorder serve` with another
interpreter, such as a venv that adds httptools and uvloop.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import random
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.common import (
    ROOT,
    ProcSampler,
    bench_worker,
    fetch_histories,
    load,
    machine,
    pct,
    run_then_exit,
    start_emulator,
    write_json,
)
from bench.soak.drive import retrying
from emulator.callbacks import sign
from recorder.api import workflow_id
from recorder.connection import connect
from recorder.devserver import DevServer
from recorder.ncs import Envelope, to_event
from recorder.processes import ChildProcess, EmulatorProcess, child_env, free_port
from workflows import names
from workflows.models import RecordingInput, RecordingRequest, StopRequest
from workflows.recording import RecordingWorkflow

TEACHER = "1001"
# NCS waits 10 s for an answer before it resends.
NCS_TIMEOUT = 10.0
# A resend leaves at least this long after its first delivery (NCS resends after a failed or late answer).
RESEND_AFTER = 1.0
# (eventType, serviceType, msgName, weight): the events a running recording sends most, none that ends or moves it.
EVENTS = (
    (33, 2, "uploading_progress", 40),
    (43, 1, "recorder_audio_stream_state_changed", 12),
    (44, 1, "recorder_video_stream_state_changed", 13),
    (42, 1, "recorder_slice_start", 10),
    (3, 0, "cloud_recording_status_update", 10),
    (2, 0, "cloud_recording_warning", 10),
    (30, 2, "uploader_started", 5),
)


def _details(event_type: int, msg: str, rng: random.Random, now_ms: int) -> dict[str, Any]:
    details: dict[str, Any] = {"msgName": msg}
    if event_type == 33:
        details["progress"] = rng.randrange(0, 10_000)
    elif event_type in (43, 44):
        details.update(streamUid=rng.choice(["1001", "1002"]), state=rng.randrange(2), UtcMs=now_ms)
    elif event_type == 42:
        details.update(
            startUtcMs=now_ms, discontinueUtcMs=now_ms, mixedAllUser=True, streamUid="0", trackType="audio_and_video"
        )
    elif event_type == 3:
        details.update(status=5, recordingMode=1, fileList="")
    elif event_type == 2:
        details.update(module=1, warnCode=rng.choice([31, 32]))
    elif event_type == 30:
        details["status"] = 0
    return details


@dataclass
class Delivery:
    """One planned POST: its body and headers, made before the clock starts, and what came back."""

    notice_id: str
    channel: str
    body: bytes
    headers: dict[str, str]
    resend_of: int | None = None  # index of the first delivery of this noticeId
    first_answered: bool = False  # a resend whose first delivery had been answered 200 when it left
    status: int | str | None = None
    latency_ms: float | None = None
    repeat: bool = False


@dataclass
class Plan:
    """The deliveries of one rate, slot by slot."""

    rate: float
    deliveries: list[Delivery] = field(default_factory=list)


def make_plan(
    rate: float, seconds: float, channels: dict[str, str], secret: str, resend_share: float, rng: random.Random
) -> Plan:
    """`rate × seconds` signed deliveries; a `resend_share` of the slots resend an earlier callback."""
    plan = Plan(rate)
    weights = [w for *_, w in EVENTS]
    sequence: Counter[str] = Counter()
    names_ = list(channels)
    base_ms = int(time.time() * 1000)
    firsts: list[int] = []  # slots of first deliveries, ascending
    for slot in range(round(rate * seconds)):
        at_ms = base_ms + int(slot / rate * 1000)
        # First deliveries sent at least RESEND_AFTER ago, the latest 5 s of them.
        end = bisect.bisect_right(firsts, slot - rate * RESEND_AFTER)
        if end and rng.random() < resend_share:
            index = firsts[rng.randrange(max(0, end - int(rate * 5)), end)]
            first = plan.deliveries[index]
            envelope = json.loads(first.body)
            envelope["notifyMs"] = at_ms
            body = json.dumps(envelope, separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json", **sign(body, secret)}
            plan.deliveries.append(Delivery(first.notice_id, first.channel, body, headers, resend_of=index))
            continue
        channel = rng.choice(names_)
        event_type, service_type, msg, _ = rng.choices(EVENTS, weights)[0]
        envelope = {
            "noticeId": str(uuid.uuid4()),
            "productId": 3,
            "eventType": event_type,
            "notifyMs": at_ms,
            "payload": {
                "cname": channel,
                "uid": "527841",
                "sid": channels[channel],
                "sequence": sequence[channel],
                "sendts": at_ms,
                "serviceType": service_type,
                "details": _details(event_type, msg, rng, at_ms),
            },
        }
        sequence[channel] += 1
        body = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **sign(body, secret)}
        firsts.append(len(plan.deliveries))
        plan.deliveries.append(Delivery(str(envelope["noticeId"]), channel, body, headers))
    return plan


# --- the rig ------------------------------------------------------------------------------------------------------


class Rig:
    """Dev server, emulator, worker and `recorder serve` as child processes, and N idle recordings."""

    def __init__(
        self, workdir: Path, channels: int, interval: int, receiver_log_level: str, receiver_python: str
    ) -> None:
        self.workdir = workdir
        self.n = channels
        self.interval = interval
        self.receiver_log_level = receiver_log_level
        self.receiver_python = receiver_python
        self.queue = f"ncs-load-{uuid.uuid4().hex[:8]}"
        self.secret = secrets.token_hex(16)
        self.server = DevServer(db_file=workdir / "temporal.db", log_file=workdir / "server.log")
        self._stack = AsyncExitStack()
        self.channels: dict[str, str] = {}  # channel -> current sid

    async def __aenter__(self) -> Rig:
        try:
            return await self._enter()
        except BaseException:
            await self._stack.aclose()  # a failed or cancelled start stops what it had started
            raise

    async def _enter(self) -> Rig:
        self.workdir.mkdir(parents=True, exist_ok=True)
        await self.server.start()
        self._stack.push_async_callback(self.server.stop)
        self.emulator: EmulatorProcess = await start_emulator(self.workdir)
        self._stack.push_async_callback(self.emulator.stop)
        self.worker = bench_worker(self.workdir, self.server.address, self.emulator, self.queue, 10_000)
        self.worker.start()
        self._stack.push_async_callback(self.worker.stop)
        self.client: Client = await connect(target_host=self.server.address)
        port = free_port()
        self.receiver = ChildProcess(
            [self.receiver_python, "-m", "recorder.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            name="recorder serve",
            log_file=self.workdir / "serve.log",
            env=child_env(
                {
                    "TEMPORAL_ADDRESS": self.server.address,
                    "AGORA_APP_ID": self.emulator.config.app_id,
                    "AGORA_NCS_SECRET": self.secret,
                    "RECORDER_TASK_QUEUE": self.queue,
                    "LOG_LEVEL": self.receiver_log_level,
                }
            ),
            cwd=ROOT,
            ready_url=f"http://127.0.0.1:{port}/healthz",
        )
        await self.receiver.start_ready(within=60)
        self._stack.push_async_callback(self.receiver.stop)
        self.url = f"http://127.0.0.1:{port}/agora/ncs"
        await self._start_recordings()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def pids(self) -> dict[str, int]:
        """The PIDs to sample: every child and this process (the load)."""
        return {
            "server": self.server.pid or 0,
            "worker": self.worker.pid or 0,
            "receiver": self.receiver.pid or 0,
            "emulator": self.emulator.pid or 0,
            "load": os.getpid(),
        }

    async def _start_recordings(self) -> None:
        async with httpx.AsyncClient(base_url=self.emulator.url, timeout=30) as http:
            for i in range(self.n):
                channel = f"load-{i:03d}-{uuid.uuid4().hex[:6]}"
                await http.post(f"/_emulator/channels/{channel}/users", json={"uid": TEACHER, "role": "host"})
                request = RecordingRequest(
                    channel=channel,
                    uid="527841",
                    backup_uid="527842",
                    max_idle_time=2 * self.interval,
                    check_interval=self.interval,
                    max_duration=timedelta(hours=2),
                )
                await self.client.start_workflow(
                    RecordingWorkflow.run,
                    RecordingInput(request=request),
                    id=self.workflow_id(channel),
                    task_queue=self.queue,
                )
                self.channels[channel] = ""
        deadline = time.monotonic() + 180
        while True:
            statuses = await asyncio.gather(*(self.status(ch) for ch in self.channels))
            if all(s.phase == "recording" and s.sid for s in statuses):
                self.channels = {ch: s.sid or "" for ch, s in zip(self.channels, statuses, strict=True)}
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"recordings not confirmed within 180 s: {Counter(s.phase for s in statuses)}")
            await asyncio.sleep(1.0)

    def workflow_id(self, channel: str) -> str:
        """The recording's id as the product names it, so the receiver finds it by its channel."""
        return workflow_id(self.emulator.config.app_id, channel)

    async def status(self, channel: str) -> Any:
        """The status query of a channel's recording (retried: after an overload the worker answers late)."""
        handle = self.client.get_workflow_handle(self.workflow_id(channel))
        return await retrying(lambda: handle.query(RecordingWorkflow.status), within=300.0)

    async def stop_recordings(self) -> None:
        """Ask every recording to stop (the rig's teardown does not wait for them)."""
        for channel in self.channels:
            await self.client.get_workflow_handle(self.workflow_id(channel)).signal(
                RecordingWorkflow.request_stop, StopRequest()
            )


# --- the load -----------------------------------------------------------------------------------------------------


async def drive(plan: Plan, send: Any) -> float:
    """Send every delivery at its planned time (open loop); returns the seconds from the first to the last send."""
    tasks: list[asyncio.Task[None]] = []
    t0 = time.monotonic() + 0.2
    for i, delivery in enumerate(plan.deliveries):
        planned = t0 + i / plan.rate
        delay = planned - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(delivery, planned)))
    spread = time.monotonic() - t0
    await asyncio.gather(*tasks)
    return spread


class Connections:
    """Keep-alive HTTP/1.1 connections to the receiver: a POST takes an idle one or opens another, as NCS's senders do.

    Not httpx: on this machine httpx costs about 5 ms of CPU per request in the load's own process (httpcore retries
    a failed `import sniffio` on every request, and its pool walks every connection), so it could not offer more than
    about 200 callbacks/s; this costs a few hundredths of that.
    """

    def __init__(self, url: str, most: int) -> None:
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(most)
        self.opened = 0

    def request(self, body: bytes, headers: dict[str, str]) -> bytes:
        """The bytes of one POST of `body`."""
        head = f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        return head.encode() + b"\r\n" + body

    async def post(self, request: bytes) -> tuple[int, bytes]:
        """Send one request; its status and body. A connection that failed or timed out is closed, never reused; one
        that the receiver closed while idle (uvicorn's keep-alive timeout) is replaced and the request sent again."""
        async with self._slots:
            while True:
                reused = bool(self._idle)
                if reused:
                    reader, writer = self._idle.pop()
                else:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    self.opened += 1
                try:
                    writer.write(request)
                    first = await reader.readline()
                except ConnectionError:
                    first = b""
                    if not reused:
                        writer.close()
                        raise
                except BaseException:
                    writer.close()
                    raise
                if first or not reused:
                    break
                writer.close()
            try:
                status = int(first.split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
            except BaseException:
                writer.close()
                raise
            self._idle.append((reader, writer))
            return status, body

    async def close(self) -> None:
        """Close every idle connection."""
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()


def http_sender(connections: Connections, plan: Plan) -> Any:
    """POST one delivery and note its answer and its latency from the planned time."""

    async def send(delivery: Delivery, planned: float) -> None:
        if delivery.resend_of is not None:
            delivery.first_answered = plan.deliveries[delivery.resend_of].status == 200
        try:
            status, body = await asyncio.wait_for(
                connections.post(connections.request(delivery.body, delivery.headers)), NCS_TIMEOUT
            )
            delivery.status = status
            delivery.repeat = status == 200 and bool(json.loads(body).get("repeat"))
        except TimeoutError:
            delivery.status = "timeout"
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as err:
            delivery.status = type(err).__name__
        delivery.latency_ms = (time.monotonic() - planned) * 1000

    return send


def direct_sender(rig: Rig) -> Any:
    """Signal the channel's workflow from this process, as the receiver would: Temporal's part alone."""

    async def send(delivery: Delivery, planned: float) -> None:
        event = to_event(Envelope.model_validate_json(delivery.body), rig.emulator.config.app_id)
        handle = rig.client.get_workflow_handle(rig.workflow_id(delivery.channel))
        try:
            await asyncio.wait_for(handle.signal(names.EVENT_SIGNAL, event), NCS_TIMEOUT)
            delivery.status = 200
        except TimeoutError:
            delivery.status = "timeout"
        delivery.latency_ms = (time.monotonic() - planned) * 1000

    return send


def figures(plan: Plan, spread: float, wall: float) -> dict[str, Any]:
    """What one rate gave: rates, answers, latency and resends."""
    latencies = [d.latency_ms for d in plan.deliveries if d.latency_ms is not None]
    ok = [d.latency_ms for d in plan.deliveries if d.status == 200 and d.latency_ms is not None]
    resends = [d for d in plan.deliveries if d.resend_of is not None]
    # A resend whose first delivery had been answered 200 before it left: the receiver's memory should answer it.
    after_answer = [d for d in resends if d.first_answered]
    n = len(plan.deliveries)
    return {
        "offered_per_s": plan.rate,
        "deliveries": n,
        "send_spread_s": round(spread, 2),
        "sent_per_s": round(n / spread, 1) if spread else None,
        "answered_200_per_s": round(len(ok) / wall, 1),
        "answers": dict(Counter(str(d.status) for d in plan.deliveries)),
        "latency_ms": {
            "p50": round(pct(latencies, 50), 1),
            "p95": round(pct(latencies, 95), 1),
            "p99": round(pct(latencies, 99), 1),
            "max": round(max(latencies), 1) if latencies else None,
        },
        "resends": len(resends),
        "resends_after_answer": len(after_answer),
        "resends_after_answer_answered_200": sum(1 for d in after_answer if d.status == 200),
        "resends_answered_repeat": sum(1 for d in after_answer if d.repeat),
    }


async def run_rate(
    rig: Rig, rate: float, seconds: float, resend_share: float, rng: random.Random, direct: bool, connections: int
) -> tuple[Plan, dict[str, Any]]:
    """One rate for `seconds`: the figures and the CPU of each process."""
    plan = make_plan(rate, seconds, rig.channels, rig.secret, resend_share, rng)
    sampler = ProcSampler(rig.pids())
    before = load()
    lanes = Connections(rig.url, connections)
    send = direct_sender(rig) if direct else http_sender(lanes, plan)
    sampler.mark_start()
    began = time.monotonic()
    spread = await drive(plan, send)
    wall = time.monotonic() - began
    cpu = sampler.mark_end()
    await lanes.close()
    result = figures(plan, spread, wall)
    # CPU time each process spent per delivery: what bounds the rate once the two cores are full.
    per_callback = {
        name: round(v["cpu_pct"] / 100 * wall / len(plan.deliveries) * 1000, 3)
        for name, v in cpu.items()
        if "cpu_pct" in v
    }
    result.update(
        wall_s=round(wall, 2),
        cpu=cpu,
        cpu_ms_per_callback=per_callback,
        load_before=before,
        load_after=load(),
        direct=direct,
    )
    return plan, result


# --- verification --------------------------------------------------------------------------------------------------


async def verify(rig: Rig, plans: list[Plan], settle: float = 120.0) -> dict[str, Any]:
    """Every callback answered 200 reached its channel's workflow in exactly one signal, and was acted on once."""
    sent: dict[str, set[str]] = {ch: set() for ch in rig.channels}
    answered: set[str] = set()
    for plan in plans:
        for d in plan.deliveries:
            sent[d.channel].add(d.notice_id)
            if d.status == 200:
                answered.add(d.notice_id)
    expected = sum(len(v) for v in sent.values())
    # Until every callback is acted on, or the count has not moved for three polls (some unanswered ones may never
    # have been signalled), or `settle` seconds.
    deadline = time.monotonic() + settle
    counts: list[int] = []
    while True:
        statuses = await asyncio.gather(*(rig.status(ch) for ch in rig.channels))
        acted = {ch: s.callbacks for ch, s in zip(rig.channels, statuses, strict=True)}
        counts.append(sum(acted.values()))
        if counts[-1] >= expected or counts[-3:] == [counts[-1]] * 3 or time.monotonic() > deadline:
            break
        await asyncio.sleep(2.0)
    histories = await fetch_histories(rig.client, [rig.workflow_id(ch) for ch in rig.channels])
    signals: Counter[str] = Counter()
    signalled_to: dict[str, set[str]] = {ch: set() for ch in rig.channels}
    wrong_workflow = workflow_tasks = 0
    for channel, history in zip(rig.channels, histories, strict=True):
        for ev in history.events:
            workflow_tasks += ev.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
            if ev.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
                continue
            attrs = ev.workflow_execution_signaled_event_attributes
            if attrs.signal_name != names.EVENT_SIGNAL:
                continue
            notice = json.loads(attrs.input.payloads[0].data)["notice_id"]
            signals[notice] += 1
            signalled_to[channel].add(notice)
            wrong_workflow += notice not in sent[channel]
    per_answered = Counter(signals[n] for n in answered)
    # A noticeId may be signalled again only by a resend that left before its first delivery was answered: the
    # receiver remembers a noticeId once its signal is in, and the workflow's own memory takes the repeat.
    racing: Counter[str] = Counter()
    for plan in plans:
        for d in plan.deliveries:
            racing[d.notice_id] += d.resend_of is not None and not d.first_answered
    return {
        "distinct_callbacks": expected,
        "distinct_answered_200": len(answered),
        "signals_per_answered_callback": {str(k): v for k, v in sorted(per_answered.items())},
        "answered_but_never_signalled": per_answered.get(0, 0),
        "signalled_more_than_once": sum(1 for c in signals.values() if c > 1),
        "signalled_more_than_its_racing_resends_allow": sum(1 for n, c in signals.items() if c > 1 + racing[n]),
        "signals": sum(signals.values()),
        "workflow_tasks_completed": workflow_tasks,
        "signals_to_wrong_workflow": wrong_workflow,
        "acted_on_by_workflows": sum(acted.values()),
        "workflows_acting_on_other_than_signalled": sum(1 for ch in rig.channels if acted[ch] != len(signalled_to[ch])),
        "runs": dict(Counter(s.runs for s in statuses)),
    }


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Start the rig, drive each rate in turn (a pause between), then verify the workflows."""
    rng = random.Random(args.seed)
    rounds: list[dict[str, Any]] = []
    plans: list[Plan] = []
    async with Rig(workdir, args.channels, args.interval, args.receiver_log_level, args.receiver_python) as rig:
        # What every process spends with the recordings idle and no callback: the floor under each rate's CPU, once
        # the recordings' first checks after their start (the M3U8 checks at 15 s and 60 s) are behind them.
        await asyncio.sleep(args.settle)
        idle = ProcSampler(rig.pids())
        idle.mark_start()
        await asyncio.sleep(10.0)
        idle_cpu = idle.mark_end()
        for rate in args.rate:
            print(f"[{time.strftime('%H:%M:%S')}] {rate:g}/s for {args.seconds:g} s, load {load()}", flush=True)
            plan, result = await run_rate(
                rig, rate, args.seconds, args.resend_share, rng, args.direct, args.connections
            )
            plans.append(plan)
            rounds.append(result)
            print("  " + row(result), flush=True)
            write_json(args.out, {"rates": rounds, "partial": True})
            await asyncio.sleep(args.pause)
        verified = await verify(rig, plans)
        print(f"  verified: {verified}", flush=True)
        await rig.stop_recordings()
        receiver_log = rig.receiver.log()
    return {
        "channels": args.channels,
        "check_interval_s": args.interval,
        "seconds_per_rate": args.seconds,
        "settle_s": args.settle,
        "resend_share": args.resend_share,
        "connections": args.connections,
        "receiver_log_level": args.receiver_log_level,
        "receiver_python": args.receiver_python,
        "direct": args.direct,
        "idle_cpu": idle_cpu,
        "rates": rounds,
        "verified": verified,
        "receiver_errors": [ln for ln in receiver_log.splitlines() if "Traceback" in ln or " ERROR " in ln][:20],
        "machine": machine(),
    }


TABLE_HEAD = (
    "| offered/s | sent/s | answered 200/s | answers | latency p50 / p95 / p99 / max (ms) | resends answered repeat "
    "| CPU ms per callback: receiver / server / worker / load | server CPU % | machine busy % | load (1 min) |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def row(r: dict[str, Any]) -> str:
    """One rate as a row of the Markdown table of bench/RESULTS.md (TABLE_HEAD)."""
    lat, ms = r["latency_ms"], r["cpu_ms_per_callback"]
    answers = ", ".join(f"{k}: {v}" for k, v in sorted(r["answers"].items()))
    return (
        f"| {r['offered_per_s']:g} | {r['sent_per_s']:g} | {r['answered_200_per_s']:g} | {answers} | {lat['p50']:g} / "
        f"{lat['p95']:g} / {lat['p99']:g} / {lat['max']:g} | {r['resends_answered_repeat']} of "
        f"{r['resends_after_answer']} | {ms['receiver']:.2f} / {ms['server']:.2f} / {ms['worker']:.2f} / "
        f"{ms['load']:.2f} | {r['cpu']['server']['cpu_pct']:g} | {r['cpu']['machine']['busy_pct']:g} | "
        f"{r['load_before'].split()[0]} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ncs_load", description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, nargs="+", default=[500.0], help="callbacks/s, one run each, in turn")
    parser.add_argument("--seconds", type=float, default=30.0, help="seconds of load per rate")
    parser.add_argument("--channels", type=int, default=100, help="running recordings the callbacks are about")
    parser.add_argument("--interval", type=int, default=600, help="check interval of the recordings, seconds")
    parser.add_argument("--resend-share", type=float, default=0.1, help="share of the slots that resend a callback")
    parser.add_argument("--connections", type=int, default=256, help="most connections the load opens")
    parser.add_argument("--pause", type=float, default=10.0, help="seconds between rates")
    parser.add_argument(
        "--settle", type=float, default=60.0, help="seconds from every recording confirmed to the idle window and load"
    )
    parser.add_argument("--receiver-log-level", default="INFO", help="LOG_LEVEL of `recorder serve`")
    parser.add_argument(
        "--receiver-python",
        default=sys.executable,
        help="the Python that runs `recorder serve` (e.g. a venv adding httptools and uvloop, which uvicorn then uses)",
    )
    parser.add_argument("--direct", action="store_true", help="signal the workflows from here: no HTTP, no receiver")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--out", type=Path, help="default bench/results/ncs-load.json")
    args = parser.parse_args()
    args.out = args.out or ROOT / "bench" / "results" / "ncs-load.json"
    workdir = Path(tempfile.mkdtemp(prefix="bench-ncs-load-"))
    began = time.monotonic()
    # SIGTERM or Ctrl-C cancels the run, so that the rig stops its children (each in its own session) by their PIDs.
    main_task = asyncio.current_task()
    assert main_task is not None
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, main_task.cancel)
    result = await run(args, workdir)
    result["wall_s"] = round(time.monotonic() - began, 1)
    write_json(args.out, result)
    print(f"wrote {args.out}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    run_then_exit(main())
