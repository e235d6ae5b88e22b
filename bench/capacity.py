"""Supervision capacity: N recordings checked every I seconds, the product against its ceilings.

Variants: `product` (the recording workflow and its worker; the check is a local activity, paced per worker),
`local` (the ceiling of the same shape: a durable sleep and one no-op local activity, forever) and `ceiling` (the
activity-based shape of the earlier design: a durable sleep and one no-op activity on a rate-limited queue). The
capacity ratio is taken against `local`; `ceiling` is a second reference.

For each variant and N: a fresh dev server (SQLite, WAL), the emulator and the worker as separate processes, N
workflows started evenly over one interval (so checks are spread), a warm-up, then a measured window. Figures:

- checks/s: checks that ran inside the window (from history: a local-activity marker of the check, or the check's
  ActivityTaskStarted, right after a timer fired; patch markers are not checks), and for the product also the
  emulator's query requests inside the window (cross-check);
- check lag: from history, when the check ran minus its timer's planned fire time (TimerStarted +
  start_to_fire_timeout); "when it ran" is the MarkerRecorded time for a local activity (the end of the workflow
  task that ran it), ActivityTaskStarted for an activity;
- events, bytes and workflow tasks per check, from the events inside the window, and the events per check by type;
- CPU (% of one core) and RSS of the server, the worker, the emulator and this driver, sampled from /proc, and the
  whole machine's busy % (every process, both cores);
- for the product: Agora requests per recording-hour and the peak request rate per App ID (1 s bins).

One whole history per run is left in the run's work directory (sample-history.json) to check the counting by eye.
`python -m bench.capacity --quick` runs a small N in about a minute per variant.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench.ceiling import CeilingInput, CeilingWorkflow, LocalCheckWorkflow
from bench.common import (
    ROOT,
    ProcSampler,
    bench_worker,
    check_stats,
    fetch_histories,
    join_host,
    load,
    machine,
    run_then_exit,
    start_emulator,
    start_recording,
    summary,
    write_json,
)
from recorder.devserver import DevServer
from recorder.processes import ChildProcess

VARIANTS = ("product", "ceiling", "local")
DEFAULT_WARMUP = 150.0


async def run_one(
    variant: str,
    n: int,
    interval: int,
    windows: int,
    rate_limit: float,
    base: Path,
    warmup: float | None = None,
    ramp: float | None = None,
) -> dict[str, Any]:
    """One measured run; returns its figures.

    `ramp`: seconds over which the N workflows start (default one interval). `warmup`: seconds from the end of the
    ramp to the window (default DEFAULT_WARMUP: 1,500 starts in 30 s take about two minutes to settle).
    """
    ramp = interval if ramp is None else ramp
    warmup = DEFAULT_WARMUP if warmup is None else warmup
    workdir = Path(tempfile.mkdtemp(prefix=f"{variant}-{n}-", dir=base))
    server = DevServer(db_file=workdir / "temporal.db", log_file=workdir / "server.log")
    await server.start()
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    children: list[ChildProcess] = []
    emulator_url = ""
    try:
        worker: ChildProcess
        if variant == "product":
            emu = await start_emulator(workdir)
            children.append(emu)
            emulator_url = emu.url
            worker = bench_worker(workdir, server.address, emu, queue, rate_limit)
        else:
            command = [sys.executable, "-m", "bench.ceiling", "--address", server.address, "--queue", queue]
            command += ["--rate-limit", str(rate_limit)]
            worker = ChildProcess(command, name="ceiling worker", log_file=workdir / "worker.log", cwd=ROOT)
        children.append(worker)
        worker.start()
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        pids = {"server": server.pid or 0, "worker": worker.pid or 0, "driver": os.getpid()}
        if variant == "product":
            pids["emulator"] = children[0].pid or 0
        ids = [f"{variant}-{n}-{i}" for i in range(n)]
        http = httpx.AsyncClient(timeout=30)

        async def start(i: int) -> None:
            if variant == "product":
                channel = f"bench-{i}-{queue}"
                await join_host(http, emulator_url, channel)
                await start_recording(
                    client, channel, workflow_id=ids[i], queue=queue, interval=interval, max_duration=timedelta(hours=6)
                )
            else:
                wf = CeilingWorkflow.run if variant == "ceiling" else LocalCheckWorkflow.run
                await client.start_workflow(wf, CeilingInput(interval=interval), id=ids[i], task_queue=queue)

        # Start evenly over one interval (by default) so that checks are spread as a real fleet's would be.
        t_ramp = time.time()
        tasks = []
        for i in range(n):
            delay = t_ramp + i * ramp / n - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(start(i)))
        await asyncio.gather(*tasks)
        ramp_late = time.time() - (t_ramp + ramp)
        # Warm-up: start and confirmation (product) plus one full interval of checks.
        await asyncio.sleep(warmup)
        load_before = load()
        sampler = ProcSampler(pids)
        t0 = time.time()
        sampler.mark_start()
        await asyncio.sleep(windows * interval)
        t1 = time.time()
        procs = sampler.mark_end()
        load_after = load()
        await worker.stop()
        histories = await fetch_histories(client, ids)
        stats = [
            check_stats(h, "query_recorder" if variant == "product" else "bench_noop_check", t0, t1) for h in histories
        ]
        if histories:
            # One whole history, to check by eye what the harness counts as a check.
            (workdir / "sample-history.json").write_text(histories[0].to_json())
        types: collections.Counter[str] = collections.Counter()
        for s in stats:
            types.update(s.types)
        checks = sum(s.checks for s in stats)
        lags = [lag for s in stats for lag in s.lags]
        events = sum(s.events for s in stats)
        out: dict[str, Any] = {
            "variant": variant,
            "n": n,
            "interval_s": interval,
            "window_s": round(t1 - t0, 1),
            "ramp_s": ramp,
            "warmup_s": warmup,
            "ramp_late_s": round(ramp_late, 2),
            "load_before": load_before,
            "load_after": load_after,
            "expected_checks_per_s": round(n / interval, 2),
            "checks_per_s": round(checks / (t1 - t0), 2),
            "lag_s": summary(lags),
            "events_per_check": round(events / checks, 2) if checks else None,
            "bytes_per_check": round(sum(s.bytes for s in stats) / checks, 1) if checks else None,
            "wft_per_check": round(sum(s.wfts for s in stats) / checks, 2) if checks else None,
            "events_per_check_by_type": {k: round(v / checks, 3) for k, v in types.most_common()} if checks else {},
            "procs": procs,
            "workdir": str(workdir),
        }
        if variant == "product" and emulator_url:
            out.update(agora_figures((await http.get(f"{emulator_url}/_emulator/state")).json(), t0, t1, n))
        await http.aclose()
        return out
    finally:
        for child in reversed(children):
            await child.stop()
        await server.stop()


def agora_figures(state: dict[str, Any], t0: float, t1: float, n: int) -> dict[str, Any]:
    """Query rate in the window, requests per recording-hour, and the peak per-App-ID request rate (1 s bins)."""
    per_op: collections.Counter[str] = collections.Counter()
    bins: collections.Counter[int] = collections.Counter()
    for task in state["tasks"]:
        for r in task["requests"]:
            bins[int(r["at"])] += 1
            if t0 <= r["at"] < t1:
                per_op[r["op"]] += 1
    hours = (t1 - t0) / 3600 * n
    return {
        "emulator_queries_per_s": round(per_op["query"] / (t1 - t0), 2),
        "agora_calls_per_recording_hour_steady": {op: round(c / hours, 1) for op, c in per_op.items()},
        "peak_requests_per_s_per_app_id": max(bins.values()) if bins else 0,
        "emulator_request_count": state.get("requestCount"),
        "tasks": len(state["tasks"]),
        "tasks_running": sum(1 for t in state["tasks"] if t["running"]),
    }


def cpu_line(r: dict[str, Any]) -> str:
    """CPU per process as one short string."""
    return ", ".join(f"{k} {v.get('cpu_pct', v.get('busy_pct'))}%" for k, v in r["procs"].items())


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity")
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 1500, 2000])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--windows", type=int, default=2, help="measured window, in intervals")
    parser.add_argument("--rate-limit", type=float, default=10000.0, help="AGORA_RATE_LIMIT for the worker")
    parser.add_argument("--warmup", type=float, help="seconds from the end of the start ramp to the window")
    parser.add_argument("--ramp", type=float, help="seconds over which the N workflows start (default: I)")
    parser.add_argument("--quick", action="store_true", help="N=20 at a 10 s interval, one window")
    parser.add_argument("--out", type=Path, help="default bench/results/capacity[-quick].json")
    args = parser.parse_args()
    args.out = args.out or ROOT / "bench" / "results" / ("capacity-quick.json" if args.quick else "capacity.json")
    if args.quick:
        args.n, args.interval, args.windows = [20], 10, 1
        args.warmup = 15.0 if args.warmup is None else args.warmup
    base = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    results: dict[str, Any] = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}, "runs": []}
    for n in args.n:
        for variant in args.variants:
            print(f"[{time.strftime('%H:%M:%S')}] {variant} N={n} I={args.interval}s load {load()}", flush=True)
            r = await run_one(variant, n, args.interval, args.windows, args.rate_limit, base, args.warmup, args.ramp)
            results["runs"].append(r)
            print(
                f"  checks/s {r['checks_per_s']} (expected {r['expected_checks_per_s']}) lag p50 {r['lag_s']['p50']} "
                f"p99 {r['lag_s']['p99']} events/check {r['events_per_check']} wft/check {r['wft_per_check']} "
                f"cpu {cpu_line(r)} load {r['load_after']}",
                flush=True,
            )
            write_json(args.out, results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_then_exit(main())
