"""What taking up a recording costs a worker: CPU per full replay of a recorded history, sandboxed or not.

A worker that takes over recordings after another one died (or was evicted from its cache) replays each history
from its start before the recording can go on. This replays the replay fixtures (tests/replay/histories: real runs
of the product) many times in one process, on the SDK's sandbox with the `workflows` modules passed through (the
worker's runner until the restart-storm work) and on the worker's runner today (`recorder.worker.WORKFLOW_RUNNER`, no
sandbox), and reports CPU milliseconds per replay (this process's CPU time, which includes the SDK core's threads).
No server is needed: `python -m bench.replay_cost`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from bench.common import ROOT, load, machine, write_json
from recorder.worker import WORKFLOW_RUNNER
from workflows.recording import RecordingWorkflow

HISTORIES = ROOT / "tests" / "replay" / "histories"
# A short run (a continue-as-new generation of checks), a crash and restart, a failover with a duplicate.
DEFAULT_FIXTURES = (
    "continue_as_new-callbacks.json",
    "crash_restart-callbacks.json",
    "failover_duplicate-callbacks.json",
)
PASSED_THROUGH = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("workflows"))
RUNNERS: dict[str, WorkflowRunner] = {"sandbox on": PASSED_THROUGH, "sandbox off": WORKFLOW_RUNNER}


async def cpu_per_replay(history: WorkflowHistory, runner: WorkflowRunner, times: int) -> float:
    """CPU milliseconds per replay of `history`, over `times` replays after one to warm up."""
    replayer = Replayer(workflows=[RecordingWorkflow], data_converter=pydantic_data_converter, workflow_runner=runner)
    await replayer.replay_workflow(history)

    async def copies() -> AsyncIterator[WorkflowHistory]:
        for i in range(times):
            yield WorkflowHistory(f"{history.workflow_id}-{i}", history.events)

    began = time.process_time()
    await replayer.replay_workflows(copies(), raise_on_replay_failure=True)
    return 1000 * (time.process_time() - began) / times


async def main(args: argparse.Namespace) -> None:
    rows: list[dict[str, Any]] = []
    print(f"replay cost, {args.times} replays each, load {load()}")
    for name in args.fixtures:
        history = WorkflowHistory.from_json(name, json.loads((HISTORIES / name).read_text()))
        row: dict[str, Any] = {"fixture": name, "events": len(history.events)}
        for label, runner in RUNNERS.items():
            row[label] = round(await cpu_per_replay(history, runner, args.times), 1)
        row["ratio"] = round(row["sandbox off"] / row["sandbox on"], 2)
        print(f"  {name}: {row['events']} events, {row['sandbox on']} ms sandboxed, {row['sandbox off']} ms not")
        rows.append(row)
    write_json(args.out, {"machine": machine(), "load_at_end": load(), "times": args.times, "rows": rows})
    print(f"wrote {args.out}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=100, help="replays per fixture and runner")
    parser.add_argument("--fixtures", nargs="+", default=list(DEFAULT_FIXTURES))
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "replay-cost.json")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
