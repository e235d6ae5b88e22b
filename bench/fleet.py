"""Fleet pacing: three workers share Agora's 10 requests/s; one is killed, one is added; Agora never sees more.

One dev server, the emulator at Agora's own limit (10 requests per second per App ID, a sliding second, answering
429 above it), and three worker processes with the product's settings (AGORA_RATE_LIMIT 10, 30 % kept for
acquire/start/stop/update, and no AGORA_WORKER_PROCESSES: each worker counts the fleet itself). N recordings checked
every I seconds start evenly over one interval; then:

- three workers run for `--phase` seconds;
- one gets SIGKILL (nothing replaces it): the survivors take its recordings and, once they have counted two
  workers, a half of the query budget each;
- `--phase` seconds later a fourth worker starts: every worker is back to a third.

Figures, from the emulator's snapshot (every admitted request with its time, and its request count, which includes
the refused ones): the most requests in any one-second window (sliding), the 429s (requests the emulator counted but
did not admit), requests per second in each phase, and for every recording the time from the kill to its next
query (target: 5 s + I). Each worker's log says when it counted the fleet anew.

`python -m bench.fleet --quick` runs shorter phases.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.common import ROOT, join_host, load, machine, run_then_exit, start_recording, summary, write_json
from emulator.config import EmulatorConfig
from recorder.devserver import DevServer
from recorder.processes import EmulatorProcess, WorkerProcess, storage_env, worker_env
from workflows.models import StopRequest
from workflows.recording import RecordingWorkflow

LIMIT = 10
_COUNTED = re.compile(
    r"^(\S+ \S+) INFO worker.fleet (\d+) worker\(s\) poll task queue \S+: this one makes at most "
    r"([\d.]+) Agora queries/s"
)


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events in any half-open window of `window` seconds (sliding, as the emulator's gateway counts)."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def fleet_counts(log: str) -> list[tuple[str, int, float]]:
    """(time, workers counted, queries/s for this worker) from a worker's log."""
    return [(m[1], int(m[2]), float(m[3])) for m in map(_COUNTED.match, log.splitlines()) if m]


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """The whole scenario; returns its figures."""
    workdir = Path(tempfile.mkdtemp(prefix="fleet-"))
    server = DevServer(db_file=workdir / "temporal.db", log_file=workdir / "server.log")
    await server.start()
    emulator = EmulatorProcess(
        EmulatorConfig(speed=1.0, startup_seconds=3.0, rate_limit_qps=LIMIT, max_concurrent=0),
        log_file=workdir / "emulator.log",
    )
    await emulator.start_ready()
    queue = f"fleet-{uuid.uuid4().hex[:8]}"
    env = worker_env(
        {"LOG_LEVEL": "INFO", **storage_env("bench-recordings", "AKIABENCHACCESS0001", "bench-storage-secret-key")},
        address=server.address,
        queue=queue,
        agora=emulator.agora_env(),
    )
    workers = [WorkerProcess(env, workdir / f"worker-{i}.log") for i in range(4)]
    http = httpx.AsyncClient(timeout=30)
    try:
        for w in workers[:3]:
            await w.start_ready(within=60)
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        ids = [f"fleet-{i}-{queue}" for i in range(args.n)]
        t_ramp = time.time()
        for i, wid in enumerate(ids):
            delay = t_ramp + i * args.interval / args.n - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            await join_host(http, emulator.url, wid)
            await start_recording(
                client,
                wid,
                workflow_id=wid,
                queue=queue,
                interval=args.interval,
                max_idle_time=max(3 * args.interval, 30),
            )
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            phases = [(await client.get_workflow_handle(w).query(RecordingWorkflow.status)).phase for w in ids]
            if all(p == "recording" for p in phases):
                break
            await asyncio.sleep(2)
        print(
            f"  {args.n} recordings confirmed at {time.strftime('%H:%M:%S')}; three workers for {args.phase:g} s",
            flush=True,
        )
        t_three = time.time()
        await asyncio.sleep(args.phase)
        t_kill = time.time()
        workers[0].kill()
        print(f"  killed worker 0 at {time.strftime('%H:%M:%S')}; two workers for {args.phase:g} s", flush=True)
        await asyncio.sleep(args.phase)
        t_add = time.time()
        workers[3].start()
        print(f"  added worker 3 at {time.strftime('%H:%M:%S')}; three workers for {args.phase:g} s", flush=True)
        await asyncio.sleep(args.phase)
        t_end = time.time()
        state = (await http.get(f"{emulator.url}/_emulator/state")).json()
        for wid in ids:
            await client.get_workflow_handle(wid).signal(RecordingWorkflow.request_stop, StopRequest())
        requests = [r for t in state["tasks"] for r in t["requests"]]
        admitted = len(requests) + len(state["tasks"])  # one admitted acquire per task, not kept in its requests
        times = [r["at"] for r in requests]
        window = [t for t in times if t_three <= t < t_end]

        def rate(t0: float, t1: float) -> float:
            return round(sum(1 for t in times if t0 <= t < t1) / (t1 - t0), 2)

        to_next: list[float] = []
        for task in state["tasks"]:
            after = [r["at"] for r in task["requests"] if r["op"] == "query" and r["at"] > t_kill]
            if after:
                to_next.append(min(after) - t_kill)
        return {
            "n": args.n,
            "interval_s": args.interval,
            "phase_s": args.phase,
            "limit_per_s": LIMIT,
            "max_requests_in_any_1s_window": max_in_window(times),
            "max_requests_in_any_1s_window_measured_phases": max_in_window(window),
            "refused_429": state["requestCount"] - admitted,
            "emulator_request_count": state["requestCount"],
            "requests_per_s": {
                "three_workers": rate(t_three, t_kill),
                "after_kill": rate(t_kill, t_add),
                "after_add": rate(t_add, t_end),
            },
            "expected_queries_per_s": round(args.n / args.interval, 2),
            "kill_to_next_query_s": summary(to_next),
            "target_s": 5 + args.interval,
            "over_target": sum(1 for v in to_next if v > 5 + args.interval) + (args.n - len(to_next)),
            "fleet_counts": {f"worker-{i}": fleet_counts(w.log()) for i, w in enumerate(workers)},
            "times": {"three": t_three, "kill": t_kill, "add": t_add, "end": t_end},
            "load_at_end": load(),
            "workdir": str(workdir),
        }
    finally:
        await http.aclose()
        for w in workers:
            await w.stop()
        await emulator.stop()
        await server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fleet")
    parser.add_argument("--n", type=int, default=45, help="recordings (45 at 10 s: 4.5 of the 7 queries/s)")
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--phase", type=float, default=60.0, help="seconds of each phase")
    parser.add_argument("--quick", action="store_true", help="30 s phases")
    parser.add_argument("--out", type=Path, help="default bench/results/fleet[-quick].json")
    args = parser.parse_args()
    if args.quick:
        args.phase = 30.0
    args.out = args.out or ROOT / "bench" / "results" / ("fleet-quick.json" if args.quick else "fleet.json")
    print(f"[{time.strftime('%H:%M:%S')}] fleet pacing N={args.n} I={args.interval}s load {load()}", flush=True)
    result = await run(args)
    print(result, flush=True)
    write_json(args.out, {"machine": machine(), "run": result})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_then_exit(main())
