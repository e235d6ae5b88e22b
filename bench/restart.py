"""Restart storm: a worker holding N recordings gets SIGKILL, a new worker takes them all up.

One dev server (SQLite, WAL), the emulator and one worker, each its own process. N recordings start evenly over one
check interval I, run for a warm-up, then the worker is killed (SIGKILL) and a new worker process starts at once, as a
supervisor would start one. After `--observe` intervals the new worker is stopped and every history is read:

- workflow-task timeouts after the kill, by kind: ScheduleToStart (a task left on the dead worker's sticky queue),
  StartToClose (a task the new worker took but did not finish in time: the storm) and workflow-task failures;
- check lateness after the kill: when each check ran minus its timer's planned fire time (bench.common.check_stats),
  against the target "every check late by less than one interval";
- the new worker's log lines that say a task was not found (its completion arrived after the task timed out).

Extra worker settings for the new worker (and the first) come from `--env NAME=VALUE`, so levers can be compared on
the same code. `python -m bench.restart --quick` runs N = 100.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from bench import common
from recorder.devserver import DevServer


def timeouts_after(histories: list[Any], t_kill: float) -> dict[str, int]:
    """Workflow-task timeouts and failures whose event time is after the kill, by kind."""
    out: collections.Counter[str] = collections.Counter()
    for h in histories:
        for ev in h.events:
            if ev.event_time.ToDatetime().timestamp() < t_kill:
                continue
            if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
                kind = TimeoutType.Name(ev.workflow_task_timed_out_event_attributes.timeout_type)
                out[kind.removeprefix("TIMEOUT_TYPE_").lower()] += 1
            elif ev.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
                out["failed"] += 1
    return dict(out)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """One measured kill; returns its figures."""
    workdir = Path(tempfile.mkdtemp(prefix=f"restart-{args.n}-"))
    extra = dict(kv.split("=", 1) for kv in args.env)
    server = DevServer(db_file=workdir / "temporal.db", log_file=workdir / "server.log")
    await server.start()
    emulator = await common.start_emulator(workdir)
    queue = f"storm-{uuid.uuid4().hex[:8]}"
    # INFO: the ready line, and the lines that say a task was not found, are counted from the log.
    worker = common.bench_worker(workdir, server.address, emulator, queue, 10000, log_level="INFO", extra=extra)
    http = httpx.AsyncClient(timeout=30)
    try:
        await worker.start_ready(within=60)
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        ids = [f"storm-{i}-{queue}" for i in range(args.n)]

        async def start(i: int) -> None:
            channel = f"storm-{i}-{queue}"
            await common.join_host(http, emulator.url, channel)
            await common.start_recording(
                client,
                channel,
                workflow_id=ids[i],
                queue=queue,
                interval=args.interval,
                max_duration=timedelta(hours=6),
            )

        t_ramp = time.time()
        tasks = []
        for i in range(args.n):
            delay = t_ramp + i * args.interval / args.n - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(start(i)))
        await asyncio.gather(*tasks)
        print(f"  started {args.n} in {time.time() - t_ramp:.1f} s; warm-up {args.warmup:g} s", flush=True)
        await asyncio.sleep(args.warmup)
        # The kill lands at a random phase of the check cycle, as a crash would.
        t_kill = time.time()
        worker.kill()
        worker.start()
        print(f"  killed and restarted the worker at {time.strftime('%H:%M:%S')}, load {common.load()}", flush=True)
        # CPU of each process over the first interval after the kill, when the new worker takes every recording up.
        sampler = common.ProcSampler(
            {"server": server.pid or 0, "new worker": worker.pid or 0, "emulator": emulator.pid or 0}
        )
        sampler.mark_start()
        await asyncio.sleep(args.interval)
        procs = sampler.mark_end()
        await asyncio.sleep((args.observe - 1) * args.interval)
        t_end = time.time()
        await worker.stop()
        histories = await common.fetch_histories(client, ids)
        stats = [common.check_stats(h, "query_recorder", t_kill, t_end) for h in histories]
        lags = [lag for s in stats for lag in s.lags]
        first = [s.lags[0] for s in stats if s.lags]
        log = worker.log(since_start=True)
        return {
            "n": args.n,
            "interval_s": args.interval,
            "warmup_s": args.warmup,
            "observed_s": round(t_end - t_kill, 1),
            "worker_env": extra,
            "load_at_end": common.load(),
            "workflow_task_timeouts_after_kill": timeouts_after(histories, t_kill),
            "recordings_checked_after_kill": sum(1 for s in stats if s.checks),
            "checks_after_kill": len(lags),
            "check_lag_s": common.summary(lags),
            "first_check_lag_s": common.summary(first),
            "checks_late_by_an_interval_or_more": sum(1 for lag in lags if lag >= args.interval),
            "task_not_found_lines": sum(1 for line in log.splitlines() if "not found" in line.lower()),
            "recordings_not_checked_within_observation": args.n - sum(1 for s in stats if s.checks),
            "procs_first_interval_after_kill": procs,
            "workdir": str(workdir),
        }
    finally:
        await http.aclose()
        await worker.stop()
        await emulator.stop()
        await server.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.restart")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument(
        "--warmup", type=float, default=150.0, help="seconds from the end of the start ramp to the kill"
    )
    parser.add_argument("--observe", type=int, default=3, help="intervals observed after the kill")
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for both workers (a lever)")
    parser.add_argument("--label", default="", help="a name for this run in the JSON")
    parser.add_argument("--quick", action="store_true", help="N = 100, I = 10 s, warm-up 30 s")
    parser.add_argument("--out", type=Path, help="default bench/results/restart[-quick].json (runs are appended)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.interval, args.warmup = 100, 10, 30.0
    args.out = args.out or common.ROOT / "bench" / "results" / ("restart-quick.json" if args.quick else "restart.json")
    print(f"[{time.strftime('%H:%M:%S')}] restart storm N={args.n} I={args.interval}s load {common.load()}", flush=True)
    result = await run(args)
    result["label"] = args.label
    print(result, flush=True)
    data: dict[str, Any] = {"machine": common.machine(), "runs": []}
    if args.out.exists():
        import json

        data = json.loads(args.out.read_text())
    data["runs"].append(result)
    common.write_json(args.out, data)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    common.run_then_exit(main())
