"""The Python API: start, stop, describe and list recordings, one durable workflow per channel.

Each channel of an App ID has at most one running recording, because its workflow id is derived from the two
(`recording:<app_id>:<channel>`): a second start finds the first one instead of launching a second recorder that
would kick the first out of the channel. Nothing here needs an Agora secret; the worker holds them.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from recorder.settings import load_settings
from workflows import names
from workflows.models import RecordingInput, RecordingManifest, RecordingRequest, RecordingStatus, StopRequest
from workflows.recording import RecordingWorkflow

__all__ = [
    "RecordingNotFound",
    "RecordingSummary",
    "StartOutcome",
    "describe_recording",
    "list_recordings",
    "start_recording",
    "stop_recording",
    "workflow_id",
]

# A status query needs a worker to answer; without one it would wait for the RPC deadline.
QUERY_TIMEOUT = timedelta(seconds=10)
SUMMARY_LIMIT = 200
_CHANNEL_TYPES = {0: "communication", 1: "live broadcast"}
_STREAMS = {0: "audio only", 1: "video only", 2: "audio and video"}


class RecordingNotFound(Exception):
    """No recording workflow exists for the channel."""

    def __init__(self, channel: str, workflow_id: str) -> None:
        super().__init__(f"no recording for channel {channel} (workflow id {workflow_id})")
        self.channel = channel
        self.workflow_id = workflow_id


class StartOutcome(BaseModel):
    """What start_recording did: started a workflow, or found the one already recording the channel."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    run_id: str
    already_running: bool
    status: RecordingStatus | None


class RecordingSummary(BaseModel):
    """One recording as the visibility store lists it."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    channel: str | None
    phase: str | None
    uid: str | None
    sid: str | None
    restarts: int | None
    status: str
    start_time: datetime


def workflow_id(app_id: str, channel: str) -> str:
    """The workflow id of a channel's recording: one recording per channel and App ID."""
    return f"recording:{app_id}:{channel}"


def static_summary(request: RecordingRequest) -> str:
    """The one-line summary the Web UI shows for a recording (at most 200 bytes)."""
    text = f"Recording {request.channel} ({request.mode})"
    while len(text.encode()) > SUMMARY_LIMIT:
        text = text[:-2] + "…"
    return text


def static_details(request: RecordingRequest) -> str:
    """The Markdown details the Web UI shows for a recording: what was asked, never a secret."""
    if request.max_duration is not None and request.end_at is not None:
        end = f"{request.end_at.isoformat()} or after {_human(request.max_duration)}, whichever comes first"
    elif request.max_duration is not None:
        end = f"after {_human(request.max_duration)}"
    elif request.end_at is not None:
        end = request.end_at.isoformat()
    else:
        end = "none (runs until stopped)"
    lines = [
        f"- **channel**: `{request.channel}` ({_CHANNEL_TYPES[request.channel_type]})",
        f"- **mode**: {request.mode} · {_STREAMS[request.stream_types]}",
        f"- **files**: {', '.join(request.av_file_type)}",
        f"- **recorder uids**: `{request.uid}`, backup `{request.backup_uid}`",
        f"- **maxIdleTime**: {request.max_idle_time} s",
        f"- **check interval**: {request.effective_check_interval} s",
        f"- **planned end**: {end}",
        f"- **storage profile**: `{request.storage_profile}`",
    ]
    if request.file_name_prefix:
        lines.append(f"- **file name prefix**: `{'/'.join(request.file_name_prefix)}`")
    if request.web_url:
        lines.append(f"- **web page**: {request.web_url}")
    return "\n".join(lines)


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{secs}s" if secs else ""]
    return "".join(parts) or "0s"


