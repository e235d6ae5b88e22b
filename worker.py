"""Run a recording worker: the workflow, and the Agora activities on their own rate-limited task queues.

Usage: `python worker.py` (or `recorder worker`). Temporal's connection comes from TEMPORAL_* variables, Agora's
credentials from AGORA_* variables (see README). SIGTERM and Ctrl-C shut it down gracefully, so its recordings move to
another worker at once; a crashed worker's recordings move on within the short sticky timeout below.
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
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType, SearchAttributeKey
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker

from activities.pacing import Pace
from activities.recording import RecordingActivities
from agora.client import AgoraClient
from recorder.connection import connect, task_queue
from recorder.settings import AgoraSettings, SettingsError, load_settings
from workflows import names
from workflows.recording import RecordingWorkflow

log = logging.getLogger("worker")

# A crashed worker's workflows wait this long on its sticky queue before another worker takes them (default 10 s).
STICKY_TIMEOUT = timedelta(seconds=3)
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# Recordings whose state the worker keeps in memory between checks (about 0.26 MB each, measured). A recording not in
# the cache is replayed from its whole history at its next check: with more recordings than this on one worker, every
# check becomes a replay and the worker saturates (the SDK's default of 1,000 made it collapse at 1,500 recordings).
DEFAULT_CACHED_RECORDINGS = 2000

_INDEXED = {
    SearchAttributeIndexedValueType.KEYWORD: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SearchAttributeIndexedValueType.INT: IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


async def ensure_search_attributes(client: Client, keys: Sequence[SearchAttributeKey[Any]] | None = None) -> list[str]:
    """Register the recording search attributes that are missing; returns the names it added.

    Works where the server allows it (dev server, self-hosted). On Temporal Cloud add them once with `tcld` (README).
    """
    wanted = keys or names.SEARCH_ATTRIBUTES
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    known = set(existing.custom_attributes) | set(existing.system_attributes)
    missing = {k.name: _INDEXED[k.indexed_value_type] for k in wanted if k.name not in known}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=client.namespace, search_attributes=missing)
        )
    return sorted(missing)


@asynccontextmanager
async def running_workers(
    client: Client,
    settings: AgoraSettings,
    *,
    queue: str,
    cached_recordings: int = DEFAULT_CACHED_RECORDINGS,
) -> AsyncIterator[list[Worker]]:
    """Run the workflow worker and the two activity workers until the block exits."""
    agora = AgoraClient(
        app_id=settings.app_id,
        customer_id=settings.customer_id,
        customer_secret=settings.customer_secret,
        base_url=settings.base_url,
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
            max_cached_workflows=cached_recordings,
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


def cached_recordings_setting(value: str | None) -> int:
    """RECORDER_CACHED_RECORDINGS as a number, or a one-line error saying what is allowed."""
    if value is None or not value.strip():
        return DEFAULT_CACHED_RECORDINGS
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= 100_000:
        raise SettingsError(
            f"RECORDER_CACHED_RECORDINGS must be a whole number from 1 to 100000 (recordings kept in memory), "
            f"got {value!r}"
        )
    return number


async def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM or SIGINT; returns the process exit code."""
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    runtime = None
    metrics = os.environ.get("RECORDER_METRICS_BIND")
    if metrics:
        # Prometheus text format at http://<bind>/metrics: the SDK's worker metrics plus the product's counters.
        runtime = Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=metrics)))
    try:
        settings = load_settings()
        cached = cached_recordings_setting(os.environ.get("RECORDER_CACHED_RECORDINGS"))
        client = await connect(runtime=runtime)
    except (SettingsError, Exception) as exc:
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
    queue = task_queue()
    async with running_workers(client, settings, queue=queue, cached_recordings=cached):
        log.info("worker running on task queue %s (Agora at %s)", queue, settings.base_url)
        await stop.wait()
        log.info("shutting down")
    return 0


def run() -> None:
    """Console entry point; exits without the interpreter-teardown crash of short-lived SDK processes."""
    rc = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    run()
