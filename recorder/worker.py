"""The recording worker: the workflow, and the Agora activities on their own rate-limited task queues.

Run it with `python worker.py` or `recorder worker` (both call `run`). Temporal's connection comes from TEMPORAL_*
variables, everything else from `recorder.settings` (AGORA_*, RECORDER_*, LOG_LEVEL, LOG_FORMAT, or a .env file; see
README). SIGTERM and Ctrl-C shut it down gracefully, so its recordings move to another worker at once; a crashed
worker's recordings move on within the short sticky timeout below. Each worker paces its Agora queries at its share of
the rate among the workers alive now (`activities.pacing.FleetPace`), and with RECORDER_HEALTH_BIND serves
`/healthz` and `/readyz`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.pacing import FleetPace, Pace
from activities.recording import RecordingActivities
from agora.client import AgoraClient, domain_order
from recorder.connection import connect
from recorder.search_attributes import ensure_search_attributes
from recorder.service_ops import ProbeServer, configure_logging, runtime, tracing_interceptors
from recorder.settings import WORKER_NEEDS, Settings, SettingsError, load_settings
from workflows import names
from workflows.inbox import CallbackInboxWorkflow
from workflows.recording import RecordingWorkflow
from workflows.timetable import ClassFiringWorkflow

log = logging.getLogger("worker")

# A crashed worker's workflows wait this long on its sticky queue before another worker takes them (default 10 s).
STICKY_TIMEOUT = timedelta(seconds=3)
GRACEFUL_SHUTDOWN = timedelta(seconds=10)
# Logged once the workers poll: process harnesses wait for it (recorder.processes.WorkerProcess).
READY_LINE = "worker running on task queue"
# Workflow code runs without the SDK's sandbox. The sandbox imported a workflow's modules afresh for each workflow:
# 37 ms per recording, so a new worker taking up 1,000 recordings after a crash spent 37 s of CPU before its first
# check (bench/RESULTS.md, restart storm). Passing the `workflows` modules through removed the imports, but a
# passed-through module is the real one, so the sandbox no longer refused a non-deterministic call in it (a workflow
# calling datetime.now() ran), while every activation still paid for entering the sandbox: 57 against 32 ms of CPU
# per replay of a 47-event history (bench/replay_cost.py). So the worker runs workflows directly, and the guard is in
# the tests: tests/replay replays every recorded history in the full sandbox, where such a call fails, and
# tests/test_dependencies.py keeps the workflow modules' imports to Temporal, pydantic and the standard library.
WORKFLOW_RUNNER = UnsandboxedWorkflowRunner()


def agora_base_url(settings: Settings) -> str:
    """The worker's first Agora domain: AGORA_BASE_URL when set, else the one Agora names first for AGORA_REGION.

    Agora's switch-domain guidance puts api.sd-rtn.com first in mainland China and api.agora.io elsewhere, so an
    unset AGORA_BASE_URL must not pin a worker in a cn- region to the settings' default domain.
    """
    return settings.base_url if "base_url" in settings.model_fields_set else domain_order(settings.region)[0]


def agora_client(settings: Settings) -> AgoraClient:
    """The worker's Agora client, trying Agora's domains in switch-domain order from `agora_base_url`."""
    return AgoraClient(
        app_id=settings.app_id,
        customer_id=settings.customer_id,
        customer_secret=settings.customer_secret,
        base_url=agora_base_url(settings),
        region=settings.region,
        timeout=settings.request_timeout,
        extra_secrets=settings.secrets(),
    )


@asynccontextmanager
async def running_workers(
    client: Client, settings: Settings, *, queue: str | None = None
) -> AsyncIterator[list[Worker]]:
    """Run the workflow worker and the two activity workers until the block exits (on `queue`, else the settings').

    The query pace follows the number of workers alive on the queue (AGORA_WORKER_PROCESSES is its floor).
    """
    settings.require(WORKER_NEEDS)
    queue = queue or settings.task_queue
    pace = Pace(settings.query_rate_per_worker)
    fleet = FleetPace(client, queue, pace, settings.query_rate, floor=settings.worker_processes)
    agora = agora_client(settings)
    acts = RecordingActivities(
        agora,
        app_id=settings.app_id,
        storage_profiles=settings.profiles(),
        app_certificate=settings.app_certificate.get_secret_value() if settings.app_certificate else None,
        query_pace=pace,
    )
    workers = [
        # Queries are local activities of the workflow worker (paced per process, see activities.pacing).
        Worker(
            client,
            task_queue=queue,
            workflows=[RecordingWorkflow, CallbackInboxWorkflow, ClassFiringWorkflow],
            activities=[acts.query_recorder],
            no_remote_activities=True,
            max_cached_workflows=settings.cached_recordings,
            workflow_runner=WORKFLOW_RUNNER,
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
            max_task_queue_activities_per_second=settings.query_rate,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        ),
    ]
    async with AsyncExitStack() as stack:
        stack.push_async_callback(agora.aclose)
        counting = await _count_fleet(fleet)
        if counting is not None:
            stack.push_async_callback(_cancel, counting)
        for w in workers:
            await stack.enter_async_context(w)
        yield workers


async def _count_fleet(fleet: FleetPace) -> asyncio.Task[None] | None:
    """Count the fleet once, then keep counting in the background; None on a server that cannot list pollers."""
    try:
        await fleet.start()
    except RPCError as err:
        if err.status != RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server
            raise
        return None
    return asyncio.create_task(fleet.run())


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def probes(client: Client, state: dict[str, bool]) -> ProbeServer:
    """Readiness: the workers poll (state["polling"]) and Temporal answers."""

    async def ready() -> tuple[bool, dict[str, object]]:
        if not state.get("polling"):
            return False, {"reason": "the workers are not polling (starting or shutting down)"}
        try:
            await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=3))
        except RPCError as err:
            return False, {"reason": f"Temporal does not answer: {err.message}"}
        return True, {}

    return ProbeServer("127.0.0.1", 0, ready=ready)


async def main(argv: Sequence[str] | None = None) -> int:
    """Run until SIGTERM or SIGINT; returns the process exit code (2, with one line on stderr, when it cannot start)."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        # Prometheus text format at http://<bind>/metrics (RECORDER_METRICS_BIND): the SDK's worker metrics plus the
        # product's counters; core SDK warnings go through Python logging (LOG_FORMAT, secrets masked).
        interceptors = tracing_interceptors(settings, "recording-worker")
        client = await connect(runtime=runtime(settings), interceptors=interceptors)
    except Exception as exc:  # a bind or connection failure: reported as one line, the exit code says it failed
        print(f"worker: {exc}", file=sys.stderr)
        return 2
    state = {"polling": False}
    health = probes(client, state)
    bind = settings.bind("health")
    if bind is not None:
        health.host, health.port = bind
        try:
            await health.start()
        except OSError as exc:
            print(f"worker: cannot serve RECORDER_HEALTH_BIND {settings.health_bind}: {exc.strerror}", file=sys.stderr)
            return 2
        log.info("health at http://%s:%d/healthz and /readyz", health.host, health.port)
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
    try:
        async with running_workers(client, settings):
            state["polling"] = True
            region = f", region {settings.region}" if settings.region else ""
            log.info("%s %s (Agora at %s%s)", READY_LINE, settings.task_queue, agora_base_url(settings), region)
            await stop.wait()
            state["polling"] = False
            log.info("shutting down")
    finally:
        await health.close()
    return 0


def run() -> None:
    """Console entry point; exits without the interpreter-teardown crash of short-lived SDK processes."""
    rc = asyncio.run(main())
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
