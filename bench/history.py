"""History cost and Agora calls of one long recording, on Temporal's time-skipping server.

A recording with a 30 s check interval runs for 24 hours of workflow time (a host stays in the channel, so the
recorder never idles out) against an in-process emulator; then the run chain is walked through every continue-as-new
and each run's events and bytes are counted, along with the Agora requests the emulator received.

Queries are counted both ways: as local-activity markers (the current design) and as scheduled activities (runs of
the earlier design). `python -m bench.history --quick` records 2 hours instead of 24.
"""

from __future__ import annotations

import argparse
import collections
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.common import ROOT, is_call_of, load, run_then_exit, write_json
from emulator.config import EmulatorConfig
from emulator.testing import running_emulator
from recorder.processes import binary
from recorder.search_attributes import ensure_search_attributes
from recorder.settings import Settings
from recorder.worker import running_workers
from workflows import names
from workflows.models import RecordingInput, RecordingRequest
from workflows.recording import RecordingWorkflow

CONTINUED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW


async def measure(hours: float, interval: int, max_idle: int) -> dict[str, Any]:
    """Run one recording for `hours` of workflow time and return its history and Agora figures."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"), data_converter=pydantic_data_converter
    )
    await ensure_search_attributes(env.client)
    # Emulated time runs fast so recorders come up while the server skips the workflow's timers (as in the tests).
    config = EmulatorConfig(speed=200.0, startup_seconds=2.0, upload_seconds=0.0, rate_limit_qps=0, max_concurrent=0)
    try:
        async with running_emulator(config) as emu:
            settings = Settings(
                _env_file=None,
                app_id=config.app_id,
                customer_id=config.customer_id,
                customer_secret=config.customer_secret.get_secret_value(),
                base_url=emu.base_url,
                request_timeout=5.0,
                storage_vendor=1,
                storage_bucket="bench",
                storage_access_key="AKIABENCHACCESS0001",
                storage_secret_key="bench-storage-secret-key",
                rate_limit=10000.0,
            )
            channel = f"long-{uuid.uuid4().hex[:8]}"
            emu.join(channel, "1001", "host")
            queue = f"hist-{uuid.uuid4().hex[:8]}"
            req = RecordingRequest(
                channel=channel,
                uid="527841",
                backup_uid="527842",
                max_idle_time=max_idle,
                check_interval=interval,
                max_duration=timedelta(hours=hours),
            )
            wall = time.monotonic()
            async with running_workers(env.client, settings, queue=queue):
                handle = await env.client.start_workflow(
                    RecordingWorkflow.run, RecordingInput(request=req), id=f"hist-{channel}", task_queue=queue
                )
                manifest = await handle.result()
            wall = time.monotonic() - wall
            runs: list[dict[str, Any]] = []
            run_id: str | None = handle.first_execution_run_id or handle.result_run_id
            while run_id:
                hist = await env.client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
                # A query is a local activity now (one MarkerRecorded event each); runs of the earlier design
                # scheduled it as an activity (ActivityTaskScheduled). Both are counted.
                calls = [ev for ev in hist.events if is_call_of(ev, names.QUERY)]
                checks = len(calls)
                local = sum(1 for ev in calls if ev.event_type == EventType.EVENT_TYPE_MARKER_RECORDED)
                markers = collections.Counter(
                    ev.marker_recorded_event_attributes.marker_name
                    for ev in hist.events
                    if ev.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
                )
                wfts = sum(1 for ev in hist.events if ev.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
                runs.append(
                    {
                        "events": len(hist.events),
                        "bytes": sum(ev.ByteSize() for ev in hist.events),
                        "queries": checks,
                        "queries_local": local,
                        "markers": dict(markers),
                        "workflow_tasks": wfts,
                    }
                )
                last = hist.events[-1]
                run_id = (
                    last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
                    if last.event_type == CONTINUED
                    else None
                )
            ops: collections.Counter[str] = collections.Counter()
            for task in emu.tasks():
                for r in task["requests"]:
                    ops[r["op"]] += 1
            total_requests = emu.emulator.snapshot()["requestCount"]
            ops["acquire (not tied to a task)"] = total_requests - sum(ops.values())
    finally:
        await env.shutdown()
    events = sum(r["events"] for r in runs)
    queries = sum(r["queries"] for r in runs)
    if not queries:
        raise RuntimeError(f"no query found in {len(runs)} runs: the harness no longer recognises the product's checks")
    return {
        "hours": hours,
        "interval_s": interval,
        "max_idle_time_s": max_idle,
        "wall_s": round(wall, 1),
        "load": load(),
        "runs": len(runs),
        "largest_run_events": max(r["events"] for r in runs),
        "largest_run_bytes": max(r["bytes"] for r in runs),
        "total_events": events,
        "total_bytes": sum(r["bytes"] for r in runs),
        "queries": queries,
        "queries_local": sum(r["queries_local"] for r in runs),
        "events_per_query": round(events / queries, 2),
        "bytes_per_query": round(sum(r["bytes"] for r in runs) / queries, 1),
        "workflow_tasks_per_query": round(sum(r["workflow_tasks"] for r in runs) / queries, 2),
        "events_per_recording_hour": round(events / hours, 1),
        "bytes_per_recording_hour": round(sum(r["bytes"] for r in runs) / hours, 1),
        "agora_requests": dict(ops),
        "agora_requests_per_recording_hour": round(total_requests / hours, 1),
        "segments": len(manifest.segments),
        "restarts": manifest.restarts,
        "per_run": runs,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.history")
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval", type=int, default=30)
    parser.add_argument("--max-idle", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="2 hours instead of 24")
    parser.add_argument("--out", type=Path, help="default bench/results/history[-quick].json")
    args = parser.parse_args()
    args.out = args.out or ROOT / "bench" / "results" / ("history-quick.json" if args.quick else "history.json")
    if args.quick:
        args.hours = 2.0
    print(f"[{time.strftime('%H:%M:%S')}] {args.hours:g} h recording, I={args.interval}s, load {load()}", flush=True)
    r = await measure(args.hours, args.interval, args.max_idle)
    print({k: v for k, v in r.items() if k != "per_run"}, flush=True)
    write_json(args.out, r)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_then_exit(main())