async def start_recording(
    client: Client, request: RecordingRequest, *, app_id: str, task_queue: str | None = None
) -> StartOutcome:
    """Start recording a channel, or return the recording already running for it (never a second recorder).

    `task_queue` defaults to the settings' (RECORDER_TASK_QUEUE).
    """
    wid = workflow_id(app_id, request.channel)
    try:
        handle = await client.start_workflow(
            RecordingWorkflow.run,
            RecordingInput(request=request),
            id=wid,
            task_queue=task_queue or load_settings(require=()).task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(names.CHANNEL, request.channel), SearchAttributePair(names.PHASE, "starting")]
            ),
            static_summary=static_summary(request),
            static_details=static_details(request),
        )
    except WorkflowAlreadyStartedError as err:
        running: WorkflowHandle[RecordingWorkflow, RecordingManifest] = client.get_workflow_handle_for(
            RecordingWorkflow.run, wid, run_id=err.run_id
        )
        return StartOutcome(
            workflow_id=wid, run_id=err.run_id or "", already_running=True, status=await _status_or_none(running)
        )
    return StartOutcome(workflow_id=wid, run_id=handle.result_run_id or "", already_running=False, status=None)


async def _status_or_none(handle: WorkflowHandle[RecordingWorkflow, RecordingManifest]) -> RecordingStatus | None:
    """The status query, or None when no worker answers it in time."""
    try:
        return await asyncio.wait_for(
            handle.query(RecordingWorkflow.status, rpc_timeout=QUERY_TIMEOUT), QUERY_TIMEOUT.total_seconds()
        )
    except (RPCError, TimeoutError):
        return None


def _handle(client: Client, channel: str, app_id: str) -> WorkflowHandle[RecordingWorkflow, RecordingManifest]:
    return client.get_workflow_handle_for(RecordingWorkflow.run, workflow_id(app_id, channel))


async def stop_recording(client: Client, channel: str, *, app_id: str) -> RecordingManifest:
    """Stop a channel's recording, wait for Agora's upload status, and return the final manifest.

    A recording that has already ended returns its final manifest.
    """
    handle = _handle(client, channel, app_id)
    try:
        return await handle.execute_update(RecordingWorkflow.stop, StopRequest())
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
    # Not found: either no such workflow, or it has already closed (an update cannot reach a closed workflow).
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RecordingNotFound(channel, handle.id) from None
        raise
    if desc.status == WorkflowExecutionStatus.RUNNING:  # it was just started: try once more
        return await handle.execute_update(RecordingWorkflow.stop, StopRequest())
    return await handle.query(RecordingWorkflow.manifest, rpc_timeout=QUERY_TIMEOUT)


async def describe_recording(client: Client, channel: str, *, app_id: str) -> RecordingStatus:
    """The live status of a channel's recording (its last status once it has ended)."""
    handle = _handle(client, channel, app_id)
    try:
        return await handle.query(RecordingWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RecordingNotFound(channel, handle.id) from None
        raise


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def list_query(*, app_id: str | None = None, phase: str | None = None, running_only: bool = True) -> str:
    """The visibility query list_recordings sends."""
    clauses = [f"WorkflowType = {_quote(names.WORKFLOW_NAME)}"]
    if app_id is not None:
        clauses.append(f"WorkflowId STARTS_WITH {_quote(workflow_id(app_id, ''))}")
    if phase is not None:
        clauses.append(f"{names.PHASE.name} = {_quote(phase)}")
    if running_only:
        clauses.append("ExecutionStatus = 'Running'")
    return " AND ".join(clauses)


async def list_recordings(
    client: Client,
    *,
    app_id: str | None = None,
    phase: str | None = None,
    running_only: bool = True,
    limit: int = 100,
) -> list[RecordingSummary]:
    """Recordings from Temporal's visibility store, newest first, filtered by App ID, phase and running state."""
    out: list[RecordingSummary] = []
    query = list_query(app_id=app_id, phase=phase, running_only=running_only)
    async for wf in client.list_workflows(query, limit=limit):
        attrs = wf.typed_search_attributes
        status = wf.status
        out.append(
            RecordingSummary(
                workflow_id=wf.id,
                channel=attrs.get(names.CHANNEL),
                phase=attrs.get(names.PHASE),
                uid=attrs.get(names.RECORDER_UID),
                sid=attrs.get(names.SID),
                restarts=attrs.get(names.RESTARTS),
                status=_status_name(status),
                start_time=wf.start_time,
            )
        )
    return out


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    """Running, Completed, Failed, … as the Web UI spells them."""
    if status is None:
        return "Unknown"
    return status.name.replace("_", " ").title()
