"""The ceiling: workflows with the product's shape and nothing else, and a worker process that runs them.

`LocalCheckWorkflow`: a durable sleep, then one no-op local activity, forever: the product's check (a local activity
since e1771a4) without its bookkeeping, and the reference for the capacity ratio. `CeilingWorkflow`: the same with
the check as an activity on a rate-limited activity queue, the shape of the earlier design (two workflow tasks per
check instead of one), kept as a second reference.

`python -m bench.ceiling --queue Q --rate-limit R` runs them with the product worker's settings (sticky timeout,
graceful shutdown, the query queue's share of the rate limit) until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

NOOP = "bench_noop_check"


@dataclass
class CeilingInput:
    """Check interval in seconds."""

    interval: float


@activity.defn(name=NOOP)
async def noop_check(sid: str) -> int:
    """Stands in for the Agora query: answers a healthy status at once."""
    return 5


@workflow.defn(name="BenchCeilingWorkflow")
class CeilingWorkflow:
    """A durable sleep and one no-op activity per check, forever."""

    @workflow.run
    async def run(self, params: CeilingInput) -> None:
        queue = f"{workflow.info().task_queue}-query"
        while True:
            await workflow.sleep(params.interval)
            await workflow.execute_activity(
                NOOP, "sid", task_queue=queue, start_to_close_timeout=timedelta(seconds=30), result_type=int
            )


@workflow.defn(name="BenchLocalCheckWorkflow")
class LocalCheckWorkflow:
    """A durable sleep and one no-op local activity per check, forever."""

    @workflow.run
    async def run(self, params: CeilingInput) -> None:
        while True:
            await workflow.sleep(params.interval)
            await workflow.execute_local_activity(
                NOOP, "sid", start_to_close_timeout=timedelta(seconds=30), result_type=int
            )


async def serve(address: str, queue: str, rate_limit: float, control_share: float = 0.3) -> None:
    """Run the ceiling workers with the product worker's options until SIGTERM or SIGINT."""
    from recorder.settings import DEFAULT_CACHED_RECORDINGS
    from recorder.worker import GRACEFUL_SHUTDOWN, STICKY_TIMEOUT

    client = await Client.connect(address, data_converter=pydantic_data_converter)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    workflow_worker = Worker(
        client,
        task_queue=queue,
        workflows=[CeilingWorkflow, LocalCheckWorkflow],
        activities=[noop_check],  # for the local-activity variant
        max_cached_workflows=DEFAULT_CACHED_RECORDINGS,  # the product worker's cache, so both carry N alike
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    activity_worker = Worker(
        client,
        task_queue=f"{queue}-query",
        activities=[noop_check],
        max_task_queue_activities_per_second=rate_limit * (1 - control_share),
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    async with workflow_worker, activity_worker:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ceiling")
    parser.add_argument("--address", default=os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233"))
    parser.add_argument("--queue", required=True)
    parser.add_argument("--rate-limit", type=float, default=10000.0)
    args = parser.parse_args()
    asyncio.run(serve(args.address, args.queue, args.rate_limit))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
