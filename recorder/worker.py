"""The recording worker: the workflow, and the Agora activities on their own rate-limited task queues.

Run it with `python worker.py` or `recorder worker` (both call `run`). Temporal's connection comes from TEMPORAL_*
variables, everything else from `recorder.settings` (AGORA_*, RECORDER_*, LOG_LEVEL, or a .env file; see README).
SIGTERM and Ctrl-C shut it down gracefully, so its recordings move to another worker at once; a crashed worker's
recordings move on within the short sticky timeout below.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.pacing import Pace
from activities.recording import RecordingActivities
from agora.client import AgoraClient
from recorder.connection import connect
from recorder.search_attributes import ensure_search_attributes
from recorder.settings import WORKER_NEEDS, Settings, SettingsError, load_settings
from workflows import names
from workflows.recording import RecordingWorkflow

log = logging.getLogger("worker")

# A crashed worker's workflows wait this long on its sticky queue before another worker takes them (default 10 s).
STICKY_TIMEOUT = timedelta(seconds=3)
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# Logged once the workers poll: process harnesses wait for it (recorder.processes.WorkerProcess).
READY_LINE = "worker running on task queue"


@asynccontextmanager
async def running_workers(
    client: Client, settings: Settings, *, queue: str | None = None
) -> AsyncIterator[list[Worker]]:
    """Run the workflow worker and the two activity workers until the block exits (on `queue`, else the settings')."""
    settings.require(WORKER_NEEDS)
    queue = queue or settings.task_queue
    agora = AgoraClient(
        app_id=settings.app_id,
        customer_id=settings.customer_id,
        customer_secret=settings.customer_secret,
        base_url=settings.base_url,
        region=settings.region,
        timeout=settings.request_timeout,
        extra_secrets=settings.secrets(),
    )
    acts = RecordingActivities(
        agora,
        app_id=settings.app_id,
        storage_profiles=settings.profiles(),
        app_certificate=settings.app_certificate.get_secret_value() if settings.app_certificate else None,
        query_pace=Pace(settings.query_rate_per_worker),
    )
    workers = [
        # Queries are local activities of the workflow worker (paced per process, see activities.pacing).
        Worker(
            client,
            task_queue=queue,
            workflows=[RecordingWorkflow],
            activities=[acts.query_recorder],
            no_remote_activities=True,
            max_cached_workflows=settings.cached_recordings,
            sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        ),
        Worker(
            client,
            task_queue=names.control_queue(queue),
            activities=[acts.acquire_resource, acts.start_recorder, acts.stop_recorder, acts.update_recorder],
            max_task_queue_activities_per_second=settings.control_rate,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        ),
        # Recordings started before queries became local activities still schedule them here.
        Worker(
            client,
            task_queue=names.query_queue(queue),
            activities=[acts.query_recorder],
            max_task_queue_activities_per_second=settings.query_rate_per_worker * settings.worker_processes,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        ),
    ]
    async with AsyncExitStack() as stack:
        stack.push_async_callback(agora.aclose)
        for w in workers:
            await stack.enter_async_context(w)
        yield workers


async def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM or SIGINT; returns the process exit code (2, with one line on stderr, when it cannot start)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        runtime = None
        if settings.metrics_bind:
            # Prometheus text format at http://<bind>/metrics: the SDK's worker metrics plus the product's counters.
            runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=settings.metrics_bind)))
        client = await connect(runtime=runtime)
    except Exception as exc:  # a bind or connection failure: reported as one line, the exit code says it failed
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    try:
        added = await ensure_search_attributes(client)
        if added:
            log.info("registered search attributes: %s", ", ".join(added))
    except Exception as exc:
        log.warning("could not register search attributes (%s); register them as the README says", exc)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if not settings.profiles():
        log.warning(
            "no storage profile is configured (AGORA_STORAGE_BUCKET etc. or AGORA_STORAGE_PROFILES): every recording "
            "will be refused at its start as a local configuration error"
        )
    async with running_workers(client, settings):
        region = f", region {settings.region}" if settings.region else ""
        log.info("%s %s (Agora at %s%s)", READY_LINE, settings.task_queue, settings.base_url, region)
        await stop.wait()
        log.info("shutting down")
    return 0


def run() -> None:
    """Console entry point; exits without the interpreter-teardown crash of short-lived SDK processes."""
    rc = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
