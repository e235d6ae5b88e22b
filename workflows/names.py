"""Names shared by the workflow, the activities, the worker, the client code and the tests.

Activity names, failure type strings, task queues and search attributes are part of the contract with running
workflows: changing one breaks recordings in flight, so they are spelled once, here.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

WORKFLOW_NAME = "RecordingWorkflow"
INBOX_WORKFLOW_NAME = "CallbackInboxWorkflow"
# The signal that carries one of Agora's callbacks to a recording, and an unowned one to the inbox.
EVENT_SIGNAL = "recorder_event"
INBOX_SIGNAL = "unowned_event"
DEFAULT_TASK_QUEUE = "agora-recording"

# Activity names.
ACQUIRE = "acquire_resource"
START = "start_recorder"
QUERY = "query_recorder"
STOP = "stop_recorder"
UPDATE = "update_recorder"


def inbox_id(app_id: str) -> str:
    """The workflow id of an App ID's callback inbox (callbacks about sids no running recording owns)."""
    return f"agora-callbacks:{app_id}"


def control_queue(task_queue: str) -> str:
    """Task queue for acquire, start, stop and update: its own rate budget, so checks never starve them."""
    return f"{task_queue}-control"


def query_queue(task_queue: str) -> str:
    """Task queue for the routine status queries."""
    return f"{task_queue}-query"


# Failure types raised by the activities (equal to `agora.errors` classes' `kind`, checked by a test).
class ErrorType:
    """ApplicationError type strings the workflow branches on."""

    SERVER_ERROR = "ServerError"
    WORKER_ALLOCATION_FAILED = "WorkerAllocationFailed"
    REQUEST_TIMEOUT = "RequestTimeout"
    REQUEST_NOT_COMPLETED = "RequestNotCompleted"
    TRANSPORT = "TransportError"
    TIMEOUT = "AgoraTimeout"
    CONNECTION = "AgoraConnectionError"
    PROTOCOL = "ProtocolError"
    GATEWAY = "GatewayError"
    GATEWAY_SERVER_ERROR = "GatewayServerError"
    RATE_LIMITED = "RateLimited"
    OVER_QUOTA = "OverQuota"
    RESOURCE_EXPIRED = "ResourceExpired"
    RESOURCE_INVALID = "ResourceInvalid"
    TASK_CONFLICT = "TaskConflict"
    ALREADY_STARTED = "AlreadyStarted"
    NOT_FOUND = "NotFound"
    REQUEST_INVALID = "RequestValidationError"
    STORAGE_PROFILE_UNKNOWN = "StorageProfileUnknown"
    TOKEN_ERROR = "TokenError"
    RESOURCE_CONSUMED = "ResourceConsumed"

    # Failures that say nothing about the uid: back off and try the same uid again.
    QUOTA = frozenset({RATE_LIMITED, OVER_QUOTA})
    # Failures after which Agora says to acquire a new resource (and start again): the same uid gets a new one.
    NEW_RESOURCE = frozenset({RESOURCE_EXPIRED, RESOURCE_INVALID, WORKER_ALLOCATION_FAILED})
    # Refusals of the worker itself: the start never reached Agora (a storage profile or a certificate it lacks, a
    # request Agora would refuse).
    LOCAL = frozenset({STORAGE_PROFILE_UNKNOWN, TOKEN_ERROR, REQUEST_INVALID})
    # Failures after which the best practice is a new acquire+start, on the other uid.
    SWITCH_UID = frozenset(
        {
            SERVER_ERROR,
            WORKER_ALLOCATION_FAILED,
            REQUEST_TIMEOUT,
            REQUEST_NOT_COMPLETED,
            TRANSPORT,
            TIMEOUT,
            CONNECTION,
            PROTOCOL,
            GATEWAY_SERVER_ERROR,
            TASK_CONFLICT,
            NOT_FOUND,
            RESOURCE_CONSUMED,
        }
    )


# Search attributes: what an operator filters on in the Web UI (`RecordingPhase="restarting"`).
CHANNEL = SearchAttributeKey.for_keyword("AgoraChannel")
PHASE = SearchAttributeKey.for_keyword("RecordingPhase")
RECORDER_UID = SearchAttributeKey.for_keyword("RecorderUid")
SID = SearchAttributeKey.for_keyword("RecordingSid")
RESTARTS = SearchAttributeKey.for_int("RecordingRestarts")

SEARCH_ATTRIBUTES = (CHANNEL, PHASE, RECORDER_UID, SID, RESTARTS)

# The class schedule that started a recording (set once at its start, never published by the recording itself, so
# it stays out of SEARCH_ATTRIBUTES, which visibility.py publishes key by key); recorder.schedules registers it.
SCHEDULE = SearchAttributeKey.for_keyword("RecordingSchedule")
