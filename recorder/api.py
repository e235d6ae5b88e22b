"""The Python API: start or join, stop, update, describe and list recordings, one durable workflow per channel.

Each channel of an App ID has at most one running recording, because its workflow id is derived from the two
(`recording:<app_id>:<channel>`). Starting is one atomic call (Temporal's update-with-start of the workflow's `join`
update): it starts the channel's recording or joins the one running, never a second recorder that would kick the
first out of the channel, and can wait until the recorder is confirmed without polling. Nothing here needs an Agora
secret; the worker holds them. The HTTP service (`recorder.service`) serves these same calls and models.

Errors raised here, besides Temporal's own `RPCError`:

    RecorderError
    ├── RecordingNotFound        no recording workflow exists for the channel
    ├── RecordingConflict        the recording cannot take this request now (ended, not confirmed yet, wrong mode)
    ├── UpdateRefused            Agora refused a layout or subscription update
    ├── NoWorker                 no worker took the request up in time (none polls the task queue)
    └── SearchAttributesMissing  the server lacks the recording search attributes and this client may not add them
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateHandle,
    WorkflowUpdateRPCTimeoutOrCancelledError,
    WorkflowUpdateStage,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from recorder.search_attributes import ensure_search_attributes, is_missing_search_attribute, registration_hint
from recorder.settings import load_settings
from workflows import names
from workflows.inbox import CallbackInboxWorkflow
from workflows.models import (
    InboxView,
    JoinRequest,
    JoinResult,
    LayoutUpdate,
    Phase,
    RecordingInput,
    RecordingManifest,
    RecordingRequest,
    RecordingStatus,
    StopRequest,
    SubscriptionUpdate,
    UpdateResult,
)
from workflows.recording import RecordingWorkflow

__all__ = [
    "NoWorker",
    "RecorderError",
    "RecordingConflict",
    "RecordingNotFound",
    "RecordingSummary",
    "SearchAttributesMissing",
    "StartOutcome",
    "StopOutcome",
    "UnownedCallback",
    "UnownedCallbacks",
    "UpdateRefused",
    "describe_recording",
    "list_recordings",
    "recording_manifest",
    "request_stop",
    "start_recording",
    "stop_recording",
    "stop_within",
    "unowned_callbacks",
    "update_layout",
    "update_subscription",
    "workflow_id",
]

# A status query needs a worker to answer; without one it would wait for the RPC deadline.
QUERY_TIMEOUT = timedelta(seconds=10)
# A polling worker accepts an update within moments; after this long, no worker is taking the task queue's work.
ACCEPT_TIMEOUT = timedelta(seconds=10)
# How long a start keeps retrying while a server that just registered the search attributes starts accepting them.
SEARCH_ATTRIBUTE_GRACE = timedelta(seconds=20)
# A workflow task that a worker takes but cannot finish in this long is given to another worker. Temporal's default,
# kept: a longer one would also leave a task of a killed worker waiting that long. The restart storm's StartToClose
# timeouts came from the sandbox's per-recording imports, now gone (recorder.worker.WORKFLOW_RUNNER, bench/RESULTS.md).
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=10)
SUMMARY_LIMIT = 200
_CHANNEL_TYPES = {0: "communication", 1: "live broadcast"}
_STREAMS = {0: "audio only", 1: "video only", 2: "audio and video"}
_ENDED = frozenset({"stopped", "failed"})
Handle = WorkflowHandle[RecordingWorkflow, RecordingManifest]
T = TypeVar("T")
U = TypeVar("U", LayoutUpdate, SubscriptionUpdate)


class RecorderError(Exception):
    """A request the recording cannot serve; the message says why in one line."""


class RecordingNotFound(RecorderError):
    """No recording workflow exists for the channel."""

    def __init__(self, channel: str, workflow_id: str) -> None:
        super().__init__(f"no recording for channel {channel} (workflow id {workflow_id})")
        self.channel = channel
        self.workflow_id = workflow_id


class RecordingConflict(RecorderError):
    """The recording exists but cannot take this request now: it has ended, has no confirmed recorder yet, or is of
    another mode."""


class UpdateRefused(RecorderError):
    """Agora refused a layout or subscription update; the message carries its reason."""


class NoWorker(RecorderError):
    """No worker took the request up in time: none polls the task queue, or all are saturated."""

    def __init__(self, task_queue: str | None, workflow_id: str) -> None:
        where = f"task queue {task_queue}" if task_queue else "the recording's task queue"
        super().__init__(
            f"no worker answered in time: is a recording worker polling {where}? (workflow {workflow_id} exists and "
            "goes on once one does)"
        )
        self.task_queue = task_queue
        self.workflow_id = workflow_id


class SearchAttributesMissing(RecorderError):
    """The server lacks the recording search attributes and refused to register them; the message says what to run."""


class StartOutcome(BaseModel):
    """What start_recording did: started the channel's recording or joined the one running, and its status."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    run_id: str
    already_running: bool = Field(description="the channel was already recording: this call joined that recording")
    status: RecordingStatus | None = Field(description="the recording's status when the call answered")
    waited: Literal["up", "ended", "timeout"] | None = Field(
        default=None,
        description="with wait_until_up: 'up' once a recorder was confirmed, 'ended' when the recording ended first "
        "(a failed start: phase 'failed' with last_error), 'timeout' when the wait ran out first",
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def started(self) -> bool:
        """True when this call started the recording."""
        return not self.already_running


class StopOutcome(BaseModel):
    """What a stop answered: the final manifest once the recording has ended, else the manifest so far and what the
    stop still waits for."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str
    finished: bool = Field(description="the recording has ended and the manifest is final")
    phase: Phase | None = Field(description="the phase when the call answered (None: a stop request not waited for)")
    waiting_for: list[str] = Field(
        default_factory=list, description="while stopping: the stops without an answer yet and open failover windows"
    )
    manifest: RecordingManifest | None = Field(description="the manifest (so far); None for a stop request")


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


class UnownedCallback(BaseModel):
    """One of Agora's callbacks about a channel or sid that no running recording owns, as the App ID's inbox kept it."""

    model_config = ConfigDict(frozen=True)

    channel: str
    sid: str
    uid: str | None = Field(description="the recorder's uid the callback names (payload.uid)")
    event_type: int
    event_name: str = Field(description="Agora's msgName of the event type, or 'unknown'")
    event_time: datetime | None = Field(description="when the event happened (payload.sendts)")
    received_at: datetime = Field(description="when the inbox took it")
    notice_id: str


class EventCount(BaseModel):
    """How many unowned callbacks of one event type the inbox has taken."""

    model_config = ConfigDict(frozen=True)

    event_type: int
    event_name: str
    count: int


class UnownedCallbacks(BaseModel):
    """What the App ID's callback inbox holds: the latest unowned callbacks, oldest first, and the counts."""

    model_config = ConfigDict(frozen=True)

    workflow_id: str = Field(description="the inbox workflow's id")
    exists: bool = Field(description="False until a first callback reached the inbox: nothing was received")
    total: int = Field(description="every distinct unowned callback the inbox has taken")
    counts: list[EventCount] = Field(description="per event type, most frequent first")
    callbacks: list[UnownedCallback] = Field(description="the latest ones kept, oldest first")


# Agora's msgName of each Cloud Recording event type (the NCS event table); 13 is named in no table.
EVENT_NAMES: dict[int, str] = {
    1: "cloud_recording_error",
    2: "cloud_recording_warning",
    3: "cloud_recording_status_update",
    4: "cloud_recording_file_infos",
    11: "session_exit",
    12: "session_failover",
    13: "high_availability_registered",
    30: "uploader_started",
    31: "uploaded",
    32: "backuped",
    33: "uploading_progress",
    40: "recorder_started",
    41: "recorder_leave",
    42: "recorder_slice_start",
    43: "audio_stream_state_changed",
    44: "video_stream_state_changed",
    45: "recorder_snapshot_file",
    70: "web_recorder_started",
    71: "web_recorder_stopped",
    72: "web_recorder_capability_limit",
    73: "web_recorder_reload",
    90: "download_failed",
    100: "rtmp_publish_status",
    1001: "postpone_transcode_final_result",
}


def event_name(event_type: int) -> str:
    """Agora's name of a Cloud Recording event type, or 'unknown'."""
    return EVENT_NAMES.get(event_type, "unknown")


def validation_message(exc: ValidationError) -> str:
    """pydantic's report as one line: each problem with its field, in the model's own words."""
    problems = []
    for err in exc.errors():
        msg = str(err["msg"]).removeprefix("Value error, ")
        field = ".".join(str(p) for p in err["loc"])
        problems.append(msg if not field or field in msg else f"{field}: {msg}")
    return "; ".join(" ".join(p.split()) for p in problems)


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


# --- start or join -------------------------------------------------------------------------------------------------


async def start_recording(
    client: Client,
    request: RecordingRequest,
    *,
    app_id: str,
    task_queue: str | None = None,
    wait_until_up: bool = False,
    within: timedelta | None = None,
) -> StartOutcome:
    """Start recording a channel, or join the recording already running for it (never a second recorder).

    One atomic call (update-with-start). With `wait_until_up` it answers once a recorder is confirmed or the recording
    has ended (a failed start: phase "failed" with last_error), or after `within` (None: no limit), without polling.
    `task_queue` defaults to the settings' (RECORDER_TASK_QUEUE). On a server without the recording search attributes
    they are registered where the server allows it, else SearchAttributesMissing says what to run.
    """
    queue = task_queue or load_settings(require=()).task_queue
    wid = workflow_id(app_id, request.channel)
    joined, run_id = await _with_search_attributes(client, lambda: _start_or_join(client, request, wid, queue))
    outcome = StartOutcome(workflow_id=wid, run_id=run_id, already_running=not joined.started, status=joined.status)
    if not wait_until_up:
        return outcome
    status, waited = await _wait_until_up(client, wid, within)
    return outcome.model_copy(update={"status": status or outcome.status, "waited": waited})


async def _start_or_join(client: Client, request: RecordingRequest, wid: str, queue: str) -> tuple[JoinResult, str]:
    """One update-with-start of the join update; NoWorker when no worker answers within ACCEPT_TIMEOUT."""
    operation: WithStartWorkflowOperation[RecordingWorkflow, RecordingManifest] = WithStartWorkflowOperation(
        RecordingWorkflow.run,
        RecordingInput(request=request),
        id=wid,
        task_queue=queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        task_timeout=WORKFLOW_TASK_TIMEOUT,
        search_attributes=TypedSearchAttributes(
            [SearchAttributePair(names.CHANNEL, request.channel), SearchAttributePair(names.PHASE, "starting")]
        ),
        static_summary=static_summary(request),
        static_details=static_details(request),
    )
    call = client.execute_update_with_start_workflow(
        RecordingWorkflow.join, JoinRequest(wait_until_up=False), start_workflow_operation=operation
    )
    try:
        joined = await _timed(call, ACCEPT_TIMEOUT.total_seconds())
    except TimeoutError:
        raise NoWorker(queue, wid) from None
    handle = await operation.workflow_handle()
    return joined, handle.result_run_id or handle.run_id or ""


async def _with_search_attributes(client: Client, call: Callable[[], Awaitable[T]]) -> T:
    """Run `call`; when the server refuses it for a search attribute it does not know, register them and retry."""
    try:
        return await call()
    except RPCError as err:
        if not is_missing_search_attribute(err):
            raise
    try:
        await ensure_search_attributes(client)
    except RPCError as err:
        raise SearchAttributesMissing(registration_hint(client.namespace, err)) from None
    # A server takes a few seconds to use attributes it has just registered (its namespace cache refreshes).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SEARCH_ATTRIBUTE_GRACE.total_seconds()
    while True:
        try:
            return await call()
        except RPCError as err:
            if not is_missing_search_attribute(err) or loop.time() > deadline:
                raise
        await asyncio.sleep(0.5)


async def _wait_until_up(
    client: Client, wid: str, within: timedelta | None
) -> tuple[RecordingStatus | None, Literal["up", "ended", "timeout"]]:
    """The join update with wait_until_up: the status once a recorder is up or the recording ended, or at `within`."""
    handle: Handle = client.get_workflow_handle_for(RecordingWorkflow.run, wid)
    seconds = None if within is None else max(within.total_seconds(), 0.0)
    try:
        joined = await _timed(handle.execute_update(RecordingWorkflow.join, JoinRequest(wait_until_up=True)), seconds)
    except TimeoutError:
        return await _status_or_none(handle), "timeout"
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        # The recording ended before the update reached it (a start Agora refused at once): its last status.
        return await _status_or_none(handle), "ended"
    return joined.status, ("ended" if joined.status.phase in _ENDED else "up")


async def _status_or_none(handle: Handle) -> RecordingStatus | None:
    """The status query, or None when no worker answers it in time."""
    try:
        return await _timed(
            handle.query(RecordingWorkflow.status, rpc_timeout=QUERY_TIMEOUT), QUERY_TIMEOUT.total_seconds()
        )
    except (RPCError, TimeoutError):
        return None


async def _timed(call: Awaitable[T], seconds: float | None) -> T:
    """`call`, or TimeoutError after `seconds` (an update's RPC cancelled by the timeout raises its own error)."""
    try:
        return await asyncio.wait_for(call, seconds)
    except WorkflowUpdateRPCTimeoutOrCancelledError:
        raise TimeoutError from None


def _handle(client: Client, channel: str, app_id: str) -> Handle:
    return client.get_workflow_handle_for(RecordingWorkflow.run, workflow_id(app_id, channel))


async def _closed_or_missing(handle: Handle, channel: str) -> bool:
    """After a NOT_FOUND on a message: True when the workflow has ended, False when it runs (it was just started);
    RecordingNotFound when there is none."""
    try:
        desc = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RecordingNotFound(channel, handle.id) from None
        raise
    return desc.status != WorkflowExecutionStatus.RUNNING


# --- stop ------------------------------------------------------------------------------------------------------------


async def request_stop(client: Client, channel: str, *, app_id: str, reason: str = "stop requested") -> StopOutcome:
    """Ask a channel's recording to stop and answer at once (the `request_stop` signal); the workflow stops its
    recorder and finishes on its own. A recording that has already ended answers its final manifest."""
    handle = _handle(client, channel, app_id)
    try:
        await handle.signal(RecordingWorkflow.request_stop, StopRequest(reason=reason))
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND or not await _closed_or_missing(handle, channel):
            raise
        return await _final(handle)
    return StopOutcome(workflow_id=handle.id, finished=False, phase=None, manifest=None)


async def stop_within(client: Client, channel: str, *, app_id: str, within: timedelta | None) -> StopOutcome:
    """Stop a channel's recording and wait at most `within` (None: until it has ended).

    Answers the final manifest once the recording has ended (Agora's upload status received, failover windows
    closed); when the time runs out first, the manifest so far, the phase and what the stop still waits for.
    """
    handle = _handle(client, channel, app_id)
    update = await _accepted(
        handle,
        channel,
        lambda: handle.start_update(RecordingWorkflow.stop, StopRequest(), wait_for_stage=WorkflowUpdateStage.ACCEPTED),
    )
    if update is None:
        return await _final(handle)
    seconds = None if within is None else max(within.total_seconds(), 0.0)
    try:
        manifest = await _timed(update.result(), seconds)
    except TimeoutError:
        status = await handle.query(RecordingWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
        so_far = await handle.query(RecordingWorkflow.manifest, rpc_timeout=QUERY_TIMEOUT)
        return StopOutcome(
            workflow_id=handle.id,
            finished=status.phase in _ENDED,
            phase=status.phase,
            waiting_for=status.waiting_for,
            manifest=so_far,
        )
    return StopOutcome(workflow_id=handle.id, finished=True, phase=manifest.phase, manifest=manifest)


async def stop_recording(client: Client, channel: str, *, app_id: str) -> RecordingManifest:
    """Stop a channel's recording, wait for Agora's upload status, and return the final manifest.

    A recording that has already ended returns its final manifest.
    """
    outcome = await stop_within(client, channel, app_id=app_id, within=None)
    assert outcome.manifest is not None  # waited without a limit, so the recording has ended
    return outcome.manifest


async def _accepted(
    handle: Handle, channel: str, start: Callable[[], Awaitable[WorkflowUpdateHandle[T]]]
) -> WorkflowUpdateHandle[T] | None:
    """Send an update and wait until a worker accepts it; None when the recording has already ended."""
    for _ in range(2):  # a NOT_FOUND from a workflow that was just started is tried once more
        try:
            return await _timed(start(), ACCEPT_TIMEOUT.total_seconds())
        except TimeoutError:
            raise NoWorker(None, handle.id) from None
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            if await _closed_or_missing(handle, channel):
                return None
    raise RecordingConflict(f"the recording of {channel} did not take the request; try again")


async def _final(handle: Handle) -> StopOutcome:
    """The outcome of a recording that has ended: its final manifest."""
    manifest = await handle.query(RecordingWorkflow.manifest, rpc_timeout=QUERY_TIMEOUT)
    return StopOutcome(workflow_id=handle.id, finished=True, phase=manifest.phase, manifest=manifest)


# --- layout and subscription -------------------------------------------------------------------------------------


async def update_layout(client: Client, channel: str, layout: LayoutUpdate, *, app_id: str) -> UpdateResult:
    """Replace the mixed layout of the channel's running recorder (mix mode; every line of a redundant class)."""
    return await _recorder_update(_handle(client, channel, app_id), channel, RecordingWorkflow.update_layout, layout)


async def update_subscription(
    client: Client, channel: str, subscription: SubscriptionUpdate, *, app_id: str
) -> UpdateResult:
    """Replace the subscription lists of the channel's running recorder."""
    handle = _handle(client, channel, app_id)
    return await _recorder_update(handle, channel, RecordingWorkflow.update_subscription, subscription)


async def _recorder_update(
    handle: Handle,
    channel: str,
    method: UpdateMethodMultiParam[[RecordingWorkflow, U], UpdateResult],
    change: U,
) -> UpdateResult:
    """Send an update to the running recorder: RecordingConflict when the recording cannot take it now (its
    validator's reason), UpdateRefused when Agora refused it."""
    try:
        update = await _accepted(
            handle,
            channel,
            lambda: handle.start_update(method, change, wait_for_stage=WorkflowUpdateStage.ACCEPTED),
        )
        if update is None:
            raise RecordingConflict(f"the recording of {channel} has ended: there is no recorder to update")
        return await update.result()
    except WorkflowUpdateFailedError as err:
        cause: Any = err.cause
        if isinstance(cause, ActivityError):
            reason = cause.cause.message if isinstance(cause.cause, ApplicationError) else str(cause)
            raise UpdateRefused(f"Agora refused the update of {channel}: {reason}") from None
        message = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        raise RecordingConflict(f"the recording of {channel} cannot take the update: {message}") from None


# --- reading -------------------------------------------------------------------------------------------------------


async def describe_recording(client: Client, channel: str, *, app_id: str) -> RecordingStatus:
    """The live status of a channel's recording (its last status once it has ended)."""
    handle = _handle(client, channel, app_id)
    try:
        return await handle.query(RecordingWorkflow.status, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RecordingNotFound(channel, handle.id) from None
        raise


async def recording_manifest(client: Client, channel: str, *, app_id: str) -> RecordingManifest:
    """The manifest of a channel's recording so far (final once it has ended)."""
    handle = _handle(client, channel, app_id)
    try:
        return await handle.query(RecordingWorkflow.manifest, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            raise RecordingNotFound(channel, handle.id) from None
        raise


async def unowned_callbacks(client: Client, *, app_id: str, limit: int | None = None) -> UnownedCallbacks:
    """The callbacks about channels or sids no running recording owns (the App ID's inbox), the latest `limit` of them;
    `exists` is False while no such callback has been received."""
    handle = client.get_workflow_handle_for(CallbackInboxWorkflow.run, names.inbox_id(app_id))
    try:
        view: InboxView = await handle.query(CallbackInboxWorkflow.view, rpc_timeout=QUERY_TIMEOUT)
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return UnownedCallbacks(workflow_id=handle.id, exists=False, total=0, counts=[], callbacks=[])
        raise
    kept = view.events if limit is None else view.events[-limit:] if limit > 0 else []
    counts = sorted(view.counts.items(), key=lambda item: (-item[1], item[0]))
    return UnownedCallbacks(
        workflow_id=handle.id,
        exists=True,
        total=view.total,
        counts=[EventCount(event_type=kind, event_name=event_name(kind), count=n) for kind, n in counts],
        callbacks=[
            UnownedCallback(
                channel=kept_event.event.cname,
                sid=kept_event.event.sid,
                uid=kept_event.event.uid,
                event_type=kept_event.event.event_type,
                event_name=event_name(kept_event.event.event_type),
                event_time=kept_event.event.happened_at,
                received_at=kept_event.received_at,
                notice_id=kept_event.event.notice_id,
            )
            for kept_event in kept
        ],
    )


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def list_query(
    *, app_id: str | None = None, phase: str | None = None, channel: str | None = None, running_only: bool = True
) -> str:
    """The visibility query list_recordings sends."""
    clauses = [f"WorkflowType = {_quote(names.WORKFLOW_NAME)}"]
    if app_id is not None:
        clauses.append(f"WorkflowId STARTS_WITH {_quote(workflow_id(app_id, ''))}")
    if phase is not None:
        clauses.append(f"{names.PHASE.name} = {_quote(phase)}")
    if channel is not None:
        clauses.append(f"{names.CHANNEL.name} = {_quote(channel)}")
    if running_only:
        clauses.append("ExecutionStatus = 'Running'")
    return " AND ".join(clauses)


async def list_recordings(
    client: Client,
    *,
    app_id: str | None = None,
    phase: str | None = None,
    channel: str | None = None,
    running_only: bool = True,
    limit: int = 100,
) -> list[RecordingSummary]:
    """Recordings from Temporal's visibility store, newest first, filtered by App ID, phase, channel and state."""
    query = list_query(app_id=app_id, phase=phase, channel=channel, running_only=running_only)

    async def listed() -> list[RecordingSummary]:
        out: list[RecordingSummary] = []
        async for wf in client.list_workflows(query, limit=limit):
            attrs = wf.typed_search_attributes
            out.append(
                RecordingSummary(
                    workflow_id=wf.id,
                    channel=attrs.get(names.CHANNEL),
                    phase=attrs.get(names.PHASE),
                    uid=attrs.get(names.RECORDER_UID),
                    sid=attrs.get(names.SID),
                    restarts=attrs.get(names.RESTARTS),
                    status=_status_name(wf.status),
                    start_time=wf.start_time,
                )
            )
        return out

    return await _with_search_attributes(client, listed)


def _status_name(status: WorkflowExecutionStatus | None) -> str:
    """Running, Completed, Failed, … as the Web UI spells them."""
    if status is None:
        return "Unknown"
    return status.name.replace("_", " ").title()
